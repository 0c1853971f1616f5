/* The admin's /clusters (Envoy's "cluster::host::stat::value" lines, summed over the
 * workers) and /config_dump (Envoy's ConfigDump layout, built from the loaded bootstrap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin/admin.h"
#include "proxy/server/cds.h"
#include "proxy/server/worker.h"
#include "proxy/util/text_buffer.h"

/* Workers hold their own host objects; the same address is the same host. */
static const fd_router_host_t *find_host(const fd_router_cluster_t *rc, const fd_router_host_t *like)
{
    for (size_t h = 0; h < rc->n_hosts; h++)
        if (rc->hosts[h]->address.addr_len == like->address.addr_len &&
            memcmp(&rc->hosts[h]->address.addr, &like->address.addr, like->address.addr_len) == 0)
            return rc->hosts[h];
    return NULL;
}

typedef struct host_sum {
    fd_router_host_stats_t rq;
    uint64_t cx_active, cx_total, cx_fail, rq_active;
} host_sum_t;

const fd_router_cluster_t *fd_admin_worker_cluster(const fd_router_worker_t *router, size_t c, const char *name)
{
    if (router->clusters == NULL) /* the worker has exited */
        return NULL;
    return c != SIZE_MAX ? &router->clusters[c] : fd_router_find_dynamic(router, name, strlen(name));
}

/* Adds one worker's counters of the host like `like`; the caller holds its hosts_lock. */
static void add_host(host_sum_t *sum, const fd_router_worker_t *router, size_t c, const char *cluster,
                     const fd_router_host_t *like)
{
    const fd_router_cluster_t *rc = fd_admin_worker_cluster(router, c, cluster);
    const fd_router_host_t *host = rc != NULL ? find_host(rc, like) : NULL;
    if (host == NULL)
        return;
    sum->rq.rq_total += FD_STAT_LOAD(host->stats.rq_total);
    sum->rq.rq_success += FD_STAT_LOAD(host->stats.rq_success);
    sum->rq.rq_error += FD_STAT_LOAD(host->stats.rq_error);
    sum->rq.rq_timeout += FD_STAT_LOAD(host->stats.rq_timeout);
    sum->rq_active += FD_STAT_LOAD(host->active_requests);
    sum->cx_active += FD_STAT_LOAD(host->pool.stats.cx_active);
    sum->cx_total += FD_STAT_LOAD(host->pool.stats.cx_total);
    sum->cx_fail += FD_STAT_LOAD(host->pool.stats.cx_connect_fail);
}

/* first is one of worker 0's hosts, whose hosts_lock the caller holds. */
static void render_host(fd_text_buffer_t *buf, struct fd_server *server, size_t c, const char *cluster,
                        const fd_router_host_t *first)
{
    host_sum_t sum;
    memset(&sum, 0, sizeof(sum));
    for (size_t w = 0; w < fd_server_worker_count(server); w++) {
        fd_router_worker_t *router = &fd_server_worker(server, w)->router;
        if (w != 0)
            pthread_mutex_lock(&router->hosts_lock);
        add_host(&sum, router, c, cluster, first);
        if (w != 0)
            pthread_mutex_unlock(&router->hosts_lock);
    }
    const char *hostname =
        first->endpoint != NULL && first->endpoint->address.addr_len == 0 ? first->endpoint->address.host : "";
    char host[300];
    snprintf(host, sizeof(host), first->address.addr.ss_family == AF_INET6 ? "%s::[%s]:%u" : "%s::%s:%u", cluster,
             first->address.host, first->address.port);
    fd_text_buffer_printf(buf,
                          "%s::cx_active::%llu\n%s::cx_connect_fail::%llu\n%s::cx_total::%llu\n%s::rq_active::%llu\n"
                          "%s::rq_error::%llu\n%s::rq_success::%llu\n%s::rq_timeout::%llu\n%s::rq_total::%llu\n"
                          "%s::hostname::%s\n%s::health_flags::healthy\n%s::weight::%u\n%s::priority::%u\n",
                          host, (unsigned long long)sum.cx_active, host, (unsigned long long)sum.cx_fail, host,
                          (unsigned long long)sum.cx_total, host, (unsigned long long)sum.rq_active, host,
                          (unsigned long long)sum.rq.rq_error, host, (unsigned long long)sum.rq.rq_success, host,
                          (unsigned long long)sum.rq.rq_timeout, host, (unsigned long long)sum.rq.rq_total, host,
                          hostname, host, host, first->weight, host, first->priority);
}

static void render_cluster(fd_text_buffer_t *buf, struct fd_server *server, size_t c, const char *name)
{
    fd_router_worker_t *router = &fd_server_worker(server, 0)->router;
    fd_text_buffer_printf(buf, "%s::observability_name::%s\n%s::added_via_api::%s\n", name, name, name,
                          c == SIZE_MAX ? "true" : "false");
    pthread_mutex_lock(&router->hosts_lock); /* against host updates; a worker never takes another's */
    const fd_router_cluster_t *rc = fd_admin_worker_cluster(router, c, name);
    for (size_t h = 0; rc != NULL && h < rc->n_hosts; h++)
        render_host(buf, server, c, name, rc->hosts[h]);
    pthread_mutex_unlock(&router->hosts_lock);
}

char *fd_admin_clusters_render(struct fd_server *server)
{
    fd_text_buffer_t buf;
    fd_text_buffer_init(&buf);
    const fd_config_t *config = fd_server_config(server);
    for (size_t c = 0; c < config->n_clusters; c++)
        render_cluster(&buf, server, c, config->clusters[c].name.base);
    const fd_cds_t *cds = fd_server_cds(server);
    for (size_t i = 0; i < fd_cds_cluster_count(cds); i++)
        if (fd_cds_cluster_name(cds, i) != NULL)
            render_cluster(&buf, server, SIZE_MAX, fd_cds_cluster_name(cds, i));
    return buf.data;
}

static json_t *typed(const char *type, json_t *object)
{
    json_t *out = json_object();
    json_object_set_new(out, "@type", json_sprintf("type.googleapis.com/%s", type));
    json_object_update(out, object);
    return out;
}

/* A static resource entry: {"<key>": {"@type": ..., resource}, "last_updated": ...}. */
static json_t *static_entry(const char *key, const char *type, json_t *resource, const char *updated)
{
    json_t *entry = json_object();
    json_object_set_new(entry, key, typed(type, resource));
    json_object_set_new(entry, "last_updated", json_string(updated));
    return entry;
}

/* Route configurations defined inline in static listeners' connection managers. */
static json_t *inline_route_configs(json_t *listeners, const char *updated)
{
    json_t *routes = json_array(), *listener, *chain, *filter;
    size_t i, j, k;
    json_array_foreach(listeners, i, listener)
    {
        json_array_foreach(json_object_get(listener, "filter_chains"), j, chain)
        {
            json_array_foreach(json_object_get(chain, "filters"), k, filter)
            {
                json_t *rc = json_object_get(json_object_get(filter, "typed_config"), "route_config");
                if (rc != NULL)
                    json_array_append_new(
                        routes, static_entry("route_config", "envoy.config.route.v3.RouteConfiguration", rc, updated));
            }
        }
    }
    return routes;
}

char *fd_admin_config_dump(json_t *bootstrap, time_t loaded_at, const fd_admin_dynamic_dump_t *dynamic)
{
    char updated[32];
    struct tm tm;
    gmtime_r(&loaded_at, &tm);
    strftime(updated, sizeof(updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *sr = json_object_get(bootstrap, "static_resources"), *item;
    json_t *listeners = json_array(), *clusters = json_array();
    size_t i;
    json_array_foreach(json_object_get(sr, "listeners"), i, item)
        json_array_append_new(listeners, static_entry("listener", "envoy.config.listener.v3.Listener", item, updated));
    json_array_foreach(json_object_get(sr, "clusters"), i, item)
        json_array_append_new(clusters, static_entry("cluster", "envoy.config.cluster.v3.Cluster", item, updated));
    json_t *configs = json_array();
    json_array_append_new(configs, json_pack("{s:s, s:O, s:s}", "@type",
                                             "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump", "bootstrap",
                                             bootstrap, "last_updated", updated));
    json_t *cluster_dump = json_pack("{s:s, s:o}", "@type", "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                                     "static_clusters", clusters);
    if (dynamic->clusters_version != NULL)
        json_object_set_new(cluster_dump, "version_info", json_string(dynamic->clusters_version));
    if (json_array_size(dynamic->active_clusters) != 0)
        json_object_set(cluster_dump, "dynamic_active_clusters", dynamic->active_clusters);
    if (json_array_size(dynamic->warming_clusters) != 0)
        json_object_set(cluster_dump, "dynamic_warming_clusters", dynamic->warming_clusters);
    json_array_append_new(configs, cluster_dump);
    json_t *listener_dump = json_pack("{s:s, s:o}", "@type", "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                                      "static_listeners", listeners);
    if (dynamic->listeners_version != NULL)
        json_object_set_new(listener_dump, "version_info", json_string(dynamic->listeners_version));
    if (json_array_size(dynamic->listeners) != 0)
        json_object_set(listener_dump, "dynamic_listeners", dynamic->listeners);
    json_array_append_new(configs, listener_dump);
    json_t *routes = json_pack("{s:s, s:o}", "@type", "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                               "static_route_configs", inline_route_configs(json_object_get(sr, "listeners"), updated));
    if (json_array_size(dynamic->routes) != 0)
        json_object_set(routes, "dynamic_route_configs", dynamic->routes);
    json_array_append_new(configs, routes);
    if (json_array_size(dynamic->endpoints) != 0)
        json_array_append_new(configs,
                              json_pack("{s:s, s:O}", "@type", "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                                        "dynamic_endpoint_configs", dynamic->endpoints));
    json_t *dump = json_pack("{s:o}", "configs", configs);
    char *text = json_dumps(dump, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(dump);
    return text;
}
