/* Clusters: discovery type, load balancing policy, endpoints with weights and
 * priorities, timeouts, upstream protocol and upstream TLS. */
#include <stdlib.h>
#include <string.h>

#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "proxy/config/translate_int.h"

#define HTTP_PROTOCOL_OPTIONS "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

static void translate_type(fd_translator_t *tr, const Envoy__Config__Cluster__V3__Cluster *c, fd_cluster_t *out)
{
    if (c->cluster_discovery_type_case == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_CLUSTER_TYPE) {
        fd_tr_error_in(tr, c->cluster_type, "cluster_type", "custom cluster type '%s' is not supported by frontdesk",
                       c->cluster_type->name);
        return;
    }
    switch (c->type) { /* unset is STATIC, as in Envoy */
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC: out->type = FD_DISCOVERY_STATIC; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS: out->type = FD_DISCOVERY_STRICT_DNS; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__LOGICAL_DNS: out->type = FD_DISCOVERY_LOGICAL_DNS; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS: out->type = FD_DISCOVERY_EDS; break;
    default: fd_tr_error_in(tr, &c->type, "type", "cluster type ORIGINAL_DST is not supported by frontdesk");
    }
}

static void translate_lb_policy(fd_translator_t *tr, const Envoy__Config__Cluster__V3__Cluster *c, fd_cluster_t *out)
{
    out->least_request_choices = 2;
    out->ring_hash_min_size = 1024;
    out->ring_hash_max_size = 8u << 20;
    switch (c->lb_policy) {
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN: out->lb_policy = FD_LB_ROUND_ROBIN; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST: out->lb_policy = FD_LB_LEAST_REQUEST; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM: out->lb_policy = FD_LB_RANDOM; break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH: out->lb_policy = FD_LB_RING_HASH; break;
    default:
        fd_tr_error_in(
            tr, &c->lb_policy, "lb_policy",
            "lb_policy %s is not supported by frontdesk (use ROUND_ROBIN, LEAST_REQUEST, RANDOM or RING_HASH)",
            protobuf_c_enum_descriptor_get_value(&envoy__config__cluster__v3__cluster__lb_policy__descriptor,
                                                 c->lb_policy)
                ? protobuf_c_enum_descriptor_get_value(&envoy__config__cluster__v3__cluster__lb_policy__descriptor,
                                                       c->lb_policy)
                      ->name
                : "?");
    }
    if (c->lb_config_case == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_LEAST_REQUEST_LB_CONFIG &&
        c->least_request_lb_config->choice_count != NULL) {
        out->least_request_choices = c->least_request_lb_config->choice_count->value;
        if (out->least_request_choices < 2)
            fd_tr_error_in(tr, c->least_request_lb_config, "least_request_lb_config.choice_count",
                           "choice_count must be at least 2");
    }
    if (c->lb_config_case == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG) {
        const Envoy__Config__Cluster__V3__Cluster__RingHashLbConfig *rh = c->ring_hash_lb_config;
        if (rh->minimum_ring_size != NULL)
            out->ring_hash_min_size = rh->minimum_ring_size->value;
        if (rh->maximum_ring_size != NULL)
            out->ring_hash_max_size = rh->maximum_ring_size->value;
        if (out->ring_hash_min_size > out->ring_hash_max_size || out->ring_hash_max_size > (8u << 20))
            fd_tr_error_in(tr, rh, "ring_hash_lb_config",
                           "ring sizes must satisfy minimum_ring_size <= maximum_ring_size <= 8388608");
    }
}

static void translate_lb_endpoint(fd_translator_t *tr, const Envoy__Config__Endpoint__V3__LbEndpoint *lbe,
                                  uint32_t priority, int dns, fd_endpoint_t *out)
{
    if (lbe->host_identifier_case != ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
        lbe->endpoint->address == NULL) {
        fd_tr_error(tr, lbe, "endpoint.address is required (endpoint_name is not supported)");
        return;
    }
    size_t saved = fd_tr_push(tr, "endpoint.address");
    fd_tr_socket_address(tr, lbe->endpoint->address, &out->address, dns);
    fd_tr_pop(tr, saved);
    out->priority = priority;
    out->weight = 1;
    /* as Envoy: hosts the control plane calls unhealthy, draining or timed out get no traffic */
    out->healthy = lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNHEALTHY &&
                   lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING &&
                   lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__TIMEOUT;
    if (lbe->load_balancing_weight != NULL) {
        out->weight = lbe->load_balancing_weight->value;
        if (out->weight == 0)
            fd_tr_error_in(tr, lbe->load_balancing_weight, "load_balancing_weight", "weight must be at least 1");
    }
}

static void translate_endpoints(fd_translator_t *tr, const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *la,
                                fd_cluster_t *out)
{
    size_t total = 0, n = 0;
    int dns = out->type == FD_DISCOVERY_STRICT_DNS || out->type == FD_DISCOVERY_LOGICAL_DNS;
    for (size_t i = 0; i < la->n_endpoints; i++)
        total += la->endpoints[i]->n_lb_endpoints;
    out->endpoints = fd_tr_alloc(tr, total * sizeof(*out->endpoints));
    size_t saved = fd_tr_push(tr, "load_assignment");
    for (size_t i = 0; i < la->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = la->endpoints[i];
        size_t s1 = fd_tr_push_index(tr, "endpoints", i);
        for (size_t j = 0; j < loc->n_lb_endpoints; j++) {
            size_t s2 = fd_tr_push_index(tr, "lb_endpoints", j);
            translate_lb_endpoint(tr, loc->lb_endpoints[j], loc->priority, dns, &out->endpoints[n++]);
            fd_tr_pop(tr, s2);
        }
        fd_tr_pop(tr, s1);
    }
    out->n_endpoints = n;
    if (out->type == FD_DISCOVERY_LOGICAL_DNS && n != 1)
        fd_tr_error(tr, la, "a LOGICAL_DNS cluster needs exactly one endpoint, got %zu", n);
    fd_tr_pop(tr, saved);
}

static void translate_protocol_options(fd_translator_t *tr, const Envoy__Config__Cluster__V3__Cluster *c,
                                       fd_cluster_t *out)
{
    for (size_t i = 0; i < c->n_typed_extension_protocol_options; i++) {
        const Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry *e =
            c->typed_extension_protocol_options[i];
        size_t saved = fd_tr_push(tr, "typed_extension_protocol_options");
        if (strcmp(e->key, HTTP_PROTOCOL_OPTIONS) != 0 &&
            strcmp(e->key, "envoy.upstreams.http.http_protocol_options") != 0) {
            fd_tr_error(tr, e, "protocol options '%s' are not supported by frontdesk (only %s)", e->key,
                        HTTP_PROTOCOL_OPTIONS);
        } else if (e->value != NULL) {
            Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *po =
                (Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *)fd_tr_any_open(
                    tr, e->value, &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
            if (po != NULL) {
                fd_tr_check_supported(tr, &po->base);
                if (po->upstream_protocol_options_case ==
                    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG)
                    out->protocol =
                        po->explicit_http_config->protocol_config_case ==
                                ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS
                            ? FD_UPSTREAM_HTTP2
                            : FD_UPSTREAM_HTTP1;
                else if (
                    po->upstream_protocol_options_case ==
                    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_AUTO_CONFIG)
                    out->protocol = FD_UPSTREAM_AUTO;
                else if (
                    po->upstream_protocol_options_case ==
                    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_USE_DOWNSTREAM_PROTOCOL_CONFIG)
                    out->protocol = FD_UPSTREAM_DOWNSTREAM;
                if (po->common_http_protocol_options != NULL)
                    out->upstream_idle_timeout_ms = fd_tr_duration_ms(
                        tr, po->common_http_protocol_options->idle_timeout, out->upstream_idle_timeout_ms);
            }
            fd_tr_any_release(tr, e->value, (ProtobufCMessage *)po);
        }
        fd_tr_pop(tr, saved);
    }
}

void fd_tr_cluster(fd_translator_t *tr, const Envoy__Config__Cluster__V3__Cluster *c, fd_cluster_t *out)
{
    memset(out, 0, sizeof(*out));
    out->name = fd_tr_string(tr, c->name);
    if (out->name.len == 0)
        fd_tr_error_in(tr, c, "name", "a cluster needs a name");
    translate_type(tr, c, out);
    translate_lb_policy(tr, c, out);
    out->connect_timeout_ms = fd_tr_duration_ms(tr, c->connect_timeout, 5000);
    out->dns_refresh_rate_ms = fd_tr_duration_ms(tr, c->dns_refresh_rate, 5000);
    if (c->dns_refresh_rate != NULL && out->dns_refresh_rate_ms == 0)
        fd_tr_error_in(tr, c->dns_refresh_rate, "dns_refresh_rate", "dns_refresh_rate must be at least 1ms");
    out->dns_lookup_family =
        c->dns_lookup_family == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DNS_LOOKUP_FAMILY__V4_ONLY   ? AF_INET
        : c->dns_lookup_family == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DNS_LOOKUP_FAMILY__V6_ONLY ? AF_INET6
                                                                                                  : AF_UNSPEC;
    out->per_connection_buffer_limit_bytes =
        c->per_connection_buffer_limit_bytes != NULL ? c->per_connection_buffer_limit_bytes->value : 1u << 20;
    out->upstream_idle_timeout_ms = 3600 * 1000;
    if (c->http2_protocol_options != NULL) /* deprecated in v3 but still honoured by Envoy */
        out->protocol = FD_UPSTREAM_HTTP2;
    translate_protocol_options(tr, c, out);
    if (out->type == FD_DISCOVERY_EDS) {
        if (c->eds_cluster_config != NULL)
            out->eds_service_name = fd_tr_string(tr, c->eds_cluster_config->service_name);
        if (c->eds_cluster_config == NULL || c->eds_cluster_config->eds_config == NULL) {
            fd_tr_error_in(tr, c, "eds_cluster_config.eds_config",
                           "an EDS cluster needs eds_cluster_config.eds_config");
        } else {
            size_t saved = fd_tr_push(tr, "eds_cluster_config.eds_config");
            fd_tr_config_source(tr, c->eds_cluster_config->eds_config, &out->eds_config);
            fd_tr_pop(tr, saved);
        }
    } else if (c->load_assignment != NULL) {
        translate_endpoints(tr, c->load_assignment, out);
    }
    if (c->transport_socket != NULL) {
        size_t saved = fd_tr_push(tr, "transport_socket");
        out->tls = fd_tr_upstream_tls(tr, c->transport_socket);
        fd_tr_pop(tr, saved);
    }
}

int fd_translate_load_assignment(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                                 fd_endpoint_t **endpoints, size_t *n, fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings)
{
    /* a scratch config: its pool holds what the translator makes, copied out below */
    fd_config_t *scratch = fd_config_new();
    fd_translator_t tr = {.errs = errs, .config = scratch, .warnings = warnings};
    size_t errors_before = errs->count + errs->dropped;
    fd_tr_check_supported(&tr, &cla->base);
    fd_cluster_t cluster = {.type = FD_DISCOVERY_EDS}; /* addresses must be IPs, as Envoy's EDS wants */
    translate_endpoints(&tr, cla, &cluster);
    int ok = errs->count + errs->dropped == errors_before;
    *endpoints = NULL;
    *n = 0;
    if (ok && cluster.n_endpoints != 0) {
        *endpoints = malloc(cluster.n_endpoints * sizeof(**endpoints));
        if (*endpoints == NULL)
            abort();
        memcpy(*endpoints, cluster.endpoints, cluster.n_endpoints * sizeof(**endpoints));
        for (size_t i = 0; i < cluster.n_endpoints; i++)
            (*endpoints)[i].address.host = NULL; /* it lived in the scratch pool; addr holds the IP */
        *n = cluster.n_endpoints;
    }
    fd_config_release(scratch);
    return ok ? 0 : -1;
}

fd_config_t *fd_translate_cluster_resource(const Envoy__Config__Cluster__V3__Cluster *c, const fd_config_t *statics,
                                           fd_cluster_t **cluster, fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings)
{
    fd_config_t *arena = fd_config_new();
    fd_translator_t tr = {.errs = errs, .config = arena, .warnings = warnings};
    size_t errors_before = errs->count + errs->dropped;
    fd_tr_check_supported(&tr, &c->base);
    *cluster = fd_tr_alloc(&tr, sizeof(**cluster));
    fd_tr_cluster(&tr, c, *cluster);
    if ((arena = fd_tr_finish_resource(&tr, statics, errors_before)) == NULL)
        *cluster = NULL;
    return arena;
}
