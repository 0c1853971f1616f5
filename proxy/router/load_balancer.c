/* Load balancing over a cluster's hosts, per worker and without locks: weighted round
 * robin (smooth, as nginx does it), weighted random, least request (power of two
 * choices) and ring hash. */
#include "proxy/router/load_balancer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t fd_lb_random(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t fd_lb_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ull; /* FNV-1a, then a splitmix64 finalizer for spread */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static size_t pick_round_robin(fd_router_cluster_t *rc)
{
    int64_t total = 0;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < rc->n_hosts; i++) {
        fd_router_host_t *h = rc->hosts[i];
        h->current_weight += h->weight;
        total += h->weight;
        if (best == SIZE_MAX || h->current_weight > rc->hosts[best]->current_weight)
            best = i;
    }
    rc->hosts[best]->current_weight -= total;
    return best;
}

static size_t pick_random(fd_router_cluster_t *rc)
{
    uint64_t total = 0;
    for (size_t i = 0; i < rc->n_hosts; i++)
        total += rc->hosts[i]->weight;
    uint64_t r = fd_lb_random(&rc->random_state) % total;
    for (size_t i = 0; i < rc->n_hosts; i++) {
        if (r < rc->hosts[i]->weight)
            return i;
        r -= rc->hosts[i]->weight;
    }
    return rc->n_hosts - 1;
}

/* Envoy's least request: the best of `choices` random hosts by active requests per weight. */
static size_t pick_least_request(fd_router_cluster_t *rc)
{
    size_t best = pick_random(rc);
    for (uint32_t c = 1; c < rc->config->least_request_choices; c++) {
        size_t other = pick_random(rc);
        const fd_router_host_t *a = rc->hosts[best], *b = rc->hosts[other];
        if ((uint64_t)b->active_requests * a->weight < (uint64_t)a->active_requests * b->weight)
            best = other;
    }
    return best;
}

static size_t pick_ring(const fd_router_cluster_t *rc, uint64_t hash)
{
    size_t lo = 0, hi = rc->ring_size;
    while (lo < hi) { /* the first point at or after the hash, wrapping around */
        size_t mid = (lo + hi) / 2;
        if ((rc->ring[mid] >> 16) < (hash >> 16))
            lo = mid + 1;
        else
            hi = mid;
    }
    return (size_t)(rc->ring[lo == rc->ring_size ? 0 : lo] & 0xffff);
}

size_t fd_lb_pick(fd_router_cluster_t *rc, const uint64_t *hash)
{
    if (rc->n_hosts == 0)
        return SIZE_MAX;
    switch (rc->config->lb_policy) {
    case FD_LB_LEAST_REQUEST: return pick_least_request(rc);
    case FD_LB_RANDOM: return pick_random(rc);
    case FD_LB_RING_HASH:
        if (hash != NULL && rc->ring_size != 0)
            return pick_ring(rc, *hash);
        return pick_random(rc); /* no hash policy produced a value: Envoy picks at random */
    default: return pick_round_robin(rc);
    }
}

static int compare_points(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Envoy's sizing: the host of smallest weight gets enough points for the ring to reach
 * minimum_ring_size, every host points in proportion to its weight, and the whole ring is
 * scaled down to fit maximum_ring_size. */
static double ring_scale(const fd_router_cluster_t *rc, uint64_t total)
{
    uint32_t min_weight = UINT32_MAX;
    for (size_t i = 0; i < rc->n_hosts; i++)
        min_weight = rc->hosts[i]->weight < min_weight ? rc->hosts[i]->weight : min_weight;
    double min_normalized = (double)min_weight / (double)total;
    double scale = ceil(min_normalized * (double)rc->config->ring_hash_min_size) / min_normalized;
    return scale < (double)rc->config->ring_hash_max_size ? scale : (double)rc->config->ring_hash_max_size;
}

int fd_lb_build_ring(fd_router_cluster_t *rc)
{
    uint64_t total = 0;
    for (size_t i = 0; i < rc->n_hosts; i++)
        total += rc->hosts[i]->weight;
    if (total == 0 || rc->n_hosts > 0xffff)
        return -1;
    double scale = ring_scale(rc, total);
    size_t capacity = (size_t)scale + rc->n_hosts + 1;
    rc->ring = calloc(capacity, sizeof(*rc->ring));
    if (rc->ring == NULL)
        return -1;
    for (size_t i = 0; i < rc->n_hosts; i++) {
        const fd_router_host_t *h = rc->hosts[i];
        uint64_t points = (uint64_t)floor(scale * (double)h->weight / (double)total + 0.5);
        for (uint64_t p = 0; p < (points ? points : 1) && rc->ring_size < capacity; p++) {
            char key[300];
            int n = snprintf(key, sizeof(key), "%s:%u_%llu", h->address.host, h->address.port, (unsigned long long)p);
            rc->ring[rc->ring_size++] = (fd_lb_hash(key, (size_t)n) & ~0xffffull) | i;
        }
    }
    qsort(rc->ring, rc->ring_size, sizeof(*rc->ring), compare_points);
    return 0;
}
