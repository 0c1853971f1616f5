/* Streams to control servers and the hand-over of their responses to the main thread; see
 * xds_source.h. The client threads only decode and post; watchers run on the main loop. */
#include "proxy/server/xds_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/server/xds_loader.h"
#include "proxy/version.h"
#include "xds/ads_client.h"

#define MAX_WATCHES 4

typedef struct watch {
    char *type_url;
    const ProtobufCMessageDescriptor *type;
    char **names;
    size_t n_names;
    fd_xds_apply_cb apply;
    void *ctx;
    int dirty; /* names changed since they were last sent */
} watch_t;

struct fd_xds_source {
    fd_xds_sources_t *sources;
    fd_ads_client_t *client;
    int ads;                /* the bootstrap's ads_config stream, or */
    char *cluster, *target; /* an api_config_source's: copies (a CDS cluster's goes with it) */
    char *type_url;         /* the type it was made for (an api_config_source's only type) */
    int broken;             /* its control server cannot be named */
    char address[300];      /* the gRPC target */
    watch_t watches[MAX_WATCHES];
    size_t n_watches;
    int connected; /* written by the client thread */
};

struct fd_xds_sources {
    h2o_loop_t *loop;
    const fd_config_t *config;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    fd_xds_source_t **items;
    size_t n;
    int stopping;
    int started;
    fd_xds_client_api_t client; /* loaded by fd_xds_sources_start when a stream is needed */
};

/* A response decoded on the client thread, for the main thread. */
typedef struct xds_message {
    h2o_multithread_message_t super;
    fd_xds_source_t *source;
    const watch_t *watch;
    char *version, *nonce;
    char *error; /* not decodable: NACKed from the main thread too, in its turn */
    ProtobufCMessage **resources;
    size_t n;
} xds_message_t;

static int start_source(fd_xds_sources_t *sources, fd_xds_source_t *source);

static void free_message(xds_message_t *msg)
{
    for (size_t i = 0; i < msg->n; i++)
        protobuf_c_message_free_unpacked(msg->resources[i], NULL);
    free(msg->resources);
    free(msg->version);
    free(msg->nonce);
    free(msg->error);
    free(msg);
}

/* Also on the client thread, while the main thread may add a watch (published by n_watches). */
static const watch_t *watch_of(const fd_xds_source_t *source, const char *type_url)
{
    size_t n = __atomic_load_n(&source->n_watches, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++)
        if (strcmp(source->watches[i].type_url, type_url) == 0)
            return &source->watches[i];
    return NULL;
}

#define RESOURCE_WRAPPER "type.googleapis.com/envoy.service.discovery.v3.Resource"

/* One resource of the watched type, unwrapped from envoy.service.discovery.v3.Resource as
 * Envoy does (control servers using TTLs send them so); NULL with why empty for a wrapper
 * without a resource (a TTL heartbeat: nothing to apply), or with why set. */
static ProtobufCMessage *decode(const watch_t *watch, const Google__Protobuf__Any *any, char *why, size_t why_size)
{
    Envoy__Service__Discovery__V3__Resource *wrapper = NULL;
    why[0] = '\0';
    if (any->type_url != NULL && strcmp(any->type_url, RESOURCE_WRAPPER) == 0) {
        wrapper = envoy__service__discovery__v3__resource__unpack(NULL, any->value.len, any->value.data);
        if (wrapper == NULL) {
            snprintf(why, why_size, "the bytes of this envoy.service.discovery.v3.Resource do not decode");
            return NULL;
        }
        if (wrapper->resource == NULL) {
            envoy__service__discovery__v3__resource__free_unpacked(wrapper, NULL);
            return NULL;
        }
        any = wrapper->resource;
        if (any->type_url == NULL || strcmp(any->type_url, watch->type_url) != 0) {
            snprintf(why, why_size, "a Resource wraps a %s, not a %s", any->type_url ? any->type_url : "(no type)",
                     watch->type_url);
            envoy__service__discovery__v3__resource__free_unpacked(wrapper, NULL);
            return NULL;
        }
    }
    ProtobufCMessage *decoded = protobuf_c_message_unpack(watch->type, NULL, any->value.len, any->value.data);
    if (decoded == NULL)
        snprintf(why, why_size, "the bytes of this %s do not decode", watch->type->name);
    if (wrapper != NULL)
        envoy__service__discovery__v3__resource__free_unpacked(wrapper, NULL);
    return decoded;
}

/* Client thread: decode and hand over; the verdict comes from the main thread. */
static int on_response(void *ctx, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *error,
                       size_t error_len)
{
    fd_xds_source_t *source = ctx;
    const watch_t *watch = watch_of(source, resp->type_url);
    if (watch == NULL) {
        snprintf(error, error_len, "frontdesk did not subscribe to %s", resp->type_url);
        return FD_ADS_NACK;
    }
    xds_message_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        abort();
    *msg = (xds_message_t){.source = source, .watch = watch};
    msg->version = strdup(resp->version_info);
    msg->nonce = strdup(resp->nonce);
    msg->resources = calloc(resp->n_resources ? resp->n_resources : 1, sizeof(*msg->resources));
    if (msg->version == NULL || msg->nonce == NULL || msg->resources == NULL)
        abort();
    (void)error, (void)error_len; /* every verdict comes from the main thread, in order */
    for (size_t i = 0; i < resp->n_resources && msg->error == NULL; i++) {
        char why[256];
        ProtobufCMessage *decoded = decode(watch, resp->resources[i], why, sizeof(why));
        if (decoded != NULL) {
            msg->resources[msg->n++] = decoded;
        } else if (why[0] != '\0') {
            char text[300];
            snprintf(text, sizeof(text), "resources[%zu]: %s", i, why);
            if ((msg->error = strdup(text)) == NULL)
                abort();
        }
    }
    h2o_multithread_send_message(&source->sources->receiver, &msg->super);
    return FD_ADS_PENDING;
}

static void on_stream(void *ctx, int connected, int grpc_status, const char *message)
{
    fd_xds_source_t *source = ctx;
    __atomic_store_n(&source->connected, connected, __ATOMIC_RELEASE);
    if (!connected)
        fprintf(stderr, "frontdesk: xDS stream to %s closed (gRPC status %d: %s); retrying with backoff\n",
                source->address, grpc_status, message != NULL ? message : "");
}

static void apply(xds_message_t *msg)
{
    char error[4096] = "";
    if (msg->error != NULL) {
        msg->source->sources->client.nack(msg->source->client, msg->watch->type_url, msg->nonce, msg->error);
        return;
    }
    if (msg->watch->apply(msg->watch->ctx, msg->source, msg->resources, msg->n, msg->version, error, sizeof(error)) ==
        0)
        msg->source->sources->client.ack(msg->source->client, msg->watch->type_url, msg->version, msg->nonce);
    else
        msg->source->sources->client.nack(msg->source->client, msg->watch->type_url, msg->nonce, error);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    fd_xds_sources_t *sources = H2O_STRUCT_FROM_MEMBER(fd_xds_sources_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        xds_message_t *msg = H2O_STRUCT_FROM_MEMBER(xds_message_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        if (!sources->stopping) /* draining: the workers may be going; no verdict either */
            apply(msg);
        free_message(msg);
        fd_xds_sources_flush(sources);
    }
}

int fd_xds_needed(const fd_config_t *config)
{
    if (config->cds.present || config->lds.present)
        return 1;
    for (size_t c = 0; c < config->n_clusters; c++)
        if (config->clusters[c].type == FD_DISCOVERY_EDS)
            return 1;
    for (size_t l = 0; l < config->n_listeners; l++)
        for (size_t c = 0; c <= config->listeners[l].n_chains; c++) {
            const fd_filter_chain_t *chain = fd_listener_chain_at(&config->listeners[l], c);
            if (chain != NULL && chain->http.routes == NULL && chain->http.rds_name.len != 0)
                return 1;
        }
    return 0;
}

fd_xds_sources_t *fd_xds_sources_new(h2o_loop_t *loop, const fd_config_t *config,
                                     const struct fd_xds_client_api *client)
{
    fd_xds_sources_t *sources = calloc(1, sizeof(*sources));
    if (sources == NULL)
        abort();
    sources->client = *client;
    sources->loop = loop;
    sources->config = config;
    sources->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(sources->queue, &sources->receiver, on_messages);
    return sources;
}

/* The gRPC target of a config source: its google_grpc target_uri, or the address of the
 * static cluster its envoy_grpc names ("ip:port", "[ip6]:port", or "dns:///name:port"). */
static int target_of(const fd_config_t *config, const fd_config_source_ref_t *ref, char *out, size_t size)
{
    if (ref->target_uri.len != 0) {
        snprintf(out, size, "%s", ref->target_uri.base);
        return 0;
    }
    const fd_cluster_t *cluster = fd_config_find_cluster(config, ref->cluster.base, ref->cluster.len);
    if (cluster == NULL || cluster->n_endpoints == 0 || cluster->type == FD_DISCOVERY_EDS) {
        fprintf(stderr, "frontdesk: xDS: control server cluster '%s' has no static endpoint to connect to\n",
                ref->cluster.base != NULL ? ref->cluster.base : "");
        return -1;
    }
    const fd_socket_address_t *a = &cluster->endpoints[0].address;
    if (a->addr_len == 0)
        snprintf(out, size, "dns:///%s:%u", a->host, a->port);
    else if (a->addr.ss_family == AF_INET6)
        snprintf(out, size, "[%s]:%u", a->host, a->port);
    else
        snprintf(out, size, "%s:%u", a->host, a->port);
    return 0;
}

static int same_text(const char *copy, const fd_string_t *s)
{
    return strlen(copy) == s->len && (s->len == 0 || memcmp(copy, s->base, s->len) == 0);
}

/* ADS carries every type; an api_config_source's stream is one type's own service. */
static int same_source(const fd_xds_source_t *source, const fd_config_source_ref_t *ref, const char *type_url)
{
    if (source->ads || ref->ads)
        return source->ads && ref->ads;
    return strcmp(source->type_url, type_url) == 0 && same_text(source->cluster, &ref->cluster) &&
           same_text(source->target, &ref->target_uri);
}

static char *copy_text(const fd_string_t *s)
{
    char *copy = strndup(s->base != NULL ? s->base : "", s->len);
    if (copy == NULL)
        abort();
    return copy;
}

fd_xds_source_t *fd_xds_sources_get(fd_xds_sources_t *sources, const fd_config_source_ref_t *ref, const char *type_url)
{
    for (size_t i = 0; i < sources->n; i++)
        if (same_source(sources->items[i], ref, type_url))
            return sources->items[i]->broken ? NULL : sources->items[i];
    fd_xds_source_t *source = calloc(1, sizeof(*source));
    fd_xds_source_t **grown = realloc(sources->items, (sources->n + 1) * sizeof(*grown));
    if (source == NULL || grown == NULL)
        abort();
    sources->items = grown;
    source->sources = sources;
    source->ads = ref->ads;
    source->cluster = copy_text(&ref->cluster);
    source->target = copy_text(&ref->target_uri);
    if ((source->type_url = strdup(type_url)) == NULL)
        abort();
    sources->items[sources->n++] = source;
    /* an {ads: {}} source is the bootstrap's ads_config stream */
    if (target_of(sources->config, ref->ads ? &sources->config->ads : ref, source->address, sizeof(source->address)) !=
        0) {
        source->broken = 1;
        return NULL;
    }
    return source;
}

/* The watch of type_url on source, made on first use. */
static watch_t *watch_for(fd_xds_source_t *source, const char *type_url, const ProtobufCMessageDescriptor *type,
                          fd_xds_apply_cb apply, void *ctx)
{
    watch_t *w = (watch_t *)watch_of(source, type_url);
    if (w != NULL)
        return w;
    if (source->n_watches == MAX_WATCHES)
        abort(); /* one per resource type: a programming error */
    w = &source->watches[source->n_watches];
    *w = (watch_t){.type = type, .apply = apply, .ctx = ctx};
    if ((w->type_url = strdup(type_url)) == NULL)
        abort();
    __atomic_store_n(&source->n_watches, source->n_watches + 1, __ATOMIC_RELEASE);
    return w;
}

/* Once the streams run, a changed set of names is a new request, sent when the response being
 * applied is done (one request for a thousand clusters' EDS names, not a thousand); a source
 * first used after the start (a CDS cluster's) opens its stream then. */
void fd_xds_sources_flush(fd_xds_sources_t *sources)
{
    for (size_t s = 0; sources->started && !sources->stopping && s < sources->n; s++) {
        fd_xds_source_t *source = sources->items[s];
        if (source->client == NULL && source->n_watches != 0) {
            if (start_source(sources, source) != 0)
                fprintf(stderr, "frontdesk: xDS: cannot open the stream to %s\n", source->address);
            continue;
        }
        for (size_t i = 0; source->client != NULL && i < source->n_watches; i++) {
            watch_t *w = &source->watches[i];
            if (w->dirty &&
                sources->client.subscribe(source->client, w->type_url, (const char *const *)w->names, w->n_names) != 0)
                fprintf(stderr, "frontdesk: xDS: cannot update the subscription to %s on %s\n", w->type_url,
                        source->address);
            w->dirty = 0;
        }
    }
}

void fd_xds_source_watch(fd_xds_source_t *source, const char *type_url, const ProtobufCMessageDescriptor *type,
                         const char *name, fd_xds_apply_cb apply, void *ctx)
{
    watch_t *w = watch_for(source, type_url, type, apply, ctx);
    for (size_t i = 0; i < w->n_names; i++)
        if (strcmp(w->names[i], name) == 0)
            return; /* several clusters may share a service name: subscribed once */
    char **grown = realloc(w->names, (w->n_names + 1) * sizeof(*grown));
    if (grown == NULL || (grown[w->n_names] = strdup(name)) == NULL)
        abort();
    w->names = grown;
    w->n_names++;
    w->dirty = 1;
}

void fd_xds_source_watch_all(fd_xds_source_t *source, const char *type_url, const ProtobufCMessageDescriptor *type,
                             fd_xds_apply_cb apply, void *ctx)
{
    watch_for(source, type_url, type, apply, ctx)->dirty = 1; /* sent by the next flush, once started */
}

void fd_xds_source_unwatch(fd_xds_source_t *source, const char *type_url, const char *name)
{
    watch_t *w = (watch_t *)watch_of(source, type_url);
    for (size_t i = 0; w != NULL && i < w->n_names; i++) {
        if (strcmp(w->names[i], name) != 0)
            continue;
        free(w->names[i]);
        w->names[i] = w->names[--w->n_names];
        w->dirty = 1;
        return;
    }
}

/* One type on a non-aggregated stream: that type's own service. */
static const char *method_of(const fd_xds_source_t *source)
{
    const char *type_url = source->watches[0].type_url;
    if (source->ads)
        return FD_ADS_METHOD_ADS;
    return strcmp(type_url, FD_ADS_TYPE_ROUTE) == 0      ? FD_ADS_METHOD_RDS
           : strcmp(type_url, FD_ADS_TYPE_CLUSTER) == 0  ? FD_ADS_METHOD_CDS
           : strcmp(type_url, FD_ADS_TYPE_LISTENER) == 0 ? FD_ADS_METHOD_LDS
                                                         : FD_ADS_METHOD_EDS;
}

/* Opens the stream of source and sends what it watches. */
static int start_source(fd_xds_sources_t *sources, fd_xds_source_t *source)
{
    const fd_config_t *config = sources->config;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = (char *)(config->node_id.base != NULL ? config->node_id.base : "");
    node.cluster = (char *)(config->node_cluster.base != NULL ? config->node_cluster.base : "");
    node.user_agent_name = "frontdesk";
    node.user_agent_version_type_case = ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = FD_VERSION;
    fd_ads_options_t opts = {.target = source->address,
                             .method = method_of(source),
                             .node = &node,
                             .on_response = on_response,
                             .on_stream = on_stream,
                             .ctx = source};
    if ((source->client = sources->client.start(&opts)) == NULL)
        return -1;
    for (size_t i = 0; i < source->n_watches; i++) {
        watch_t *w = &source->watches[i];
        w->dirty = 0;
        if (sources->client.subscribe(source->client, w->type_url, (const char *const *)w->names, w->n_names) != 0)
            return -1;
    }
    return 0;
}

int fd_xds_sources_start(fd_xds_sources_t *sources)
{
    sources->started = 1;
    for (size_t s = 0; s < sources->n; s++)
        if (sources->items[s]->n_watches != 0 && start_source(sources, sources->items[s]) != 0)
            return -1; /* a source named, then not used, has no stream */
    return 0;
}

int fd_xds_sources_connected(const fd_xds_sources_t *sources)
{
    for (size_t s = 0; sources != NULL && s < sources->n; s++)
        if (sources->items[s]->client != NULL && !__atomic_load_n(&sources->items[s]->connected, __ATOMIC_ACQUIRE))
            return 0;
    return sources != NULL;
}

void fd_xds_sources_request_stop(fd_xds_sources_t *sources)
{
    if (sources != NULL)
        sources->stopping = 1;
}

void fd_xds_sources_free(fd_xds_sources_t *sources)
{
    if (sources == NULL)
        return;
    sources->stopping = 1;
    for (size_t s = 0; s < sources->n; s++)
        if (sources->items[s]->client != NULL)
            sources->client.stop(sources->items[s]->client); /* no callback runs after this */
    for (int i = 0; i < 2; i++)                              /* what the clients posted last is delivered, and freed */
        h2o_evloop_run(sources->loop, 0);
    h2o_multithread_unregister_receiver(sources->queue, &sources->receiver);
    h2o_multithread_destroy_queue(sources->queue);
    for (size_t s = 0; s < sources->n; s++) {
        fd_xds_source_t *source = sources->items[s];
        for (size_t i = 0; i < source->n_watches; i++) {
            for (size_t j = 0; j < source->watches[i].n_names; j++)
                free(source->watches[i].names[j]);
            free(source->watches[i].names);
            free(source->watches[i].type_url);
        }
        free(source->cluster);
        free(source->target);
        free(source->type_url);
        free(source);
    }
    free(sources->items);
    free(sources);
}

static void on_warming_timeout(h2o_timeout_entry_t *entry)
{
    fd_xds_warming_t *warming = H2O_STRUCT_FROM_MEMBER(fd_xds_warming_t, entry, entry);
    if (warming->waiting != 0)
        fprintf(stderr, "frontdesk: %zu %s still missing after initial_fetch_timeout\n", warming->waiting,
                warming->what);
    warming->timed_out = 1;
}

void fd_xds_warming_start(fd_xds_warming_t *warming, h2o_loop_t *loop, size_t waiting, uint64_t timeout_ms,
                          const char *what)
{
    *warming = (fd_xds_warming_t){.waiting = waiting, .what = what, .loop = loop};
    if (timeout_ms == 0)
        return;
    h2o_timeout_init(loop, &warming->timeout, timeout_ms);
    warming->has_timeout = 1;
    warming->entry.cb = on_warming_timeout;
    h2o_timeout_link(loop, &warming->timeout, &warming->entry);
}

void fd_xds_warming_arrived(fd_xds_warming_t *warming)
{
    if (warming->waiting != 0)
        warming->waiting--;
}

int fd_xds_warming_done(const fd_xds_warming_t *warming)
{
    return warming->waiting == 0 || warming->timed_out;
}

void fd_xds_warming_dispose(fd_xds_warming_t *warming)
{
    if (h2o_timeout_is_linked(&warming->entry))
        h2o_timeout_unlink(&warming->entry);
    if (warming->has_timeout)
        h2o_timeout_dispose(warming->loop, &warming->timeout);
    warming->has_timeout = 0;
}

int fd_xds_report(fd_cfg_errors_t *errs, fd_cfg_errors_t *one, fd_cfg_errors_t *warnings, const char *kind,
                  const char *tag, const char *name, uint64_t *unsupported)
{
    int rc = one->count + one->dropped != 0 ? -1 : 0;
    if (rc != 0) {
        char *text = fd_cfg_errors_join(one);
        fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "%s '%s': %s", kind, name, text);
        free(text);
    } else if (warnings->count != 0) {
        char *text = fd_cfg_errors_join(warnings);
        fprintf(stderr, "frontdesk: %s '%s': %s\n", tag, name, text);
        free(text);
        *unsupported += warnings->count + warnings->dropped;
    }
    fd_cfg_errors_clear(one);
    fd_cfg_errors_clear(warnings);
    return rc;
}

void fd_xds_reject(fd_cfg_errors_t *errs, char *error, size_t error_size, const char *what)
{
    char *text = fd_cfg_errors_join(errs);
    fprintf(stderr, "frontdesk: %s:\n%s\n", what, text);
    snprintf(error, error_size, "%s", text);
    free(text);
    fd_cfg_errors_clear(errs);
}
