/* Endpoints from a control server (EDS) for the EDS clusters of the config: subscribed over
 * the ADS stream (eds_config {ads: {}}) or an EDS stream of their own (api_config_source,
 * GRPC). The xDS thread hands each response to the main thread, which checks it with the
 * translator, sends every cluster's new hosts to the workers and answers ACK, or NACKs it
 * with the translator's message while the previous endpoints keep serving. */
#ifndef FD_EDS_H
#define FD_EDS_H

#include <h2o.h>

#include "proxy/config/config.h"
#include "proxy/server/server.h"

typedef struct fd_eds fd_eds_t;

/* Starts the streams once the workers run; *out stays NULL when config has no EDS cluster.
 * -1 (with a message on stderr) when a control server cannot be named or reached. */
int fd_eds_start(fd_server_t *server, h2o_loop_t *loop, const fd_config_t *config, fd_eds_t **out);

/* Every EDS cluster has had its first assignment, or its initial_fetch_timeout passed: until
 * then the server is initializing (/ready answers 503). NULL is ready. */
int fd_eds_ready(const fd_eds_t *eds);

/* For /stats (main thread): control_plane.connected_state, 1 while every stream is up;
 * cluster.<name>.update_* of an EDS cluster (0 when cluster is not one). */
int fd_eds_connected(const fd_eds_t *eds);
typedef struct fd_eds_stats {
    uint64_t update_attempt, update_success, update_rejected;
} fd_eds_stats_t;
int fd_eds_cluster_stats(const fd_eds_t *eds, size_t cluster, fd_eds_stats_t *out);

/* Drain: nothing more is sent to the workers. Main thread. NULL is a no-op. */
void fd_eds_request_stop(fd_eds_t *eds);

/* Closes the streams (joining their threads) and frees everything; after the workers are
 * gone. Main thread. NULL is a no-op. */
void fd_eds_stop(fd_eds_t *eds);

#endif
