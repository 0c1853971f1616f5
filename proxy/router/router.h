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
#include "proxy/util/timeouts.h"

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
    /* CDS clusters only (dynamic_clusters.c): */
    struct fd_router_worker *worker;
    fd_config_t *arena; /* holds config: this worker's reference */
    uint32_t refs;      /* stream infos naming it; worker thread only */
    int is_retired;     /* replaced or removed: freed once no request uses it */
} fd_router_cluster_t;

/* What the router learnt about a request, for its access log line. */
typedef struct fd_stream_info {
    const char *response_flags; /* Envoy's short codes ("UF", "UT", ...); NULL: none */
    const fd_cluster_t *upstream_cluster;
    fd_router_cluster_t *cluster_ref; /* a CDS cluster's reference: see fd_stream_info_name_cluster */
    fd_router_host_t *upstream_host;  /* a reference: see fd_stream_info_name_host */
    int64_t upstream_service_time_ms; /* -1: no upstream response */
} fd_stream_info_t;

/* A worker's router state: one entry per cluster of its config snapshot, and the clusters
 * from CDS. */
typedef struct fd_router_worker {
    h2o_loop_t *loop;
    const fd_config_t *config;
    fd_router_cluster_t *clusters; /* same order as config->clusters */
    fd_router_cluster_t **dynamic; /* CDS clusters, sorted by name (changed under hosts_lock) */
    size_t n_dynamic;
    fd_router_cluster_t **retired_clusters; /* replaced or removed, still used by requests */
    size_t n_retired_clusters;
    h2o_timeout_entry_t sweep; /* looks again at retired clusters while there are some */
    uint64_t random_state;
    fd_timeouts_t timeouts; /* route timeouts by duration */
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
void fd_router_cluster_set_hosts(fd_router_worker_t *rw, fd_router_cluster_t *rc, const fd_router_address_t *addresses,
                                 size_t n);

/* dynamic_clusters.c, on the worker's thread. A CDS cluster, new or changed: arena holds
 * cluster and carries a reference for the worker; the hosts are given with it. Requests
 * that picked the one it replaces finish with that one; its counters carry over. */
void fd_router_set_cluster(fd_router_worker_t *rw, fd_config_t *arena, const fd_cluster_t *cluster,
                           const fd_router_address_t *addresses, size_t n);
/* A CDS cluster is gone: new requests no longer find it (503 NC). */
void fd_router_remove_cluster(fd_router_worker_t *rw, const char *name);
/* New hosts of a CDS cluster (EDS); nothing when it is not there. */
void fd_router_update_cluster_hosts(fd_router_worker_t *rw, const char *name, const fd_router_address_t *addresses,
                                    size_t n);
/* The CDS cluster of that name, or NULL; the admin thread calls it under hosts_lock. */
fd_router_cluster_t *fd_router_find_dynamic(const fd_router_worker_t *rw, const char *name, size_t len);
/* Frees the retired clusters that nothing uses any more, and all of them at exit. */
void fd_router_sweep_clusters(fd_router_worker_t *rw);
void fd_router_dispose_dynamic(fd_router_worker_t *rw);
/* Nothing uses the cluster: no stream names it, no host is busy or named. */
int fd_router_cluster_idle(const fd_router_cluster_t *rc);
/* Frees one cluster's hosts and ring (not the object). */
void fd_router_cluster_free_hosts(fd_router_cluster_t *rc);
/* Frees everything; the admin then finds rw->clusters NULL (under hosts_lock). */
void fd_router_worker_dispose(fd_router_worker_t *rw);

/* Points info at host (NULL: at nothing), moving its reference: a host retired by an update
 * is freed only once no request's access log line can still name it. */
void fd_stream_info_name_host(fd_stream_info_t *info, fd_router_host_t *host);

/* Points info at the cluster a request picked; a CDS cluster is then kept until
 * fd_stream_info_end, even if an update replaces or removes it meanwhile. */
void fd_stream_info_name_cluster(fd_stream_info_t *info, fd_router_cluster_t *rc);
/* The request's log line is written: drops its host and cluster references. */
void fd_stream_info_end(fd_stream_info_t *info);

/* The loop's timeout queue for a duration, created on first use. */
h2o_timeout_t *fd_router_timeout(fd_router_worker_t *rw, uint64_t ms);

/* Forwards req along route (route->kind == FD_ROUTE_FORWARD) and answers it. */
void fd_router_forward(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http,
                       const fd_virtual_host_t *vhost, const fd_route_t *route, fd_stream_info_t *info);

#endif
