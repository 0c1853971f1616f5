/* The HTTP connection manager: codec, routes (inline or RDS), the HTTP filter chain
 * with the router last, limits and timeouts with Envoy's defaults, access logs. */
#include <string.h>

#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "proxy/config/translate_int.h"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager hcm_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter http_filter_t;

#define ROUTER_NAME "envoy.filters.http.router"
#define ROUTER_TYPE "envoy.extensions.filters.http.router.v3.Router"

static const char *filter_type(const http_filter_t *f)
{
    if (f->config_type_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG)
        return fd_tr_any_type_name(f->typed_config);
    return "";
}

static void translate_router(fd_translator_t *tr, const http_filter_t *f, fd_http_manager_t *out)
{
    if (filter_type(f)[0] == '\0')
        return;
    size_t saved = fd_tr_push(tr, "typed_config");
    Envoy__Extensions__Filters__Http__Router__V3__Router *router =
        (Envoy__Extensions__Filters__Http__Router__V3__Router *)fd_tr_any_open(
            tr, f->typed_config, &envoy__extensions__filters__http__router__v3__router__descriptor);
    if (router != NULL) {
        fd_tr_check_supported(tr, &router->base);
        out->suppress_envoy_headers = router->suppress_envoy_headers;
    }
    fd_tr_any_release(tr, f->typed_config, (ProtobufCMessage *)router);
    fd_tr_pop(tr, saved);
}

/* Filters are known by the type of their typed_config, or by name when it is absent. */
static int is_router(const http_filter_t *f)
{
    const char *type = filter_type(f);
    return type[0] != '\0' ? strcmp(type, ROUTER_TYPE) == 0 : strcmp(f->name, ROUTER_NAME) == 0;
}

static void translate_http_filters(fd_translator_t *tr, const hcm_t *hcm, fd_http_manager_t *out)
{
    out->filters = fd_tr_alloc(tr, hcm->n_http_filters * sizeof(*out->filters));
    for (size_t i = 0; i < hcm->n_http_filters; i++) {
        const http_filter_t *f = hcm->http_filters[i];
        size_t saved = fd_tr_push_index(tr, "http_filters", i);
        fd_http_filter_config_t *cfg = &out->filters[out->n_filters];
        if (is_router(f)) {
            if (i + 1 != hcm->n_http_filters)
                fd_tr_error(tr, f, "the router (%s) must be the last HTTP filter", ROUTER_NAME);
            translate_router(tr, f, out);
            cfg->name = fd_tr_string(tr, ROUTER_NAME);
            cfg->type_name = fd_tr_string(tr, ROUTER_TYPE);
            out->n_filters++;
        } else if (fd_tr_http_filter(tr, f, f->name, filter_type(f)[0] ? f->typed_config : NULL, f->is_optional, cfg) ==
                   0) {
            out->filters_see_responses |=
                cfg->filter->on_response_headers != NULL || cfg->filter->on_response_body != NULL;
            out->n_filters++;
        }
        fd_tr_pop(tr, saved);
    }
    if (out->n_filters == 0 || !is_router(hcm->http_filters[hcm->n_http_filters - 1]))
        fd_tr_error_in(tr, hcm, "http_filters", "the last HTTP filter must be the router (%s)", ROUTER_NAME);
}

static void translate_routes(fd_translator_t *tr, const hcm_t *hcm, fd_http_manager_t *out)
{
    switch (hcm->route_specifier_case) {
    case ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG: {
        size_t saved = fd_tr_push(tr, "route_config");
        out->routes = fd_tr_alloc(tr, sizeof(*out->routes));
        fd_tr_route_table(tr, hcm->route_config, out->routes);
        fd_tr_pop(tr, saved);
        break;
    }
    case ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS: {
        size_t saved = fd_tr_push(tr, "rds");
        out->rds_name = fd_tr_string(tr, hcm->rds->route_config_name);
        if (out->rds_name.len == 0)
            fd_tr_error_in(tr, hcm->rds, "route_config_name", "rds needs a route_config_name");
        if (hcm->rds->config_source == NULL) {
            fd_tr_error_in(tr, hcm->rds, "config_source", "rds needs a config_source");
        } else {
            size_t s = fd_tr_push(tr, "config_source");
            fd_tr_config_source(tr, hcm->rds->config_source, &out->rds_source);
            fd_tr_pop(tr, s);
        }
        fd_tr_pop(tr, saved);
        break;
    }
    default:
        fd_tr_error(tr, hcm, "the HTTP connection manager needs route_config or rds (scoped_routes is not supported)");
    }
}

static void translate_protocol_options(fd_translator_t *tr, const hcm_t *hcm, fd_http_manager_t *out)
{
    out->idle_timeout_ms = 3600 * 1000;
    out->max_headers_count = 100;
    const Envoy__Config__Core__V3__HttpProtocolOptions *common = hcm->common_http_protocol_options;
    if (common != NULL) {
        size_t saved = fd_tr_push(tr, "common_http_protocol_options");
        out->idle_timeout_ms = fd_tr_duration_ms(tr, common->idle_timeout, out->idle_timeout_ms);
        if (common->max_headers_count != NULL)
            out->max_headers_count = common->max_headers_count->value;
        if (out->max_headers_count == 0)
            fd_tr_error_in(tr, common->max_headers_count, "max_headers_count", "max_headers_count must be at least 1");
        out->headers_with_underscores_action = (int)common->headers_with_underscores_action;
        fd_tr_pop(tr, saved);
    }
    const Envoy__Config__Core__V3__Http2ProtocolOptions *h2 = hcm->http2_protocol_options;
    out->http2_max_concurrent_streams =
        h2 && h2->max_concurrent_streams ? h2->max_concurrent_streams->value : 2147483647;
    out->http2_initial_stream_window_size =
        h2 && h2->initial_stream_window_size ? h2->initial_stream_window_size->value : 268435456;
    out->http2_initial_connection_window_size =
        h2 && h2->initial_connection_window_size ? h2->initial_connection_window_size->value : 268435456;
    if (out->http2_initial_stream_window_size < 65535 || out->http2_initial_connection_window_size < 65535)
        fd_tr_error_in(tr, h2, "http2_protocol_options", "HTTP/2 window sizes must be at least 65535");
}

static void translate_limits(fd_translator_t *tr, const hcm_t *hcm, fd_http_manager_t *out)
{
    out->max_request_headers_kb = hcm->max_request_headers_kb != NULL ? hcm->max_request_headers_kb->value : 60;
    if (out->max_request_headers_kb == 0 || out->max_request_headers_kb > 8192)
        fd_tr_error_in(tr, hcm->max_request_headers_kb, "max_request_headers_kb",
                       "max_request_headers_kb must be in [1, 8192], got %u", out->max_request_headers_kb);
    out->stream_idle_timeout_ms = fd_tr_duration_ms(tr, hcm->stream_idle_timeout, 300 * 1000);
    out->request_timeout_ms = fd_tr_duration_ms(tr, hcm->request_timeout, 0);
    out->request_headers_timeout_ms = fd_tr_duration_ms(tr, hcm->request_headers_timeout, 0);
    out->drain_timeout_ms = fd_tr_duration_ms(tr, hcm->drain_timeout, 5000);
}

static void translate_options(fd_translator_t *tr, const hcm_t *hcm, fd_http_manager_t *out)
{
    out->stat_prefix = fd_tr_string(tr, hcm->stat_prefix);
    if (out->stat_prefix.len == 0)
        fd_tr_error_in(tr, hcm, "stat_prefix", "the HTTP connection manager needs a stat_prefix");
    if (hcm->codec_type ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP3)
        fd_tr_error_in(tr, &hcm->codec_type, "codec_type", "HTTP/3 is not supported by frontdesk");
    out->codec =
        hcm->codec_type ==
                ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP1
            ? FD_CODEC_HTTP1
        : hcm->codec_type ==
                ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP2
            ? FD_CODEC_HTTP2
            : FD_CODEC_AUTO;
    out->server_name = fd_tr_string(tr, hcm->server_name[0] != '\0' ? hcm->server_name : "envoy");
    out->use_remote_address = hcm->use_remote_address != NULL && hcm->use_remote_address->value;
    out->xff_num_trusted_hops = hcm->xff_num_trusted_hops;
    out->generate_request_id = hcm->generate_request_id == NULL || hcm->generate_request_id->value;
    out->normalize_path = hcm->normalize_path != NULL && hcm->normalize_path->value;
    out->merge_slashes = hcm->merge_slashes;
    out->escaped_slashes_action = (int)hcm->path_with_escaped_slashes_action;
}

void fd_tr_http_manager(fd_translator_t *tr, const Google__Protobuf__Any *typed_config, fd_http_manager_t *out)
{
    hcm_t *hcm = (hcm_t *)fd_tr_any_open(
        tr, typed_config,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
    if (hcm == NULL)
        return;
    fd_tr_check_supported(tr, &hcm->base);
    translate_options(tr, hcm, out);
    translate_limits(tr, hcm, out);
    translate_protocol_options(tr, hcm, out);
    translate_routes(tr, hcm, out);
    translate_http_filters(tr, hcm, out);
    fd_tr_access_logs(tr, hcm->access_log, hcm->n_access_log, &out->access_logs, &out->n_access_logs);
    fd_tr_any_release(tr, typed_config, &hcm->base);
}
