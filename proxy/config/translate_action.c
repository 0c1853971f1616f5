/* Route actions: forwarding to a cluster (one, by header, or weighted) with rewrites,
 * timeouts, retries and hash policies; redirects; direct responses. */
#include <string.h>

#include "proxy/config/translate_int.h"

static void translate_weighted(fd_translator_t *tr, const Envoy__Config__Route__V3__WeightedCluster *wc,
                               fd_route_forward_t *out)
{
    size_t saved = fd_tr_push(tr, "weighted_clusters");
    out->weighted = fd_tr_alloc(tr, wc->n_clusters * sizeof(*out->weighted));
    out->n_weighted = wc->n_clusters;
    uint64_t total = 0;
    for (size_t i = 0; i < wc->n_clusters; i++) {
        const Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *cw = wc->clusters[i];
        fd_weighted_cluster_t *w = &out->weighted[i];
        size_t s = fd_tr_push_index(tr, "clusters", i);
        w->name = fd_tr_string(tr, cw->name);
        fd_tr_require_cluster(tr, &cw->name, "name", cw->name, FD_TR_REF_ROUTE);
        w->weight = cw->weight != NULL ? cw->weight->value : 0;
        total += w->weight;
        fd_tr_header_ops(tr, "request", cw->request_headers_to_add, cw->n_request_headers_to_add,
                         cw->request_headers_to_remove, cw->n_request_headers_to_remove, &w->headers);
        fd_tr_pop(tr, s);
    }
    if (wc->n_clusters == 0)
        fd_tr_error_in(tr, wc, "clusters", "weighted_clusters needs at least one cluster");
    else if (total == 0 || total > UINT32_MAX)
        fd_tr_error_in(tr, wc, "clusters", "the sum of the weights must be between 1 and 4294967295, got %llu",
                       (unsigned long long)total);
    else if (wc->total_weight != NULL && wc->total_weight->value != total)
        fd_tr_error_in(tr, wc->total_weight, "total_weight", "total_weight is %u but the weights sum to %llu",
                       wc->total_weight->value, (unsigned long long)total);
    out->total_weight = (uint32_t)total;
    fd_tr_pop(tr, saved);
}

static uint32_t parse_retry_on(fd_translator_t *tr, const void *addr, const char *list)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } conditions[] = {
        {"5xx", FD_RETRY_ON_5XX},
        {"gateway-error", FD_RETRY_ON_GATEWAY_ERROR},
        {"reset", FD_RETRY_ON_RESET},
        {"connect-failure", FD_RETRY_ON_CONNECT_FAILURE},
        {"retriable-4xx", FD_RETRY_ON_RETRIABLE_4XX},
        {"refused-stream", FD_RETRY_ON_REFUSED_STREAM},
        {"retriable-status-codes", FD_RETRY_ON_RETRIABLE_STATUS_CODES},
    };
    uint32_t bits = 0;
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ","), i;
        for (i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++)
            if (strlen(conditions[i].name) == len && memcmp(conditions[i].name, p, len) == 0)
                break;
        if (i == sizeof(conditions) / sizeof(conditions[0]))
            fd_tr_error_in(tr, addr, "retry_on", "retry condition '%.*s' is not supported by frontdesk", (int)len, p);
        else
            bits |= conditions[i].bit;
        p += len + (p[len] == ',');
    }
    return bits;
}

static fd_retry_policy_t *translate_retry(fd_translator_t *tr, const Envoy__Config__Route__V3__RetryPolicy *rp)
{
    size_t saved = fd_tr_push(tr, "retry_policy");
    fd_retry_policy_t *out = fd_tr_alloc(tr, sizeof(*out));
    out->retry_on = parse_retry_on(tr, &rp->retry_on, rp->retry_on);
    out->num_retries = rp->num_retries != NULL ? rp->num_retries->value : 1;
    out->per_try_timeout_ms = fd_tr_duration_ms(tr, rp->per_try_timeout, 0);
    out->retriable_status_codes = fd_tr_alloc(tr, rp->n_retriable_status_codes * sizeof(uint32_t));
    out->n_retriable_status_codes = rp->n_retriable_status_codes;
    for (size_t i = 0; i < rp->n_retriable_status_codes; i++) {
        out->retriable_status_codes[i] = rp->retriable_status_codes[i];
        if (rp->retriable_status_codes[i] < 100 || rp->retriable_status_codes[i] > 599)
            fd_tr_error_in(tr, &rp->retriable_status_codes[i], "retriable_status_codes",
                           "%u is not an HTTP status code", rp->retriable_status_codes[i]);
    }
    fd_tr_pop(tr, saved);
    return out;
}

static void translate_hash_policy(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteAction__HashPolicy *hp,
                                  fd_hash_policy_t *out)
{
    out->terminal = hp->terminal;
    switch (hp->policy_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER:
        out->kind = FD_HASH_HEADER;
        out->name = fd_tr_string_lower(tr, hp->header->header_name);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES:
        out->kind = FD_HASH_SOURCE_IP;
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE:
        out->kind = FD_HASH_COOKIE;
        out->name = fd_tr_string(tr, hp->cookie->name);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_QUERY_PARAMETER:
        out->kind = FD_HASH_QUERY_PARAMETER;
        out->name = fd_tr_string(tr, hp->query_parameter->name);
        break;
    default: fd_tr_error(tr, hp, "hash policy needs one of header, cookie, connection_properties or query_parameter");
    }
    if ((out->kind == FD_HASH_HEADER || out->kind == FD_HASH_COOKIE || out->kind == FD_HASH_QUERY_PARAMETER) &&
        out->name.len == 0)
        fd_tr_error(tr, hp, "hash policy needs a name");
}

static void translate_cluster_specifier(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteAction *ra,
                                        fd_route_forward_t *out)
{
    switch (ra->cluster_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER:
        out->cluster = fd_tr_string(tr, ra->cluster);
        fd_tr_require_cluster(tr, &ra->cluster, "cluster", ra->cluster, FD_TR_REF_ROUTE);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_HEADER:
        out->cluster_header = fd_tr_string_lower(tr, ra->cluster_header);
        if (out->cluster_header.len == 0)
            fd_tr_error_in(tr, &ra->cluster_header, "cluster_header", "cluster_header is empty");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS:
        translate_weighted(tr, ra->weighted_clusters, out);
        break;
    default: fd_tr_error(tr, ra, "a route action needs one of cluster, cluster_header or weighted_clusters");
    }
}

static void translate_host_rewrite(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteAction *ra,
                                   fd_route_forward_t *out)
{
    if (ra->host_rewrite_specifier_case ==
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL)
        out->host_rewrite_literal = fd_tr_string(tr, ra->host_rewrite_literal);
    else if (ra->host_rewrite_specifier_case ==
             ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE)
        out->auto_host_rewrite = ra->auto_host_rewrite->value;
    else if (ra->host_rewrite_specifier_case != ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER__NOT_SET)
        fd_tr_error(tr, ra, "only host_rewrite_literal and auto_host_rewrite are supported by frontdesk");
}

static void translate_forward(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteAction *ra,
                              fd_route_forward_t *out)
{
    size_t saved = fd_tr_push(tr, "route");
    translate_cluster_specifier(tr, ra, out);
    out->prefix_rewrite = fd_tr_string(tr, ra->prefix_rewrite);
    if (ra->regex_rewrite != NULL) {
        if (out->prefix_rewrite.len != 0)
            fd_tr_error_in(tr, ra->regex_rewrite, "regex_rewrite",
                           "prefix_rewrite and regex_rewrite cannot both be set");
        if (ra->regex_rewrite->pattern == NULL)
            fd_tr_error_in(tr, ra->regex_rewrite, "regex_rewrite.pattern", "regex_rewrite needs a pattern");
        else
            out->regex_rewrite = fd_tr_regex(tr, ra->regex_rewrite->pattern, ra->regex_rewrite->pattern->regex, 0);
        out->regex_rewrite_substitution = fd_tr_string(tr, ra->regex_rewrite->substitution);
    }
    translate_host_rewrite(tr, ra, out);
    out->timeout_ms = fd_tr_duration_ms(tr, ra->timeout, 15000);
    out->idle_timeout_ms = fd_tr_duration_ms(tr, ra->idle_timeout, 0);
    if (ra->retry_policy != NULL)
        out->retry = translate_retry(tr, ra->retry_policy);
    out->hash_policies = fd_tr_alloc(tr, ra->n_hash_policy * sizeof(*out->hash_policies));
    out->n_hash_policies = ra->n_hash_policy;
    for (size_t i = 0; i < ra->n_hash_policy; i++) {
        size_t s = fd_tr_push_index(tr, "hash_policy", i);
        translate_hash_policy(tr, ra->hash_policy[i], &out->hash_policies[i]);
        fd_tr_pop(tr, s);
    }
    fd_tr_pop(tr, saved);
}

static void translate_redirect(fd_translator_t *tr, const Envoy__Config__Route__V3__RedirectAction *ra,
                               fd_route_redirect_t *out)
{
    static const int codes[] = {301, 302, 303, 307, 308};
    size_t saved = fd_tr_push(tr, "redirect");
    out->host = fd_tr_string(tr, ra->host_redirect);
    out->port = ra->port_redirect;
    if (out->port > 65535)
        fd_tr_error_in(tr, &ra->port_redirect, "port_redirect", "port %u is out of range [0, 65535]", out->port);
    out->strip_query = ra->strip_query;
    out->status = (unsigned)ra->response_code < 5 ? codes[ra->response_code] : 301;
    if (ra->scheme_rewrite_specifier_case ==
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT)
        out->https = ra->https_redirect;
    else if (ra->scheme_rewrite_specifier_case ==
             ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT)
        out->scheme = fd_tr_string_lower(tr, ra->scheme_redirect);
    switch (ra->path_rewrite_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT:
        out->path = fd_tr_string(tr, ra->path_redirect);
        break;
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE:
        out->prefix_rewrite = fd_tr_string(tr, ra->prefix_rewrite);
        break;
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_REGEX_REWRITE:
        if (ra->regex_rewrite->pattern != NULL)
            out->regex_rewrite = fd_tr_regex(tr, ra->regex_rewrite->pattern, ra->regex_rewrite->pattern->regex, 0);
        out->regex_rewrite_substitution = fd_tr_string(tr, ra->regex_rewrite->substitution);
        break;
    default: break;
    }
    fd_tr_pop(tr, saved);
}

static void translate_direct(fd_translator_t *tr, const Envoy__Config__Route__V3__DirectResponseAction *dr,
                             fd_route_direct_t *out)
{
    size_t saved = fd_tr_push(tr, "direct_response");
    out->status = (int)dr->status;
    if (dr->status < 200 || dr->status > 599)
        fd_tr_error_in(tr, &dr->status, "status", "status %u is out of range [200, 599]", dr->status);
    if (dr->body != NULL) {
        size_t s = fd_tr_push(tr, "body");
        if (fd_tr_data_source(tr, dr->body, &out->body) == 0 && out->body.len > 4096)
            fd_tr_error(tr, dr->body, "the body is %zu bytes; direct responses are limited to 4096 bytes",
                        out->body.len);
        fd_tr_pop(tr, s);
    }
    fd_tr_pop(tr, saved);
}

void fd_tr_route_action(fd_translator_t *tr, const Envoy__Config__Route__V3__Route *r, fd_route_t *out)
{
    switch (r->action_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE:
        out->kind = FD_ROUTE_FORWARD;
        translate_forward(tr, r->route, &out->forward);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT:
        out->kind = FD_ROUTE_REDIRECT;
        translate_redirect(tr, r->redirect, &out->redirect);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE:
        out->kind = FD_ROUTE_DIRECT_RESPONSE;
        translate_direct(tr, r->direct_response, &out->direct);
        break;
    default: fd_tr_error(tr, r, "a route needs one of route, redirect or direct_response");
    }
}
