/* EDS for the workers; see eds.h. Runs on the main thread's loop (xds_source.c brings the
 * responses there). A service is one subscribed name on one stream, with its last accepted
 * endpoints; a watch is one cluster (static, or from CDS) taking that service's endpoints. */
#include "proxy/server/eds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "proxy/config/translate.h"
#include "proxy/router/router.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_dump.h"
#include "proxy/server/xds_source.h"
#include "xds/ads_client.h"

typedef struct eds_service {
    fd_xds_source_t *source;
    char *name;
    fd_endpoint_t *endpoints; /* the last accepted (malloc'd) */
    size_t n_endpoints;
    int received;
    size_t watches;
    fd_xds_dump_t dump;
} eds_service_t;

struct fd_eds_watch {
    size_t index; /* a static cluster's, in config->clusters; SIZE_MAX for a CDS cluster */
    eds_service_t *service;
    fd_eds_endpoints_cb on_endpoints; /* CDS clusters */
    void *ctx;
    int assigned; /* static: has had a first assignment */
    int gone;     /* unwatched while a response was being applied: freed after it */
    fd_eds_stats_t stats;
};

struct fd_eds {
    fd_server_t *server;
    const fd_config_t *config;
    fd_xds_sources_t *sources;
    eds_service_t **services;
    size_t n_services;
    fd_eds_watch_t **watches;
    size_t n_watches;
    fd_xds_warming_t warming;    /* static clusters without a first assignment */
    uint64_t unsupported_fields; /* set in accepted assignments, ignored with a warning */
    int applying;                /* a response is being applied: watches and services stay where they are */
};

fd_router_address_t *fd_eds_addresses(const fd_endpoint_t *endpoints, size_t n, size_t *count)
{
    fd_router_address_t *addresses = calloc(n ? n : 1, sizeof(*addresses));
    if (addresses == NULL)
        abort();
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!endpoints[i].healthy)
            continue;
        fd_router_address_t *a = &addresses[(*count)++];
        memcpy(&a->addr, &endpoints[i].address.addr, endpoints[i].address.addr_len);
        a->addr_len = endpoints[i].address.addr_len;
        a->weight = endpoints[i].weight;
        a->priority = endpoints[i].priority;
    }
    return addresses;
}

/* A static cluster's new hosts, to every worker. */
static void publish_static(fd_eds_t *eds, const fd_eds_watch_t *watch)
{
    size_t count;
    fd_router_address_t *addresses = fd_eds_addresses(watch->service->endpoints, watch->service->n_endpoints, &count);
    for (size_t w = 0; w < fd_server_worker_count(eds->server); w++)
        fd_worker_send_hosts(fd_server_worker(eds->server, w), watch->index, addresses, count);
    free(addresses);
}

static eds_service_t *service_of(fd_eds_t *eds, const fd_xds_source_t *source, const char *name)
{
    for (size_t i = 0; i < eds->n_services; i++)
        if (eds->services[i]->source == source && strcmp(eds->services[i]->name, name) == 0)
            return eds->services[i];
    return NULL;
}

static void free_service(eds_service_t *service);

/* Frees the watches that are gone, and the services no cluster watches any more (no longer
 * subscribed to). */
static void collect(fd_eds_t *eds)
{
    size_t kept = 0;
    for (size_t i = 0; i < eds->n_watches; i++) {
        if (eds->watches[i]->gone)
            free(eds->watches[i]);
        else
            eds->watches[kept++] = eds->watches[i];
    }
    eds->n_watches = kept;
    kept = 0;
    for (size_t i = 0; i < eds->n_services; i++) {
        eds_service_t *service = eds->services[i];
        if (service->watches != 0) {
            eds->services[kept++] = service;
            continue;
        }
        fd_xds_source_unwatch(service->source, FD_ADS_TYPE_ENDPOINT, service->name);
        free_service(service);
    }
    eds->n_services = kept;
}

/* Checks one assignment into *endpoints; -1 with the translator's message in errs. */
static int check_one(fd_eds_t *eds, const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                     fd_endpoint_t **endpoints, size_t *n, fd_cfg_errors_t *errs)
{
    fd_cfg_errors_t one = {0}, warnings = {0};
    fd_translate_load_assignment(cla, endpoints, n, &one, &warnings);
    return fd_xds_report(errs, &one, &warnings, "ClusterLoadAssignment", "EDS", cla->cluster_name,
                         &eds->unsupported_fields);
}

/* Every cluster watching the service counts one more attempt, or rejection. */
static void count(fd_eds_t *eds, const eds_service_t *service, int rejected)
{
    for (size_t i = 0; i < eds->n_watches; i++) {
        if (eds->watches[i]->service != service || eds->watches[i]->gone)
            continue;
        if (rejected)
            eds->watches[i]->stats.update_rejected++;
        else
            eds->watches[i]->stats.update_attempt++;
    }
}

/* The service's new endpoints go to every cluster watching it. */
static void take(fd_eds_t *eds, eds_service_t *service, fd_endpoint_t *endpoints, size_t n,
                 const ProtobufCMessage *resource, const char *version)
{
    free(service->endpoints);
    service->endpoints = endpoints;
    service->n_endpoints = n;
    service->received = 1;
    fd_xds_dump_set(&service->dump, resource, version);
    /* a callback may unwatch (a warming cluster replacing its previous version): that watch
     * is only marked gone until the response is applied, so this walk sees every other one */
    for (size_t i = 0; i < eds->n_watches; i++) {
        fd_eds_watch_t *watch = eds->watches[i];
        if (watch->service != service || watch->gone)
            continue;
        watch->stats.update_success++;
        if (watch->on_endpoints != NULL) {
            watch->on_endpoints(watch->ctx, endpoints, n);
            continue;
        }
        publish_static(eds, watch);
        if (!watch->assigned) {
            watch->assigned = 1;
            fd_xds_warming_arrived(&eds->warming);
        }
    }
}

/* A response: all its assignments are taken, or none (NACK) and the last good ones stay. */
static int apply(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                 const char *version, char *error, size_t error_size)
{
    fd_eds_t *eds = ctx;
    eds->applying = 1;
    typedef struct checked {
        eds_service_t *service;
        fd_endpoint_t *endpoints;
        size_t n;
    } checked_t;
    checked_t *checked = calloc(n ? n : 1, sizeof(*checked));
    fd_cfg_errors_t errs = {0};
    int ok = 1;
    if (checked == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
            (const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)resources[i];
        if ((checked[i].service = service_of(eds, source, cla->cluster_name)) == NULL) {
            fprintf(stderr, "frontdesk: EDS: ignoring ClusterLoadAssignment '%s': no EDS cluster subscribed to it\n",
                    cla->cluster_name);
            continue;
        }
        count(eds, checked[i].service, 0);
        if (check_one(eds, cla, &checked[i].endpoints, &checked[i].n, &errs) != 0) {
            count(eds, checked[i].service, 1);
            ok = 0;
        }
    }
    if (!ok) {
        char what[300];
        snprintf(what, sizeof(what), "EDS update %s rejected, the previous endpoints keep serving", version);
        fd_xds_reject(&errs, error, error_size, what);
    }
    for (size_t i = 0; i < n; i++) {
        if (ok && checked[i].service != NULL)
            take(eds, checked[i].service, checked[i].endpoints, checked[i].n, resources[i], version);
        else
            free(checked[i].endpoints);
    }
    free(checked);
    fd_cfg_errors_clear(&errs);
    eds->applying = 0;
    collect(eds);
    return ok ? 0 : -1;
}

/* A watch of cluster's service on the stream of its eds_config; NULL when that control
 * server cannot be named. */
static fd_eds_watch_t *add_watch(fd_eds_t *eds, const fd_cluster_t *cluster, size_t index)
{
    const char *name = cluster->eds_service_name.len != 0 ? cluster->eds_service_name.base : cluster->name.base;
    fd_xds_source_t *source = fd_xds_sources_get(eds->sources, &cluster->eds_config, FD_ADS_TYPE_ENDPOINT);
    if (source == NULL)
        return NULL;
    eds_service_t *service = service_of(eds, source, name);
    if (service == NULL) {
        eds_service_t **grown = realloc(eds->services, (eds->n_services + 1) * sizeof(*grown));
        if (grown == NULL || (service = calloc(1, sizeof(*service))) == NULL || (service->name = strdup(name)) == NULL)
            abort();
        eds->services = grown;
        eds->services[eds->n_services++] = service;
        service->source = source;
        fd_xds_source_watch(source, FD_ADS_TYPE_ENDPOINT,
                            &envoy__config__endpoint__v3__cluster_load_assignment__descriptor, name, apply, eds);
    }
    fd_eds_watch_t *watch = calloc(1, sizeof(*watch));
    fd_eds_watch_t **grown = realloc(eds->watches, (eds->n_watches + 1) * sizeof(*grown));
    if (watch == NULL || grown == NULL)
        abort();
    eds->watches = grown;
    eds->watches[eds->n_watches++] = watch;
    *watch = (fd_eds_watch_t){.index = index, .service = service};
    service->watches++;
    return watch;
}

int fd_eds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 fd_eds_t **out)
{
    *out = NULL;
    size_t n = 0;
    uint64_t init_ms = 0;
    int wait_forever = 0; /* an explicit 0 s: Envoy waits for that resource as long as it takes */
    for (size_t c = 0; c < config->n_clusters; c++)
        if (config->clusters[c].type == FD_DISCOVERY_EDS) {
            uint64_t ms = config->clusters[c].eds_config.initial_fetch_timeout_ms;
            n++;
            wait_forever |= ms == 0;
            init_ms = ms > init_ms ? ms : init_ms; /* the server waits for the slowest */
        }
    if (n == 0 && !config->cds.present)
        return 0;
    fd_eds_t *eds = calloc(1, sizeof(*eds));
    if (eds == NULL)
        abort();
    *eds = (fd_eds_t){.server = server, .config = config, .sources = sources};
    fd_xds_warming_start(&eds->warming, loop, n, wait_forever ? 0 : init_ms, "EDS cluster(s)");
    *out = eds;
    for (size_t c = 0; c < config->n_clusters; c++)
        if (config->clusters[c].type == FD_DISCOVERY_EDS && add_watch(eds, &config->clusters[c], c) == NULL)
            return -1;
    return 0;
}

fd_eds_watch_t *fd_eds_watch(fd_eds_t *eds, const fd_cluster_t *cluster, fd_eds_endpoints_cb on_endpoints, void *ctx)
{
    fd_eds_watch_t *watch = add_watch(eds, cluster, SIZE_MAX);
    if (watch != NULL) {
        watch->on_endpoints = on_endpoints;
        watch->ctx = ctx;
    }
    return watch;
}

int fd_eds_watch_endpoints(const fd_eds_watch_t *watch, const fd_endpoint_t **endpoints, size_t *n)
{
    *endpoints = watch->service->endpoints;
    *n = watch->service->n_endpoints;
    return watch->service->received;
}

void fd_eds_watch_stats(const fd_eds_watch_t *watch, fd_eds_stats_t *out)
{
    *out = watch->stats;
}

static void free_service(eds_service_t *service)
{
    fd_xds_dump_clear(&service->dump);
    free(service->endpoints);
    free(service->name);
    free(service);
}

void fd_eds_unwatch(fd_eds_t *eds, fd_eds_watch_t *watch)
{
    if (watch == NULL)
        return;
    watch->gone = 1;
    watch->service->watches--;
    if (!eds->applying)
        collect(eds);
}

int fd_eds_ready(const fd_eds_t *eds)
{
    return eds == NULL || fd_xds_warming_done(&eds->warming);
}

int fd_eds_cluster_stats(const fd_eds_t *eds, size_t cluster, fd_eds_stats_t *out)
{
    for (size_t i = 0; eds != NULL && i < eds->n_watches; i++)
        if (eds->watches[i]->index == cluster) {
            *out = eds->watches[i]->stats;
            return 1;
        }
    return 0;
}

uint64_t fd_eds_unsupported_fields(const fd_eds_t *eds)
{
    return eds != NULL ? eds->unsupported_fields : 0;
}

void fd_eds_config_dump(const fd_eds_t *eds, json_t *dynamic_endpoint_configs)
{
    for (size_t i = 0; eds != NULL && i < eds->n_watches; i++) /* one per cluster, as Envoy's */
        if (eds->watches[i]->index != SIZE_MAX)
            fd_eds_watch_dump(eds->watches[i], dynamic_endpoint_configs);
}

void fd_eds_watch_dump(const fd_eds_watch_t *watch, json_t *dynamic_endpoint_configs)
{
    fd_xds_dump_append(&watch->service->dump, "endpoint_config", dynamic_endpoint_configs);
}

void fd_eds_free(fd_eds_t *eds)
{
    if (eds == NULL)
        return;
    for (size_t i = 0; i < eds->n_services; i++)
        free_service(eds->services[i]);
    for (size_t i = 0; i < eds->n_watches; i++)
        free(eds->watches[i]);
    fd_xds_warming_dispose(&eds->warming);
    free(eds->services);
    free(eds->watches);
    free(eds);
}
