/* A worker: one thread with its own h2o event loop, its own listening sockets (one per
 * listener, SO_REUSEPORT) and its own upstream pools. A request lives on one worker
 * from accept to log; nothing on the request path takes a lock. */
#ifndef FD_WORKER_H
#define FD_WORKER_H

#include <h2o.h>
#include <pthread.h>
#include <semaphore.h>

#include "proxy/config/config.h"
#include "proxy/http/http1_server.h"
#include "proxy/router/router.h"
#include "proxy/stats/stats.h"
#include "proxy/util/loop_timers.h"

struct fd_server;

struct fd_listener_runtime;

/* One listener as seen by one worker: an h2o context and the accepting socket. */
typedef struct fd_worker_listener {
    struct fd_worker *worker;
    struct fd_listener_runtime *runtime; /* its config and settings: this worker's reference */
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    fd_http1_listener_t http1; /* the HTTP/1.1 connections and their settings */
    h2o_socket_t *sock;
    h2o_timeout_entry_t accept_pause; /* accepting paused after EMFILE and the like */
    int accepting;                    /* once the config is warm */
    int disposed;                     /* its context is gone (the worker exited cleanly) */
    int removed;                      /* LDS removed or replaced it: draining, then freed */
    uint64_t removed_at_ms;           /* CLOCK_MONOTONIC: idle connections close a drain time after */
    size_t connections;
    size_t requests_in_flight;
    int fd;
    fd_http_stats_t stats; /* this listener's HTTP connection manager, on this worker */
} fd_worker_listener_t;

/* A route configuration from RDS as one worker uses it: a request that starts with it keeps
 * it until it ends, whatever the updates that come meanwhile. */
typedef struct fd_worker_routes {
    fd_config_t *arena; /* holds table: this worker's reference */
    const fd_route_table_t *table;
    size_t in_flight;
    int retired; /* an update replaced it: freed with its last request */
} fd_worker_routes_t;

/* One route_config_name that listeners of the config take from RDS. */
typedef struct fd_worker_rds {
    const char *name;            /* owned */
    fd_worker_routes_t *current; /* NULL until the first RouteConfiguration */
} fd_worker_rds_t;

typedef struct fd_worker {
    struct fd_server *server;
    size_t index;
    pthread_t thread;
    h2o_evloop_t *loop;
    fd_config_t *config; /* this worker's reference to the current snapshot */
    fd_router_worker_t router;
    fd_loop_timers_t timers; /* filters' timers */
    fd_worker_rds_t *rds;    /* worker_routes.c */
    size_t n_rds;
    struct fd_access_log_worker *access_log; /* this thread's access log buffers */
    fd_worker_listener_t **listeners;        /* static ones first; each allocated once (the admin reads their stats) */
    size_t n_listeners;
    pthread_mutex_t listeners_lock;     /* held while the list changes, and while the admin walks it */
    h2o_timeout_entry_t listener_sweep; /* frees drained listeners while some drain */
    /* The counters of the listeners swept, by stat prefix: http.<prefix>.* never goes backwards */
    struct fd_worker_retired_stats {
        char *prefix;
        fd_http_stats_t stats;
    } * retired_stats;
    size_t n_retired_stats;
    int accepting; /* the config is warm: listeners accept */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t control; /* messages from the main thread */
    sem_t queue_made;                   /* posted by the thread once its queue exists */
    size_t requests_in_flight;
    size_t connections;
    int draining;
    int stopped;
} fd_worker_t;

/* Starts the thread; listen_fds[i] is this worker's socket for config->listeners[i]. */
int fd_worker_start(fd_worker_t *worker, struct fd_server *server, size_t index, const int *listen_fds);

/* The config is warm: the worker starts accepting (from the main thread). */
void fd_worker_start_accepting(fd_worker_t *worker);

/* Asks the worker (from any thread) to stop accepting and to exit once idle. */
void fd_worker_request_drain(fd_worker_t *worker);

/* Hands a cluster's new addresses to the worker (from any thread); it updates its hosts. */
void fd_worker_send_hosts(fd_worker_t *worker, size_t cluster, const fd_router_address_t *addresses, size_t n);

/* CDS, from the main thread: a new or changed cluster with its hosts (arena holds cluster and
 * carries one reference for the worker); a cluster removed; new hosts of a CDS cluster. */
void fd_worker_send_cluster(fd_worker_t *worker, fd_config_t *arena, const fd_cluster_t *cluster,
                            const fd_router_address_t *addresses, size_t n);
void fd_worker_send_cluster_removal(fd_worker_t *worker, const char *name);
void fd_worker_send_cluster_hosts(fd_worker_t *worker, const char *name, const fd_router_address_t *addresses,
                                  size_t n);

/* LDS, from the main thread: a listener to serve (runtime carries a reference for the worker,
 * fd its own listening socket), taking over from one of the same name, which drains; a
 * listener removed, which drains. */
void fd_worker_send_listener(fd_worker_t *worker, struct fd_listener_runtime *runtime, int fd);
void fd_worker_send_listener_removal(fd_worker_t *worker, const char *name);

/* worker.c: one listener's context, accepting on fd once the worker accepts; stopped (no new
 * connection, GOAWAY, "connection: close" on HTTP/1.1 responses, idle ones closed at once or
 * after a second); disposed of once nothing is left on it. */
fd_worker_listener_t *fd_worker_listener_new(fd_worker_t *worker, struct fd_listener_runtime *runtime, int fd);
void fd_worker_listener_stop(fd_worker_listener_t *wl, int close_idle);
void fd_worker_listener_dispose(fd_worker_listener_t *wl);

/* worker_listeners.c, on the worker's thread: LDS's listeners added, removed (drained, then
 * freed by a sweep), and the sweep's end. */
void fd_worker_listeners_add(fd_worker_t *worker, struct fd_listener_runtime *runtime, int fd);
void fd_worker_listeners_remove(fd_worker_t *worker, const char *name);
void fd_worker_listeners_dispose_sweep(fd_worker_t *worker);

/* Hands the worker (from the main thread) a new route configuration for name; arena carries
 * one reference for the worker, which it releases when the last request using it ends. A NULL
 * arena: no listener uses the name any more, its routes are forgotten. */
void fd_worker_send_routes(fd_worker_t *worker, const char *name, fd_config_t *arena, const fd_route_table_t *table);

/* worker_routes.c, on the worker's thread: the slots of config's RDS names; the route
 * configuration a request starts with (NULL: none yet) and its end; an update; the end. */
void fd_worker_routes_init(fd_worker_t *worker);
void fd_worker_routes_add_listener(fd_worker_t *worker, const fd_listener_t *listener); /* its RDS names' slots */
fd_worker_routes_t *fd_worker_routes_acquire(fd_worker_t *worker, fd_string_t name);
void fd_worker_routes_release(fd_worker_routes_t *routes);
void fd_worker_routes_update(fd_worker_t *worker, const char *name, fd_config_t *arena, const fd_route_table_t *table);
void fd_worker_routes_dispose(fd_worker_t *worker);

void fd_worker_join(fd_worker_t *worker);

/* The worker a request is served on (its h2o context belongs to a worker listener). */
static inline fd_worker_listener_t *fd_worker_listener_of(h2o_context_t *ctx)
{
    return H2O_STRUCT_FROM_MEMBER(fd_worker_listener_t, ctx, ctx);
}

#endif
