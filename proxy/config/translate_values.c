/* Translation of the value kinds Envoy's messages share: strings, durations, regexes,
 * string matchers, socket addresses, data sources, header mutations, config sources
 * and the messages inside Any. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/core/v3/grpc_service.pb-c.h"
#include "fd_proto_registry.h"
#include "proxy/config/bootstrap_load.h"
#include "proxy/config/translate_int.h"

fd_string_t fd_tr_string(fd_translator_t *tr, const char *s)
{
    if (s == NULL)
        return (fd_string_t){"", 0};
    size_t len = strlen(s);
    char *copy = h2o_mem_alloc_pool(&tr->config->pool, len + 1);
    memcpy(copy, s, len + 1);
    return (fd_string_t){copy, len};
}

fd_string_t fd_tr_string_lower(fd_translator_t *tr, const char *s)
{
    fd_string_t out = fd_tr_string(tr, s);
    for (size_t i = 0; i < out.len; i++)
        ((char *)out.base)[i] = (char)tolower((unsigned char)out.base[i]);
    return out;
}

uint64_t fd_tr_duration_ms(fd_translator_t *tr, const Google__Protobuf__Duration *d, uint64_t fallback)
{
    if (d == NULL)
        return fallback;
    if (d->seconds < 0 || d->nanos < 0) {
        fd_tr_error(tr, d, "duration must not be negative");
        return fallback;
    }
    return (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
}

static void dispose_regex(void *slot)
{
    pcre2_code_free(*(pcre2_code **)slot);
}

pcre2_code *fd_tr_regex(fd_translator_t *tr, const void *addr, const char *pattern, int flags)
{
    int code;
    PCRE2_SIZE offset;
    uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF; /* a path need not be valid UTF-8 to match */
    if (flags & FD_TR_REGEX_IGNORE_CASE)
        options |= PCRE2_CASELESS;
    if (flags & FD_TR_REGEX_FULL_MATCH)
        options |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &code, &offset, NULL);
    if (re == NULL) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(code, message, sizeof(message));
        fd_tr_error(tr, addr, "invalid regex '%s': %s at offset %zu", pattern, (char *)message, (size_t)offset);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is unavailable */
    pcre2_code **slot = h2o_mem_alloc_shared(&tr->config->pool, sizeof(*slot), dispose_regex);
    *slot = re;
    return re;
}

int fd_tr_string_matcher(fd_translator_t *tr, const Envoy__Type__Matcher__V3__StringMatcher *m, fd_string_match_t *out)
{
    memset(out, 0, sizeof(*out));
    out->ignore_case = m->ignore_case;
    switch (m->match_pattern_case) {
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT:
        out->kind = FD_STRING_MATCH_EXACT;
        out->value = fd_tr_string(tr, m->exact);
        return 0;
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX:
        out->kind = FD_STRING_MATCH_PREFIX;
        out->value = fd_tr_string(tr, m->prefix);
        return 0;
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SUFFIX:
        out->kind = FD_STRING_MATCH_SUFFIX;
        out->value = fd_tr_string(tr, m->suffix);
        return 0;
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_CONTAINS:
        out->kind = FD_STRING_MATCH_CONTAINS;
        out->value = fd_tr_string(tr, m->contains);
        return 0;
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX: {
        size_t saved = fd_tr_push(tr, "safe_regex.regex");
        out->kind = FD_STRING_MATCH_REGEX;
        /* Envoy: ignore_case "has no effect for the safe_regex match" */
        out->regex = fd_tr_regex(tr, &m->safe_regex->regex, m->safe_regex->regex, FD_TR_REGEX_FULL_MATCH);
        fd_tr_pop(tr, saved);
        return out->regex != NULL ? 0 : -1;
    }
    default:
        fd_tr_error(tr, m, "a string matcher needs one of exact, prefix, suffix, contains or safe_regex");
        return -1;
    }
}

static int parse_ip(const char *host, uint16_t port, fd_socket_address_t *out)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->addr;
    memset(&out->addr, 0, sizeof(out->addr));
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out->addr_len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out->addr_len = sizeof(*v6);
        return 0;
    }
    out->addr_len = 0;
    return -1;
}

int fd_tr_socket_address(fd_translator_t *tr, const Envoy__Config__Core__V3__Address *addr, fd_socket_address_t *out,
                         int allow_hostname)
{
    memset(out, 0, sizeof(*out));
    if (addr->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS) {
        fd_tr_error(tr, addr, "only socket_address is supported (pipe and envoy_internal_address are not)");
        return -1;
    }
    const Envoy__Config__Core__V3__SocketAddress *sa = addr->socket_address;
    size_t saved = fd_tr_push(tr, "socket_address");
    int rc = -1;
    if (sa->protocol != ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PROTOCOL__TCP) {
        fd_tr_error_in(tr, &sa->protocol, "protocol", "only TCP is supported");
    } else if (sa->port_specifier_case != ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
        fd_tr_error(tr, sa, "port_value is required (named_port is not supported)");
    } else if (sa->port_value > 65535) {
        fd_tr_error_in(tr, &sa->port_value, "port_value", "port %u is out of range [0, 65535]", sa->port_value);
    } else if (sa->address[0] == '\0') {
        fd_tr_error_in(tr, sa, "address", "address is required");
    } else if (parse_ip(sa->address, (uint16_t)sa->port_value, out) != 0 && !allow_hostname) {
        fd_tr_error_in(tr, &sa->address, "address",
                       "'%s' is not an IP address (a DNS name is only allowed in STRICT_DNS and LOGICAL_DNS clusters)",
                       sa->address);
    } else {
        out->host = fd_tr_string(tr, sa->address).base;
        out->port = (uint16_t)sa->port_value;
        rc = 0;
    }
    fd_tr_pop(tr, saved);
    return rc;
}

int fd_tr_data_source(fd_translator_t *tr, const Envoy__Config__Core__V3__DataSource *ds, fd_string_t *out)
{
    size_t len;
    fd_cfg_errors_t file_errs = {0};
    char *text;
    switch (ds->specifier_case) {
    case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME:
        if ((text = fd_bootstrap_read_file(ds->filename, &len, &file_errs)) == NULL) {
            fd_tr_error_in(tr, &ds->filename, "filename", "%s", file_errs.items[0]);
            fd_cfg_errors_clear(&file_errs);
            return -1;
        }
        *out = fd_tr_string(tr, text);
        out->len = len;
        free(text);
        return 0;
    case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
        *out = fd_tr_string(tr, ds->inline_string);
        return 0;
    case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES: {
        char *copy = h2o_mem_alloc_pool(&tr->config->pool, ds->inline_bytes.len + 1);
        memcpy(copy, ds->inline_bytes.data, ds->inline_bytes.len);
        copy[ds->inline_bytes.len] = '\0';
        *out = (fd_string_t){copy, ds->inline_bytes.len};
        return 0;
    }
    case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_ENVIRONMENT_VARIABLE:
        if (getenv(ds->environment_variable) == NULL) {
            fd_tr_error_in(tr, &ds->environment_variable, "environment_variable",
                           "environment variable '%s' is not set", ds->environment_variable);
            return -1;
        }
        *out = fd_tr_string(tr, getenv(ds->environment_variable));
        return 0;
    default:
        fd_tr_error(tr, ds, "a data source needs one of filename, inline_string, inline_bytes or environment_variable");
        return -1;
    }
}

static int valid_header_name(const char *name)
{
    if (name[0] == '\0' || name[0] == ':')
        return 0;
    for (const char *p = name; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return 0;
    return 1;
}

static void translate_header_add(fd_translator_t *tr, const Envoy__Config__Core__V3__HeaderValueOption *opt,
                                 fd_header_op_t *out)
{
    if (opt->header == NULL) {
        fd_tr_error(tr, opt, "'header' is required");
        return;
    }
    if (!valid_header_name(opt->header->key)) {
        fd_tr_error_in(tr, &opt->header->key, "header.key",
                       "'%s' is not a header name that can be added (no pseudo-headers)", opt->header->key);
        return;
    }
    out->name = fd_tr_string_lower(tr, opt->header->key);
    if (opt->header->raw_value.len != 0) {
        char *copy = h2o_mem_alloc_pool(&tr->config->pool, opt->header->raw_value.len + 1);
        memcpy(copy, opt->header->raw_value.data, opt->header->raw_value.len);
        copy[opt->header->raw_value.len] = '\0';
        out->value = (fd_string_t){copy, opt->header->raw_value.len};
    } else {
        out->value = fd_tr_string(tr, opt->header->value);
    }
    out->keep_empty_value = opt->keep_empty_value;
    out->append = (fd_header_append_t)opt->append_action;
    if (opt->append != NULL) /* the deprecated BoolValue wins when set, as in Envoy */
        out->append = opt->append->value ? FD_HEADER_APPEND_IF_EXISTS_OR_ADD : FD_HEADER_OVERWRITE_IF_EXISTS_OR_ADD;
}

void fd_tr_header_ops(fd_translator_t *tr, const char *which, Envoy__Config__Core__V3__HeaderValueOption *const *add,
                      size_t n_add, char *const *remove, size_t n_remove, fd_header_ops_t *out)
{
    char field[64];
    out->add = fd_tr_alloc(tr, n_add * sizeof(*out->add));
    out->n_add = n_add;
    snprintf(field, sizeof(field), "%s_headers_to_add", which);
    for (size_t i = 0; i < n_add; i++) {
        size_t saved = fd_tr_push_index(tr, field, i);
        translate_header_add(tr, add[i], &out->add[i]);
        fd_tr_pop(tr, saved);
    }
    out->remove = fd_tr_alloc(tr, n_remove * sizeof(*out->remove));
    out->n_remove = n_remove;
    snprintf(field, sizeof(field), "%s_headers_to_remove", which);
    for (size_t i = 0; i < n_remove; i++) {
        size_t saved = fd_tr_push_index(tr, field, i);
        if (!valid_header_name(remove[i]))
            fd_tr_error(tr, &remove[i], "'%s' is not a header name that can be removed", remove[i]);
        out->remove[i] = fd_tr_string_lower(tr, remove[i]);
        fd_tr_pop(tr, saved);
    }
}

void fd_tr_api_config_source(fd_translator_t *tr, const Envoy__Config__Core__V3__ApiConfigSource *api,
                             fd_config_source_ref_t *out)
{
    out->present = 1;
    if (api->api_type != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__GRPC &&
        api->api_type != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_GRPC) {
        fd_tr_error_in(tr, &api->api_type, "api_type", "only GRPC (and AGGREGATED_GRPC) xDS is supported");
        return;
    }
    if (api->transport_api_version == ENVOY__CONFIG__CORE__V3__API_VERSION__V2) {
        fd_tr_error_in(tr, &api->transport_api_version, "transport_api_version",
                       "the V2 xDS transport was removed from Envoy; use V3");
        return;
    }
    if (api->n_grpc_services != 1) {
        fd_tr_error_in(tr, api, "grpc_services", "exactly one gRPC service is required, got %zu", api->n_grpc_services);
        return;
    }
    const Envoy__Config__Core__V3__GrpcService *gs = api->grpc_services[0];
    if (gs->target_specifier_case == ENVOY__CONFIG__CORE__V3__GRPC_SERVICE__TARGET_SPECIFIER_ENVOY_GRPC) {
        out->cluster = fd_tr_string(tr, gs->envoy_grpc->cluster_name);
        fd_tr_require_cluster(tr, &gs->envoy_grpc->cluster_name, "grpc_services[0].envoy_grpc.cluster_name",
                              gs->envoy_grpc->cluster_name, FD_TR_REF_XDS);
    } else if (gs->target_specifier_case == ENVOY__CONFIG__CORE__V3__GRPC_SERVICE__TARGET_SPECIFIER_GOOGLE_GRPC)
        out->target_uri = fd_tr_string(tr, gs->google_grpc->target_uri);
    else
        fd_tr_error_in(tr, gs, "grpc_services[0]", "envoy_grpc or google_grpc is required");
}

void fd_tr_config_source(fd_translator_t *tr, const Envoy__Config__Core__V3__ConfigSource *cs,
                         fd_config_source_ref_t *out)
{
    memset(out, 0, sizeof(*out));
    out->present = 1;
    out->initial_fetch_timeout_ms = fd_tr_duration_ms(tr, cs->initial_fetch_timeout, 15000);
    switch (cs->config_source_specifier_case) {
    case ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS:
        out->ads = 1;
        if (tr->first_ads_use == NULL) {
            size_t saved = fd_tr_push(tr, "ads");
            tr->first_ads_use = strdup(tr->path);
            tr->first_ads_mark = fd_cfg_source_mark(tr->src, &cs->ads);
            fd_tr_pop(tr, saved);
        }
        break;
    case ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_API_CONFIG_SOURCE: {
        size_t saved = fd_tr_push(tr, "api_config_source");
        fd_tr_api_config_source(tr, cs->api_config_source, out);
        fd_tr_pop(tr, saved);
        break;
    }
    default: fd_tr_error(tr, cs, "only 'ads' and 'api_config_source' (gRPC) config sources are supported");
    }
}

const char *fd_tr_any_type_name(const Google__Protobuf__Any *any)
{
    const char *slash = any->type_url != NULL ? strrchr(any->type_url, '/') : NULL;
    return slash != NULL ? slash + 1 : (any->type_url != NULL ? any->type_url : "");
}

ProtobufCMessage *fd_tr_any_open(fd_translator_t *tr, const Google__Protobuf__Any *any,
                                 const ProtobufCMessageDescriptor *expected)
{
    const char *name = fd_tr_any_type_name(any);
    const ProtobufCMessageDescriptor *desc = fd_proto_registry_find(name, strlen(name));
    if (desc == NULL || (expected != NULL && desc != expected)) {
        if (expected != NULL)
            fd_tr_error(tr, any, "expected '@type' %s, got '%s'", expected->name, any->type_url);
        else
            fd_tr_error(tr, any, "'@type' '%s' is not supported by frontdesk", any->type_url);
        return NULL;
    }
    ProtobufCMessage *decoded = fd_cfg_source_any_decoded(tr->src, any);
    if (decoded != NULL)
        return decoded;
    decoded = protobuf_c_message_unpack(desc, NULL, any->value.len, any->value.data);
    if (decoded == NULL)
        fd_tr_error(tr, any, "the bytes of this %s do not decode", desc->name);
    return decoded;
}

void fd_tr_any_release(fd_translator_t *tr, const Google__Protobuf__Any *any, ProtobufCMessage *msg)
{
    if (msg != NULL && msg != fd_cfg_source_any_decoded(tr->src, any))
        protobuf_c_message_free_unpacked(msg, NULL);
}
