/* Envoy's stats, kept per worker without locks and summed when the admin reads them.
 * Each scope (a cluster, an HTTP connection manager's stat_prefix, the server) is a
 * struct of 64-bit counters and gauges; the X-macro lists below give their Envoy names. */
#ifndef FD_STATS_H
#define FD_STATS_H

#include <stddef.h>
#include <stdint.h>

/* X(name, kind): kind is COUNTER (only grows) or GAUGE (goes up and down). */
#define FD_CLUSTER_STATS(X)                                                                                            \
    X(upstream_rq_total, COUNTER)                                                                                      \
    X(upstream_rq_completed, COUNTER)                                                                                  \
    X(upstream_rq_1xx, COUNTER)                                                                                        \
    X(upstream_rq_2xx, COUNTER)                                                                                        \
    X(upstream_rq_3xx, COUNTER)                                                                                        \
    X(upstream_rq_4xx, COUNTER)                                                                                        \
    X(upstream_rq_5xx, COUNTER)                                                                                        \
    X(upstream_rq_timeout, COUNTER)                                                                                    \
    X(upstream_rq_per_try_timeout, COUNTER)                                                                            \
    X(upstream_rq_rx_reset, COUNTER)                                                                                   \
    X(upstream_rq_tx_reset, COUNTER)                                                                                   \
    X(upstream_rq_retry, COUNTER)                                                                                      \
    X(upstream_rq_active, GAUGE)                                                                                       \
    X(upstream_cx_total, COUNTER)                                                                                      \
    X(upstream_cx_active, GAUGE)                                                                                       \
    X(upstream_cx_connect_fail, COUNTER)                                                                               \
    X(upstream_cx_connect_timeout, COUNTER)                                                                            \
    X(upstream_cx_destroy_local, COUNTER)                                                                              \
    X(upstream_cx_destroy_remote, COUNTER)                                                                             \
    X(upstream_cx_rx_bytes_total, COUNTER)                                                                             \
    X(upstream_cx_tx_bytes_total, COUNTER)                                                                             \
    X(upstream_cx_none_healthy, COUNTER)                                                                               \
    X(membership_total, GAUGE)                                                                                         \
    X(membership_healthy, GAUGE)

#define FD_HTTP_STATS(X)                                                                                               \
    X(downstream_rq_total, COUNTER)                                                                                    \
    X(downstream_rq_http1_total, COUNTER)                                                                              \
    X(downstream_rq_http2_total, COUNTER)                                                                              \
    X(downstream_rq_1xx, COUNTER)                                                                                      \
    X(downstream_rq_2xx, COUNTER)                                                                                      \
    X(downstream_rq_3xx, COUNTER)                                                                                      \
    X(downstream_rq_4xx, COUNTER)                                                                                      \
    X(downstream_rq_5xx, COUNTER)                                                                                      \
    X(downstream_rq_completed, COUNTER)                                                                                \
    X(downstream_rq_active, GAUGE)                                                                                     \
    X(downstream_rq_timeout, COUNTER)                                                                                  \
    X(downstream_cx_total, COUNTER)                                                                                    \
    X(downstream_cx_active, GAUGE)                                                                                     \
    X(no_route, COUNTER)                                                                                               \
    X(no_cluster, COUNTER)                                                                                             \
    X(rq_direct_response, COUNTER)                                                                                     \
    X(rq_redirect, COUNTER)

#define FD_STATS_FIELD(name, kind) uint64_t name;

typedef struct fd_cluster_stats {
    FD_CLUSTER_STATS(FD_STATS_FIELD)
} fd_cluster_stats_t;

typedef struct fd_http_stats {
    FD_HTTP_STATS(FD_STATS_FIELD)
} fd_http_stats_t;

/* Written by one worker, read by the admin thread: relaxed loads and stores keep reads
 * whole, and with a single writer no locked read-modify-write is needed. */
#define FD_STAT_ADD(field, n)                                                                                          \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define FD_STAT_INC(field) FD_STAT_ADD(field, 1)
#define FD_STAT_DEC(field) FD_STAT_ADD(field, -1)
#define FD_STAT_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

typedef enum fd_stat_kind { FD_STAT_COUNTER, FD_STAT_GAUGE } fd_stat_kind_t;

/* The names and kinds of a scope's stats, in struct order, for printing. */
typedef struct fd_stat_desc {
    const char *name;
    fd_stat_kind_t kind;
} fd_stat_desc_t;

extern const fd_stat_desc_t fd_cluster_stat_descs[];
extern const size_t fd_cluster_stat_count;
extern const fd_stat_desc_t fd_http_stat_descs[];
extern const size_t fd_http_stat_count;

/* Counts a response status in the matching _1xx.._5xx field of a block starting at first_1xx. */
static inline void fd_stats_count_status(uint64_t *first_1xx, int status)
{
    int klass = status / 100;
    if (klass >= 1 && klass <= 5)
        FD_STAT_INC(first_1xx[klass - 1]);
}

#endif
