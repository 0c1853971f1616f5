/* RDS for the workers; see rds.h. Runs on the main thread's loop. */
#include "proxy/server/rds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/route/v3/route.pb-c.h"
#include "proxy/config/translate.h"
#include "proxy/router/route_match.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_dump.h"
#include "xds/ads_client.h"

typedef struct rds_name {
    char *name;
    fd_xds_source_t *source;
    size_t users;       /* listeners (chains) asking for it */
    int users_static;   /* a static listener's: counted in the start-up warming, never let go */
    int received;       /* has had a first RouteConfiguration */
    uint64_t hash;      /* of the one in force: the same sent again is not reloaded */
    fd_config_t *arena; /* the one in force (the main thread's reference), for listeners to come */
    const fd_route_table_t *table;
    fd_rds_stats_t stats;
    fd_xds_dump_t dump;
} rds_name_t;

struct fd_rds {
    fd_server_t *server;
    fd_xds_sources_t *sources;
    const fd_filter_registry_t *filters;
    rds_name_t **names; /* each allocated once */
    size_t n_names;
    fd_xds_warming_t warming;       /* static names without a first RouteConfiguration */
    uint64_t unsupported_fields;    /* set in accepted route configurations, ignored with a warning */
    int applying;                   /* names no one uses any more are dropped after the response */
    void (*on_received)(void *ctx); /* a name had its first RouteConfiguration (LDS warming) */
    void *on_received_ctx;
};

typedef struct compiled {
    rds_name_t *name; /* NULL: not a name of ours on this stream */
    const ProtobufCMessage *resource;
    uint64_t hash;
    int unchanged; /* the configuration in force, sent again: nothing to compile or reload */
    fd_config_t *arena;
    fd_route_table_t *table;
} compiled_t;

static rds_name_t *name_for(fd_rds_t *rds, const fd_xds_source_t *source, const char *name)
{
    for (size_t i = 0; i < rds->n_names; i++)
        if (rds->names[i]->source == source && strcmp(rds->names[i]->name, name) == 0)
            return rds->names[i];
    return NULL;
}

static void free_name(rds_name_t *n)
{
    fd_xds_dump_clear(&n->dump);
    if (n->arena != NULL)
        fd_config_release(n->arena);
    free(n->name);
    free(n);
}

/* Drops the names no listener uses any more (unsubscribed). */
static void collect(fd_rds_t *rds)
{
    size_t kept = 0;
    for (size_t i = 0; i < rds->n_names; i++) {
        rds_name_t *n = rds->names[i];
        if (n->users != 0) {
            rds->names[kept++] = n;
            continue;
        }
        fd_xds_source_unwatch(n->source, FD_ADS_TYPE_ROUTE, n->name);
        for (size_t w = 0; n->arena != NULL && w < fd_server_worker_count(rds->server); w++)
            fd_worker_send_routes(fd_server_worker(rds->server, w), n->name, NULL, NULL); /* forgotten there too */
        free_name(n);
    }
    rds->n_names = kept;
}

/* Translates and indexes one RouteConfiguration; -1 with its errors in errs. */
static int compile(fd_rds_t *rds, const Envoy__Config__Route__V3__RouteConfiguration *rc, compiled_t *out,
                   fd_cfg_errors_t *errs)
{
    fd_cfg_errors_t one = {0}, warnings = {0};
    out->arena = fd_translate_route_configuration(rc, rds->filters, &out->table, &one, &warnings);
    if (out->arena != NULL && fd_route_index_build(out->table, &out->arena->pool) != 0)
        fd_cfg_errors_add(&one, NULL, (fd_cfg_mark_t){0}, NULL, "a virtual host has too many routes to index");
    return fd_xds_report(errs, &one, &warnings, "RouteConfiguration", "RDS", rc->name, &rds->unsupported_fields);
}

static void publish(fd_rds_t *rds, compiled_t *c, const char *version)
{
    fd_xds_dump_set(&c->name->dump, c->resource, version);
    c->name->stats.update_success++;
    if (c->unchanged)
        return;
    for (size_t w = 0; w < fd_server_worker_count(rds->server); w++) {
        fd_config_retain(c->arena); /* the worker's reference */
        fd_worker_send_routes(fd_server_worker(rds->server, w), c->name->name, c->arena, c->table);
    }
    fd_config_retain(c->arena);
    if (c->name->arena != NULL)
        fd_config_release(c->name->arena);
    c->name->arena = c->arena;
    c->name->table = c->table;
    c->name->hash = c->hash;
    c->name->stats.config_reload++; /* as Envoy: only when the configuration changed */
    if (!c->name->received) {
        c->name->received = 1;
        if (c->name->users_static)
            fd_xds_warming_arrived(&rds->warming);
        if (rds->on_received != NULL)
            rds->on_received(rds->on_received_ctx);
    }
}

/* A response: all its route configurations go to the workers, or none (NACK). */
static int apply(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                 const char *version, char *error, size_t error_size)
{
    fd_rds_t *rds = ctx;
    rds->applying = 1;
    compiled_t *compiled = calloc(n ? n : 1, sizeof(*compiled));
    fd_cfg_errors_t errs = {0};
    int ok = 1;
    if (compiled == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const Envoy__Config__Route__V3__RouteConfiguration *rc =
            (const Envoy__Config__Route__V3__RouteConfiguration *)resources[i];
        compiled[i].resource = resources[i];
        if ((compiled[i].name = name_for(rds, source, rc->name)) == NULL) {
            fprintf(stderr, "frontdesk: RDS: ignoring RouteConfiguration '%s': no listener asked for it\n", rc->name);
            continue;
        }
        compiled[i].name->stats.update_attempt++;
        compiled[i].hash = fd_xds_resource_hash(resources[i]);
        compiled[i].unchanged = compiled[i].name->received && compiled[i].hash == compiled[i].name->hash;
        if (!compiled[i].unchanged && compile(rds, rc, &compiled[i], &errs) != 0) {
            compiled[i].name->stats.update_rejected++;
            ok = 0;
        }
    }
    if (!ok) {
        char what[300];
        snprintf(what, sizeof(what), "RDS update %s rejected, the previous routes keep serving", version);
        fd_xds_reject(&errs, error, error_size, what);
    }
    for (size_t i = 0; i < n; i++) {
        if (ok && compiled[i].name != NULL)
            publish(rds, &compiled[i], version);
        if (compiled[i].arena != NULL)
            fd_config_release(compiled[i].arena); /* the translator's reference */
    }
    free(compiled);
    fd_cfg_errors_clear(&errs);
    rds->applying = 0;
    collect(rds);
    return ok ? 0 : -1;
}

/* Chain c of a listener when its connection manager takes its routes from RDS, else NULL. */
static const fd_filter_chain_t *rds_chain(const fd_listener_t *listener, size_t c)
{
    const fd_filter_chain_t *chain = fd_listener_chain_at(listener, c);
    return chain != NULL && chain->http.routes == NULL && chain->http.rds_name.len != 0 ? chain : NULL;
}

/* The name of an RDS chain, when it is watched. */
static rds_name_t *name_of_chain(fd_rds_t *rds, const fd_filter_chain_t *chain)
{
    fd_xds_source_t *source = fd_xds_sources_get(rds->sources, &chain->http.rds_source, FD_ADS_TYPE_ROUTE);
    return source != NULL ? name_for(rds, source, chain->http.rds_name.base) : NULL;
}

/* One more user of the connection manager's route_config_name, watched on the stream of its
 * config source; NULL when that control server cannot be named. */
static rds_name_t *watch(fd_rds_t *rds, const fd_http_manager_t *http)
{
    fd_xds_source_t *source = fd_xds_sources_get(rds->sources, &http->rds_source, FD_ADS_TYPE_ROUTE);
    if (source == NULL)
        return NULL;
    rds_name_t *n = name_for(rds, source, http->rds_name.base);
    if (n == NULL) {
        rds_name_t **grown = realloc(rds->names, (rds->n_names + 1) * sizeof(*grown));
        if (grown == NULL || (n = calloc(1, sizeof(*n))) == NULL || (n->name = strdup(http->rds_name.base)) == NULL)
            abort();
        rds->names = grown;
        rds->names[rds->n_names++] = n;
        n->source = source;
        fd_xds_source_watch(source, FD_ADS_TYPE_ROUTE, &envoy__config__route__v3__route_configuration__descriptor,
                            n->name, apply, rds);
    }
    n->users++;
    return n;
}

/* The names the listeners use, each watched on the stream of its config source. */
static int plan(fd_rds_t *rds, const fd_config_t *config, uint64_t *init_ms, int *wait_forever)
{
    for (size_t l = 0; l < config->n_listeners; l++) {
        const fd_listener_t *listener = &config->listeners[l];
        for (size_t c = 0; c <= listener->n_chains; c++) {
            const fd_filter_chain_t *chain = rds_chain(listener, c);
            if (chain == NULL)
                continue;
            size_t before = rds->n_names;
            rds_name_t *n = watch(rds, &chain->http);
            if (n == NULL)
                return -1;
            n->users_static = 1;
            if (rds->n_names == before)
                continue;
            uint64_t ms = chain->http.rds_source.initial_fetch_timeout_ms;
            *wait_forever |= ms == 0; /* an explicit 0 s: wait as long as it takes, as Envoy */
            *init_ms = ms > *init_ms ? ms : *init_ms;
        }
    }
    return 0;
}

int fd_rds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 const fd_filter_registry_t *filters, fd_rds_t **out)
{
    *out = NULL;
    fd_rds_t *rds = calloc(1, sizeof(*rds));
    if (rds == NULL)
        abort();
    *rds = (fd_rds_t){.server = server, .sources = sources, .filters = filters};
    uint64_t init_ms = 0;
    int wait_forever = 0;
    if (plan(rds, config, &init_ms, &wait_forever) != 0) {
        fd_rds_free(rds);
        return -1;
    }
    if (rds->n_names == 0 && !config->lds.present) {
        fd_rds_free(rds);
        return 0;
    }
    fd_xds_warming_start(&rds->warming, loop, rds->n_names, wait_forever ? 0 : init_ms, "RDS route configuration(s)");
    *out = rds;
    return 0;
}

int fd_rds_ready(const fd_rds_t *rds)
{
    return rds == NULL || fd_xds_warming_done(&rds->warming);
}

int fd_rds_name_stats(const fd_rds_t *rds, const char *name, fd_rds_stats_t *out)
{
    for (size_t i = 0; rds != NULL && i < rds->n_names; i++)
        if (strcmp(rds->names[i]->name, name) == 0) {
            *out = rds->names[i]->stats;
            return 1;
        }
    return 0;
}

uint64_t fd_rds_unsupported_fields(const fd_rds_t *rds)
{
    return rds != NULL ? rds->unsupported_fields : 0;
}

void fd_rds_config_dump(const fd_rds_t *rds, json_t *dynamic_route_configs)
{
    for (size_t i = 0; rds != NULL && i < rds->n_names; i++)
        fd_xds_dump_append(&rds->names[i]->dump, "route_config", dynamic_route_configs);
}

void fd_rds_free(fd_rds_t *rds)
{
    if (rds == NULL)
        return;
    fd_xds_warming_dispose(&rds->warming);
    for (size_t i = 0; i < rds->n_names; i++)
        free_name(rds->names[i]);
    free(rds->names);
    free(rds);
}

/* One user fewer for each RDS chain of listener before chain `end`. */
static void unwatch_chains(fd_rds_t *rds, const fd_listener_t *listener, size_t end)
{
    for (size_t c = 0; c < end; c++) {
        const fd_filter_chain_t *chain = rds_chain(listener, c);
        rds_name_t *n = chain != NULL ? name_of_chain(rds, chain) : NULL;
        if (n != NULL && n->users != 0)
            n->users--;
    }
    if (!rds->applying)
        collect(rds);
}

int fd_rds_watch_listener(fd_rds_t *rds, const fd_listener_t *listener)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        const fd_filter_chain_t *chain = rds_chain(listener, c);
        if (chain != NULL && watch(rds, &chain->http) == NULL) {
            unwatch_chains(rds, listener, c); /* the chains before it let go */
            return -1;
        }
    }
    return 0;
}

void fd_rds_unwatch_listener(fd_rds_t *rds, const fd_listener_t *listener)
{
    unwatch_chains(rds, listener, listener->n_chains + 1);
}

int fd_rds_listener_ready(fd_rds_t *rds, const fd_listener_t *listener)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        const fd_filter_chain_t *chain = rds_chain(listener, c);
        const rds_name_t *n = chain != NULL ? name_of_chain(rds, chain) : NULL;
        if (chain != NULL && (n == NULL || !n->received))
            return 0;
    }
    return 1;
}

void fd_rds_send_listener_routes(fd_rds_t *rds, const fd_listener_t *listener, fd_worker_t *worker)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        const fd_filter_chain_t *chain = rds_chain(listener, c);
        const rds_name_t *n = chain != NULL ? name_of_chain(rds, chain) : NULL;
        if (n != NULL && n->arena != NULL) {
            fd_config_retain(n->arena); /* the worker's reference */
            fd_worker_send_routes(worker, n->name, n->arena, n->table);
        }
    }
}

void fd_rds_hold(fd_rds_t *rds, int hold)
{
    rds->applying = hold;
    if (!hold)
        collect(rds);
}

void fd_rds_on_received(fd_rds_t *rds, void (*cb)(void *ctx), void *ctx)
{
    rds->on_received = cb;
    rds->on_received_ctx = ctx;
}
