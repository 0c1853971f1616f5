/* libFuzzer target: xDS responses off the wire, decoded and translated as frontdesk would
 * take them from a control server. The input is the binary encoding of an
 * envoy.service.discovery.v3.DiscoveryResponse; every resource of a declared type is
 * decoded; ClusterLoadAssignments go through the EDS translation, Clusters and Listeners
 * through the CDS and LDS ones, and Clusters, Listeners and RouteConfigurations (the last inside an HTTP connection
 * manager) through the translator as one bootstrap's static resources. Everything is freed.
 * Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "fd_proto_registry.h"
#include "google/protobuf/any.pb-c.h"
#include "proxy/config/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RESOURCES 16

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager hcm_t;

typedef struct decoded {
    ProtobufCMessage *all[MAX_RESOURCES];
    size_t n_all;
    Envoy__Config__Cluster__V3__Cluster *clusters[MAX_RESOURCES];
    size_t n_clusters;
    Envoy__Config__Listener__V3__Listener *listeners[MAX_RESOURCES + 1];
    size_t n_listeners;
} decoded_t;

static void translate_assignment(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla)
{
    fd_cfg_errors_t errs = {0}, warnings = {0};
    fd_endpoint_t *endpoints = NULL;
    size_t n = 0;
    fd_translate_load_assignment(cla, &endpoints, &n, &errs, &warnings);
    free(endpoints);
    fd_cfg_errors_clear(&errs);
    fd_cfg_errors_clear(&warnings);
}

/* As CDS takes it, against a running config with an ADS stream and one static cluster. */
static void translate_cds_cluster(const Envoy__Config__Cluster__V3__Cluster *c)
{
    fd_cluster_t xds = {.name = {"xds", 3}};
    fd_config_t statics = {.clusters = &xds, .n_clusters = 1, .ads = {.present = 1, .ads = 1}};
    fd_cfg_errors_t errs = {0}, warnings = {0};
    fd_cluster_t *cluster;
    fd_config_t *arena = fd_translate_cluster_resource(c, &statics, &cluster, &errs, &warnings);
    if (arena != NULL)
        fd_config_release(arena);
    fd_cfg_errors_clear(&errs);
    fd_cfg_errors_clear(&warnings);
}

/* As LDS takes it, against the same running config. */
static void translate_lds_listener(const Envoy__Config__Listener__V3__Listener *l)
{
    fd_cluster_t xds = {.name = {"xds", 3}};
    fd_config_t statics = {.clusters = &xds, .n_clusters = 1, .ads = {.present = 1, .ads = 1}};
    fd_cfg_errors_t errs = {0}, warnings = {0};
    fd_listener_t *listener;
    fd_config_t *arena = fd_translate_listener_resource(l, &statics, NULL, &listener, &errs, &warnings);
    if (arena != NULL)
        fd_config_release(arena);
    fd_cfg_errors_clear(&errs);
    fd_cfg_errors_clear(&warnings);
}

static void keep(decoded_t *d, const ProtobufCMessageDescriptor *type, ProtobufCMessage *msg)
{
    d->all[d->n_all++] = msg;
    if (type == &envoy__config__endpoint__v3__cluster_load_assignment__descriptor) {
        translate_assignment((Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)msg);
    } else if (type == &envoy__config__cluster__v3__cluster__descriptor) {
        translate_cds_cluster((Envoy__Config__Cluster__V3__Cluster *)msg);
        d->clusters[d->n_clusters++] = (Envoy__Config__Cluster__V3__Cluster *)msg;
    } else if (type == &envoy__config__listener__v3__listener__descriptor) {
        translate_lds_listener((Envoy__Config__Listener__V3__Listener *)msg);
        d->listeners[d->n_listeners++] = (Envoy__Config__Listener__V3__Listener *)msg;
    }
}

/* The RouteConfigurations, inline in the HCM of one listener: how routes reach the translator. */
typedef struct route_listener {
    Envoy__Config__Listener__V3__Listener listener;
    Envoy__Config__Listener__V3__FilterChain chain, *chains[1];
    Envoy__Config__Listener__V3__Filter filter, *filters[1];
    Google__Protobuf__Any any;
    Envoy__Config__Core__V3__Address address;
    Envoy__Config__Core__V3__SocketAddress socket;
} route_listener_t;

static int add_route_listener(decoded_t *d, route_listener_t *rl, Envoy__Config__Route__V3__RouteConfiguration *rc)
{
    hcm_t hcm = ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__INIT;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter router =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__INIT;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter *filters[1] = {&router};
    router.name = "envoy.filters.http.router";
    hcm.stat_prefix = "fuzz";
    hcm.route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG;
    hcm.route_config = rc;
    hcm.n_http_filters = 1;
    hcm.http_filters = filters;
    size_t len = protobuf_c_message_get_packed_size(&hcm.base);
    uint8_t *bytes = malloc(len ? len : 1);
    protobuf_c_message_pack(&hcm.base, bytes);
    google__protobuf__any__init(&rl->any);
    rl->any.type_url =
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    rl->any.value = (ProtobufCBinaryData){len, bytes};
    envoy__config__listener__v3__filter__init(&rl->filter);
    rl->filter.name = "envoy.filters.network.http_connection_manager";
    rl->filter.config_type_case = ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
    rl->filter.typed_config = &rl->any;
    rl->filters[0] = &rl->filter;
    envoy__config__listener__v3__filter_chain__init(&rl->chain);
    rl->chain.n_filters = 1;
    rl->chain.filters = rl->filters;
    rl->chains[0] = &rl->chain;
    envoy__config__core__v3__socket_address__init(&rl->socket);
    rl->socket.address = "127.0.0.1";
    rl->socket.port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    rl->socket.port_value = 1;
    envoy__config__core__v3__address__init(&rl->address);
    rl->address.address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    rl->address.socket_address = &rl->socket;
    envoy__config__listener__v3__listener__init(&rl->listener);
    rl->listener.name = "routes";
    rl->listener.address = &rl->address;
    rl->listener.n_filter_chains = 1;
    rl->listener.filter_chains = rl->chains;
    d->listeners[d->n_listeners++] = &rl->listener;
    return 0;
}

static void translate_static(decoded_t *d)
{
    Envoy__Config__Bootstrap__V3__Bootstrap bootstrap = ENVOY__CONFIG__BOOTSTRAP__V3__BOOTSTRAP__INIT;
    Envoy__Config__Bootstrap__V3__Bootstrap__StaticResources sr =
        ENVOY__CONFIG__BOOTSTRAP__V3__BOOTSTRAP__STATIC_RESOURCES__INIT;
    sr.n_clusters = d->n_clusters;
    sr.clusters = d->clusters;
    sr.n_listeners = d->n_listeners;
    sr.listeners = d->listeners;
    bootstrap.static_resources = &sr;
    fd_cfg_errors_t errs = {0};
    fd_config_t *config = fd_translate_bootstrap(&bootstrap, NULL, NULL, &errs);
    if (config != NULL)
        fd_config_release(config);
    fd_cfg_errors_clear(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Envoy__Service__Discovery__V3__DiscoveryResponse *resp =
        envoy__service__discovery__v3__discovery_response__unpack(NULL, size, data);
    if (resp == NULL)
        return 0;
    decoded_t d = {0};
    route_listener_t route_listener;
    Envoy__Config__Route__V3__RouteConfiguration *routes = NULL;
    for (size_t i = 0; i < resp->n_resources && d.n_all < MAX_RESOURCES; i++) {
        const Google__Protobuf__Any *any = resp->resources[i];
        if (any == NULL || any->type_url == NULL)
            continue;
        const ProtobufCMessageDescriptor *type = fd_proto_registry_find_type_url(any->type_url, strlen(any->type_url));
        ProtobufCMessage *msg =
            type != NULL ? protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data) : NULL;
        if (msg == NULL)
            continue;
        keep(&d, type, msg);
        if (type == &envoy__config__route__v3__route_configuration__descriptor && routes == NULL)
            routes = (Envoy__Config__Route__V3__RouteConfiguration *)msg;
    }
    if (routes != NULL)
        add_route_listener(&d, &route_listener, routes);
    if (d.n_clusters != 0 || d.n_listeners != 0)
        translate_static(&d);
    if (routes != NULL)
        free(route_listener.any.value.data);
    for (size_t i = 0; i < d.n_all; i++)
        protobuf_c_message_free_unpacked(d.all[i], NULL);
    envoy__service__discovery__v3__discovery_response__free_unpacked(resp, NULL);
    return 0;
}
