/* The admin's stats: the workers' counters summed by scope under Envoy's names, and
 * rendered as /stats text, /stats?format=json and /stats/prometheus (Envoy's metric and
 * tag names: envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",...}). */
#include "proxy/admin/admin_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/server/cds.h"
#include "proxy/server/eds.h"
#include "proxy/server/lds.h"
#include "proxy/server/listener_runtime.h"
#include "proxy/server/rds.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_source.h"

static void add_stat(fd_admin_stats_t *stats, const char *scope, const char *scope_name, const char *name,
                     fd_stat_kind_t kind, uint64_t value)
{
    if (stats->count == stats->capacity) {
        stats->capacity = stats->capacity ? stats->capacity * 2 : 256;
        stats->items = realloc(stats->items, stats->capacity * sizeof(*stats->items));
        if (stats->items == NULL)
            abort();
    }
    fd_admin_stat_t *s = &stats->items[stats->count++];
    snprintf(s->name, sizeof(s->name), "%s%s%s.%s", scope, scope_name[0] ? "." : "", scope_name, name);
    s->scope = scope;
    snprintf(s->scope_name, sizeof(s->scope_name), "%s", scope_name);
    snprintf(s->stat, sizeof(s->stat), "%s", name);
    s->kind = kind;
    s->value = value;
}

static void sum_block(uint64_t *total, const uint64_t *block, size_t n)
{
    for (size_t i = 0; i < n; i++)
        total[i] += FD_STAT_LOAD(block[i]);
}

/* One worker's share of a cluster; its host lists are locked against updates meanwhile. */
static void sum_cluster(uint64_t *total, const fd_router_cluster_t *rc, int first)
{
    fd_cluster_stats_t *sum = (fd_cluster_stats_t *)total;
    sum_block(total, (const uint64_t *)&rc->stats, fd_cluster_stat_count);
    for (size_t h = 0; h < rc->n_hosts + rc->n_retired; h++) {
        const fd_router_host_t *host = h < rc->n_hosts ? rc->hosts[h] : rc->retired[h - rc->n_hosts];
        const fd_upstream_pool_stats_t *ps = &host->pool.stats;
        sum->upstream_cx_total += FD_STAT_LOAD(ps->cx_total);
        sum->upstream_cx_active += FD_STAT_LOAD(ps->cx_active);
        sum->upstream_cx_connect_fail += FD_STAT_LOAD(ps->cx_connect_fail);
        sum->upstream_cx_connect_timeout += FD_STAT_LOAD(ps->cx_connect_timeout);
        sum->upstream_cx_destroy_local += FD_STAT_LOAD(ps->cx_destroy_local);
        sum->upstream_cx_destroy_remote += FD_STAT_LOAD(ps->cx_destroy_remote);
        sum->upstream_rq_retry += FD_STAT_LOAD(ps->rq_retry);
    }
    if (first)
        sum->membership_total = sum->membership_healthy = rc->n_hosts;
}

/* A static cluster (c in config->clusters) or, with c SIZE_MAX, the CDS cluster name. */
static void collect_cluster(fd_admin_stats_t *stats, struct fd_server *server, size_t c, const char *name,
                            const fd_eds_stats_t *eds)
{
    uint64_t total[sizeof(fd_cluster_stats_t) / sizeof(uint64_t)] = {0};
    for (size_t w = 0; w < fd_server_worker_count(server); w++) {
        fd_router_worker_t *router = &fd_server_worker(server, w)->router;
        pthread_mutex_lock(&router->hosts_lock);
        const fd_router_cluster_t *rc = fd_admin_worker_cluster(router, c, name);
        if (rc != NULL)
            sum_cluster(total, rc, w == 0);
        pthread_mutex_unlock(&router->hosts_lock);
    }
    for (size_t i = 0; i < fd_cluster_stat_count; i++)
        add_stat(stats, "cluster", name, fd_cluster_stat_descs[i].name, fd_cluster_stat_descs[i].kind, total[i]);
    if (eds != NULL) {
        add_stat(stats, "cluster", name, "update_attempt", FD_STAT_COUNTER, eds->update_attempt);
        add_stat(stats, "cluster", name, "update_success", FD_STAT_COUNTER, eds->update_success);
        add_stat(stats, "cluster", name, "update_rejected", FD_STAT_COUNTER, eds->update_rejected);
    }
}

static void collect_clusters(fd_admin_stats_t *stats, struct fd_server *server)
{
    const fd_config_t *config = fd_server_config(server);
    fd_eds_stats_t eds;
    for (size_t c = 0; c < config->n_clusters; c++)
        collect_cluster(stats, server, c, config->clusters[c].name.base,
                        fd_eds_cluster_stats(fd_server_eds(server), c, &eds) ? &eds : NULL);
    const fd_cds_t *cds = fd_server_cds(server);
    for (size_t i = 0; i < fd_cds_cluster_count(cds); i++) {
        const char *name = fd_cds_cluster_name(cds, i);
        if (name != NULL) /* NULL: a new cluster still warming */
            collect_cluster(stats, server, SIZE_MAX, name, fd_cds_cluster_eds_stats(cds, i, &eds) ? &eds : NULL);
    }
    if (cds == NULL)
        return;
    fd_cds_stats_t cs;
    fd_cds_stats(cds, &cs);
    add_stat(stats, "cluster_manager", "", "cds.update_attempt", FD_STAT_COUNTER, cs.update_attempt);
    add_stat(stats, "cluster_manager", "", "cds.update_success", FD_STAT_COUNTER, cs.update_success);
    add_stat(stats, "cluster_manager", "", "cds.update_rejected", FD_STAT_COUNTER, cs.update_rejected);
    add_stat(stats, "cluster_manager", "", "cluster_added", FD_STAT_COUNTER, cs.cluster_added);
    add_stat(stats, "cluster_manager", "", "cluster_modified", FD_STAT_COUNTER, cs.cluster_modified);
    add_stat(stats, "cluster_manager", "", "cluster_removed", FD_STAT_COUNTER, cs.cluster_removed);
    add_stat(stats, "cluster_manager", "", "active_clusters", FD_STAT_GAUGE, cs.active_clusters + config->n_clusters);
    add_stat(stats, "cluster_manager", "", "warming_clusters", FD_STAT_GAUGE, cs.warming_clusters);
}

/* One http.<prefix> scope: the listeners sharing a stat_prefix, summed, and the RDS names
 * their connection managers use. Copies: a listener from LDS may go once the lock is let go. */
typedef struct http_scope {
    char *prefix;
    uint64_t total[sizeof(fd_http_stats_t) / sizeof(uint64_t)];
    char **rds_names;
    size_t n_rds_names;
} http_scope_t;

static void add_rds_name(http_scope_t *scope, const fd_http_manager_t *http)
{
    if (http->rds_name.len == 0)
        return;
    for (size_t i = 0; i < scope->n_rds_names; i++)
        if (strcmp(scope->rds_names[i], http->rds_name.base) == 0)
            return;
    char **grown = realloc(scope->rds_names, (scope->n_rds_names + 1) * sizeof(*grown));
    if (grown == NULL || (grown[scope->n_rds_names] = strdup(http->rds_name.base)) == NULL)
        abort();
    scope->rds_names = grown;
    scope->n_rds_names++;
}

static http_scope_t *scope_of(http_scope_t **scopes, size_t *n, const char *prefix)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*scopes)[i].prefix, prefix) == 0)
            return &(*scopes)[i];
    http_scope_t *grown = realloc(*scopes, (*n + 1) * sizeof(*grown));
    if (grown == NULL)
        abort();
    *scopes = grown;
    http_scope_t *scope = memset(&grown[(*n)++], 0, sizeof(*grown));
    if ((scope->prefix = strdup(prefix)) == NULL)
        abort();
    return scope;
}

/* http.<prefix>.rds.<route_config_name>.*, from RDS's counters. */
static void add_rds_stats(fd_admin_stats_t *stats, struct fd_server *server, const http_scope_t *scope)
{
    static const char *const names[] = {"update_attempt", "update_success", "update_rejected", "config_reload"};
    for (size_t r = 0; r < scope->n_rds_names; r++) {
        fd_rds_stats_t rds;
        if (!fd_rds_name_stats(fd_server_rds(server), scope->rds_names[r], &rds))
            continue;
        const uint64_t values[] = {rds.update_attempt, rds.update_success, rds.update_rejected, rds.config_reload};
        for (size_t i = 0; i < 4; i++) {
            char stat[200];
            snprintf(stat, sizeof(stat), "rds.%s.%s", scope->rds_names[r], names[i]);
            add_stat(stats, "http", scope->prefix, stat, FD_STAT_COUNTER, values[i]);
        }
    }
}

/* Listeners sharing a stat_prefix share Envoy's http.<prefix> scope: every worker's listeners
 * (static, from LDS, draining) summed by prefix. Returns the active downstream connections. */
static uint64_t collect_http(fd_admin_stats_t *stats, struct fd_server *server)
{
    http_scope_t *scopes = NULL;
    size_t n_scopes = 0;
    uint64_t connections = 0;
    for (size_t w = 0; w < fd_server_worker_count(server); w++) {
        fd_worker_t *worker = fd_server_worker(server, w);
        pthread_mutex_lock(&worker->listeners_lock);
        for (size_t l = 0; l < worker->n_listeners; l++) {
            const fd_worker_listener_t *wl = worker->listeners[l];
            const fd_http_manager_t *http = &fd_listener_first_chain(wl->runtime->listener)->http;
            http_scope_t *scope = scope_of(&scopes, &n_scopes, http->stat_prefix.base);
            sum_block(scope->total, (const uint64_t *)&wl->stats, fd_http_stat_count);
            add_rds_name(scope, http);
            connections += FD_STAT_LOAD(wl->stats.downstream_cx_active);
        }
        for (size_t r = 0; r < worker->n_retired_stats; r++) /* listeners LDS removed or replaced */
            sum_block(scope_of(&scopes, &n_scopes, worker->retired_stats[r].prefix)->total,
                      (const uint64_t *)&worker->retired_stats[r].stats, fd_http_stat_count);
        pthread_mutex_unlock(&worker->listeners_lock);
    }
    for (size_t s = 0; s < n_scopes; s++) {
        for (size_t i = 0; i < fd_http_stat_count; i++)
            add_stat(stats, "http", scopes[s].prefix, fd_http_stat_descs[i].name, fd_http_stat_descs[i].kind,
                     scopes[s].total[i]);
        add_rds_stats(stats, server, &scopes[s]);
        for (size_t r = 0; r < scopes[s].n_rds_names; r++)
            free(scopes[s].rds_names[r]);
        free(scopes[s].rds_names);
        free(scopes[s].prefix);
    }
    free(scopes);
    return connections;
}

/* listener_manager.*: LDS's counters, and the listeners active and warming (static ones too). */
static void collect_listener_manager(fd_admin_stats_t *stats, struct fd_server *server)
{
    const fd_lds_t *lds = fd_server_lds(server);
    if (lds == NULL)
        return;
    fd_lds_stats_t ls;
    fd_lds_stats(lds, &ls);
    add_stat(stats, "listener_manager", "", "lds.update_attempt", FD_STAT_COUNTER, ls.update_attempt);
    add_stat(stats, "listener_manager", "", "lds.update_success", FD_STAT_COUNTER, ls.update_success);
    add_stat(stats, "listener_manager", "", "lds.update_rejected", FD_STAT_COUNTER, ls.update_rejected);
    add_stat(stats, "listener_manager", "", "listener_added", FD_STAT_COUNTER, ls.listener_added);
    add_stat(stats, "listener_manager", "", "listener_modified", FD_STAT_COUNTER, ls.listener_modified);
    add_stat(stats, "listener_manager", "", "listener_removed", FD_STAT_COUNTER, ls.listener_removed);
    add_stat(stats, "listener_manager", "", "total_listeners_active", FD_STAT_GAUGE,
             ls.active + fd_server_config(server)->n_listeners);
    add_stat(stats, "listener_manager", "", "total_listeners_warming", FD_STAT_GAUGE, ls.warming);
}

static int compare_stats(const void *a, const void *b)
{
    return strcmp(((const fd_admin_stat_t *)a)->name, ((const fd_admin_stat_t *)b)->name);
}

void fd_admin_stats_collect(fd_admin_stats_t *stats, struct fd_server *server, uint64_t uptime_s)
{
    memset(stats, 0, sizeof(*stats));
    uint64_t connections = collect_http(stats, server);
    int draining = fd_server_is_draining(server);
    add_stat(stats, "server", "", "live", FD_STAT_GAUGE, !draining);
    add_stat(stats, "server", "", "state", FD_STAT_GAUGE, fd_server_state(server)); /* Envoy's numbers */
    if (fd_server_xds(server) != NULL) {
        add_stat(stats, "control_plane", "", "connected_state", FD_STAT_GAUGE,
                 fd_xds_sources_connected(fd_server_xds(server)));
        /* frontdesk's own: DESIGN wants what it ignores from a control server counted */
        add_stat(stats, "control_plane", "", "unsupported_fields", FD_STAT_COUNTER,
                 fd_eds_unsupported_fields(fd_server_eds(server)) + fd_rds_unsupported_fields(fd_server_rds(server)) +
                     fd_cds_unsupported_fields(fd_server_cds(server)) +
                     fd_lds_unsupported_fields(fd_server_lds(server)));
    }
    add_stat(stats, "server", "", "uptime", FD_STAT_GAUGE, uptime_s);
    add_stat(stats, "server", "", "concurrency", FD_STAT_GAUGE, fd_server_worker_count(server));
    add_stat(stats, "server", "", "total_connections", FD_STAT_GAUGE, connections);
    collect_clusters(stats, server);
    collect_listener_manager(stats, server);
    qsort(stats->items, stats->count, sizeof(*stats->items), compare_stats);
}

void fd_admin_stats_dispose(fd_admin_stats_t *stats)
{
    free(stats->items);
}
