/* Route configurations: virtual hosts and their domains (ordered for lookup with
 * Envoy's precedence), routes with their matches, and the header mutations at each
 * level. Route actions are in translate_action.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/translate_int.h"

static void translate_header_matcher(fd_translator_t *tr, const Envoy__Config__Route__V3__HeaderMatcher *h,
                                     fd_header_match_t *out)
{
    out->name = fd_tr_string_lower(tr, h->name);
    out->invert = h->invert_match;
    out->treat_missing_as_empty = h->treat_missing_header_as_empty;
    out->kind = FD_HEADER_MATCH_STRING;
    if (out->name.len == 0)
        fd_tr_error_in(tr, h, "name", "a header matcher needs a name");
    fd_string_match_t *s = &out->string;
    switch (h->header_match_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH: {
        size_t saved = fd_tr_push(tr, "string_match");
        fd_tr_string_matcher(tr, h->string_match, s);
        fd_tr_pop(tr, saved);
        break;
    }
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH:
        if (h->exact_match[0] == '\0') { /* Envoy: an empty exact_match matches any value */
            out->kind = FD_HEADER_MATCH_PRESENT;
            out->present = 1;
        } else {
            *s = (fd_string_match_t){.kind = FD_STRING_MATCH_EXACT, .value = fd_tr_string(tr, h->exact_match)};
        }
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH:
        *s = (fd_string_match_t){.kind = FD_STRING_MATCH_PREFIX, .value = fd_tr_string(tr, h->prefix_match)};
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH:
        *s = (fd_string_match_t){.kind = FD_STRING_MATCH_SUFFIX, .value = fd_tr_string(tr, h->suffix_match)};
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH:
        *s = (fd_string_match_t){.kind = FD_STRING_MATCH_CONTAINS, .value = fd_tr_string(tr, h->contains_match)};
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH: {
        size_t saved = fd_tr_push(tr, "safe_regex_match.regex");
        s->kind = FD_STRING_MATCH_REGEX;
        s->regex = fd_tr_regex(tr, &h->safe_regex_match->regex, h->safe_regex_match->regex, FD_TR_REGEX_FULL_MATCH);
        fd_tr_pop(tr, saved);
        break;
    }
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH:
        out->kind = FD_HEADER_MATCH_RANGE;
        out->range_start = h->range_match->start;
        out->range_end = h->range_match->end;
        if (out->range_start >= out->range_end)
            fd_tr_error_in(tr, h->range_match, "range_match", "range start must be below end");
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH:
        out->kind = FD_HEADER_MATCH_PRESENT;
        out->present = h->present_match;
        break;
    default: /* no specifier: the header must be present, as in Envoy */
        out->kind = FD_HEADER_MATCH_PRESENT;
        out->present = 1;
    }
}

static void translate_query_matcher(fd_translator_t *tr, const Envoy__Config__Route__V3__QueryParameterMatcher *q,
                                    fd_query_match_t *out)
{
    out->name = fd_tr_string(tr, q->name);
    if (out->name.len == 0)
        fd_tr_error_in(tr, q, "name", "a query parameter matcher needs a name");
    if (q->query_parameter_match_specifier_case ==
        ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH) {
        size_t saved = fd_tr_push(tr, "string_match");
        fd_tr_string_matcher(tr, q->string_match, &out->string);
        fd_tr_pop(tr, saved);
    } else
        out->present_only = 1;
}

static void translate_match(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteMatch *m, fd_route_match_t *out)
{
    size_t saved = fd_tr_push(tr, "match");
    out->case_sensitive = m->case_sensitive == NULL || m->case_sensitive->value;
    switch (m->path_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX:
        out->kind = FD_PATH_MATCH_PREFIX;
        out->path = fd_tr_string(tr, m->prefix);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH:
        out->kind = FD_PATH_MATCH_EXACT;
        out->path = fd_tr_string(tr, m->path);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX:
        out->kind = FD_PATH_MATCH_REGEX;
        {
            size_t s = fd_tr_push(tr, "safe_regex.regex");
            /* Envoy: case_sensitive is "ignored for safe_regex matching" */
            out->regex = fd_tr_regex(tr, &m->safe_regex->regex, m->safe_regex->regex, FD_TR_REGEX_FULL_MATCH);
            fd_tr_pop(tr, s);
            break;
        }
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX:
        out->kind = FD_PATH_MATCH_SEPARATED_PREFIX;
        out->path = fd_tr_string(tr, m->path_separated_prefix);
        if (out->path.len == 0 || out->path.base[0] != '/' || strpbrk(out->path.base, "?#") != NULL ||
            (out->path.len > 1 && out->path.base[out->path.len - 1] == '/'))
            fd_tr_error_in(tr, &m->path_separated_prefix, "path_separated_prefix",
                           "'%s' must start with '/', not end with '/', and hold no '?' or '#'", out->path.base);
        break;
    default: fd_tr_error(tr, m, "a route match needs one of prefix, path, safe_regex or path_separated_prefix");
    }
    out->headers = fd_tr_alloc(tr, m->n_headers * sizeof(*out->headers));
    out->n_headers = m->n_headers;
    for (size_t i = 0; i < m->n_headers; i++) {
        size_t s = fd_tr_push_index(tr, "headers", i);
        translate_header_matcher(tr, m->headers[i], &out->headers[i]);
        fd_tr_pop(tr, s);
    }
    out->query = fd_tr_alloc(tr, m->n_query_parameters * sizeof(*out->query));
    out->n_query = m->n_query_parameters;
    for (size_t i = 0; i < m->n_query_parameters; i++) {
        size_t s = fd_tr_push_index(tr, "query_parameters", i);
        translate_query_matcher(tr, m->query_parameters[i], &out->query[i]);
        fd_tr_pop(tr, s);
    }
    fd_tr_pop(tr, saved);
}

static void translate_route(fd_translator_t *tr, const Envoy__Config__Route__V3__Route *r, fd_route_t *out)
{
    out->name = fd_tr_string(tr, r->name);
    if (r->match == NULL)
        fd_tr_error_in(tr, r, "match", "a route needs a match");
    else
        translate_match(tr, r->match, &out->match);
    fd_tr_route_action(tr, r, out);
    fd_tr_header_ops(tr, "request", r->request_headers_to_add, r->n_request_headers_to_add,
                     r->request_headers_to_remove, r->n_request_headers_to_remove, &out->request_headers);
    fd_tr_header_ops(tr, "response", r->response_headers_to_add, r->n_response_headers_to_add,
                     r->response_headers_to_remove, r->n_response_headers_to_remove, &out->response_headers);
    if (r->n_typed_per_filter_config != 0)
        fd_tr_per_filter_configs(tr, (void *const *)r->typed_per_filter_config, r->n_typed_per_filter_config,
                                 &out->filter_configs);
}

/* "*", "*.example.com", "api.*" or an exact name, as Envoy accepts them. */
static int parse_domain(fd_translator_t *tr, const void *addr, const char *domain, fd_domain_t *out)
{
    size_t len = strlen(domain);
    const char *star = strchr(domain, '*');
    if (len == 0 || (star != NULL && strchr(star + 1, '*') != NULL) ||
        (star != NULL && star != domain && star != domain + len - 1)) {
        fd_tr_error(tr, addr, "invalid domain '%s': a wildcard '*' may only stand alone or at the start or end",
                    domain);
        return -1;
    }
    out->value = fd_tr_string_lower(tr, domain);
    if (len == 1 && star != NULL) {
        out->kind = FD_DOMAIN_ANY;
    } else if (star == domain) {
        out->kind = FD_DOMAIN_SUFFIX;
        out->value.base++, out->value.len--;
    } else if (star != NULL) {
        out->kind = FD_DOMAIN_PREFIX;
        out->value.len--;
    } else {
        out->kind = FD_DOMAIN_EXACT;
    }
    return 0;
}

/* Exact names first, then suffix and prefix wildcards, longest first, then '*'. */
static int compare_domains(const void *pa, const void *pb)
{
    const fd_domain_t *a = pa, *b = pb;
    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    if (a->value.len != b->value.len)
        return a->value.len > b->value.len ? -1 : 1;
    return memcmp(a->value.base, b->value.base, a->value.len);
}

static void translate_vhost(fd_translator_t *tr, const Envoy__Config__Route__V3__VirtualHost *vh,
                            fd_virtual_host_t *out, fd_route_table_t *table)
{
    out->name = fd_tr_string(tr, vh->name);
    if (out->name.len == 0)
        fd_tr_error_in(tr, vh, "name", "a virtual host needs a name");
    if (vh->n_domains == 0)
        fd_tr_error_in(tr, vh, "domains", "a virtual host needs at least one domain");
    for (size_t i = 0; i < vh->n_domains; i++) {
        size_t s = fd_tr_push_index(tr, "domains", i);
        fd_domain_t *d = &table->domains[table->n_domains];
        if (parse_domain(tr, &vh->domains[i], vh->domains[i], d) == 0) {
            d->vhost = out;
            table->n_domains++;
        }
        fd_tr_pop(tr, s);
    }
    out->routes = fd_tr_alloc(tr, vh->n_routes * sizeof(*out->routes));
    out->n_routes = vh->n_routes;
    for (size_t i = 0; i < vh->n_routes; i++) {
        size_t s = fd_tr_push_index(tr, "routes", i);
        translate_route(tr, vh->routes[i], &out->routes[i]);
        fd_tr_pop(tr, s);
    }
    out->require_tls = (int)vh->require_tls;
    fd_tr_header_ops(tr, "request", vh->request_headers_to_add, vh->n_request_headers_to_add,
                     vh->request_headers_to_remove, vh->n_request_headers_to_remove, &out->request_headers);
    fd_tr_header_ops(tr, "response", vh->response_headers_to_add, vh->n_response_headers_to_add,
                     vh->response_headers_to_remove, vh->n_response_headers_to_remove, &out->response_headers);
    if (vh->n_typed_per_filter_config != 0)
        fd_tr_per_filter_configs(tr, (void *const *)vh->typed_per_filter_config, vh->n_typed_per_filter_config,
                                 &out->filter_configs);
}

/* A domain with where it was written, for the duplicate check. */
typedef struct domain_origin {
    const fd_domain_t *domain;
    const void *addr;
    size_t vhost, index;
} domain_origin_t;

static int compare_origins(const void *pa, const void *pb)
{
    const domain_origin_t *a = pa, *b = pb;
    int cmp = compare_domains(a->domain, b->domain);
    if (cmp != 0)
        return cmp;
    return a->vhost != b->vhost ? (a->vhost < b->vhost ? -1 : 1) : (a->index < b->index ? -1 : a->index > b->index);
}

/* Envoy refuses a domain that appears twice in one route configuration. */
static void check_duplicate_domains(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                    const fd_route_table_t *table)
{
    domain_origin_t *origins = calloc(table->n_domains + 1, sizeof(*origins));
    size_t n = 0;
    if (origins == NULL)
        abort();
    for (size_t v = 0; v < rc->n_virtual_hosts; v++)
        for (size_t i = 0; i < rc->virtual_hosts[v]->n_domains && n < table->n_domains; i++)
            if (table->domains[n].vhost == &table->vhosts[v]) /* skipped domains had errors already */
                origins[n] = (domain_origin_t){&table->domains[n], &rc->virtual_hosts[v]->domains[i], v, i}, n++;
    qsort(origins, n, sizeof(*origins), compare_origins);
    for (size_t i = 1; i < n; i++) {
        const domain_origin_t *a = &origins[i - 1], *b = &origins[i];
        if (compare_domains(a->domain, b->domain) != 0)
            continue;
        char field[64];
        snprintf(field, sizeof(field), "virtual_hosts[%zu].domains[%zu]", b->vhost, b->index);
        if (a->vhost == b->vhost)
            fd_tr_error_in(tr, b->addr, field, "domain '%s' is listed twice in virtual host '%s'",
                           rc->virtual_hosts[b->vhost]->domains[b->index], rc->virtual_hosts[b->vhost]->name);
        else
            fd_tr_error_in(tr, b->addr, field,
                           "domain '%s' is also in virtual host '%s' (virtual_hosts[%zu]); domains must be unique",
                           rc->virtual_hosts[b->vhost]->domains[b->index], rc->virtual_hosts[a->vhost]->name, a->vhost);
    }
    free(origins);
}

void fd_tr_route_table(fd_translator_t *tr, const Envoy__Config__Route__V3__RouteConfiguration *rc,
                       fd_route_table_t *out)
{
    memset(out, 0, sizeof(*out));
    out->name = fd_tr_string(tr, rc->name);
    size_t n_domains = 0;
    for (size_t i = 0; i < rc->n_virtual_hosts; i++)
        n_domains += rc->virtual_hosts[i]->n_domains;
    out->domains = fd_tr_alloc(tr, n_domains * sizeof(*out->domains));
    out->vhosts = fd_tr_alloc(tr, rc->n_virtual_hosts * sizeof(*out->vhosts));
    out->n_vhosts = rc->n_virtual_hosts;
    for (size_t i = 0; i < rc->n_virtual_hosts; i++) {
        size_t s = fd_tr_push_index(tr, "virtual_hosts", i);
        for (size_t j = 0; j < i; j++)
            if (rc->virtual_hosts[i]->name[0] != '\0' &&
                strcmp(rc->virtual_hosts[j]->name, rc->virtual_hosts[i]->name) == 0)
                fd_tr_error_in(tr, &rc->virtual_hosts[i]->name, "name",
                               "duplicate virtual host name '%s' (also virtual_hosts[%zu])", rc->virtual_hosts[i]->name,
                               j);
        translate_vhost(tr, rc->virtual_hosts[i], &out->vhosts[i], out);
        out->vhosts[i].table = out;
        fd_tr_pop(tr, s);
    }
    check_duplicate_domains(tr, rc, out);
    qsort(out->domains, out->n_domains, sizeof(*out->domains), compare_domains);
    fd_tr_header_ops(tr, "request", rc->request_headers_to_add, rc->n_request_headers_to_add,
                     rc->request_headers_to_remove, rc->n_request_headers_to_remove, &out->request_headers);
    fd_tr_header_ops(tr, "response", rc->response_headers_to_add, rc->n_response_headers_to_add,
                     rc->response_headers_to_remove, rc->n_response_headers_to_remove, &out->response_headers);
    if (rc->n_typed_per_filter_config != 0)
        fd_tr_per_filter_configs(tr, (void *const *)rc->typed_per_filter_config, rc->n_typed_per_filter_config,
                                 &out->filter_configs);
}
