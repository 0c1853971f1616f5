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
    size_t index;                /* in config->clusters; SIZE_MAX for a CDS cluster: */
    const fd_cluster_t *cluster; /* its config, held by arena (the resolver's reference) */
    fd_config_t *arena;
    int removed; /* gone from CDS, or replaced: freed by the thread, posts nothing more */
    fd_router_address_t *addresses;
    size_t n_addresses;
    uint64_t due_ms;
    int failing; /* the last lookup failed: said once, not at every refresh */
} dns_cluster_t;

struct fd_dns_resolver {
    fd_server_t *server;
    const fd_config_t *config;
    dns_cluster_t **clusters; /* each allocated once: the thread uses one without the lock */
    size_t n_clusters;
    int threaded; /* DNS clusters, or CDS that may bring some: the thread runs */
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
    for (size_t w = 0; !r->stopping && !dc->removed && w < fd_server_worker_count(r->server); w++) {
        fd_worker_t *worker = fd_server_worker(r->server, w);
        if (dc->index != SIZE_MAX)
            fd_worker_send_hosts(worker, dc->index, dc->addresses, dc->n_addresses);
        else
            fd_worker_send_cluster_hosts(worker, dc->cluster->name.base, dc->addresses, dc->n_addresses);
    }
    pthread_mutex_unlock(&r->lock);
}

static void refresh(fd_dns_resolver_t *r, dns_cluster_t *dc)
{
    const fd_cluster_t *cluster = dc->cluster;
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

static void free_entry(dns_cluster_t *dc)
{
    if (dc->arena != NULL)
        fd_config_release(dc->arena);
    free(dc->addresses);
    free(dc);
}

/* Under the lock: the entries CDS removed go (only this thread frees them). */
static void sweep_removed(fd_dns_resolver_t *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_clusters; i++) {
        if (r->clusters[i]->removed)
            free_entry(r->clusters[i]);
        else
            r->clusters[kept++] = r->clusters[i];
    }
    r->n_clusters = kept;
}

static void *resolver_main(void *arg)
{
    fd_dns_resolver_t *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        uint64_t next = UINT64_MAX, now = fd_monotonic_ms();
        sweep_removed(r);
        for (size_t i = 0; i < r->n_clusters; i++) {
            dns_cluster_t *dc = r->clusters[i]; /* the array may grow while unlocked; dc stays */
            if (dc->due_ms <= now && !dc->removed) {
                pthread_mutex_unlock(&r->lock); /* lookups block: never while holding the lock */
                refresh(r, dc);
                pthread_mutex_lock(&r->lock);
            }
            next = dc->due_ms < next ? dc->due_ms : next;
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

static dns_cluster_t *add_entry(fd_dns_resolver_t *r, size_t index, const fd_cluster_t *cluster)
{
    dns_cluster_t *dc = calloc(1, sizeof(*dc));
    dns_cluster_t **grown = realloc(r->clusters, (r->n_clusters + 1) * sizeof(*grown));
    if (dc == NULL || grown == NULL)
        abort();
    r->clusters = grown;
    r->clusters[r->n_clusters++] = dc;
    dc->index = index;
    dc->cluster = cluster;
    return dc;
}

fd_dns_resolver_t *fd_dns_resolver_create(fd_server_t *server, const fd_config_t *config)
{
    fd_dns_resolver_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->server = server;
    r->config = config;
    r->threaded = config->cds.present;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        if (cluster->type != FD_DISCOVERY_STRICT_DNS && cluster->type != FD_DISCOVERY_LOGICAL_DNS)
            continue;
        dns_cluster_t *dc = add_entry(r, c, cluster);
        r->threaded = 1;
        /* the first answer before any worker runs, so traffic never meets an empty cluster it need not */
        dc->failing = resolve_cluster(cluster, &dc->addresses, &dc->n_addresses, 0);
        dc->due_ms = fd_monotonic_ms() + cluster->dns_refresh_rate_ms;
    }
    return r;
}

void fd_dns_resolver_seed(fd_dns_resolver_t *r, fd_router_worker_t *rw)
{
    for (size_t i = 0; i < r->n_clusters; i++)
        fd_router_update_hosts(rw, r->clusters[i]->index, r->clusters[i]->addresses, r->clusters[i]->n_addresses);
}

/* The live entry of a CDS cluster name, under the lock. */
static dns_cluster_t *entry_named(fd_dns_resolver_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_clusters; i++) {
        dns_cluster_t *dc = r->clusters[i];
        if (dc->index == SIZE_MAX && !dc->removed && strcmp(dc->cluster->name.base, name) == 0)
            return dc;
    }
    return NULL;
}

fd_router_address_t *fd_dns_resolver_last(fd_dns_resolver_t *r, const char *name, size_t *n)
{
    pthread_mutex_lock(&r->lock);
    dns_cluster_t *dc = entry_named(r, name);
    *n = dc != NULL ? dc->n_addresses : 0;
    fd_router_address_t *copy = calloc(*n ? *n : 1, sizeof(*copy));
    if (copy == NULL)
        abort();
    if (*n != 0)
        memcpy(copy, dc->addresses, *n * sizeof(*copy));
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < *n; i++)
        copy[i].endpoint = NULL; /* it points into the version being replaced */
    return copy;
}

void fd_dns_resolver_add(fd_dns_resolver_t *r, fd_config_t *arena, const fd_cluster_t *cluster,
                         const fd_router_address_t *seed, size_t n)
{
    pthread_mutex_lock(&r->lock);
    dns_cluster_t *old = entry_named(r, cluster->name.base);
    if (old != NULL)
        old->removed = 1; /* replaced: it posts nothing more */
    dns_cluster_t *dc = add_entry(r, SIZE_MAX, cluster);
    fd_config_retain(arena);
    dc->arena = arena;
    dc->due_ms = 0; /* resolved on the thread's next turn */
    if (n != 0) {
        if ((dc->addresses = malloc(n * sizeof(*seed))) == NULL)
            abort();
        memcpy(dc->addresses, seed, n * sizeof(*seed));
        dc->n_addresses = n;
    }
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

void fd_dns_resolver_remove(fd_dns_resolver_t *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    dns_cluster_t *dc = entry_named(r, name);
    if (dc != NULL) {
        dc->removed = 1;
        pthread_cond_signal(&r->wake);
    }
    pthread_mutex_unlock(&r->lock);
}

int fd_dns_resolver_start(fd_dns_resolver_t *r)
{
    if (!r->threaded) {
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
    if (r->threaded)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    for (size_t i = 0; i < r->n_clusters; i++)
        free_entry(r->clusters[i]);
    free(r->clusters);
    free(r);
}
