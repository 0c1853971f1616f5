/* CDS for the workers; see cds.h. Runs on the main thread's loop. A cluster has at most two
 * versions: the active one (on the workers) and one warming (accepted, waiting for its EDS
 * endpoints); the warming one replaces the active one once its endpoints are in. */
#include "proxy/server/cds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "proxy/config/translate.h"
#include "proxy/server/dns_resolver.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_dump.h"
#include "xds/ads_client.h"

typedef struct cds_cluster cds_cluster_t;

typedef struct cds_version {
    cds_cluster_t *owner;
    fd_config_t *arena; /* holds cluster: the main thread's reference */
    const fd_cluster_t *cluster;
    fd_eds_watch_t *eds; /* EDS clusters */
} cds_version_t;

struct cds_cluster {
    fd_cds_t *cds;
    char *name;
    uint64_t hash;          /* of the last accepted Cluster: the same again changes nothing */
    cds_version_t *active;  /* on the workers; NULL while a new cluster warms */
    cds_version_t *warming; /* accepted, waiting for its endpoints */
    h2o_timeout_entry_t warm_timeout;
    int initial; /* warming in the first response: the server waits for it */
    int seen;    /* named by the response being applied */
    fd_xds_dump_t active_dump, warming_dump;
};

struct fd_cds {
    fd_server_t *server;
    const fd_config_t *config;
    h2o_loop_t *loop;
    cds_cluster_t **clusters; /* sorted by name */
    size_t n_clusters;
    fd_xds_warming_t first; /* the first response */
    size_t initial_warming; /* clusters of the first response still warming */
    fd_timeouts_t timeouts; /* one queue per initial_fetch_timeout in use */
    fd_cds_stats_t stats;
    uint64_t unsupported_fields;
    char *version; /* the last accepted version_info */
};

/* The index of name in cds->clusters, or where it would go (with *found 0). */
static size_t position_of(const fd_cds_t *cds, const char *name, int *found)
{
    size_t lo = 0, hi = cds->n_clusters;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cds->clusters[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static cds_cluster_t *find(const fd_cds_t *cds, const char *name)
{
    int found;
    size_t at = position_of(cds, name, &found);
    return found ? cds->clusters[at] : NULL;
}

static cds_cluster_t *add(fd_cds_t *cds, const char *name)
{
    int found;
    size_t at = position_of(cds, name, &found);
    cds_cluster_t *cc = calloc(1, sizeof(*cc));
    cds_cluster_t **grown = realloc(cds->clusters, (cds->n_clusters + 1) * sizeof(*grown));
    if (cc == NULL || grown == NULL || (cc->name = strdup(name)) == NULL)
        abort();
    cds->clusters = grown;
    memmove(&cds->clusters[at + 1], &cds->clusters[at], (cds->n_clusters - at) * sizeof(*grown));
    cds->clusters[at] = cc;
    cds->n_clusters++;
    cc->cds = cds;
    return cc;
}

static void free_version(fd_cds_t *cds, cds_version_t *v)
{
    if (v == NULL)
        return;
    fd_eds_unwatch(fd_server_eds(cds->server), v->eds);
    fd_config_release(v->arena);
    free(v);
}

/* The hosts a version starts with: its EDS service's last endpoints, or its own. */
static fd_router_address_t *addresses_of(const cds_version_t *v, size_t *n)
{
    const fd_endpoint_t *endpoints = v->cluster->endpoints;
    size_t n_endpoints = v->cluster->n_endpoints;
    if (v->eds != NULL)
        fd_eds_watch_endpoints(v->eds, &endpoints, &n_endpoints);
    return fd_eds_addresses(endpoints, n_endpoints, n);
}

static void stop_warming(cds_cluster_t *cc)
{
    if (h2o_timeout_is_linked(&cc->warm_timeout))
        h2o_timeout_unlink(&cc->warm_timeout);
    if (cc->initial) {
        cc->initial = 0;
        cc->cds->initial_warming--;
    }
}

static int is_dns(const cds_version_t *v)
{
    return v != NULL && (v->cluster->type == FD_DISCOVERY_STRICT_DNS || v->cluster->type == FD_DISCOVERY_LOGICAL_DNS);
}

/* The warming version goes to the workers in place of the active one. A DNS one starts with
 * the addresses its previous version resolved (none for a new one) until the resolver, told
 * after the workers, answers. */
static void activate(cds_cluster_t *cc)
{
    fd_cds_t *cds = cc->cds;
    cds_version_t *v = cc->warming;
    fd_dns_resolver_t *dns = fd_server_dns(cds->server);
    size_t n;
    fd_router_address_t *addresses = is_dns(v) ? fd_dns_resolver_last(dns, cc->name, &n) : addresses_of(v, &n);
    for (size_t w = 0; w < fd_server_worker_count(cds->server); w++) {
        fd_config_retain(v->arena); /* the worker's reference */
        fd_worker_send_cluster(fd_server_worker(cds->server, w), v->arena, v->cluster, addresses, n);
    }
    if (is_dns(v))
        fd_dns_resolver_add(dns, v->arena, v->cluster, addresses, n);
    else if (is_dns(cc->active))
        fd_dns_resolver_remove(dns, cc->name);
    free(addresses);
    free_version(cds, cc->active);
    cc->active = v;
    cc->warming = NULL;
    fd_xds_dump_clear(&cc->active_dump);
    cc->active_dump = cc->warming_dump;
    cc->warming_dump = (fd_xds_dump_t){0};
    stop_warming(cc);
}

/* EDS accepted new endpoints for a version's service. */
static void on_endpoints(void *ctx, const fd_endpoint_t *endpoints, size_t n)
{
    cds_version_t *v = ctx;
    cds_cluster_t *cc = v->owner;
    if (v == cc->warming) {
        activate(cc);
        return;
    }
    if (v != cc->active)
        return;
    size_t count;
    fd_router_address_t *addresses = fd_eds_addresses(endpoints, n, &count);
    for (size_t w = 0; w < fd_server_worker_count(cc->cds->server); w++)
        fd_worker_send_cluster_hosts(fd_server_worker(cc->cds->server, w), cc->name, addresses, count);
    free(addresses);
}

static void on_warm_timeout(h2o_timeout_entry_t *entry)
{
    cds_cluster_t *cc = H2O_STRUCT_FROM_MEMBER(cds_cluster_t, warm_timeout, entry);
    if (fd_server_is_draining(cc->cds->server))
        return; /* the workers may be gone */
    fprintf(stderr,
            "frontdesk: CDS: cluster '%s' had no endpoints within its initial_fetch_timeout; it serves "
            "without hosts until they come\n",
            cc->name);
    activate(cc);
    fd_xds_sources_flush(fd_server_xds(cc->cds->server)); /* the version it replaced may drop a service */
}

/* An accepted version: active at once, or warming until its endpoints come. */
static int install(cds_cluster_t *cc, fd_config_t *arena, const fd_cluster_t *cluster, const ProtobufCMessage *resource,
                   const char *version, int first_response)
{
    fd_cds_t *cds = cc->cds;
    cds_version_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        abort();
    *v = (cds_version_t){.owner = cc, .arena = arena, .cluster = cluster};
    if (cluster->type == FD_DISCOVERY_EDS &&
        (v->eds = fd_eds_watch(fd_server_eds(cds->server), cluster, on_endpoints, v)) == NULL) {
        free(v);
        return -1;
    }
    fd_config_retain(arena);
    if (cc->warming != NULL) /* replaced before it was warm */
        free_version(cds, cc->warming);
    cc->warming = v;
    fd_xds_dump_set(&cc->warming_dump, resource, version);
    const fd_endpoint_t *endpoints;
    size_t n;
    if (v->eds == NULL || fd_eds_watch_endpoints(v->eds, &endpoints, &n)) {
        activate(cc);
        return 0;
    }
    if (first_response && !cc->initial) {
        cc->initial = 1;
        cds->initial_warming++;
    }
    uint64_t ms = cluster->eds_config.initial_fetch_timeout_ms;
    if (ms != 0 && !h2o_timeout_is_linked(&cc->warm_timeout)) {
        cc->warm_timeout.cb = on_warm_timeout;
        h2o_timeout_link(cds->loop, fd_timeouts_get(&cds->timeouts, ms), &cc->warm_timeout);
    }
    return 0;
}

static void remove_cluster(fd_cds_t *cds, size_t at)
{
    cds_cluster_t *cc = cds->clusters[at];
    if (cc->active != NULL)
        for (size_t w = 0; w < fd_server_worker_count(cds->server); w++)
            fd_worker_send_cluster_removal(fd_server_worker(cds->server, w), cc->name);
    if (is_dns(cc->active))
        fd_dns_resolver_remove(fd_server_dns(cds->server), cc->name);
    stop_warming(cc);
    free_version(cds, cc->active);
    free_version(cds, cc->warming);
    fd_xds_dump_clear(&cc->active_dump);
    fd_xds_dump_clear(&cc->warming_dump);
    free(cc->name);
    free(cc);
    memmove(&cds->clusters[at], &cds->clusters[at + 1], (cds->n_clusters - at - 1) * sizeof(*cds->clusters));
    cds->n_clusters--;
}

/* What validates but cannot be served yet is refused by name, as at start (server.c). */
static const char *unservable(const fd_cluster_t *cluster)
{
    if (cluster->tls != NULL)
        return "upstream TLS cannot be served yet";
    if (cluster->protocol == FD_UPSTREAM_HTTP2 || cluster->protocol == FD_UPSTREAM_DOWNSTREAM)
        return "upstream HTTP/2 cannot be served yet";
    return NULL;
}

/* Translates one Cluster; NULL with the reason in errs. */
static fd_config_t *translate(fd_cds_t *cds, const Envoy__Config__Cluster__V3__Cluster *c, const fd_cluster_t **out,
                              fd_cfg_errors_t *errs)
{
    fd_cfg_errors_t one = {0}, warnings = {0};
    fd_cluster_t *cluster = NULL;
    fd_config_t *arena = NULL;
    const char *why = NULL;
    if (fd_config_find_cluster(cds->config, c->name, strlen(c->name)) != NULL)
        why = "a static cluster of the bootstrap has this name (CDS cannot replace it)";
    else if ((arena = fd_translate_cluster_resource(c, cds->config, &cluster, &one, &warnings)) != NULL &&
             (why = unservable(cluster)) != NULL) {
        fd_config_release(arena);
        arena = NULL;
    }
    if (why != NULL)
        fd_cfg_errors_add(&one, NULL, (fd_cfg_mark_t){0}, NULL, "%s", why);
    fd_xds_report(errs, &one, &warnings, "Cluster", "CDS", c->name, &cds->unsupported_fields);
    *out = cluster;
    return arena;
}

/* One Cluster of a response; -1 when it is refused (its previous version stays). */
static int apply_one(fd_cds_t *cds, const Envoy__Config__Cluster__V3__Cluster *c, const ProtobufCMessage *resource,
                     const char *version, int first_response, fd_cfg_errors_t *errs)
{
    cds_cluster_t *cc = find(cds, c->name);
    if (cc != NULL && cc->seen) {
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "Cluster '%s': sent twice in one response", c->name);
        return -1;
    }
    uint64_t hash = fd_xds_resource_hash(resource);
    if (cc != NULL) {
        cc->seen = 1;
        if (cc->hash == hash)
            return 0; /* unchanged: pools, hosts and counters stay */
    }
    const fd_cluster_t *cluster;
    fd_config_t *arena = translate(cds, c, &cluster, errs);
    if (arena == NULL)
        return -1;
    int is_new = cc == NULL;
    if (is_new) {
        cc = add(cds, c->name);
        cc->seen = 1;
    }
    int rc = install(cc, arena, cluster, resource, version, first_response);
    fd_config_release(arena); /* install took its own reference */
    if (rc != 0) {
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL,
                          "Cluster '%s': the control server of its eds_config cannot be named", c->name);
        if (is_new)
            remove_cluster(cds, position_of(cds, c->name, &(int){0}));
        return -1;
    }
    cc->hash = hash;
    if (is_new)
        cds->stats.cluster_added++;
    else
        cds->stats.cluster_modified++;
    return 0;
}

/* A response (state of the world): what it holds is added or changed, what it lacks goes. */
static int apply(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                 const char *version, char *error, size_t error_size)
{
    fd_cds_t *cds = ctx;
    (void)source;
    fd_cfg_errors_t errs = {0};
    int first_response = !fd_xds_warming_done(&cds->first);
    cds->stats.update_attempt++;
    for (size_t i = 0; i < cds->n_clusters; i++)
        cds->clusters[i]->seen = 0;
    for (size_t i = 0; i < n; i++)
        apply_one(cds, (const Envoy__Config__Cluster__V3__Cluster *)resources[i], resources[i], version, first_response,
                  &errs);
    for (size_t i = cds->n_clusters; i-- > 0;)
        if (!cds->clusters[i]->seen) {
            remove_cluster(cds, i);
            cds->stats.cluster_removed++;
        }
    if (first_response)
        fd_xds_warming_arrived(&cds->first);
    if (errs.count != 0) {
        char what[300];
        snprintf(what, sizeof(what), "CDS update %s: refused cluster(s) keep their previous version", version);
        fd_xds_reject(&errs, error, error_size, what);
        cds->stats.update_rejected++;
        return -1;
    }
    cds->stats.update_success++;
    free(cds->version);
    if ((cds->version = strdup(version)) == NULL)
        abort();
    return 0;
}

int fd_cds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 fd_cds_t **out)
{
    *out = NULL;
    if (!config->cds.present)
        return 0;
    fd_xds_source_t *source = fd_xds_sources_get(sources, &config->cds, FD_ADS_TYPE_CLUSTER);
    if (source == NULL)
        return -1;
    fd_cds_t *cds = calloc(1, sizeof(*cds));
    if (cds == NULL)
        abort();
    *cds = (fd_cds_t){.server = server, .config = config, .loop = loop, .timeouts = {.loop = loop}};
    fd_xds_warming_start(&cds->first, loop, 1, config->cds.initial_fetch_timeout_ms, "CDS response");
    fd_xds_source_watch_all(source, FD_ADS_TYPE_CLUSTER, &envoy__config__cluster__v3__cluster__descriptor, apply, cds);
    *out = cds;
    return 0;
}

int fd_cds_ready(const fd_cds_t *cds)
{
    return cds == NULL || (fd_xds_warming_done(&cds->first) && cds->initial_warming == 0);
}

void fd_cds_stats(const fd_cds_t *cds, fd_cds_stats_t *out)
{
    *out = cds->stats;
    out->active_clusters = out->warming_clusters = 0;
    for (size_t i = 0; i < cds->n_clusters; i++) {
        out->active_clusters += cds->clusters[i]->active != NULL;
        out->warming_clusters += cds->clusters[i]->warming != NULL;
    }
}

size_t fd_cds_cluster_count(const fd_cds_t *cds)
{
    return cds != NULL ? cds->n_clusters : 0;
}

const char *fd_cds_cluster_name(const fd_cds_t *cds, size_t i)
{
    return cds->clusters[i]->active != NULL ? cds->clusters[i]->name : NULL;
}

int fd_cds_cluster_eds_stats(const fd_cds_t *cds, size_t i, fd_eds_stats_t *out)
{
    const cds_version_t *v = cds->clusters[i]->active;
    if (v == NULL || v->eds == NULL)
        return 0;
    fd_eds_watch_stats(v->eds, out);
    return 1;
}

uint64_t fd_cds_unsupported_fields(const fd_cds_t *cds)
{
    return cds != NULL ? cds->unsupported_fields : 0;
}

void fd_cds_config_dump(const fd_cds_t *cds, json_t *dynamic_active, json_t *dynamic_warming, json_t *endpoints,
                        const char **version)
{
    *version = cds != NULL ? cds->version : NULL;
    for (size_t i = 0; cds != NULL && i < cds->n_clusters; i++) {
        const cds_cluster_t *cc = cds->clusters[i];
        fd_xds_dump_append(&cc->active_dump, "cluster", dynamic_active);
        fd_xds_dump_append(&cc->warming_dump, "cluster", dynamic_warming);
        if (cc->active != NULL && cc->active->eds != NULL)
            fd_eds_watch_dump(cc->active->eds, endpoints);
    }
}

void fd_cds_free(fd_cds_t *cds)
{
    if (cds == NULL)
        return;
    /* the workers and the streams are gone, and EDS frees its own watches: arenas only */
    while (cds->n_clusters != 0) {
        cds_cluster_t *cc = cds->clusters[--cds->n_clusters];
        if (h2o_timeout_is_linked(&cc->warm_timeout))
            h2o_timeout_unlink(&cc->warm_timeout);
        for (int i = 0; i < 2; i++) {
            cds_version_t *v = i == 0 ? cc->active : cc->warming;
            if (v != NULL)
                fd_config_release(v->arena);
            free(v);
        }
        fd_xds_dump_clear(&cc->active_dump);
        fd_xds_dump_clear(&cc->warming_dump);
        free(cc->name);
        free(cc);
    }
    fd_timeouts_dispose(&cds->timeouts);
    fd_xds_warming_dispose(&cds->first);
    free(cds->clusters);
    free(cds->version);
    free(cds);
}
