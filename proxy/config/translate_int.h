/* Internals shared by the translator's files: the walk context (path, errors, the
 * config being built) and helpers for the value kinds every Envoy message uses. */
#ifndef FD_TRANSLATE_INT_H
#define FD_TRANSLATE_INT_H

#include "envoy/config/accesslog/v3/accesslog.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/core/v3/config_source.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/type/matcher/v3/regex.pb-c.h"
#include "envoy/type/matcher/v3/string.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "proxy/config/translate.h"

typedef struct fd_translator {
    const fd_cfg_source_t *src;
    fd_cfg_errors_t *errs;
    fd_config_t *config;
    const struct fd_filter_registry *filters; /* HTTP filters by config type; may be NULL */
    fd_cfg_errors_t *warnings;                /* xDS: unsupported fields are reported here, not refused */
    char path[1024];
    size_t path_len;
    int have_cds;                           /* clusters may arrive later: a route naming an unknown cluster is fine */
    struct fd_tr_cluster_ref *cluster_refs; /* checked once every cluster is known */
    size_t n_cluster_refs;
    char *first_ads_use; /* path of the first 'ads: {}', checked against ads_config at the end */
    fd_cfg_mark_t first_ads_mark;
} fd_translator_t;

typedef enum fd_tr_ref_kind {
    FD_TR_REF_ROUTE, /* a route's cluster: may also come from CDS */
    FD_TR_REF_XDS,   /* a control server's cluster: must be static */
} fd_tr_ref_kind_t;

/* Records that the cluster `name` must exist; field (under the current path) and addr say
 * where it was named. Checked by fd_tr_check_cluster_refs once all clusters are known, against
 * the static clusters of statics (the config being built, or the running one for xDS). */
void fd_tr_require_cluster(fd_translator_t *tr, const void *addr, const char *field, const char *name,
                           fd_tr_ref_kind_t kind);
void fd_tr_check_cluster_refs(fd_translator_t *tr, const fd_config_t *statics);

/* The end of translating one xDS resource into tr->config: the control servers it names are
 * checked against statics (the running bootstrap; NULL: it names none); tr->config, or NULL
 * (released) when an error was found since errors_before. */
fd_config_t *fd_tr_finish_resource(fd_translator_t *tr, const fd_config_t *statics, size_t errors_before);

/* Path bookkeeping: push returns the length to pop back to. */
size_t fd_tr_push(fd_translator_t *tr, const char *field);
size_t fd_tr_push_index(fd_translator_t *tr, const char *field, size_t index);
void fd_tr_pop(fd_translator_t *tr, size_t len);

/* Reports an error at the current path; addr (a message or a field) gives the position. */
void fd_tr_error(fd_translator_t *tr, const void *addr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, with sub appended to the path (a field of the current message). */
void fd_tr_error_in(fd_translator_t *tr, const void *addr, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports every set field of msg that frontdesk does not support (see translate_support.c). */
void fd_tr_check_supported(fd_translator_t *tr, const ProtobufCMessage *msg);

/* Decodes an Any (the loader's copy when it has one); NULL with an error when the type is
 * not `expected` (if given) or the bytes do not decode. Free with fd_tr_any_release. */
ProtobufCMessage *fd_tr_any_open(fd_translator_t *tr, const Google__Protobuf__Any *any,
                                 const ProtobufCMessageDescriptor *expected);
void fd_tr_any_release(fd_translator_t *tr, const Google__Protobuf__Any *any, ProtobufCMessage *msg);
/* The full message name inside an Any's type URL ("" when absent). */
const char *fd_tr_any_type_name(const Google__Protobuf__Any *any);

fd_string_t fd_tr_string(fd_translator_t *tr, const char *s);
fd_string_t fd_tr_string_lower(fd_translator_t *tr, const char *s);
void *fd_tr_alloc(fd_translator_t *tr, size_t size); /* zeroed, from the config pool */
uint64_t fd_tr_duration_ms(fd_translator_t *tr, const Google__Protobuf__Duration *d, uint64_t fallback);

/* Compiles a RE2-syntax regex with PCRE2 (JIT when available), freed with the config;
 * NULL with an error naming the pattern. */
#define FD_TR_REGEX_FULL_MATCH 1 /* Envoy's safe_regex matchers match the whole value */
#define FD_TR_REGEX_IGNORE_CASE 2
pcre2_code *fd_tr_regex(fd_translator_t *tr, const void *addr, const char *pattern, int flags);
int fd_tr_string_matcher(fd_translator_t *tr, const Envoy__Type__Matcher__V3__StringMatcher *m, fd_string_match_t *out);

int fd_tr_socket_address(fd_translator_t *tr, const Envoy__Config__Core__V3__Address *addr, fd_socket_address_t *out,
                         int allow_hostname);
int fd_tr_data_source(fd_translator_t *tr, const Envoy__Config__Core__V3__DataSource *ds, fd_string_t *out);
/* request_headers_to_add/remove or response_... (which: "request" or "response"). */
void fd_tr_header_ops(fd_translator_t *tr, const char *which, Envoy__Config__Core__V3__HeaderValueOption *const *add,
                      size_t n_add, char *const *remove, size_t n_remove, fd_header_ops_t *out);
void fd_tr_api_config_source(fd_translator_t *tr, const Envoy__Config__Core__V3__ApiConfigSource *api,
                             fd_config_source_ref_t *out);
void fd_tr_config_source(fd_translator_t *tr, const Envoy__Config__Core__V3__ConfigSource *cs,
                         fd_config_source_ref_t *out);

/* Listeners (translate_listener.c), HTTP connection manager (translate_http.c),
 * routes (translate_route.c), clusters (translate_cluster.c), TLS (translate_tls.c). */
void fd_tr_listener(fd_translator_t *tr, const Envoy__Config__Listener__V3__Listener *l, fd_listener_t *out);
void fd_tr_route_table(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteConfiguration *rc,
                       fd_route_table_t *out);
void fd_tr_cluster(fd_translator_t *tr, const Envoy__Config__Cluster__V3__Cluster *c, fd_cluster_t *out);
void fd_tr_route_action(fd_translator_t *tr, const Envoy__Config__Route__V3__Route *r, fd_route_t *out);
/* typed_per_filter_config maps (of any level: their entries share one layout). */
void fd_tr_per_filter_configs(fd_translator_t *tr, void *const *entries, size_t n, fd_filter_route_configs_t *out);
/* An HTTP filter other than the router, from the filter registry; -1 (with an error unless
 * is_optional) when no filter takes its config. */
int fd_tr_http_filter(fd_translator_t *tr, const void *addr, const char *name,
                      const Google__Protobuf__Any *typed_config, int is_optional, fd_http_filter_config_t *out);
void fd_tr_http_manager(fd_translator_t *tr, const Google__Protobuf__Any *typed_config, fd_http_manager_t *out);
void fd_tr_access_logs(fd_translator_t *tr, Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
                       fd_access_log_t **out, size_t *n_out);
fd_tls_context_t *fd_tr_downstream_tls(fd_translator_t *tr, const Envoy__Config__Core__V3__TransportSocket *ts);
fd_tls_context_t *fd_tr_upstream_tls(fd_translator_t *tr, const Envoy__Config__Core__V3__TransportSocket *ts);

#endif
