/* Which fields of Envoy's messages frontdesk supports. Every set field is checked
 * against this table, so a field frontdesk would ignore is reported by name instead
 * of silently changing behaviour. A message absent from the table is fully supported
 * (it is only reachable through a supported field). Contents of an Any are checked
 * when the translator opens it. */
#include <string.h>

#include "proxy/config/pb_fields.h"
#include "proxy/config/translate_int.h"

#define MAX_DEPTH 100

static const struct support_rule {
    const char *message;
    const char *fields; /* space-separated */
} rules[] = {
    {"envoy.config.bootstrap.v3.Bootstrap", "node static_resources dynamic_resources admin"},
    {"envoy.config.bootstrap.v3.Bootstrap.StaticResources", "listeners clusters"},
    {"envoy.config.bootstrap.v3.Bootstrap.DynamicResources", "lds_config cds_config ads_config"},
    {"envoy.config.bootstrap.v3.Admin", "address access_log_path access_log"},
    {"envoy.config.core.v3.ConfigSource", "ads api_config_source resource_api_version initial_fetch_timeout"},
    {"envoy.config.core.v3.ApiConfigSource",
     "api_type transport_api_version grpc_services set_node_on_first_message_only"},
    {"envoy.config.core.v3.GrpcService", "envoy_grpc google_grpc timeout initial_metadata"},
    {"envoy.config.core.v3.GrpcService.EnvoyGrpc", "cluster_name authority"},
    {"envoy.config.core.v3.GrpcService.GoogleGrpc", "target_uri stat_prefix"},
    {"envoy.config.listener.v3.Listener",
     "name address filter_chains default_filter_chain listener_filters per_connection_buffer_limit_bytes "
     "traffic_direction metadata"},
    {"envoy.config.listener.v3.FilterChain", "filter_chain_match filters transport_socket name metadata"},
    {"envoy.config.listener.v3.FilterChainMatch", "server_names transport_protocol"},
    {"envoy.config.listener.v3.ListenerFilter", "name typed_config"},
    {"envoy.config.listener.v3.Filter", "name typed_config"},
    {"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
     "codec_type stat_prefix http_filters common_http_protocol_options http2_protocol_options server_name "
     "max_request_headers_kb stream_idle_timeout request_timeout request_headers_timeout drain_timeout access_log "
     "use_remote_address xff_num_trusted_hops generate_request_id normalize_path merge_slashes "
     "path_with_escaped_slashes_action route_config rds"},
    {"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", "name typed_config is_optional"},
    {"envoy.extensions.filters.network.http_connection_manager.v3.Rds", "config_source route_config_name"},
    {"envoy.extensions.filters.http.router.v3.Router", "suppress_envoy_headers"},
    {"envoy.config.core.v3.HttpProtocolOptions", "idle_timeout max_headers_count headers_with_underscores_action"},
    {"envoy.config.core.v3.Http1ProtocolOptions", ""},
    {"envoy.config.core.v3.Http2ProtocolOptions",
     "max_concurrent_streams initial_stream_window_size initial_connection_window_size"},
    {"envoy.config.route.v3.RouteConfiguration",
     "name virtual_hosts request_headers_to_add request_headers_to_remove response_headers_to_add "
     "response_headers_to_remove typed_per_filter_config"},
    {"envoy.config.route.v3.VirtualHost",
     "name domains routes require_tls request_headers_to_add request_headers_to_remove response_headers_to_add "
     "response_headers_to_remove typed_per_filter_config"},
    {"envoy.config.route.v3.Route",
     "name match route redirect direct_response request_headers_to_add request_headers_to_remove "
     "response_headers_to_add response_headers_to_remove typed_per_filter_config metadata"},
    {"envoy.config.route.v3.RouteMatch",
     "prefix path safe_regex path_separated_prefix case_sensitive headers query_parameters"},
    {"envoy.config.route.v3.RouteAction",
     "cluster cluster_header weighted_clusters prefix_rewrite regex_rewrite host_rewrite_literal auto_host_rewrite "
     "timeout idle_timeout retry_policy hash_policy"},
    {"envoy.config.route.v3.WeightedCluster", "clusters total_weight"},
    {"envoy.config.route.v3.WeightedCluster.ClusterWeight",
     "name weight request_headers_to_add request_headers_to_remove"},
    {"envoy.config.route.v3.RetryPolicy", "retry_on num_retries per_try_timeout retriable_status_codes"},
    {"envoy.config.route.v3.RouteAction.HashPolicy", "header cookie connection_properties query_parameter terminal"},
    {"envoy.config.route.v3.RouteAction.HashPolicy.Header", "header_name"},
    {"envoy.config.route.v3.RouteAction.HashPolicy.Cookie", "name"},
    {"envoy.type.matcher.v3.StringMatcher", "exact prefix suffix safe_regex contains ignore_case"},
    {"envoy.type.matcher.v3.RegexMatchAndSubstitute", "pattern substitution"},
    {"envoy.config.core.v3.DataSource", "filename inline_bytes inline_string environment_variable"},
    {"envoy.config.cluster.v3.Cluster",
     "name type connect_timeout lb_policy load_assignment dns_refresh_rate dns_lookup_family transport_socket "
     "typed_extension_protocol_options per_connection_buffer_limit_bytes eds_cluster_config http2_protocol_options "
     "ring_hash_lb_config least_request_lb_config metadata"},
    {"envoy.config.cluster.v3.Cluster.RingHashLbConfig", "minimum_ring_size maximum_ring_size"},
    {"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig", "choice_count"},
    {"envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name endpoints"},
    {"envoy.config.endpoint.v3.LocalityLbEndpoints", "lb_endpoints priority locality"},
    {"envoy.config.endpoint.v3.LbEndpoint", "endpoint load_balancing_weight health_status metadata"},
    {"envoy.config.endpoint.v3.Endpoint", "address hostname"},
    {"envoy.config.core.v3.SocketAddress", "protocol address port_value ipv4_compat"},
    {"envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", "common_tls_context require_client_certificate"},
    {"envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "common_tls_context sni"},
    {"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext",
     "tls_params tls_certificates alpn_protocols validation_context"},
    {"envoy.extensions.transport_sockets.tls.v3.TlsParameters",
     "tls_minimum_protocol_version tls_maximum_protocol_version cipher_suites ecdh_curves"},
    {"envoy.extensions.transport_sockets.tls.v3.TlsCertificate", "certificate_chain private_key"},
    {"envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", "trusted_ca"},
    {"envoy.config.accesslog.v3.AccessLog", "name typed_config"},
    {"envoy.extensions.access_loggers.file.v3.FileAccessLog", "path format json_format log_format"},
    {"envoy.config.core.v3.SubstitutionFormatString", "text_format text_format_source json_format"},
    {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
     "explicit_http_config auto_config use_downstream_protocol_config common_http_protocol_options"},
    {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
     "http_protocol_options http2_protocol_options"},
    {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.AutoHttpConfig",
     "http_protocol_options http2_protocol_options"},
};

static const struct support_rule *rule_for(const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].message, desc->name) == 0)
            return &rules[i];
    return NULL;
}

static int allowed(const struct support_rule *rule, const char *field)
{
    if (rule == NULL)
        return 1;
    size_t len = strlen(field);
    for (const char *p = rule->fields; (p = strstr(p, field)) != NULL; p += len)
        if ((p == rule->fields || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
            return 1;
    return 0;
}

static void check_message(fd_translator_t *tr, const ProtobufCMessage *msg, unsigned depth);

/* Descends into the messages a supported field holds (not into Any: see fd_tr_any_open). */
static void check_children(fd_translator_t *tr, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                           unsigned depth)
{
    const ProtobufCMessageDescriptor *sub = f->descriptor;
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || strcmp(sub->name, "google.protobuf.Any") == 0 ||
        strncmp(sub->name, "google.protobuf.", 16) == 0)
        return;
    const char *base = (const char *)msg;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        size_t saved = fd_tr_push(tr, f->name);
        check_message(tr, *(ProtobufCMessage *const *)(base + f->offset), depth + 1);
        fd_tr_pop(tr, saved);
        return;
    }
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
    for (size_t i = 0; i < n; i++) {
        size_t saved = fd_tr_push_index(tr, f->name, i);
        check_message(tr, items[i], depth + 1);
        fd_tr_pop(tr, saved);
    }
}

static void check_message(fd_translator_t *tr, const ProtobufCMessage *msg, unsigned depth)
{
    if (depth > MAX_DEPTH) {
        fd_tr_error(tr, msg, "messages are nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const struct support_rule *rule = rule_for(desc);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!fd_pb_field_is_set(msg, f))
            continue;
        if (!allowed(rule, f->name)) {
            /* from a control server: logged and skipped, as DESIGN says; in a file: refused */
            fd_cfg_errors_t *errs = tr->errs;
            if (tr->warnings != NULL)
                tr->errs = tr->warnings;
            fd_tr_error_in(tr, (const char *)msg + f->offset, f->name,
                           "field '%s' of %s is not supported by frontdesk%s", f->name, desc->name,
                           tr->warnings != NULL ? ": ignored" : "");
            tr->errs = errs;
            continue;
        }
        check_children(tr, msg, f, depth);
    }
}

void fd_tr_check_supported(fd_translator_t *tr, const ProtobufCMessage *msg)
{
    check_message(tr, msg, 0);
}
