/* Endpoints from a control server (EDS) for the EDS clusters of the config and of CDS, on the
 * stream of each cluster's eds_config (xds_source.h). Each response is checked with the
 * translator on the main thread; every cluster's new hosts go to the workers (a CDS cluster's
 * through its watcher, cds.c) and the response is ACKed, or it is NACKed with the
 * translator's message while the previous endpoints keep serving. */
#ifndef FD_EDS_H
#define FD_EDS_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"
#include "proxy/router/router.h"
#include "proxy/server/server.h"
#include "proxy/server/xds_source.h"

typedef struct fd_eds fd_eds_t;

/* Watches the EDS clusters of config on their streams (before fd_xds_sources_start); *out
 * stays NULL when there is none and no CDS. -1 (with a message on stderr) when a control
 * server cannot be named. */
int fd_eds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 fd_eds_t **out);

/* A CDS cluster of type EDS: the endpoints of its service, each time an assignment is
 * accepted, go to on_endpoints (which sends them on). NULL (message on stderr) when its
 * control server cannot be named. Main thread. */
typedef struct fd_eds_watch fd_eds_watch_t;
typedef void (*fd_eds_endpoints_cb)(void *ctx, const fd_endpoint_t *endpoints, size_t n);
fd_eds_watch_t *fd_eds_watch(fd_eds_t *eds, const fd_cluster_t *cluster, fd_eds_endpoints_cb on_endpoints, void *ctx);
/* The service's last accepted endpoints; 0 when none came yet (the cluster warms). */
int fd_eds_watch_endpoints(const fd_eds_watch_t *watch, const fd_endpoint_t **endpoints, size_t *n);
/* The cluster is gone or changed; its service is unsubscribed when no cluster watches it. */
void fd_eds_unwatch(fd_eds_t *eds, fd_eds_watch_t *watch);

/* The workers' addresses of endpoints: the healthy ones (malloc'd; *count of them). */
fd_router_address_t *fd_eds_addresses(const fd_endpoint_t *endpoints, size_t n, size_t *count);

/* Every EDS cluster has had its first assignment, or its initial_fetch_timeout passed: until
 * then the server is initializing (/ready answers 503). NULL is ready. */
int fd_eds_ready(const fd_eds_t *eds);

/* cluster.<name>.update_* of an EDS cluster (0 when cluster is not one). Main thread. */
typedef struct fd_eds_stats {
    uint64_t update_attempt, update_success, update_rejected;
} fd_eds_stats_t;
int fd_eds_cluster_stats(const fd_eds_t *eds, size_t cluster, fd_eds_stats_t *out);
void fd_eds_watch_stats(const fd_eds_watch_t *watch, fd_eds_stats_t *out);

/* Fields set in accepted assignments that frontdesk does not support (logged, then ignored). */
uint64_t fd_eds_unsupported_fields(const fd_eds_t *eds);

/* Appends Envoy's dynamic_endpoint_configs entries (the last accepted of each static
 * cluster; a CDS cluster's through fd_eds_watch_dump). */
void fd_eds_config_dump(const fd_eds_t *eds, json_t *dynamic_endpoint_configs);
void fd_eds_watch_dump(const fd_eds_watch_t *watch, json_t *dynamic_endpoint_configs);

/* After the streams are stopped (fd_xds_sources_free). NULL is a no-op. */
void fd_eds_free(fd_eds_t *eds);

#endif
