/* The router: the last HTTP filter. It picks the cluster and a host of it, sends the
 * request upstream on a pooled connection of the worker, and streams the response back,
 * with Envoy's headers, timeouts and local replies (503 UH/UF/UC, 504 UT). */
#ifndef FD_ROUTER_H
#define FD_ROUTER_H

#include <arpa/inet.h>
#include <h2o.h>
#include <pthread.h>

#include "proxy/config/config.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/pool.h"

/* Per-host request counters of Envoy's /clusters output (connections: the pool's stats). */
typedef struct fd_router_host_stats {
    uint64_t rq_total, rq_success, rq_error, rq_timeout;
} fd_router_host_stats_t;

/* One upstream host as a worker sees it: its address (resolved, for DNS clusters), its
 * pool and load-balancing state. Hosts are allocated one by one: a host removed by a DNS or
 * EDS update lives on, retired, until its last request ends. */
typedef struct fd_router_host {
    const fd_endpoint_t *endpoint; /* the configured endpoint it came from; NULL for EDS */
    fd_socket_address_t address;   /* host: the numeric address, for logs and /clusters */
    char address_text[INET6_ADDRSTRLEN];
    uint32_t weight, priority;
    fd_upstream_pool_t pool;
    uint32_t active_requests; /* read by the admin thread: use FD_STAT_LOAD */
    uint32_t refs;            /* stream infos naming it (fd_stream_info_name_host); worker thread only */
    int64_t current_weight;   /* smooth weighted round robin */
    fd_router_host_stats_t stats;
} fd_router_host_t;

typedef struct fd_router_cluster {
    const fd_cluster_t *config;
    fd_router_host_t **hosts;
    size_t n_hosts;
    fd_router_host_t **retired; /* removed by an update, still serving requests */
    size_t n_retired;
    uint64_t *ring; /* RING_HASH: sorted (hash << 16 | host index) points */
    size_t ring_size;
    uint64_t random_state;
    fd_cluster_stats_t stats; /* this worker's share of cluster.<name>.* */
} fd_router_cluster_t;

/* What the router learnt about a request, for its access log line. */
typedef struct fd_stream_info {
    const char *response_flags; /* Envoy's short codes ("UF", "UT", ...); NULL: none */
    const fd_cluster_t *upstream_cluster;
    fd_router_host_t *upstream_host;  /* a reference: see fd_stream_info_name_host */
    int64_t upstream_service_time_ms; /* -1: no upstream response */
} fd_stream_info_t;

/* A worker's router state: one entry per cluster of its config snapshot. */
typedef struct fd_router_worker {
    h2o_loop_t *loop;
    const fd_config_t *config;
    fd_router_cluster_t *clusters; /* same order as config->clusters */
    uint64_t random_state;
    h2o_timeout_t **timeouts; /* route timeouts by duration (h2o wants one queue per duration) */
    size_t n_timeouts;
    /* Held while this worker changes its clusters' host lists (or frees them at exit) and while
     * the admin thread walks them; never on the request path, which only the worker runs. */
    pthread_mutex_t hosts_lock;
} fd_router_worker_t;

/* An address a cluster resolves to (DNS) or is given (static, EDS), with its weight. Zeroed
 * before it is filled: DNS compares lists of them bytewise. */
typedef struct fd_router_address {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint32_t weight, priority;
    const fd_endpoint_t *endpoint; /* the configured endpoint (its hostname, for DNS); NULL for EDS */
} fd_router_address_t;

void fd_router_worker_init(fd_router_worker_t *rw, h2o_loop_t *loop, const fd_config_t *config);

/* Replaces a cluster's hosts with these addresses: hosts already there keep their pools and
 * counters, new ones are added, removed ones retire until idle. Runs on the worker's thread,
 * never from inside an upstream callback. */
void fd_router_update_hosts(fd_router_worker_t *rw, size_t cluster, const fd_router_address_t *addresses, size_t n);
/* Frees everything; the admin then finds rw->clusters NULL (under hosts_lock). */
void fd_router_worker_dispose(fd_router_worker_t *rw);

/* Points info at host (NULL: at nothing), moving its reference: a host retired by an update
 * is freed only once no request's access log line can still name it. */
void fd_stream_info_name_host(fd_stream_info_t *info, fd_router_host_t *host);

/* The loop's timeout queue for a duration, created on first use. */
h2o_timeout_t *fd_router_timeout(fd_router_worker_t *rw, uint64_t ms);

/* Forwards req along route (route->kind == FD_ROUTE_FORWARD) and answers it. */
void fd_router_forward(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http,
                       const fd_virtual_host_t *vhost, const fd_route_t *route, fd_stream_info_t *info);

#endif
