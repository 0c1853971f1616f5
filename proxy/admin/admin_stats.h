/* The admin's view of the stats: every worker's counters summed into one sorted list of
 * Envoy-named stats, and its renderings (admin_stats.c, admin_stats_render.c). */
#ifndef FD_ADMIN_STATS_H
#define FD_ADMIN_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/admin/admin.h"
#include "proxy/stats/stats.h"

typedef struct fd_admin_stat {
    char name[320];       /* "cluster.backend.upstream_rq_total" */
    const char *scope;    /* "cluster", "http", "server" */
    char scope_name[256]; /* "backend"; "" for server */
    char stat[64];        /* "upstream_rq_total" */
    fd_stat_kind_t kind;
    uint64_t value;
} fd_admin_stat_t;

typedef struct fd_admin_stats {
    fd_admin_stat_t *items; /* sorted by name */
    size_t count, capacity;
} fd_admin_stats_t;

void fd_admin_stats_collect(fd_admin_stats_t *stats, struct fd_server *server, uint64_t uptime_s);
void fd_admin_stats_dispose(fd_admin_stats_t *stats);

typedef enum fd_admin_stats_format { FD_STATS_TEXT, FD_STATS_JSON, FD_STATS_PROMETHEUS } fd_admin_stats_format_t;

/* Renders the stats whose names match filter (a regex, or NULL for all), leaving out
 * those still zero when used_only; returns a malloc'ed string, or NULL with a message in
 * err when the filter does not compile. */
char *fd_admin_stats_render(const fd_admin_stats_t *stats, fd_admin_stats_format_t format, const char *filter,
                            int used_only, char *err, size_t err_len);

#endif
