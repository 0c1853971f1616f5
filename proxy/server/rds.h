/* Route configurations from a control server (RDS) for the listeners of a static config whose
 * HTTP connection manager names one (rds: {route_config_name, config_source}). Each response
 * is checked and compiled by the translator on the main thread and handed to every worker,
 * which routes new requests with it while requests in flight finish with the one they
 * started with; or it is NACKed with the translator's message and the last good one stays. */
#ifndef FD_RDS_H
#define FD_RDS_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"
#include "proxy/config/filter_registry.h"
#include "proxy/server/server.h"
#include "proxy/server/xds_source.h"

typedef struct fd_rds fd_rds_t;

/* Watches the route_config_names of config on their streams (before fd_xds_sources_start);
 * *out stays NULL when no listener uses RDS and there is no LDS. -1 (message on stderr) when a control server
 * cannot be named. */
int fd_rds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 const fd_filter_registry_t *filters, fd_rds_t **out);

/* Every name has had its first RouteConfiguration, or its initial_fetch_timeout passed. */
int fd_rds_ready(const fd_rds_t *rds);

/* http.<prefix>.rds.<name>.* of a route_config_name; 0 when it is not one. Main thread. */
typedef struct fd_rds_stats {
    uint64_t update_attempt, update_success, update_rejected, config_reload;
} fd_rds_stats_t;
int fd_rds_name_stats(const fd_rds_t *rds, const char *name, fd_rds_stats_t *out);

/* Fields set in accepted route configurations that frontdesk does not support. */
uint64_t fd_rds_unsupported_fields(const fd_rds_t *rds);

/* Appends Envoy's dynamic_route_configs entries (the last accepted of each name). */
void fd_rds_config_dump(const fd_rds_t *rds, json_t *dynamic_route_configs);

/* LDS, main thread: a listener's RDS names get one more user each (watched on their streams;
 * -1 when a control server cannot be named, with nothing changed), or one fewer (a name no
 * listener uses is unsubscribed); whether every one of them has its routes (the listener is
 * warm); the routes in force for them, sent to a worker after the listener; a callback when a
 * name has its first RouteConfiguration. */
int fd_rds_watch_listener(fd_rds_t *rds, const fd_listener_t *listener);
void fd_rds_unwatch_listener(fd_rds_t *rds, const fd_listener_t *listener);
int fd_rds_listener_ready(fd_rds_t *rds, const fd_listener_t *listener);
struct fd_worker;
void fd_rds_send_listener_routes(fd_rds_t *rds, const fd_listener_t *listener, struct fd_worker *worker);
void fd_rds_on_received(fd_rds_t *rds, void (*cb)(void *ctx), void *ctx);
/* While held (an LDS response being applied), names no listener uses are dropped only when the
 * hold ends. */
void fd_rds_hold(fd_rds_t *rds, int hold);

/* After the streams are stopped. NULL is a no-op. */
void fd_rds_free(fd_rds_t *rds);

#endif
