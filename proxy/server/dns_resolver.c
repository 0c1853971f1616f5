/* DNS for STRICT_DNS and LOGICAL_DNS clusters, off the workers: a resolver thread
 * re-resolves each cluster every dns_refresh_rate and, when the answer changes, sends the
 * new addresses to every worker. A failed lookup keeps the last good addresses. */
#include "proxy/server/dns_resolver.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/server/worker.h"
#include "proxy/util/clock.h"

typedef struct dns_cluster {
    size_t index; /* in config->clusters */
    fd_router_address_t *addresses;
    size_t n_addresses;
    uint64_t due_ms;
    int failing; /* the last lookup failed: said once, not at every refresh */
} dns_cluster_t;

struct fd_dns_resolver {
    fd_server_t *server;
    const fd_config_t *config;
    dns_cluster_t *clusters;
    size_t n_clusters;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    int exited; /* workers keep their queues until the resolver can no longer post to them */
};

/* Appends the addresses of one endpoint; -1 (with a message) when the name does not resolve. */
static int resolve_endpoint(const fd_cluster_t *cluster, const fd_endpoint_t *endpoint, fd_router_address_t **out,
                            size_t *n, size_t *cap, int quiet)
{
    struct addrinfo hints = {.ai_family = cluster->dns_lookup_family, .ai_socktype = SOCK_STREAM}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", endpoint->address.port);
    int rc = getaddrinfo(endpoint->address.host, port, &hints, &res);
    if (rc != 0) {
        if (!quiet)
            fprintf(stderr, "frontdesk: cluster '%s': cannot resolve '%s': %s\n", cluster->name.base,
                    endpoint->address.host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (*n == *cap && (*out = realloc(*out, (*cap = *cap * 2 + 4) * sizeof(**out))) == NULL)
            abort();
        fd_router_address_t *a = &(*out)[(*n)++];
        memset(a, 0, sizeof(*a));
        memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
        a->addr_len = ai->ai_addrlen;
        a->endpoint = endpoint;
        a->weight = endpoint->weight;
        a->priority = endpoint->priority;
        if (cluster->type == FD_DISCOVERY_LOGICAL_DNS)
            break; /* Envoy's logical DNS uses the first address only */
    }
    freeaddrinfo(res);
    return 0;
}

/* All addresses of a cluster; -1 when any of its names failed to resolve. */
static int resolve_cluster(const fd_cluster_t *cluster, fd_router_address_t **out, size_t *n, int quiet)
{
    size_t cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    for (size_t e = 0; e < cluster->n_endpoints; e++) {
        const fd_endpoint_t *endpoint = &cluster->endpoints[e];
        if (!endpoint->healthy)
            continue;
        if (endpoint->address.addr_len != 0) { /* an IP in a DNS cluster is its own answer */
            if (*n == cap && (*out = realloc(*out, (cap = cap * 2 + 4) * sizeof(**out))) == NULL)
                abort();
            fd_router_address_t *a = &(*out)[(*n)++];
            memset(a, 0, sizeof(*a)); /* compared with memcmp: no stray padding */
            memcpy(&a->addr, &endpoint->address.addr, endpoint->address.addr_len);
            a->addr_len = endpoint->address.addr_len;
            a->weight = endpoint->weight;
            a->priority = endpoint->priority;
            a->endpoint = endpoint;
        } else if (resolve_endpoint(cluster, endpoint, out, n, &cap, quiet) != 0) {
            rc = -1;
        }
    }
    return rc;
}

static int same_addresses(const dns_cluster_t *dc, const fd_router_address_t *a, size_t n)
{
    return dc->n_addresses == n && (n == 0 || memcmp(dc->addresses, a, n * sizeof(*a)) == 0);
}

/* Under the lock: once fd_dns_resolver_request_stop returns, nothing is being posted, so a
 * worker whose drain time is up may destroy its queue. */
static void publish(fd_dns_resolver_t *r, dns_cluster_t *dc)
{
    pthread_mutex_lock(&r->lock);
    for (size_t w = 0; !r->stopping && w < fd_server_worker_count(r->server); w++)
        fd_worker_send_hosts(fd_server_worker(r->server, w), dc->index, dc->addresses, dc->n_addresses);
    pthread_mutex_unlock(&r->lock);
}

static void refresh(fd_dns_resolver_t *r, dns_cluster_t *dc)
{
    const fd_cluster_t *cluster = &r->config->clusters[dc->index];
    fd_router_address_t *addresses;
    size_t n;
    int failed = resolve_cluster(cluster, &addresses, &n, dc->failing);
    dc->failing = failed;
    dc->due_ms = fd_monotonic_ms() + cluster->dns_refresh_rate_ms;
    if (failed || same_addresses(dc, addresses, n)) {
        free(addresses);
        return;
    }
    free(dc->addresses);
    dc->addresses = addresses;
    dc->n_addresses = n;
    publish(r, dc);
}

static void *resolver_main(void *arg)
{
    fd_dns_resolver_t *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        uint64_t next = UINT64_MAX, now = fd_monotonic_ms();
        for (size_t i = 0; i < r->n_clusters; i++) {
            if (r->clusters[i].due_ms <= now) {
                pthread_mutex_unlock(&r->lock); /* lookups block: never while holding the lock */
                refresh(r, &r->clusters[i]);
                pthread_mutex_lock(&r->lock);
            }
            next = r->clusters[i].due_ms < next ? r->clusters[i].due_ms : next;
        }
        if (r->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t wait = next > fd_monotonic_ms() ? next - fd_monotonic_ms() : 0;
        until.tv_sec += (time_t)(wait / 1000);
        until.tv_nsec += (long)(wait % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000)
            until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
    }
    pthread_mutex_unlock(&r->lock);
    __atomic_store_n(&r->exited, 1, __ATOMIC_RELEASE);
    return NULL;
}

fd_dns_resolver_t *fd_dns_resolver_create(fd_server_t *server, const fd_config_t *config)
{
    fd_dns_resolver_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->clusters = calloc(config->n_clusters + 1, sizeof(*r->clusters))) == NULL)
        abort();
    r->server = server;
    r->config = config;
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        if (cluster->type != FD_DISCOVERY_STRICT_DNS && cluster->type != FD_DISCOVERY_LOGICAL_DNS)
            continue;
        dns_cluster_t *dc = &r->clusters[r->n_clusters++];
        dc->index = c;
        /* the first answer before any worker runs, so traffic never meets an empty cluster it need not */
        dc->failing = resolve_cluster(cluster, &dc->addresses, &dc->n_addresses, 0);
        dc->due_ms = fd_monotonic_ms() + cluster->dns_refresh_rate_ms;
    }
    return r;
}

void fd_dns_resolver_seed(fd_dns_resolver_t *r, fd_router_worker_t *rw)
{
    for (size_t i = 0; i < r->n_clusters; i++)
        fd_router_update_hosts(rw, r->clusters[i].index, r->clusters[i].addresses, r->clusters[i].n_addresses);
}

int fd_dns_resolver_start(fd_dns_resolver_t *r)
{
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (r->n_clusters == 0) {
        r->exited = 1;
        return 0;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the main thread's */
    int rc = pthread_create(&r->thread, NULL, resolver_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

void fd_dns_resolver_request_stop(fd_dns_resolver_t *r)
{
    pthread_mutex_lock(&r->lock);
    __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

int fd_dns_resolver_exited(fd_dns_resolver_t *r)
{
    return __atomic_load_n(&r->exited, __ATOMIC_ACQUIRE);
}

void fd_dns_resolver_stop(fd_dns_resolver_t *r)
{
    if (r == NULL)
        return;
    fd_dns_resolver_request_stop(r);
    if (r->n_clusters != 0)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    for (size_t i = 0; i < r->n_clusters; i++)
        free(r->clusters[i].addresses);
    free(r->clusters);
    free(r);
}
