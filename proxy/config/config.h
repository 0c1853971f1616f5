/* frontdesk's runtime configuration: what the translator makes of Envoy's messages and
 * what a published snapshot holds. Immutable once built; every object lives in the
 * config's memory pool and dies with the last reference to the config. */
#ifndef FD_CONFIG_H
#define FD_CONFIG_H

#include <h2o/memory.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filters/fd_filter.h"

typedef struct fd_string {
    const char *base;
    size_t len;
} fd_string_t;

typedef struct fd_socket_address {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *host; /* as configured: an IP, or a DNS name for DNS clusters */
    uint16_t port;
} fd_socket_address_t;

/* Where dynamic config comes from (an Envoy ConfigSource). */
typedef struct fd_config_source_ref {
    int present;
    int ads;                /* {ads: {}}: over the ADS stream */
    fd_string_t cluster;    /* envoy_grpc.cluster_name of the gRPC service, or */
    fd_string_t target_uri; /* google_grpc.target_uri */
    uint64_t initial_fetch_timeout_ms;
} fd_config_source_ref_t;

/* ---- matching ---- */

typedef enum fd_string_match_kind {
    FD_STRING_MATCH_EXACT,
    FD_STRING_MATCH_PREFIX,
    FD_STRING_MATCH_SUFFIX,
    FD_STRING_MATCH_CONTAINS,
    FD_STRING_MATCH_REGEX,
} fd_string_match_kind_t;

typedef struct fd_string_match {
    fd_string_match_kind_t kind;
    fd_string_t value;
    pcre2_code *regex; /* FD_STRING_MATCH_REGEX */
    int ignore_case;
} fd_string_match_t;

typedef enum fd_header_match_kind {
    FD_HEADER_MATCH_STRING, /* string_match, exact_match, prefix_match, ... */
    FD_HEADER_MATCH_PRESENT,
    FD_HEADER_MATCH_RANGE,
} fd_header_match_kind_t;

typedef struct fd_header_match {
    fd_string_t name; /* lower-cased */
    fd_header_match_kind_t kind;
    fd_string_match_t string;
    int64_t range_start, range_end; /* [start, end) */
    int present;                    /* FD_HEADER_MATCH_PRESENT: must the header be present? */
    int invert;
    int treat_missing_as_empty;
} fd_header_match_t;

typedef struct fd_query_match {
    fd_string_t name;
    int present_only;
    fd_string_match_t string;
} fd_query_match_t;

/* ---- headers to add and remove ---- */

typedef enum fd_header_append {
    FD_HEADER_APPEND_IF_EXISTS_OR_ADD,
    FD_HEADER_ADD_IF_ABSENT,
    FD_HEADER_OVERWRITE_IF_EXISTS_OR_ADD,
    FD_HEADER_OVERWRITE_IF_EXISTS,
} fd_header_append_t;

typedef struct fd_header_op {
    fd_string_t name; /* lower-cased */
    fd_string_t value;
    fd_header_append_t append;
    int keep_empty_value;
} fd_header_op_t;

typedef struct fd_header_ops {
    fd_header_op_t *add;
    size_t n_add;
    fd_string_t *remove;
    size_t n_remove;
} fd_header_ops_t;

/* ---- routes ---- */

typedef enum fd_path_match_kind {
    FD_PATH_MATCH_PREFIX,
    FD_PATH_MATCH_EXACT,
    FD_PATH_MATCH_REGEX,
    FD_PATH_MATCH_SEPARATED_PREFIX,
} fd_path_match_kind_t;

typedef struct fd_route_match {
    fd_path_match_kind_t kind;
    fd_string_t path; /* prefix or exact path */
    pcre2_code *regex;
    int case_sensitive;
    fd_header_match_t *headers;
    size_t n_headers;
    fd_query_match_t *query;
    size_t n_query;
} fd_route_match_t;

typedef struct fd_weighted_cluster {
    fd_string_t name;
    uint32_t weight;
    fd_header_ops_t headers;
} fd_weighted_cluster_t;

typedef enum fd_hash_policy_kind {
    FD_HASH_HEADER,
    FD_HASH_SOURCE_IP,
    FD_HASH_COOKIE,
    FD_HASH_QUERY_PARAMETER,
} fd_hash_policy_kind_t;

typedef struct fd_hash_policy {
    fd_hash_policy_kind_t kind;
    fd_string_t name; /* header, cookie or query parameter */
    int terminal;
} fd_hash_policy_t;

typedef struct fd_retry_policy {
    uint32_t retry_on; /* FD_RETRY_ON_* bits */
    uint32_t num_retries;
    uint64_t per_try_timeout_ms;
    uint32_t *retriable_status_codes;
    size_t n_retriable_status_codes;
} fd_retry_policy_t;

#define FD_RETRY_ON_5XX (1u << 0)
#define FD_RETRY_ON_GATEWAY_ERROR (1u << 1)
#define FD_RETRY_ON_RESET (1u << 2)
#define FD_RETRY_ON_CONNECT_FAILURE (1u << 3)
#define FD_RETRY_ON_RETRIABLE_4XX (1u << 4)
#define FD_RETRY_ON_REFUSED_STREAM (1u << 5)
#define FD_RETRY_ON_RETRIABLE_STATUS_CODES (1u << 6)

typedef enum fd_route_action_kind {
    FD_ROUTE_FORWARD,
    FD_ROUTE_REDIRECT,
    FD_ROUTE_DIRECT_RESPONSE,
} fd_route_action_kind_t;

typedef struct fd_route_forward {
    fd_string_t cluster;        /* one cluster, or */
    fd_string_t cluster_header; /* the cluster named by a request header, or */
    fd_weighted_cluster_t *weighted;
    size_t n_weighted;
    uint32_t total_weight;
    fd_string_t prefix_rewrite;
    pcre2_code *regex_rewrite;
    fd_string_t regex_rewrite_substitution;
    fd_string_t host_rewrite_literal;
    int auto_host_rewrite;
    uint64_t timeout_ms; /* 0: none */
    uint64_t idle_timeout_ms;
    fd_retry_policy_t *retry;
    fd_hash_policy_t *hash_policies;
    size_t n_hash_policies;
} fd_route_forward_t;

typedef struct fd_route_redirect {
    fd_string_t scheme, host, path, prefix_rewrite;
    pcre2_code *regex_rewrite;
    fd_string_t regex_rewrite_substitution;
    uint32_t port; /* 0: keep */
    int https;
    int strip_query;
    int status; /* 301, 302, 303, 307, 308 */
} fd_route_redirect_t;

typedef struct fd_route_direct {
    int status;
    fd_string_t body;
} fd_route_direct_t;

/* A typed_per_filter_config entry: for the HTTP filter of that name, the config its
 * create_route_config made (destroyed with the config pool). */
typedef struct fd_filter_route_config {
    fd_string_t filter_name;
    void *config;
} fd_filter_route_config_t;

typedef struct fd_filter_route_configs {
    fd_filter_route_config_t *entries;
    size_t n;
} fd_filter_route_configs_t;

typedef struct fd_route {
    fd_string_t name;
    fd_route_match_t match;
    fd_route_action_kind_t kind;
    union {
        fd_route_forward_t forward;
        fd_route_redirect_t redirect;
        fd_route_direct_t direct;
    };
    fd_header_ops_t request_headers, response_headers;
    fd_filter_route_configs_t filter_configs;
} fd_route_t;

typedef enum fd_domain_kind {
    FD_DOMAIN_EXACT,
    FD_DOMAIN_SUFFIX, /* "*.example.com": value holds ".example.com" */
    FD_DOMAIN_PREFIX, /* "api.*": value holds "api." */
    FD_DOMAIN_ANY,    /* "*" */
} fd_domain_kind_t;

typedef struct fd_domain {
    fd_domain_kind_t kind;
    fd_string_t value; /* lower-cased */
    struct fd_virtual_host *vhost;
} fd_domain_t;

typedef struct fd_virtual_host {
    fd_string_t name;
    fd_route_t *routes;
    size_t n_routes;
    fd_header_ops_t request_headers, response_headers;
    int require_tls; /* 0 none, 1 external only, 2 all */
    fd_filter_route_configs_t filter_configs;
    const struct fd_route_table *table; /* the route configuration it belongs to */
    struct fd_route_index *index;       /* built by fd_route_index_build (proxy/router/route_match.h) */
} fd_virtual_host_t;

typedef struct fd_route_table {
    fd_string_t name;
    fd_virtual_host_t *vhosts;
    size_t n_vhosts;
    /* Domains sorted for lookup by the router: exact, then suffix (longest first),
     * then prefix (longest first), then '*'. */
    fd_domain_t *domains;
    size_t n_domains;
    fd_header_ops_t request_headers, response_headers;
    fd_filter_route_configs_t filter_configs;
    struct fd_domain_index *index; /* built by fd_route_index_build (proxy/router/route_match.h) */
} fd_route_table_t;

/* ---- HTTP connection manager ---- */

typedef struct fd_http_filter_config {
    fd_string_t name;                     /* "envoy.filters.http.router" */
    fd_string_t type_name;                /* full message name of typed_config, or empty */
    const fd_filter_descriptor_t *filter; /* NULL for the router, which the stream runs itself */
    void *config;                         /* filter->create_config's; destroyed with the config pool */
} fd_http_filter_config_t;

typedef enum fd_access_log_kind {
    FD_ACCESS_LOG_FILE,
    FD_ACCESS_LOG_STDOUT,
    FD_ACCESS_LOG_STDERR,
} fd_access_log_kind_t;

typedef enum fd_access_log_format_kind {
    FD_ACCESS_LOG_FORMAT_DEFAULT,
    FD_ACCESS_LOG_FORMAT_TEXT,
    FD_ACCESS_LOG_FORMAT_JSON,
} fd_access_log_format_kind_t;

typedef struct fd_access_log {
    fd_access_log_kind_t kind;
    fd_string_t path;
    fd_access_log_format_kind_t format_kind;
    fd_string_t text_format;
    fd_string_t *json_keys, *json_formats; /* json_format: key -> format string */
    size_t n_json;
    int json_typed; /* log_format.json_format: numbers stay numbers (FileAccessLog.json_format: strings) */
    struct fd_access_log_format *compiled; /* freed with the config */
    struct fd_access_log_sink *sink;       /* opened by the server before workers start */
} fd_access_log_t;

typedef enum fd_codec {
    FD_CODEC_AUTO,
    FD_CODEC_HTTP1,
    FD_CODEC_HTTP2,
} fd_codec_t;

typedef struct fd_http_manager {
    fd_string_t stat_prefix;
    fd_codec_t codec;
    fd_route_table_t *routes; /* inline route_config, or NULL with rds_name set */
    fd_string_t rds_name;
    fd_config_source_ref_t rds_source;
    fd_http_filter_config_t *filters; /* in config order; the router is last */
    size_t n_filters;
    int filters_see_responses; /* a filter has a response hook: the stream watches the response */
    fd_access_log_t *access_logs;
    size_t n_access_logs;
    fd_string_t server_name;
    int use_remote_address;
    uint32_t xff_num_trusted_hops;
    int generate_request_id;
    uint32_t max_request_headers_kb; /* default 60 */
    uint32_t max_headers_count;      /* default 100 */
    uint64_t request_timeout_ms;     /* 0: none */
    uint64_t request_headers_timeout_ms;
    uint64_t stream_idle_timeout_ms; /* default 5 min */
    uint64_t idle_timeout_ms;        /* connection idle; default 1 h */
    uint64_t drain_timeout_ms;
    uint32_t max_request_bytes; /* 0: unlimited */
    uint32_t http2_max_concurrent_streams;
    uint32_t http2_initial_stream_window_size;
    uint32_t http2_initial_connection_window_size;
    int normalize_path;
    int merge_slashes;
    int escaped_slashes_action;          /* HCM PathWithEscapedSlashesAction */
    int headers_with_underscores_action; /* 0 allow, 1 reject request, 2 drop header */
    int suppress_envoy_headers;          /* router: no x-envoy-* response headers */
} fd_http_manager_t;

/* ---- TLS ---- */

typedef struct fd_tls_certificate {
    fd_string_t chain_pem; /* contents, read at translation */
    fd_string_t key_pem;
    fd_string_t chain_source; /* file name or "<inline>", for messages */
} fd_tls_certificate_t;

typedef struct fd_tls_context {
    fd_tls_certificate_t *certificates;
    size_t n_certificates;
    fd_string_t *alpn;
    size_t n_alpn;
    int min_version, max_version; /* TLS1_2_VERSION, ... (0: library default) */
    fd_string_t cipher_suites;    /* OpenSSL list, ':' separated */
    fd_string_t ecdh_curves;
    fd_string_t ca_pem; /* validation_context.trusted_ca */
    fd_string_t sni;    /* upstream */
    int require_client_certificate;
} fd_tls_context_t;

/* ---- listeners ---- */

typedef struct fd_filter_chain {
    fd_string_t name;
    fd_string_t *server_names; /* lower-cased; "*.example.com" wildcards */
    size_t n_server_names;
    fd_tls_context_t *tls; /* NULL: plaintext */
    fd_http_manager_t http;
} fd_filter_chain_t;

typedef struct fd_listener {
    fd_string_t name;
    fd_socket_address_t address;
    fd_filter_chain_t *chains;
    size_t n_chains;
    fd_filter_chain_t *default_chain;
    uint32_t per_connection_buffer_limit_bytes;
} fd_listener_t;

/* The chain whose connection manager gives a listener its h2o settings and its stat prefix: the
 * first, or default_filter_chain when that is all it has (the translator ensures one of them). */
/* Chain c of 0..n_chains, the last being the default chain (which may be NULL). */
static inline const fd_filter_chain_t *fd_listener_chain_at(const fd_listener_t *listener, size_t c)
{
    return c < listener->n_chains ? &listener->chains[c] : listener->default_chain;
}

static inline const fd_filter_chain_t *fd_listener_first_chain(const fd_listener_t *listener)
{
    return listener->n_chains != 0 ? &listener->chains[0] : listener->default_chain;
}

/* ---- clusters ---- */

typedef enum fd_discovery_type {
    FD_DISCOVERY_STATIC,
    FD_DISCOVERY_STRICT_DNS,
    FD_DISCOVERY_LOGICAL_DNS,
    FD_DISCOVERY_EDS,
} fd_discovery_type_t;

typedef enum fd_lb_policy {
    FD_LB_ROUND_ROBIN,
    FD_LB_LEAST_REQUEST,
    FD_LB_RANDOM,
    FD_LB_RING_HASH,
} fd_lb_policy_t;

typedef enum fd_upstream_protocol {
    FD_UPSTREAM_HTTP1,
    FD_UPSTREAM_HTTP2,
    FD_UPSTREAM_AUTO,       /* ALPN over TLS, HTTP/1.1 in cleartext */
    FD_UPSTREAM_DOWNSTREAM, /* whatever the client spoke */
} fd_upstream_protocol_t;

typedef struct fd_endpoint {
    fd_socket_address_t address;
    uint32_t weight;   /* default 1 */
    uint32_t priority; /* locality priority */
    int healthy;       /* health_status not UNHEALTHY, DRAINING or TIMEOUT: load balanced */
} fd_endpoint_t;

typedef struct fd_cluster {
    fd_string_t name;
    fd_discovery_type_t type;
    fd_lb_policy_t lb_policy;
    uint64_t connect_timeout_ms; /* default 5 s */
    uint64_t dns_refresh_rate_ms;
    int dns_lookup_family; /* AF_UNSPEC, AF_INET, AF_INET6 */
    fd_endpoint_t *endpoints;
    size_t n_endpoints;
    fd_string_t eds_service_name;
    fd_config_source_ref_t eds_config;
    fd_tls_context_t *tls;
    fd_upstream_protocol_t protocol;
    uint64_t upstream_idle_timeout_ms; /* pooled connection idle timeout; default 1 h */
    uint32_t per_connection_buffer_limit_bytes;
    uint64_t ring_hash_min_size, ring_hash_max_size;
    uint32_t least_request_choices; /* default 2 */
} fd_cluster_t;

/* ---- the whole config ---- */

typedef struct fd_config {
    h2o_mem_pool_t pool;
    int refcount; /* atomic */
    fd_string_t node_id, node_cluster;
    fd_socket_address_t admin_address;
    int has_admin;
    fd_listener_t *listeners;
    size_t n_listeners;
    fd_cluster_t *clusters; /* sorted by name */
    size_t n_clusters;
    fd_config_source_ref_t ads, lds, cds;
} fd_config_t;

/* Orders a name against (name, len): the order of config->clusters and of lookups by name. */
static inline int fd_string_compare(const fd_string_t *a, const char *name, size_t len)
{
    int c = memcmp(a->base, name, a->len < len ? a->len : len);
    return c != 0 ? c : (a->len > len) - (a->len < len);
}

/* An empty config (or arena for one xDS resource) with one reference and its pool. */
fd_config_t *fd_config_new(void);
void fd_config_retain(fd_config_t *config);
void fd_config_release(fd_config_t *config);

/* Binary search over the sorted clusters; NULL when absent. */
const fd_cluster_t *fd_config_find_cluster(const fd_config_t *config, const char *name, size_t len);

#endif
