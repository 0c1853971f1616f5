/* The serving process: the main thread owns the config, the admin listener, signals and
 * drain; it starts the workers, each with its own loop and sockets (worker.h). */
#ifndef FD_SERVER_H
#define FD_SERVER_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"

typedef struct fd_server_options {
    unsigned concurrency;  /* workers; 0: number of cores */
    unsigned drain_time_s; /* how long in-flight requests may take after SIGTERM */
    const char *config_path;
    json_t *bootstrap_json;                   /* the loaded bootstrap, for the admin's /config_dump (borrowed) */
    const struct fd_filter_registry *filters; /* for route configurations from RDS (borrowed) */
} fd_server_options_t;

/* h2o 2.2 reads a request body whole before the handler runs: the most one request may hold. */
#define FD_MAX_REQUEST_BODY_BYTES (64u << 20)

typedef struct fd_server fd_server_t;

/* Envoy's server.state values. */
typedef enum fd_server_state {
    FD_SERVER_LIVE = 0,
    FD_SERVER_DRAINING = 1,
    FD_SERVER_INITIALIZING = 3, /* EDS clusters still waiting for their first endpoints */
} fd_server_state_t;
struct fd_router_worker;
struct fd_worker;

/* Serves config until SIGTERM/SIGINT or /quitquitquit, then drains. Takes a reference
 * to config. Returns the process exit status. */
int fd_server_run(fd_config_t *config, const fd_server_options_t *options);

/* For workers: per-listener shared settings, and the drain deadline. */
struct fd_listener_runtime *fd_server_listener(fd_server_t *server, size_t listener); /* a static listener's */
fd_config_t *fd_server_config(fd_server_t *server);
size_t fd_server_worker_count(fd_server_t *server);
struct fd_worker *fd_server_worker(fd_server_t *server, size_t index);
int fd_server_drain_expired(fd_server_t *server);
fd_server_state_t fd_server_state(fd_server_t *server);
int fd_server_is_draining(fd_server_t *server);
unsigned fd_server_drain_time_s(fd_server_t *server); /* --drain-time-s, also a removed listener's */
const char *fd_server_state_name(fd_server_state_t state);
struct fd_cds *fd_server_cds(fd_server_t *server); /* NULL: no CDS */
struct fd_lds *fd_server_lds(fd_server_t *server); /* NULL: no LDS */
struct fd_dns_resolver *fd_server_dns(fd_server_t *server);
struct fd_eds *fd_server_eds(fd_server_t *server);         /* NULL: no EDS */
struct fd_rds *fd_server_rds(fd_server_t *server);         /* NULL: no RDS */
struct fd_xds_sources *fd_server_xds(fd_server_t *server); /* the control-server streams */
/* DNS: the addresses resolved so far, for a worker about to start; and whether the resolver
 * thread is gone (a worker keeps its message queue until then). */
void fd_server_seed_worker(fd_server_t *server, struct fd_router_worker *rw);
int fd_server_dns_exited(fd_server_t *server);

#endif
