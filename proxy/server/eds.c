/* EDS for the workers; see eds.h. Threads: the ADS clients' callbacks run on their own
 * threads and only decode and post; everything else runs on the main thread's loop. */
#include "proxy/server/eds.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "proxy/config/translate.h"
#include "proxy/router/router.h"
#include "proxy/server/worker.h"
#include "proxy/version.h"
#include "xds/ads_client.h"

/* One stream to a control server: the ADS one, or an EDS one of an api_config_source. */
typedef struct eds_source {
    struct fd_eds *eds;
    fd_ads_client_t *client;
    char target[300];
    const char *method;
    const fd_config_source_ref_t *ref; /* the first cluster's eds_config naming it */
    int connected;                     /* written by the xDS thread */
} eds_source_t;

typedef struct eds_cluster {
    size_t index; /* in config->clusters */
    const char *service;
    eds_source_t *source;
    int assigned; /* has had a first assignment */
    uint64_t update_success, update_rejected, update_attempt;
} eds_cluster_t;

struct fd_eds {
    fd_server_t *server;
    const fd_config_t *config;
    h2o_loop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    eds_source_t *sources;
    size_t n_sources;
    eds_cluster_t *clusters;
    size_t n_clusters;
    size_t waiting; /* clusters without a first assignment */
    h2o_timeout_t init_timeout;
    h2o_timeout_entry_t init_entry;
    int has_init_timeout;
    int init_timed_out;
    int stopping;
};

/* A response of one stream, decoded on the xDS thread, for the main thread. */
typedef struct eds_message {
    h2o_multithread_message_t super;
    eds_source_t *source;
    char *version, *nonce;
    size_t n;
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment **assignments;
} eds_message_t;

static void free_message(eds_message_t *msg)
{
    for (size_t i = 0; i < msg->n; i++)
        if (msg->assignments[i] != NULL)
            protobuf_c_message_free_unpacked(&msg->assignments[i]->base, NULL);
    free(msg->assignments);
    free(msg->version);
    free(msg->nonce);
    free(msg);
}

/* xDS thread: decode and hand over; the verdict comes from the main thread. */
static int on_response(void *ctx, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *error,
                       size_t error_len)
{
    eds_source_t *source = ctx;
    eds_message_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        abort();
    msg->source = source;
    msg->version = strdup(resp->version_info);
    msg->nonce = strdup(resp->nonce);
    msg->assignments = calloc(resp->n_resources ? resp->n_resources : 1, sizeof(*msg->assignments));
    if (msg->version == NULL || msg->nonce == NULL || msg->assignments == NULL)
        abort();
    for (size_t i = 0; i < resp->n_resources; i++, msg->n++) {
        const Google__Protobuf__Any *any = resp->resources[i];
        msg->assignments[i] = (Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)protobuf_c_message_unpack(
            &envoy__config__endpoint__v3__cluster_load_assignment__descriptor, NULL, any->value.len, any->value.data);
        if (msg->assignments[i] == NULL || strcmp(any->type_url, FD_ADS_TYPE_ENDPOINT) != 0) {
            snprintf(error, error_len, "resources[%zu]: not a decodable %s", i, FD_ADS_TYPE_ENDPOINT);
            msg->n++;
            free_message(msg);
            return FD_ADS_NACK;
        }
    }
    h2o_multithread_send_message(&source->eds->receiver, &msg->super);
    return FD_ADS_PENDING;
}

static void on_stream(void *ctx, int connected, int grpc_status, const char *message)
{
    eds_source_t *source = ctx;
    __atomic_store_n(&source->connected, connected, __ATOMIC_RELEASE);
    if (!connected)
        fprintf(stderr, "frontdesk: xDS stream to %s closed (gRPC status %d: %s); retrying with backoff\n",
                source->target, grpc_status, message != NULL ? message : "");
}

static void on_init_timeout(h2o_timeout_entry_t *entry)
{
    fd_eds_t *eds = H2O_STRUCT_FROM_MEMBER(fd_eds_t, init_entry, entry);
    if (eds->waiting != 0)
        fprintf(stderr, "frontdesk: %zu EDS cluster(s) still without endpoints after initial_fetch_timeout\n",
                eds->waiting);
    eds->init_timed_out = 1;
}

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
    eds_cluster_t *cluster; /* NULL: not a cluster of ours on this stream */
    fd_endpoint_t *endpoints;
    size_t n;
} checked_t;

static eds_cluster_t *cluster_for(fd_eds_t *eds, const eds_source_t *source, const char *name)
{
    for (size_t i = 0; i < eds->n_clusters; i++)
        if (eds->clusters[i].source == source && strcmp(eds->clusters[i].service, name) == 0)
            return &eds->clusters[i];
    return NULL;
}

/* Checks every assignment; 0 when all are good, else -1 with the translator's messages. */
static int check_all(fd_eds_t *eds, eds_message_t *msg, checked_t *out, fd_cfg_errors_t *errs)
{
    int ok = 1;
    for (size_t i = 0; i < msg->n; i++) {
        const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla = msg->assignments[i];
        fd_cfg_errors_t one = {0}, warnings = {0};
        out[i].cluster = cluster_for(eds, msg->source, cla->cluster_name);
        if (out[i].cluster == NULL) {
            fprintf(stderr, "frontdesk: EDS: ignoring ClusterLoadAssignment '%s': no EDS cluster subscribed to it\n",
                    cla->cluster_name);
            continue;
        }
        out[i].cluster->update_attempt++;
        if (fd_translate_load_assignment(cla, &out[i].endpoints, &out[i].n, &one, &warnings) != 0) {
            char *text = fd_cfg_errors_join(&one);
            fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, NULL, "ClusterLoadAssignment '%s': %s", cla->cluster_name,
                              text);
            free(text);
            out[i].cluster->update_rejected++;
            ok = 0;
        } else if (warnings.count != 0) {
            char *text = fd_cfg_errors_join(&warnings);
            fprintf(stderr, "frontdesk: EDS '%s': %s\n", cla->cluster_name, text);
            free(text);
        }
        fd_cfg_errors_clear(&one);
        fd_cfg_errors_clear(&warnings);
    }
    return ok ? 0 : -1;
}

static void apply(fd_eds_t *eds, eds_message_t *msg)
{
    checked_t *checked = calloc(msg->n ? msg->n : 1, sizeof(*checked));
    fd_cfg_errors_t errs = {0};
    if (checked == NULL)
        abort();
    if (check_all(eds, msg, checked, &errs) != 0) {
        char *text = fd_cfg_errors_join(&errs);
        fprintf(stderr, "frontdesk: EDS update %s rejected, the previous endpoints keep serving:\n%s\n", msg->version,
                text);
        fd_ads_client_nack(msg->source->client, FD_ADS_TYPE_ENDPOINT, msg->nonce, text);
        free(text);
    } else {
        for (size_t i = 0; i < msg->n; i++) {
            eds_cluster_t *ec = checked[i].cluster;
            if (ec == NULL)
                continue;
            publish(eds, ec, checked[i].endpoints, checked[i].n);
            ec->update_success++;
            if (!ec->assigned) {
                ec->assigned = 1;
                eds->waiting--;
            }
        }
        fd_ads_client_ack(msg->source->client, FD_ADS_TYPE_ENDPOINT, msg->version, msg->nonce);
    }
    for (size_t i = 0; i < msg->n; i++)
        free(checked[i].endpoints);
    free(checked);
    fd_cfg_errors_clear(&errs);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    fd_eds_t *eds = H2O_STRUCT_FROM_MEMBER(fd_eds_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        eds_message_t *msg = H2O_STRUCT_FROM_MEMBER(eds_message_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        if (!eds->stopping) /* draining: the workers may be going; no verdict either */
            apply(eds, msg);
        free_message(msg);
    }
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

static int same_source(const fd_config_source_ref_t *a, const fd_config_source_ref_t *b)
{
    if (a->ads || b->ads)
        return a->ads && b->ads;
    return a->cluster.len == b->cluster.len && a->target_uri.len == b->target_uri.len &&
           (a->cluster.len == 0 || memcmp(a->cluster.base, b->cluster.base, a->cluster.len) == 0) &&
           (a->target_uri.len == 0 || memcmp(a->target_uri.base, b->target_uri.base, a->target_uri.len) == 0);
}

/* The clusters and their streams (one per distinct config source). */
static int plan(fd_eds_t *eds)
{
    const fd_config_t *config = eds->config;
    eds->clusters = calloc(config->n_clusters, sizeof(*eds->clusters));
    eds->sources = calloc(config->n_clusters, sizeof(*eds->sources));
    if (eds->clusters == NULL || eds->sources == NULL)
        abort();
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        if (cluster->type != FD_DISCOVERY_EDS)
            continue;
        const fd_config_source_ref_t *ref = cluster->eds_config.ads ? &config->ads : &cluster->eds_config;
        eds_source_t *source = NULL;
        for (size_t s = 0; s < eds->n_sources && source == NULL; s++)
            if (same_source(eds->sources[s].ref, &cluster->eds_config))
                source = &eds->sources[s];
        if (source == NULL) {
            source = &eds->sources[eds->n_sources++];
            source->eds = eds;
            source->ref = &cluster->eds_config;
            source->method = cluster->eds_config.ads ? FD_ADS_METHOD_ADS : FD_ADS_METHOD_EDS;
            if (target_of(config, ref, source->target, sizeof(source->target)) != 0)
                return -1;
        }
        eds_cluster_t *ec = &eds->clusters[eds->n_clusters++];
        ec->index = c;
        ec->service = cluster->eds_service_name.len != 0 ? cluster->eds_service_name.base : cluster->name.base;
        ec->source = source;
    }
    eds->waiting = eds->n_clusters;
    return 0;
}

/* Opens each stream and subscribes its clusters' names. */
static int subscribe_all(fd_eds_t *eds)
{
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = (char *)(eds->config->node_id.base != NULL ? eds->config->node_id.base : "");
    node.cluster = (char *)(eds->config->node_cluster.base != NULL ? eds->config->node_cluster.base : "");
    node.user_agent_name = "frontdesk";
    node.user_agent_version_type_case = ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = FD_VERSION;
    for (size_t s = 0; s < eds->n_sources; s++) {
        eds_source_t *source = &eds->sources[s];
        fd_ads_options_t opts = {.target = source->target,
                                 .method = source->method,
                                 .node = &node,
                                 .on_response = on_response,
                                 .on_stream = on_stream,
                                 .ctx = source};
        if ((source->client = fd_ads_client_start(&opts)) == NULL)
            return -1;
        const char **names = calloc(eds->n_clusters, sizeof(*names));
        size_t n = 0;
        if (names == NULL)
            abort();
        for (size_t i = 0; i < eds->n_clusters; i++)
            if (eds->clusters[i].source == source)
                names[n++] = eds->clusters[i].service;
        int rc = fd_ads_client_subscribe(source->client, FD_ADS_TYPE_ENDPOINT, names, n);
        free(names);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int fd_eds_start(fd_server_t *server, h2o_loop_t *loop, const fd_config_t *config, fd_eds_t **out)
{
    *out = NULL;
    size_t n = 0;
    uint64_t init_ms = 0;
    for (size_t c = 0; c < config->n_clusters; c++)
        if (config->clusters[c].type == FD_DISCOVERY_EDS) {
            n++;
            if (config->clusters[c].eds_config.initial_fetch_timeout_ms > init_ms)
                init_ms = config->clusters[c].eds_config.initial_fetch_timeout_ms;
        }
    if (n == 0)
        return 0;
    fd_eds_t *eds = calloc(1, sizeof(*eds));
    if (eds == NULL)
        abort();
    *eds = (fd_eds_t){.server = server, .config = config, .loop = loop};
    eds->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(eds->queue, &eds->receiver, on_messages);
    if (init_ms != 0) { /* 0: wait for the first assignments as long as it takes */
        h2o_timeout_init(loop, &eds->init_timeout, init_ms);
        eds->has_init_timeout = 1;
        eds->init_entry.cb = on_init_timeout;
        h2o_timeout_link(loop, &eds->init_timeout, &eds->init_entry);
    }
    *out = eds;
    if (plan(eds) != 0 || subscribe_all(eds) != 0)
        return -1;
    return 0;
}

int fd_eds_ready(const fd_eds_t *eds)
{
    return eds == NULL || eds->waiting == 0 || eds->init_timed_out;
}

int fd_eds_connected(const fd_eds_t *eds)
{
    for (size_t s = 0; eds != NULL && s < eds->n_sources; s++)
        if (!__atomic_load_n(&eds->sources[s].connected, __ATOMIC_ACQUIRE))
            return 0;
    return eds != NULL;
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

void fd_eds_request_stop(fd_eds_t *eds)
{
    if (eds != NULL)
        eds->stopping = 1;
}

void fd_eds_stop(fd_eds_t *eds)
{
    if (eds == NULL)
        return;
    eds->stopping = 1;
    for (size_t s = 0; s < eds->n_sources; s++)
        fd_ads_client_stop(eds->sources[s].client); /* no callback runs after this */
    for (int i = 0; i < 2; i++)                     /* what the clients posted last is delivered, and freed */
        h2o_evloop_run(eds->loop, 0);
    if (h2o_timeout_is_linked(&eds->init_entry))
        h2o_timeout_unlink(&eds->init_entry);
    if (eds->has_init_timeout)
        h2o_timeout_dispose(eds->loop, &eds->init_timeout);
    h2o_multithread_unregister_receiver(eds->queue, &eds->receiver);
    h2o_multithread_destroy_queue(eds->queue);
    free(eds->clusters);
    free(eds->sources);
    free(eds);
}
