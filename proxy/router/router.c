/* The router: cluster and host selection, the upstream request with Envoy's headers,
 * the streamed response, timeouts and Envoy's local replies. See router.h. */
#include "proxy/router/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/router/load_balancer.h"
#include "proxy/router/upstream_request.h"

void fd_router_worker_init(fd_router_worker_t *rw, h2o_loop_t *loop, const fd_config_t *config)
{
    memset(rw, 0, sizeof(*rw));
    rw->loop = loop;
    rw->config = config;
    rw->random_state = (uint64_t)(uintptr_t)rw ^ 0x243F6A8885A308D3ull;
    rw->clusters = calloc(config->n_clusters ? config->n_clusters : 1, sizeof(*rw->clusters));
    if (rw->clusters == NULL)
        abort();
    for (size_t c = 0; c < config->n_clusters; c++) {
        fd_router_cluster_t *rc = &rw->clusters[c];
        const fd_cluster_t *cluster = &config->clusters[c];
        rc->config = cluster;
        rc->random_state = rw->random_state + c;
        rc->hosts = calloc(cluster->n_endpoints ? cluster->n_endpoints : 1, sizeof(*rc->hosts));
        if (rc->hosts == NULL)
            abort();
        for (size_t e = 0; e < cluster->n_endpoints; e++) {
            const fd_endpoint_t *endpoint = &cluster->endpoints[e];
            if (endpoint->address.addr_len == 0)
                continue; /* a DNS name: resolved hosts arrive with DNS support */
            fd_router_host_t *host = &rc->hosts[rc->n_hosts++];
            host->endpoint = endpoint;
            fd_upstream_pool_config_t pool_config = {.connect_timeout_ms = cluster->connect_timeout_ms,
                                                     .idle_timeout_ms = cluster->upstream_idle_timeout_ms,
                                                     .max_idle = 1024};
            fd_upstream_pool_init(&host->pool, loop, (const struct sockaddr *)&endpoint->address.addr,
                                  endpoint->address.addr_len, &pool_config);
        }
        if (cluster->lb_policy == FD_LB_RING_HASH && rc->n_hosts != 0 && fd_lb_build_ring(rc) != 0)
            fprintf(stderr, "frontdesk: cluster '%s': cannot build the hash ring\n", cluster->name.base);
    }
}

void fd_router_worker_dispose(fd_router_worker_t *rw)
{
    for (size_t c = 0; c < rw->config->n_clusters; c++) {
        for (size_t h = 0; h < rw->clusters[c].n_hosts; h++)
            fd_upstream_pool_dispose(&rw->clusters[c].hosts[h].pool);
        free(rw->clusters[c].hosts);
        free(rw->clusters[c].ring);
    }
    free(rw->clusters);
    for (size_t i = 0; i < rw->n_timeouts; i++) {
        h2o_timeout_dispose(rw->loop, rw->timeouts[i]);
        free(rw->timeouts[i]);
    }
    free(rw->timeouts);
}

/* h2o keeps one timeout queue per duration, linked into the loop by address, so each
 * is allocated once and never moves; routes have few distinct timeouts. */
h2o_timeout_t *fd_router_timeout(fd_router_worker_t *rw, uint64_t ms)
{
    for (size_t i = 0; i < rw->n_timeouts; i++)
        if (rw->timeouts[i]->timeout == ms)
            return rw->timeouts[i];
    h2o_timeout_t **grown = realloc(rw->timeouts, (rw->n_timeouts + 1) * sizeof(*grown));
    h2o_timeout_t *timeout = malloc(sizeof(*timeout));
    if (grown == NULL || timeout == NULL)
        abort();
    rw->timeouts = grown;
    h2o_timeout_init(rw->loop, timeout, ms);
    return rw->timeouts[rw->n_timeouts++] = timeout;
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
        return NULL;
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
    info->upstream_cluster = rc->config;
    uint64_t hash;
    int have_hash = fd_router_hash_request(req, &route->forward, &hash);
    size_t host = fd_lb_pick(rc, have_hash ? &hash : NULL);
    if (host == SIZE_MAX) { /* UH */
        FD_STAT_INC(rc->stats.upstream_cx_none_healthy);
        info->response_flags = "UH";
        fd_router_local_reply(req, 503, "Service Unavailable", "no healthy upstream");
        return;
    }
    fd_router_forward_to_host(rw, req, http, vhost, route, weighted, rc, &rc->hosts[host], info);
}
