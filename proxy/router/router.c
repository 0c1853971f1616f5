/* The router: cluster and host selection, the upstream request with Envoy's headers,
 * the streamed response, timeouts and Envoy's local replies. See router.h. */
#include "proxy/router/router.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/router/load_balancer.h"
#include "proxy/router/upstream_request.h"

static fd_router_host_t *new_host(fd_router_worker_t *rw, const fd_cluster_t *cluster, const fd_router_address_t *a)
{
    fd_router_host_t *host = calloc(1, sizeof(*host));
    if (host == NULL)
        abort();
    host->endpoint = a->endpoint;
    host->weight = a->weight;
    host->priority = a->priority;
    memcpy(&host->address.addr, &a->addr, a->addr_len);
    host->address.addr_len = a->addr_len;
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->addr;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->addr;
    inet_ntop(a->addr.ss_family,
              a->addr.ss_family == AF_INET6 ? (const void *)&v6->sin6_addr : (const void *)&v4->sin_addr,
              host->address_text, sizeof(host->address_text));
    host->address.host = host->address_text;
    host->address.port = ntohs(a->addr.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port);
    fd_upstream_pool_config_t pool_config = {.connect_timeout_ms = (uint32_t)cluster->connect_timeout_ms,
                                             .idle_timeout_ms = (uint32_t)cluster->upstream_idle_timeout_ms,
                                             .max_idle = 1024};
    fd_upstream_pool_init(&host->pool, rw->loop, (const struct sockaddr *)&a->addr, a->addr_len, &pool_config);
    return host;
}

static void free_host(fd_router_host_t *host)
{
    fd_upstream_pool_dispose(&host->pool);
    free(host);
}

static void rebuild_ring(fd_router_cluster_t *rc)
{
    free(rc->ring);
    rc->ring = NULL;
    rc->ring_size = 0;
    if (rc->config->lb_policy == FD_LB_RING_HASH && rc->n_hosts != 0 && fd_lb_build_ring(rc) != 0)
        fprintf(stderr, "frontdesk: cluster '%s': cannot build the hash ring\n", rc->config->name.base);
}

/* Retired hosts go once nothing runs on them and no request names them any more. */
static void sweep_retired(fd_router_cluster_t *rc)
{
    size_t kept = 0;
    for (size_t i = 0; i < rc->n_retired; i++) {
        if (FD_STAT_LOAD(rc->retired[i]->active_requests) == 0 && rc->retired[i]->refs == 0)
            free_host(rc->retired[i]);
        else
            rc->retired[kept++] = rc->retired[i];
    }
    rc->n_retired = kept;
}

static int same_address(const fd_router_host_t *host, const fd_router_address_t *a)
{
    return host->address.addr_len == a->addr_len && memcmp(&host->address.addr, &a->addr, a->addr_len) == 0 &&
           host->endpoint == a->endpoint;
}

void fd_router_update_hosts(fd_router_worker_t *rw, size_t cluster, const fd_router_address_t *addresses, size_t n)
{
    fd_router_cluster_set_hosts(rw, &rw->clusters[cluster], addresses, n);
}

void fd_router_cluster_set_hosts(fd_router_worker_t *rw, fd_router_cluster_t *rc, const fd_router_address_t *addresses,
                                 size_t n)
{
    fd_router_host_t **hosts = calloc(n ? n : 1, sizeof(*hosts));
    if (hosts == NULL)
        abort();
    pthread_mutex_lock(&rw->hosts_lock);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < rc->n_hosts && hosts[i] == NULL; j++)
            if (rc->hosts[j] != NULL && same_address(rc->hosts[j], &addresses[i]))
                hosts[i] = rc->hosts[j], rc->hosts[j] = NULL; /* kept: pool, counters and all */
        if (hosts[i] != NULL) {                               /* an EDS update may reweigh it */
            hosts[i]->weight = addresses[i].weight;
            hosts[i]->priority = addresses[i].priority;
        }
        if (hosts[i] == NULL)
            hosts[i] = new_host(rw, rc->config, &addresses[i]);
    }
    for (size_t j = 0; j < rc->n_hosts; j++) {
        if (rc->hosts[j] == NULL)
            continue;
        rc->retired = realloc(rc->retired, (rc->n_retired + 1) * sizeof(*rc->retired));
        if (rc->retired == NULL)
            abort();
        rc->retired[rc->n_retired++] = rc->hosts[j];
    }
    free(rc->hosts);
    rc->hosts = hosts;
    rc->n_hosts = n;
    sweep_retired(rc);
    rebuild_ring(rc);
    pthread_mutex_unlock(&rw->hosts_lock);
}

void fd_stream_info_name_host(fd_stream_info_t *info, fd_router_host_t *host)
{
    if (host != NULL)
        host->refs++;
    if (info->upstream_host != NULL)
        info->upstream_host->refs--;
    info->upstream_host = host;
}

void fd_router_cluster_free_hosts(fd_router_cluster_t *rc)
{
    for (size_t h = 0; h < rc->n_hosts; h++)
        free_host(rc->hosts[h]);
    for (size_t h = 0; h < rc->n_retired; h++)
        free_host(rc->retired[h]);
    free(rc->hosts);
    free(rc->retired);
    free(rc->ring);
    rc->hosts = rc->retired = NULL;
    rc->n_hosts = rc->n_retired = 0;
    rc->ring = NULL;
}

/* A retired host may stay busy after its cluster's last stream ended (a pooled connection
 * closing): the caller checks before freeing the cluster. */
int fd_router_cluster_idle(const fd_router_cluster_t *rc)
{
    for (size_t h = 0; h < rc->n_hosts + rc->n_retired; h++) {
        const fd_router_host_t *host = h < rc->n_hosts ? rc->hosts[h] : rc->retired[h - rc->n_hosts];
        if (FD_STAT_LOAD(host->active_requests) != 0 || host->refs != 0)
            return 0;
    }
    return rc->refs == 0;
}

void fd_router_worker_init(fd_router_worker_t *rw, h2o_loop_t *loop, const fd_config_t *config)
{
    memset(rw, 0, sizeof(*rw));
    rw->loop = loop;
    rw->timeouts.loop = loop;
    rw->config = config;
    rw->random_state = (uint64_t)(uintptr_t)rw ^ 0x243F6A8885A308D3ull;
    pthread_mutex_init(&rw->hosts_lock, NULL);
    rw->clusters = calloc(config->n_clusters ? config->n_clusters : 1, sizeof(*rw->clusters));
    if (rw->clusters == NULL)
        abort();
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        rw->clusters[c] = (fd_router_cluster_t){.config = cluster, .random_state = rw->random_state + c};
        fd_router_address_t *addresses = calloc(cluster->n_endpoints + 1, sizeof(*addresses));
        size_t n = 0;
        for (size_t e = 0; e < cluster->n_endpoints; e++) {
            const fd_endpoint_t *endpoint = &cluster->endpoints[e];
            if (endpoint->address.addr_len == 0 || !endpoint->healthy)
                continue; /* a DNS name: its addresses come from the resolver */
            memcpy(&addresses[n].addr, &endpoint->address.addr, endpoint->address.addr_len);
            addresses[n].addr_len = endpoint->address.addr_len;
            addresses[n].weight = endpoint->weight;
            addresses[n].priority = endpoint->priority;
            addresses[n++].endpoint = endpoint;
        }
        fd_router_update_hosts(rw, c, addresses, n);
        free(addresses);
    }
}

void fd_router_worker_dispose(fd_router_worker_t *rw)
{
    fd_router_dispose_dynamic(rw);
    pthread_mutex_lock(&rw->hosts_lock);
    for (size_t c = 0; c < rw->config->n_clusters; c++)
        fd_router_cluster_free_hosts(&rw->clusters[c]);
    free(rw->clusters);
    rw->clusters = NULL;
    pthread_mutex_unlock(&rw->hosts_lock);
    fd_timeouts_dispose(&rw->timeouts);
}

h2o_timeout_t *fd_router_timeout(fd_router_worker_t *rw, uint64_t ms)
{
    return fd_timeouts_get(&rw->timeouts, ms);
}

static const fd_string_t *pick_weighted(fd_router_worker_t *rw, const fd_route_forward_t *fw, size_t *index)
{
    uint64_t r = fd_lb_random(&rw->random_state) % fw->total_weight;
    for (size_t i = 0; i < fw->n_weighted; i++) {
        if (r < fw->weighted[i].weight) {
            *index = i;
            return &fw->weighted[i].name;
        }
        r -= fw->weighted[i].weight;
    }
    *index = fw->n_weighted - 1;
    return &fw->weighted[fw->n_weighted - 1].name;
}

/* The cluster the route names, by name, header or weight; NULL (with a reply) if none. */
static fd_router_cluster_t *pick_cluster(fd_router_worker_t *rw, h2o_req_t *req, const fd_route_forward_t *fw,
                                         const fd_weighted_cluster_t **weighted)
{
    fd_string_t name = fw->cluster;
    *weighted = NULL;
    if (fw->cluster_header.len != 0) {
        ssize_t cursor = h2o_find_header_by_str(&req->headers, fw->cluster_header.base, fw->cluster_header.len, -1);
        name = cursor != -1
                   ? (fd_string_t){req->headers.entries[cursor].value.base, req->headers.entries[cursor].value.len}
                   : (fd_string_t){"", 0};
    } else if (fw->n_weighted != 0) {
        size_t index;
        name = *pick_weighted(rw, fw, &index);
        *weighted = &fw->weighted[index];
    }
    const fd_cluster_t *cluster = fd_config_find_cluster(rw->config, name.base, name.len);
    if (cluster == NULL)
        return rw->n_dynamic != 0 ? fd_router_find_dynamic(rw, name.base, name.len) : NULL;
    return &rw->clusters[cluster - rw->config->clusters];
}

void fd_router_forward(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http,
                       const fd_virtual_host_t *vhost, const fd_route_t *route, fd_stream_info_t *info)
{
    const fd_weighted_cluster_t *weighted;
    fd_router_cluster_t *rc = pick_cluster(rw, req, &route->forward, &weighted);
    if (rc == NULL) { /* NC: Envoy's cluster_not_found_response_code defaults to 503 */
        info->response_flags = "NC";
        fd_router_local_reply(req, 503, "Service Unavailable", "");
        return;
    }
    fd_stream_info_name_cluster(info, rc);
    uint64_t hash;
    int have_hash = fd_router_hash_request(req, &route->forward, &hash);
    size_t host = fd_lb_pick(rc, have_hash ? &hash : NULL);
    if (host == SIZE_MAX) { /* UH */
        FD_STAT_INC(rc->stats.upstream_cx_none_healthy);
        info->response_flags = "UH";
        fd_router_local_reply(req, 503, "Service Unavailable", "no healthy upstream");
        return;
    }
    fd_router_forward_to_host(rw, req, http, vhost, route, weighted, rc, rc->hosts[host], info);
}
