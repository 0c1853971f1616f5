/* LDS for the workers; see lds.h. Runs on the main thread's loop. A listener has at most two
 * versions: the active one (on the workers) and one warming (accepted, waiting for its RDS
 * routes); each version holds its runtime and the main thread's copies of its sockets. */
#include "proxy/server/lds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envoy/config/listener/v3/listener.pb-c.h"
#include "proxy/config/translate.h"
#include "proxy/server/listen_socket.h"
#include "proxy/server/listener_runtime.h"
#include "proxy/server/rds.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_dump.h"
#include "proxy/util/timeouts.h"
#include "xds/ads_client.h"

#define DEFAULT_WARM_TIMEOUT_MS 15000

typedef struct lds_listener lds_listener_t;

typedef struct lds_version {
    fd_listener_runtime_t *runtime; /* the main thread's reference */
    int *fds;                       /* one socket per worker; each worker gets a dup */
    size_t n_fds;
} lds_version_t;

struct lds_listener {
    fd_lds_t *lds;
    char *name;
    uint64_t hash;          /* of the last accepted Listener */
    lds_version_t *active;  /* on the workers */
    lds_version_t *warming; /* waiting for its routes */
    h2o_timeout_entry_t warm_timeout;
    int initial; /* warming in the first response: the server waits for it */
    int seen;
    fd_xds_dump_t active_dump, warming_dump;
};

struct fd_lds {
    fd_server_t *server;
    const fd_config_t *config;
    const fd_filter_registry_t *filters;
    h2o_loop_t *loop;
    fd_xds_source_t *source;
    int begun; /* listeners are asked for (after the first clusters, as in Envoy) */
    lds_listener_t **listeners;
    size_t n_listeners;
    fd_xds_warming_t first;
    size_t initial_warming;
    fd_timeouts_t timeouts;
    fd_lds_stats_t stats;
    uint64_t unsupported_fields;
    char *version;
};

static lds_listener_t *find(const fd_lds_t *lds, const char *name)
{
    for (size_t i = 0; i < lds->n_listeners; i++)
        if (strcmp(lds->listeners[i]->name, name) == 0)
            return lds->listeners[i];
    return NULL;
}

static void free_version(fd_lds_t *lds, lds_version_t *v, int unwatch)
{
    if (v == NULL)
        return;
    if (unwatch)
        fd_rds_unwatch_listener(fd_server_rds(lds->server), v->runtime->listener);
    for (size_t w = 0; w < v->n_fds; w++)
        close(v->fds[w]);
    free(v->fds);
    fd_listener_runtime_release(v->runtime);
    free(v);
}

static void stop_warming(lds_listener_t *ll)
{
    if (h2o_timeout_is_linked(&ll->warm_timeout))
        h2o_timeout_unlink(&ll->warm_timeout);
    if (ll->initial) {
        ll->initial = 0;
        ll->lds->initial_warming--;
    }
}

/* The warming version goes to every worker, with the routes it takes from RDS; the active one
 * it replaces drains there. */
static void activate(lds_listener_t *ll)
{
    fd_lds_t *lds = ll->lds;
    lds_version_t *v = ll->warming;
    for (size_t w = 0; w < fd_server_worker_count(lds->server); w++) {
        fd_worker_t *worker = fd_server_worker(lds->server, w);
        int fd = dup(v->fds[w]);
        if (fd < 0) {
            perror("frontdesk: LDS: dup");
            continue;
        }
        fd_listener_runtime_retain(v->runtime); /* the worker's reference */
        fd_worker_send_listener(worker, v->runtime, fd);
        fd_rds_send_listener_routes(fd_server_rds(lds->server), v->runtime->listener, worker);
    }
    free_version(lds, ll->active, 1);
    ll->active = v;
    ll->warming = NULL;
    fd_xds_dump_clear(&ll->active_dump);
    ll->active_dump = ll->warming_dump;
    ll->warming_dump = (fd_xds_dump_t){0};
    stop_warming(ll);
}

static void on_warm_timeout(h2o_timeout_entry_t *entry)
{
    lds_listener_t *ll = H2O_STRUCT_FROM_MEMBER(lds_listener_t, warm_timeout, entry);
    if (fd_server_is_draining(ll->lds->server))
        return; /* the workers may be gone */
    fprintf(stderr,
            "frontdesk: LDS: listener '%s' had not all its RDS routes within initial_fetch_timeout; it serves "
            "without them (404) until they come\n",
            ll->name);
    activate(ll);
    fd_xds_sources_flush(fd_server_xds(ll->lds->server)); /* the version it replaced may drop RDS names */
}

void fd_lds_on_routes(void *ctx)
{
    fd_lds_t *lds = ctx;
    for (size_t i = 0; i < lds->n_listeners; i++) {
        lds_listener_t *ll = lds->listeners[i];
        if (ll->warming != NULL && fd_rds_listener_ready(fd_server_rds(lds->server), ll->warming->runtime->listener))
            activate(ll);
    }
}

static int at_address(const lds_version_t *v, const fd_socket_address_t *address)
{
    const fd_socket_address_t *a = v != NULL ? &v->runtime->listener->address : NULL;
    return a != NULL && a->addr_len == address->addr_len && memcmp(&a->addr, &address->addr, a->addr_len) == 0;
}

/* The sockets of a version: its previous version's when the address is the same (no
 * connection waiting in their backlog is lost), else new ones. -1 with the reason in err. */
static int take_sockets(fd_lds_t *lds, lds_listener_t *ll, lds_version_t *v, char *err, size_t len)
{
    const fd_socket_address_t *address = &v->runtime->listener->address;
    lds_version_t *prev = at_address(ll->warming, address) ? ll->warming : ll->active;
    size_t n = fd_server_worker_count(lds->server);
    int same = at_address(prev, address);
    if ((v->fds = calloc(n, sizeof(*v->fds))) == NULL)
        abort();
    for (v->n_fds = 0; v->n_fds < n; v->n_fds++) {
        int fd = same ? dup(prev->fds[v->n_fds]) : fd_listen_socket_open(address, err, len);
        if (fd < 0) {
            if (same)
                snprintf(err, len, "cannot share the sockets of its previous version");
            return -1;
        }
        v->fds[v->n_fds] = fd;
    }
    return 0;
}

/* An accepted version: its runtime, sockets and RDS names; active at once when its routes are
 * in, else warming. -1 with the reason in err. */
static int install(lds_listener_t *ll, fd_config_t *arena, fd_listener_t *listener, const ProtobufCMessage *resource,
                   const char *version, int first_response, char *err, size_t len)
{
    fd_lds_t *lds = ll->lds;
    lds_version_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        abort();
    if ((v->runtime = fd_listener_runtime_new(arena, listener, err, len)) == NULL) {
        free(v);
        return -1;
    }
    if (take_sockets(lds, ll, v, err, len) != 0) {
        free_version(lds, v, 0);
        return -1;
    }
    if (fd_rds_watch_listener(fd_server_rds(lds->server), listener) != 0) {
        snprintf(err, len, "the control server of its rds config_source cannot be named");
        free_version(lds, v, 0);
        return -1;
    }
    free_version(lds, ll->warming, 1); /* replaced before it was warm */
    ll->warming = v;
    fd_xds_dump_set(&ll->warming_dump, resource, version);
    if (fd_rds_listener_ready(fd_server_rds(lds->server), listener)) {
        activate(ll);
        return 0;
    }
    if (first_response && !ll->initial) {
        ll->initial = 1;
        lds->initial_warming++;
    }
    uint64_t ms = DEFAULT_WARM_TIMEOUT_MS;
    for (size_t c = 0; c <= listener->n_chains; c++) { /* the first RDS chain's, as Envoy's RDS subscription */
        const fd_filter_chain_t *chain = fd_listener_chain_at(listener, c);
        if (chain != NULL && chain->http.routes == NULL && chain->http.rds_name.len != 0) {
            ms = chain->http.rds_source.initial_fetch_timeout_ms;
            break;
        }
    }
    if (h2o_timeout_is_linked(&ll->warm_timeout))
        h2o_timeout_unlink(&ll->warm_timeout);
    if (ms != 0) {
        ll->warm_timeout.cb = on_warm_timeout;
        h2o_timeout_link(lds->loop, fd_timeouts_get(&lds->timeouts, ms), &ll->warm_timeout);
    }
    return 0;
}

static void forget(fd_lds_t *lds, lds_listener_t *ll)
{
    stop_warming(ll);
    fd_xds_dump_clear(&ll->active_dump);
    fd_xds_dump_clear(&ll->warming_dump);
    for (size_t i = 0; i < lds->n_listeners; i++)
        if (lds->listeners[i] == ll)
            lds->listeners[i] = lds->listeners[--lds->n_listeners];
    free(ll->name);
    free(ll);
}

static void remove_listener(fd_lds_t *lds, lds_listener_t *ll)
{
    if (ll->active != NULL)
        for (size_t w = 0; w < fd_server_worker_count(lds->server); w++)
            fd_worker_send_listener_removal(fd_server_worker(lds->server, w), ll->name);
    free_version(lds, ll->active, 1);
    free_version(lds, ll->warming, 1);
    forget(lds, ll);
}

/* Translates one Listener; NULL with the reason in errs. */
static fd_config_t *translate(fd_lds_t *lds, const Envoy__Config__Listener__V3__Listener *l, fd_listener_t **out,
                              fd_cfg_errors_t *errs)
{
    fd_cfg_errors_t one = {0}, warnings = {0};
    fd_config_t *arena = NULL;
    *out = NULL;
    int is_static = 0;
    for (size_t i = 0; i < lds->config->n_listeners && !is_static; i++)
        is_static = fd_string_compare(&lds->config->listeners[i].name, l->name, strlen(l->name)) == 0;
    if (is_static)
        fd_cfg_errors_add(&one, NULL, (fd_cfg_mark_t){0}, NULL,
                          "a static listener of the bootstrap has this name (LDS cannot replace it)");
    else
        arena = fd_translate_listener_resource(l, lds->config, lds->filters, out, &one, &warnings);
    fd_xds_report(errs, &one, &warnings, "Listener", "LDS", l->name, &lds->unsupported_fields);
    return arena;
}

/* Another listener (active or warming) at address, as Envoy refuses two on one address. */
static const lds_listener_t *owner_of_address(const fd_lds_t *lds, const fd_socket_address_t *address, const char *name)
{
    for (size_t i = 0; i < lds->n_listeners; i++) {
        const lds_listener_t *ll = lds->listeners[i];
        if (strcmp(ll->name, name) != 0 && (at_address(ll->active, address) || at_address(ll->warming, address)))
            return ll;
    }
    return NULL;
}

/* One Listener of a response; -1 when it is refused (its previous version stays). */
static int apply_one(fd_lds_t *lds, const Envoy__Config__Listener__V3__Listener *l, const ProtobufCMessage *resource,
                     const char *version, int first_response, fd_cfg_errors_t *errs)
{
    lds_listener_t *ll = find(lds, l->name);
    if (ll != NULL && ll->seen) {
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "Listener '%s': sent twice in one response", l->name);
        return -1;
    }
    uint64_t hash = fd_xds_resource_hash(resource);
    if (ll != NULL) {
        ll->seen = 1;
        if (ll->hash == hash)
            return 0; /* unchanged: its connections are not touched */
    }
    fd_listener_t *listener;
    fd_config_t *arena = translate(lds, l, &listener, errs);
    if (arena == NULL)
        return -1;
    const lds_listener_t *other = owner_of_address(lds, &listener->address, l->name);
    if (other != NULL) {
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL,
                          "Listener '%s': its address %s:%u is already the listener '%s''s", l->name,
                          listener->address.host, listener->address.port, other->name);
        fd_config_release(arena);
        return -1;
    }
    int is_new = ll == NULL;
    if (is_new) {
        lds_listener_t **grown = realloc(lds->listeners, (lds->n_listeners + 1) * sizeof(*grown));
        if (grown == NULL || (ll = calloc(1, sizeof(*ll))) == NULL || (ll->name = strdup(l->name)) == NULL)
            abort();
        lds->listeners = grown;
        lds->listeners[lds->n_listeners++] = ll;
        ll->lds = lds;
        ll->seen = 1;
    }
    char err[512];
    int rc = install(ll, arena, listener, resource, version, first_response, err, sizeof(err));
    fd_config_release(arena); /* the runtime took its own reference */
    if (rc != 0) {
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "Listener '%s': %s", l->name, err);
        if (is_new)
            forget(lds, ll);
        return -1;
    }
    ll->hash = hash;
    if (is_new)
        lds->stats.listener_added++;
    else
        lds->stats.listener_modified++;
    return 0;
}

static int apply(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                 const char *version, char *error, size_t error_size)
{
    fd_lds_t *lds = ctx;
    (void)source;
    fd_cfg_errors_t errs = {0};
    int first_response = !fd_xds_warming_done(&lds->first);
    lds->stats.update_attempt++;
    /* a name one listener lets go of may be the next one's: dropped only after the response */
    fd_rds_hold(fd_server_rds(lds->server), 1);
    for (size_t i = 0; i < lds->n_listeners; i++)
        lds->listeners[i]->seen = 0;
    for (size_t i = 0; i < n; i++)
        apply_one(lds, (const Envoy__Config__Listener__V3__Listener *)resources[i], resources[i], version,
                  first_response, &errs);
    for (size_t i = lds->n_listeners; i-- > 0;)
        if (!lds->listeners[i]->seen) {
            remove_listener(lds, lds->listeners[i]);
            lds->stats.listener_removed++;
        }
    if (first_response)
        fd_xds_warming_arrived(&lds->first);
    fd_rds_hold(fd_server_rds(lds->server), 0);
    if (errs.count != 0) {
        char what[300];
        snprintf(what, sizeof(what), "LDS update %s: refused listener(s) keep their previous version", version);
        fd_xds_reject(&errs, error, error_size, what);
        lds->stats.update_rejected++;
        return -1;
    }
    lds->stats.update_success++;
    free(lds->version);
    if ((lds->version = strdup(version)) == NULL)
        abort();
    return 0;
}

int fd_lds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 const fd_filter_registry_t *filters, fd_lds_t **out)
{
    *out = NULL;
    if (!config->lds.present)
        return 0;
    fd_xds_source_t *source = fd_xds_sources_get(sources, &config->lds, FD_ADS_TYPE_LISTENER);
    if (source == NULL)
        return -1;
    fd_lds_t *lds = calloc(1, sizeof(*lds));
    if (lds == NULL)
        abort();
    *lds = (fd_lds_t){.server = server,
                      .config = config,
                      .filters = filters,
                      .loop = loop,
                      .source = source,
                      .timeouts = {.loop = loop}};
    *out = lds;
    if (!config->cds.present)
        fd_lds_begin(lds);
    return 0;
}

void fd_lds_begin(fd_lds_t *lds)
{
    if (lds == NULL || lds->begun)
        return;
    lds->begun = 1;
    fd_xds_warming_start(&lds->first, lds->loop, 1, lds->config->lds.initial_fetch_timeout_ms, "LDS response");
    fd_xds_source_watch_all(lds->source, FD_ADS_TYPE_LISTENER, &envoy__config__listener__v3__listener__descriptor,
                            apply, lds);
}

int fd_lds_ready(const fd_lds_t *lds)
{
    return lds == NULL || (lds->begun && fd_xds_warming_done(&lds->first) && lds->initial_warming == 0);
}

void fd_lds_stats(const fd_lds_t *lds, fd_lds_stats_t *out)
{
    *out = lds->stats;
    out->active = out->warming = 0;
    for (size_t i = 0; i < lds->n_listeners; i++) {
        out->active += lds->listeners[i]->active != NULL;
        out->warming += lds->listeners[i]->warming != NULL;
    }
}

uint64_t fd_lds_unsupported_fields(const fd_lds_t *lds)
{
    return lds != NULL ? lds->unsupported_fields : 0;
}

/* Envoy's {"version_info", "listener", "last_updated"} state of one version, or NULL. */
static json_t *state_of(const fd_xds_dump_t *dump)
{
    json_t *one = json_array();
    fd_xds_dump_append(dump, "listener", one);
    json_t *state = json_incref(json_array_get(one, 0));
    json_decref(one);
    return state;
}

void fd_lds_config_dump(const fd_lds_t *lds, json_t *dynamic_listeners, const char **version)
{
    *version = lds != NULL ? lds->version : NULL;
    for (size_t i = 0; lds != NULL && i < lds->n_listeners; i++) {
        const lds_listener_t *ll = lds->listeners[i];
        json_t *entry = json_pack("{s:s}", "name", ll->name);
        json_t *active = state_of(&ll->active_dump), *warming = state_of(&ll->warming_dump);
        if (active != NULL)
            json_object_set_new(entry, "active_state", active);
        if (warming != NULL)
            json_object_set_new(entry, "warming_state", warming);
        json_array_append_new(dynamic_listeners, entry);
    }
}

void fd_lds_free(fd_lds_t *lds)
{
    if (lds == NULL)
        return;
    while (lds->n_listeners != 0) { /* RDS and the streams go on their own: no unwatching */
        lds_listener_t *ll = lds->listeners[lds->n_listeners - 1];
        free_version(lds, ll->active, 0);
        free_version(lds, ll->warming, 0);
        forget(lds, ll);
    }
    fd_timeouts_dispose(&lds->timeouts);
    if (lds->begun)
        fd_xds_warming_dispose(&lds->first);
    free(lds->listeners);
    free(lds->version);
    free(lds);
}
