/* EDS for the workers; see eds.h. Runs on the main thread's loop (xds_source.c brings the
 * responses there). */
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

typedef struct eds_cluster {
    size_t index; /* in config->clusters */
    const char *service;
    const fd_xds_source_t *source;
    int assigned; /* has had a first assignment */
    uint64_t update_success, update_rejected, update_attempt;
    fd_xds_dump_t dump;
} eds_cluster_t;

struct fd_eds {
    fd_server_t *server;
    const fd_config_t *config;
    eds_cluster_t *clusters;
    size_t n_clusters;
    fd_xds_warming_t warming;    /* clusters without a first assignment */
    uint64_t unsupported_fields; /* set in accepted assignments, ignored with a warning */
};

/* The workers' hosts for one cluster from its checked endpoints (unhealthy ones left out). */
static void publish(fd_eds_t *eds, const eds_cluster_t *ec, const fd_endpoint_t *endpoints, size_t n)
{
    fd_router_address_t *addresses = calloc(n ? n : 1, sizeof(*addresses));
    size_t count = 0;
    if (addresses == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!endpoints[i].healthy)
            continue;
        fd_router_address_t *a = &addresses[count++];
        memcpy(&a->addr, &endpoints[i].address.addr, endpoints[i].address.addr_len);
        a->addr_len = endpoints[i].address.addr_len;
        a->weight = endpoints[i].weight;
        a->priority = endpoints[i].priority;
    }
    for (size_t w = 0; w < fd_server_worker_count(eds->server); w++)
        fd_worker_send_hosts(fd_server_worker(eds->server, w), ec->index, addresses, count);
    free(addresses);
}

typedef struct checked {
    const char *name;
    fd_endpoint_t *endpoints;
    size_t n;
} checked_t;

/* Checks every assignment; 0 when all are good, else -1 with the translator's messages.
 * Every cluster watching a name (on this stream) counts its attempts and rejections. */
static int check_all(fd_eds_t *eds, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                     checked_t *out, fd_cfg_errors_t *errs)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
            (const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)resources[i];
        fd_cfg_errors_t one = {0}, warnings = {0};
        size_t watchers = 0;
        for (size_t c = 0; c < eds->n_clusters; c++)
            if (eds->clusters[c].source == source && strcmp(eds->clusters[c].service, cla->cluster_name) == 0)
                watchers++, eds->clusters[c].update_attempt++;
        if (watchers == 0) {
            fprintf(stderr, "frontdesk: EDS: ignoring ClusterLoadAssignment '%s': no EDS cluster subscribed to it\n",
                    cla->cluster_name);
            continue;
        }
        out[i].name = cla->cluster_name;
        if (fd_translate_load_assignment(cla, &out[i].endpoints, &out[i].n, &one, &warnings) != 0) {
            char *text = fd_cfg_errors_join(&one);
            fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "ClusterLoadAssignment '%s': %s", cla->cluster_name,
                              text);
            free(text);
            for (size_t c = 0; c < eds->n_clusters; c++)
                if (eds->clusters[c].source == source && strcmp(eds->clusters[c].service, cla->cluster_name) == 0)
                    eds->clusters[c].update_rejected++;
            ok = 0;
        } else if (warnings.count != 0) {
            char *text = fd_cfg_errors_join(&warnings);
            fprintf(stderr, "frontdesk: EDS '%s': %s\n", cla->cluster_name, text);
            free(text);
            eds->unsupported_fields += warnings.count + warnings.dropped;
        }
        fd_cfg_errors_clear(&one);
        fd_cfg_errors_clear(&warnings);
    }
    return ok ? 0 : -1;
}

/* A response: all its assignments go to the workers, or none (NACK) and the last good ones
 * stay. An assignment goes to every cluster watching its name, as in Envoy. */
static int apply(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                 const char *version, char *error, size_t error_size)
{
    fd_eds_t *eds = ctx;
    checked_t *checked = calloc(n ? n : 1, sizeof(*checked));
    fd_cfg_errors_t errs = {0};
    if (checked == NULL)
        abort();
    int rc = check_all(eds, source, resources, n, checked, &errs);
    if (rc != 0) {
        char *text = fd_cfg_errors_join(&errs);
        fprintf(stderr, "frontdesk: EDS update %s rejected, the previous endpoints keep serving:\n%s\n", version, text);
        snprintf(error, error_size, "%s", text);
        free(text);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (size_t c = 0; checked[i].name != NULL && c < eds->n_clusters; c++) {
            eds_cluster_t *ec = &eds->clusters[c];
            if (ec->source != source || strcmp(ec->service, checked[i].name) != 0)
                continue;
            publish(eds, ec, checked[i].endpoints, checked[i].n);
            fd_xds_dump_set(&ec->dump, resources[i], version);
            ec->update_success++;
            if (!ec->assigned) {
                ec->assigned = 1;
                fd_xds_warming_arrived(&eds->warming);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        free(checked[i].endpoints);
    free(checked);
    fd_cfg_errors_clear(&errs);
    return rc;
}

/* The EDS clusters, each on the stream of its eds_config, subscribed by service name. */
static int plan(fd_eds_t *eds, fd_xds_sources_t *sources)
{
    const fd_config_t *config = eds->config;
    eds->clusters = calloc(config->n_clusters, sizeof(*eds->clusters));
    if (eds->clusters == NULL)
        abort();
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        if (cluster->type != FD_DISCOVERY_EDS)
            continue;
        eds_cluster_t *ec = &eds->clusters[eds->n_clusters++];
        ec->index = c;
        ec->service = cluster->eds_service_name.len != 0 ? cluster->eds_service_name.base : cluster->name.base;
        fd_xds_source_t *source = fd_xds_sources_get(sources, &cluster->eds_config);
        if (source == NULL)
            return -1;
        ec->source = source;
        fd_xds_source_watch(source, FD_ADS_TYPE_ENDPOINT,
                            &envoy__config__endpoint__v3__cluster_load_assignment__descriptor, ec->service, apply, eds);
    }
    return 0;
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
    if (n == 0)
        return 0;
    fd_eds_t *eds = calloc(1, sizeof(*eds));
    if (eds == NULL)
        abort();
    *eds = (fd_eds_t){.server = server, .config = config};
    fd_xds_warming_start(&eds->warming, loop, n, wait_forever ? 0 : init_ms, "EDS cluster(s)");
    *out = eds;
    return plan(eds, sources);
}

int fd_eds_ready(const fd_eds_t *eds)
{
    return eds == NULL || fd_xds_warming_done(&eds->warming);
}

int fd_eds_cluster_stats(const fd_eds_t *eds, size_t cluster, fd_eds_stats_t *out)
{
    for (size_t i = 0; eds != NULL && i < eds->n_clusters; i++)
        if (eds->clusters[i].index == cluster) {
            *out = (fd_eds_stats_t){eds->clusters[i].update_attempt, eds->clusters[i].update_success,
                                    eds->clusters[i].update_rejected};
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
    for (size_t i = 0; eds != NULL && i < eds->n_clusters; i++)
        fd_xds_dump_append(&eds->clusters[i].dump, "endpoint_config", dynamic_endpoint_configs);
}

void fd_eds_free(fd_eds_t *eds)
{
    if (eds == NULL)
        return;
    for (size_t i = 0; i < eds->n_clusters; i++)
        fd_xds_dump_clear(&eds->clusters[i].dump);
    fd_xds_warming_dispose(&eds->warming);
    free(eds->clusters);
    free(eds);
}
