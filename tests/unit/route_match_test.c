/* Tests of the router's matching (proxy/router/route_match.h) on route configs loaded from
 * YAML through the real loader and translator: domain precedence and ports, every path,
 * header and query parameter matcher, first-match-wins, edge cases, the index against a
 * plain linear scan (written here, from Envoy's rules) on random requests, and the cost of
 * a lookup with 10 vs 10,000 routes (printed, never asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/config/bootstrap_load.h"
#include "proxy/config/translate.h"
#include "proxy/router/route_match.h"

/* ---- fixture: the loaded config and request headers, released by teardown ---- */

typedef struct fixture {
    fd_bootstrap_t boot;
    int booted;
    fd_config_t *config;
    fd_cfg_errors_t errs;
    h2o_mem_pool_t pool; /* request headers */
} fixture_t;

static fixture_t *fx;

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    h2o_mem_init_pool(&fx->pool);
    *state = fx;
    return 0;
}

static void unload(fixture_t *f)
{
    if (f->config != NULL)
        fd_config_release(f->config);
    if (f->booted)
        fd_bootstrap_dispose(&f->boot);
    fd_cfg_errors_clear(&f->errs);
    f->config = NULL;
    f->booted = 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unload(f);
    h2o_mem_clear_pool(&f->pool);
    free(f);
    fx = NULL;
    return 0;
}

/* ---- loading route configs ---- */

static const char boot_head[] =
    "static_resources:\n"
    "  listeners:\n"
    "  - name: test\n"
    "    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}\n"
    "    filter_chains:\n"
    "    - filters:\n"
    "      - name: envoy.filters.network.http_connection_manager\n"
    "        typed_config:\n"
    "          '@type': "
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
    "          stat_prefix: test\n"
    "          http_filters:\n"
    "          - name: envoy.filters.http.router\n"
    "            typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}\n"
    "          route_config:\n"
    "            name: routes\n"
    "            virtual_hosts:\n";

/* A one-line route answering 200 with a name tests can read back. */
#define ROUTE(name, match) "- {name: " name ", match: " match ", direct_response: {status: 200}}\n"

/* Loads virtual_hosts (YAML at column 0) into a full bootstrap, translates it and builds the
 * indexes. Fails the test with the loader's or translator's errors. */
static fd_route_table_t *load_vhosts(const char *vhosts)
{
    unload(fx);
    char *yaml;
    size_t yaml_len;
    FILE *out = open_memstream(&yaml, &yaml_len);
    assert_non_null(out);
    fputs(boot_head, out);
    for (const char *line = vhosts; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) + 1 : strlen(line);
        fprintf(out, "            %.*s", (int)len, line);
        line += len;
    }
    fclose(out);
    int rc = fd_bootstrap_load(&fx->boot, NULL, yaml, &fx->errs);
    free(yaml);
    if (rc == 0) {
        fx->booted = 1;
        fx->config = fd_translate_bootstrap(fx->boot.config, &fx->boot.source, NULL, &fx->errs);
    }
    if (fx->config == NULL) {
        char *text = fd_cfg_errors_join(&fx->errs);
        fail_msg("config does not load:\n%s", text);
    }
    fd_route_table_t *table = fx->config->listeners[0].chains[0].http.routes;
    assert_int_equal(fd_route_index_build(table, &fx->config->pool), 0);
    return table;
}

/* One virtual host for every domain, holding routes. */
static const fd_virtual_host_t *load_routes(const char *routes)
{
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    fputs("- name: vh\n  domains: ['*']\n  routes:\n", out);
    for (const char *line = routes; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t n = nl != NULL ? (size_t)(nl - line) + 1 : strlen(line);
        fprintf(out, "  %.*s", (int)n, line);
        line += n;
    }
    fclose(out);
    fd_route_table_t *table = load_vhosts(text);
    free(text);
    assert_int_equal(table->n_vhosts, 1);
    return &table->vhosts[0];
}

/* The same, from one route per line (NULL-terminated). */
static const fd_virtual_host_t *load_route_lines(const char *const *lines)
{
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    for (size_t i = 0; lines[i] != NULL; i++)
        fputs(lines[i], out);
    fclose(out);
    const fd_virtual_host_t *vh = load_routes(text);
    free(text);
    return vh;
}

/* ---- requests ---- */

static h2o_iovec_t iov(const char *s)
{
    return s != NULL ? h2o_iovec_init(s, strlen(s)) : h2o_iovec_init(NULL, 0);
}

/* A request for path with header name/value pairs (pseudo-headers fill the request line),
 * ending with NULL. */
static fd_route_request_t *request_v(const char *path, va_list ap)
{
    fd_route_request_t *req = h2o_mem_alloc_pool(&fx->pool, sizeof(*req));
    h2o_headers_t *headers = h2o_mem_alloc_pool(&fx->pool, sizeof(*headers));
    memset(req, 0, sizeof(*req));
    memset(headers, 0, sizeof(*headers));
    req->path = iov(path);
    req->headers = headers;
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
        const char *value = va_arg(ap, const char *);
        if (strcmp(name, ":method") == 0)
            req->method = iov(value);
        else if (strcmp(name, ":authority") == 0)
            req->authority = iov(value);
        else if (strcmp(name, ":scheme") == 0)
            req->scheme = iov(value);
        else
            h2o_add_header_by_str(&fx->pool, headers, name, strlen(name), 1, NULL, value, strlen(value));
    }
    return req;
}

static const char *route_name(const fd_route_t *r)
{
    return r != NULL ? r->name.base : "-";
}

/* The name of the route vh picks for path and headers ("-" for none). */
static const char *route(const fd_virtual_host_t *vh, const char *path, ...)
{
    va_list ap;
    va_start(ap, path);
    fd_route_request_t *req = request_v(path, ap);
    va_end(ap);
    return route_name(fd_route_find(vh, req));
}

static const char *vhost(const fd_route_table_t *table, const char *authority)
{
    const fd_virtual_host_t *vh = fd_route_find_vhost(table, iov(authority));
    return vh != NULL ? vh->name.base : "-";
}

/* ---- the reference: Envoy's rules, applied to every route in order ---- */

static int ref_equal(const char *a, const char *b, size_t n, int fold)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (fold && x >= 'A' && x <= 'Z')
            x += 32;
        if (fold && y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

static int ref_regex(const pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int ref_string(const fd_string_match_t *sm, const char *s, size_t len)
{
    const char *v = sm->value.base;
    size_t n = sm->value.len;
    switch (sm->kind) {
    case FD_STRING_MATCH_EXACT: return len == n && ref_equal(s, v, n, sm->ignore_case);
    case FD_STRING_MATCH_PREFIX: return len >= n && ref_equal(s, v, n, sm->ignore_case);
    case FD_STRING_MATCH_SUFFIX: return len >= n && ref_equal(s + len - n, v, n, sm->ignore_case);
    case FD_STRING_MATCH_CONTAINS:
        for (size_t i = 0; i + n <= len; i++)
            if (ref_equal(s + i, v, n, sm->ignore_case))
                return 1;
        return 0;
    case FD_STRING_MATCH_REGEX: return ref_regex(sm->regex, s, len);
    }
    return 0;
}

/* Joins every value of a header with ','; NULL when absent. Caller frees. */
static char *ref_header_value(const fd_route_request_t *req, const fd_string_t *name)
{
    char *joined = NULL;
    size_t len = 0;
    FILE *out = NULL;
    for (size_t i = 0; i < req->headers->size; i++) {
        const h2o_header_t *h = &req->headers->entries[i];
        if (h->name->len != name->len || memcmp(h->name->base, name->base, name->len) != 0)
            continue;
        if (out == NULL)
            out = open_memstream(&joined, &len);
        else
            fputc(',', out);
        fwrite(h->value.base, 1, h->value.len, out);
    }
    if (out != NULL)
        fclose(out);
    return joined;
}

static int ref_header(const fd_header_match_t *hm, const fd_route_request_t *req)
{
    char *value = ref_header_value(req, &hm->name);
    if (value == NULL && !hm->treat_missing_as_empty)
        return hm->kind == FD_HEADER_MATCH_PRESENT && (hm->invert ? hm->present : !hm->present);
    const char *s = value != NULL ? value : "";
    int match = 0;
    if (hm->kind == FD_HEADER_MATCH_STRING) {
        match = ref_string(&hm->string, s, strlen(s));
    } else if (hm->kind == FD_HEADER_MATCH_PRESENT) {
        match = hm->present;
    } else {
        char *end;
        long long n = strtoll(s, &end, 10);
        match = *s != '\0' && *end == '\0' && n >= hm->range_start && n < hm->range_end;
    }
    free(value);
    return hm->invert ? !match : match;
}

static int ref_query(const fd_query_match_t *qm, const char *query)
{
    if (query == NULL)
        return 0;
    for (const char *p = query; *p != '\0';) {
        size_t len = strcspn(p, "&"), name_len = strcspn(p, "=&");
        if (name_len == qm->name.len && memcmp(p, qm->name.base, name_len) == 0) {
            const char *value = name_len < len ? p + name_len + 1 : "";
            size_t value_len = name_len < len ? len - name_len - 1 : 0;
            return qm->present_only || ref_string(&qm->string, value, value_len);
        }
        p += len + (p[len] == '&');
    }
    return 0;
}

static int ref_path(const fd_route_match_t *m, const char *path, size_t len)
{
    size_t n = m->path.len;
    int fold = !m->case_sensitive;
    switch (m->kind) {
    case FD_PATH_MATCH_PREFIX: return len >= n && ref_equal(path, m->path.base, n, fold);
    case FD_PATH_MATCH_EXACT: return len == n && ref_equal(path, m->path.base, n, fold);
    case FD_PATH_MATCH_SEPARATED_PREFIX:
        return len >= n && ref_equal(path, m->path.base, n, fold) && (len == n || path[n] == '/');
    case FD_PATH_MATCH_REGEX: return ref_regex(m->regex, path, len);
    }
    return 0;
}

/* req->path must be NUL-terminated here. */
static const fd_route_t *ref_find(const fd_virtual_host_t *vh, const fd_route_request_t *req)
{
    const char *path = req->path.base, *q = strchr(path, '?');
    size_t len = strcspn(path, "?#");
    for (size_t i = 0; i < vh->n_routes; i++) {
        const fd_route_match_t *m = &vh->routes[i].match;
        int ok = ref_path(m, path, len);
        for (size_t h = 0; ok && h < m->n_headers; h++)
            ok = ref_header(&m->headers[h], req);
        for (size_t k = 0; ok && k < m->n_query; k++)
            ok = ref_query(&m->query[k], q != NULL ? q + 1 : NULL);
        if (ok)
            return &vh->routes[i];
    }
    return NULL;
}

/* Envoy's domain search: exact, longest suffix, longest prefix, '*'. */
static const fd_virtual_host_t *ref_vhost(const fd_route_table_t *table, const char *host)
{
    size_t len = strlen(host);
    const fd_domain_t *best[FD_DOMAIN_ANY + 1] = {NULL};
    for (size_t i = 0; i < table->n_domains; i++) {
        const fd_domain_t *d = &table->domains[i];
        size_t n = d->value.len;
        int ok = d->kind == FD_DOMAIN_ANY ||
                 (d->kind == FD_DOMAIN_EXACT && len == n && ref_equal(host, d->value.base, n, 1)) ||
                 (d->kind == FD_DOMAIN_SUFFIX && len > n && ref_equal(host + len - n, d->value.base, n, 1)) ||
                 (d->kind == FD_DOMAIN_PREFIX && len > n && ref_equal(host, d->value.base, n, 1));
        if (ok && (best[d->kind] == NULL || n > best[d->kind]->value.len))
            best[d->kind] = d;
    }
    for (int k = FD_DOMAIN_EXACT; k <= FD_DOMAIN_ANY; k++)
        if (best[k] != NULL)
            return best[k]->vhost;
    return NULL;
}

/* ---- random inputs, reproducible ---- */

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *pick(const char *const *items, size_t n)
{
    return items[rnd((uint32_t)n)];
}

#define PICK(items) pick(items, sizeof(items) / sizeof(items[0]))

/* ---- virtual hosts ---- */

#define ANY_ROUTE "  routes: [{name: r, match: {prefix: '/'}, direct_response: {status: 200}}]\n"

static void test_domain_precedence(void **state)
{
    (void)state;
    const fd_route_table_t *t = load_vhosts("- {name: exact, domains: [www.example.com, 'example.com:8080']}\n"
                                            "- {name: suffix, domains: ['*.example.com']}\n"
                                            "- {name: suffix_bar, domains: ['*-bar.example.com']}\n"
                                            "- {name: prefix_www, domains: ['www.*']}\n"
                                            "- {name: prefix_api, domains: ['api.*']}\n"
                                            "- {name: prefix_api_example, domains: ['api.example.*']}\n"
                                            "- {name: any, domains: ['*']}\n");
    assert_string_equal(vhost(t, "www.example.com"), "exact");
    assert_string_equal(vhost(t, "WWW.Example.COM"), "exact");
    assert_string_equal(vhost(t, "example.com:8080"), "exact");
    assert_string_equal(vhost(t, "foo.example.com"), "suffix");
    assert_string_equal(vhost(t, "FOO.EXAMPLE.COM"), "suffix");
    assert_string_equal(vhost(t, "a.b.example.com"), "suffix");
    /* the longest suffix wins; a wildcard never matches the empty string */
    assert_string_equal(vhost(t, "foo-bar.example.com"), "suffix_bar");
    assert_string_equal(vhost(t, "-bar.example.com"), "suffix");
    assert_string_equal(vhost(t, ".example.com"), "any");
    assert_string_equal(vhost(t, "example.com"), "any");
    /* suffix wildcards before prefix wildcards; the longest prefix wins */
    assert_string_equal(vhost(t, "api.example.com"), "suffix");
    assert_string_equal(vhost(t, "api.example.org"), "prefix_api_example");
    assert_string_equal(vhost(t, "API.other.org"), "prefix_api");
    assert_string_equal(vhost(t, "www.foo.org"), "prefix_www");
    assert_string_equal(vhost(t, "api."), "any");
    assert_string_equal(vhost(t, "unknown"), "any");
    assert_string_equal(vhost(t, ""), "any");
    assert_string_equal(fd_route_find_vhost(t, h2o_iovec_init(NULL, 0))->name.base, "any");
}

/* Envoy, by default, matches the authority with its port: RouteConfiguration's
 * ignore_port_in_host_matching (off by default) is what would drop it. */
static void test_domain_ports(void **state)
{
    (void)state;
    const fd_route_table_t *t = load_vhosts("- {name: plain, domains: [example.com]}\n"
                                            "- {name: port, domains: ['example.com:8080']}\n"
                                            "- {name: wild_port, domains: ['*.example.com:8443']}\n"
                                            "- {name: www, domains: ['www.*']}\n"
                                            "- {name: v6, domains: ['[::1]:9000']}\n");
    assert_string_equal(vhost(t, "example.com"), "plain");
    assert_string_equal(vhost(t, "example.com:8080"), "port");
    assert_string_equal(vhost(t, "EXAMPLE.COM:8080"), "port");
    assert_string_equal(vhost(t, "example.com:9090"), "-");
    assert_string_equal(vhost(t, "example.com:"), "-");
    assert_string_equal(vhost(t, "a.example.com:8443"), "wild_port");
    assert_string_equal(vhost(t, "a.example.com"), "-");
    /* a prefix wildcard takes any port, as in Envoy */
    assert_string_equal(vhost(t, "www.example.com:443"), "www");
    assert_string_equal(vhost(t, "[::1]:9000"), "v6");
    assert_string_equal(vhost(t, "[::1]"), "-");
}

static void test_domain_without_any(void **state)
{
    (void)state;
    const fd_route_table_t *t = load_vhosts("- name: only\n  domains: [a.example.com, '*.b.example.com']\n" ANY_ROUTE);
    assert_string_equal(vhost(t, "a.example.com"), "only");
    assert_string_equal(vhost(t, "x.b.example.com"), "only");
    assert_string_equal(vhost(t, "b.example.com"), "-");
    assert_string_equal(vhost(t, ""), "-");
    const fd_virtual_host_t *vh = fd_route_find_vhost(t, iov("a.example.com"));
    assert_string_equal(route(vh, "/x", NULL), "r");
}

/* Thousands of domains of every kind: the index answers what Envoy's search does. */
static void test_domain_index_matches_reference(void **state)
{
    (void)state;
    static const char *const labels[] = {"a", "b", "api", "www", "x-bar", "bar", "c0", "Z"};
    static const char *const tlds[] = {"com", "org", "io", "com:8080", "net"};
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    for (int i = 0; i < 3000; i++) {
        fprintf(out, "- {name: v%d, domains: ['", i);
        switch (i % 4) {
        case 0: fprintf(out, "h%d.%s.%s", i, PICK(labels), PICK(tlds)); break;
        case 1: fprintf(out, "*%s%d.%s", i % 8 == 1 ? "-" : ".", i % 50, PICK(tlds)); break;
        case 2: fprintf(out, "%s%d.*", PICK(labels), i % 60); break;
        default: fprintf(out, "h%d.%s", i, PICK(tlds)); break;
        }
        fprintf(out, "']}\n");
    }
    fputs("- {name: any, domains: ['*']}\n", out);
    fclose(out);
    /* duplicates are errors: keep only the first occurrence of each domain */
    char *dedup = calloc(1, len + 1), *at = dedup;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *domain = strstr(line, "['");
        char needle[256];
        snprintf(needle, sizeof(needle), "%.*s", (int)strcspn(domain, "]"), domain);
        if (strstr(dedup, needle) == NULL)
            at += sprintf(at, "%s\n", line);
    }
    free(text);
    const fd_route_table_t *t = load_vhosts(dedup);
    free(dedup);
    for (int i = 0; i < 20000; i++) {
        char host[128];
        switch (rnd(5)) {
        case 0: snprintf(host, sizeof(host), "h%u.%s.%s", rnd(3000), PICK(labels), PICK(tlds)); break;
        case 1: snprintf(host, sizeof(host), "%s%s%u.%s", PICK(labels), rnd(2) ? "." : "-", rnd(60), PICK(tlds)); break;
        case 2: snprintf(host, sizeof(host), "%s%u.%s.%s", PICK(labels), rnd(60), PICK(labels), PICK(tlds)); break;
        case 3: snprintf(host, sizeof(host), "H%u.%s", rnd(3000), PICK(tlds)); break;
        default: snprintf(host, sizeof(host), "%s%u", PICK(labels), rnd(60)); break;
        }
        const fd_virtual_host_t *want = ref_vhost(t, host), *got = fd_route_find_vhost(t, iov(host));
        if (want != got)
            fail_msg("host '%s': want %s, got %s", host, want ? want->name.base : "-", got ? got->name.base : "-");
    }
}

/* ---- path matching ---- */

static void test_path_kinds(void **state)
{
    (void)state;
    static const char *const routes[] = {
        ROUTE("exact", "{path: /exact}"),
        ROUTE("exact_ci", "{path: /Exact/CI, case_sensitive: false}"),
        ROUTE("sep", "{path_separated_prefix: /sep}"),
        ROUTE("regex", "{safe_regex: {regex: '/re/[0-9]+'}}"),
        ROUTE("prefix_ci", "{prefix: /CI/, case_sensitive: false}"),
        ROUTE("prefix", "{prefix: /p/}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/exact", NULL), "exact");
    assert_string_equal(route(vh, "/exact?x=1", NULL), "exact");
    assert_string_equal(route(vh, "/exact#top", NULL), "exact");
    assert_string_equal(route(vh, "/exact/", NULL), "-");
    assert_string_equal(route(vh, "/EXACT", NULL), "-");
    assert_string_equal(route(vh, "/exac", NULL), "-");
    assert_string_equal(route(vh, "/exact/ci", NULL), "exact_ci");
    assert_string_equal(route(vh, "/EXACT/Ci?Q", NULL), "exact_ci");
    assert_string_equal(route(vh, "/exact/ci/x", NULL), "-");
    assert_string_equal(route(vh, "/sep", NULL), "sep");
    assert_string_equal(route(vh, "/sep/", NULL), "sep");
    assert_string_equal(route(vh, "/sep/a/b", NULL), "sep");
    assert_string_equal(route(vh, "/sep?q=1", NULL), "sep");
    assert_string_equal(route(vh, "/sepx", NULL), "-");
    assert_string_equal(route(vh, "/SEP", NULL), "-");
    assert_string_equal(route(vh, "/re/123", NULL), "regex");
    assert_string_equal(route(vh, "/re/123?x=abc", NULL), "regex");
    assert_string_equal(route(vh, "/re/12a", NULL), "-");
    assert_string_equal(route(vh, "/re/", NULL), "-");
    assert_string_equal(route(vh, "/re/123/x", NULL), "-");
    assert_string_equal(route(vh, "/x/re/123", NULL), "-");
    assert_string_equal(route(vh, "/ci/x", NULL), "prefix_ci");
    assert_string_equal(route(vh, "/Ci/X", NULL), "prefix_ci");
    assert_string_equal(route(vh, "/ci", NULL), "-");
    assert_string_equal(route(vh, "/p/", NULL), "prefix");
    assert_string_equal(route(vh, "/p/x?y", NULL), "prefix");
    assert_string_equal(route(vh, "/p", NULL), "-");
    assert_string_equal(route(vh, "/P/x", NULL), "-");
}

static void test_first_match_wins(void **state)
{
    (void)state;
    static const char *const routes[] = {
        ROUTE("api", "{prefix: /api}"),
        ROUTE("api_v1", "{prefix: /api/v1}"),
        ROUTE("v2_exact", "{path: /v2/users}"),
        ROUTE("v2", "{prefix: /v2/}"),
        ROUTE("v2_users", "{prefix: /v2/users}"),
        ROUTE("regex_first", "{safe_regex: {regex: '/mixed/.*'}}"),
        ROUTE("mixed", "{prefix: /mixed/}"),
        ROUTE("ci_first", "{prefix: /CASE, case_sensitive: false}"),
        ROUTE("cs_after", "{prefix: /case}"),
        ROUTE("hdr", "{prefix: /h, headers: [{name: x-a, string_match: {exact: '1'}}]}"),
        ROUTE("h", "{prefix: /h}"),
        ROUTE("users_exact", "{path: /users}"),
        ROUTE("users_sep", "{path_separated_prefix: /users}"),
        ROUTE("u", "{prefix: /u}"),
        ROUTE("root", "{prefix: /}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/api/v1/x", NULL), "api");
    assert_string_equal(route(vh, "/apix", NULL), "api");
    assert_string_equal(route(vh, "/v2/users", NULL), "v2_exact");
    assert_string_equal(route(vh, "/v2/users/1", NULL), "v2");
    assert_string_equal(route(vh, "/mixed/a", NULL), "regex_first");
    assert_string_equal(route(vh, "/case/x", NULL), "ci_first");
    assert_string_equal(route(vh, "/hello", "x-a", "1", NULL), "hdr");
    assert_string_equal(route(vh, "/hello", "x-a", "2", NULL), "h");
    assert_string_equal(route(vh, "/hello", NULL), "h");
    assert_string_equal(route(vh, "/users", NULL), "users_exact");
    assert_string_equal(route(vh, "/users/1", NULL), "users_sep");
    assert_string_equal(route(vh, "/usersx", NULL), "u");
    assert_string_equal(route(vh, "/zzz", NULL), "root");
    assert_string_equal(route(vh, "/", NULL), "root");
    assert_string_equal(route(vh, "", NULL), "-");
}

static void test_edge_paths(void **state)
{
    (void)state;
    static const char *const routes[] = {
        ROUTE("root", "{path: /}"),
        ROUTE("long", "{prefix: /long/}"),
        ROUTE("utf8", "{prefix: \"/caf\\u00e9/\"}"),
        ROUTE("utf8_ci", "{prefix: \"/\\u00c9COLE/\", case_sensitive: false}"),
        ROUTE("re_any", "{safe_regex: {regex: '/re/.*'}}"),
        ROUTE("all", "{prefix: ''}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "", NULL), "all");
    assert_string_equal(fd_route_find(vh, &(fd_route_request_t){.path = {NULL, 0}})->name.base, "all");
    assert_string_equal(route(vh, "?x=1", NULL), "all");
    assert_string_equal(route(vh, "/", NULL), "root");
    assert_string_equal(route(vh, "/?a=b", NULL), "root");
    assert_string_equal(route(vh, "/#frag", NULL), "root");
    assert_string_equal(route(vh, "//", NULL), "all");
    size_t n = 1 << 20;
    char *long_path = malloc(n + 1);
    memset(long_path, 'a', n);
    memcpy(long_path, "/long/", 6);
    for (size_t i = 100; i < n; i += 100)
        long_path[i] = '/';
    long_path[n] = '\0';
    assert_string_equal(route(vh, long_path, NULL), "long");
    long_path[1] = 'L';
    assert_string_equal(route(vh, long_path, NULL), "all");
    memcpy(long_path, "/re/", 4);
    assert_string_equal(route(vh, long_path, NULL), "re_any");
    free(long_path);
    assert_string_equal(route(vh, "/caf\xc3\xa9/menu", NULL), "utf8");
    assert_string_equal(route(vh, "/CAF\xc3\xa9/menu", NULL), "all");
    /* case folding is ASCII only, as in Envoy: the accented capital does not fold */
    assert_string_equal(route(vh,
                              "/\xc3\x89"
                              "cole/x",
                              NULL),
                        "utf8_ci");
    assert_string_equal(route(vh,
                              "/\xc3\xa9"
                              "cole/x",
                              NULL),
                        "all");
    assert_string_equal(route(vh, "/re/\xc3\xa9t\xc3\xa9", NULL), "re_any");
    /* not UTF-8: PCRE2 refuses the subject, so the regex does not match (and nothing breaks) */
    assert_string_equal(route(vh, "/re/\xff\xfe", NULL), "all");
    assert_string_equal(route(vh, "/\x01\x7f\x80", NULL), "all");
}

/* ---- header matching ---- */

#define HROUTE(name, headers) ROUTE(name, "{path: /" name ", headers: [" headers "]}")

static void test_header_string_matchers(void **state)
{
    (void)state;
    static const char *const routes[] = {
        HROUTE("exact", "{name: x-h, string_match: {exact: Value}}"),
        HROUTE("exact_ic", "{name: x-h, string_match: {exact: value, ignore_case: true}}"),
        HROUTE("prefix", "{name: x-h, string_match: {prefix: ab}}"),
        HROUTE("suffix", "{name: x-h, string_match: {suffix: yz}}"),
        HROUTE("contains", "{name: x-h, string_match: {contains: MID, ignore_case: true}}"),
        HROUTE("regex", "{name: x-h, string_match: {safe_regex: {regex: '[0-9]{3}'}}}"),
        HROUTE("deprecated", "{name: X-H, exact_match: v1}"),
        HROUTE("deprecated_prefix", "{name: x-h, prefix_match: pre}"),
        HROUTE("two", "{name: x-a, string_match: {exact: '1'}}, "
                      "{name: x-b, string_match: {exact: '2'}}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/exact", "x-h", "Value", NULL), "exact");
    assert_string_equal(route(vh, "/exact", "x-h", "value", NULL), "-");
    assert_string_equal(route(vh, "/exact", "x-h", "Value2", NULL), "-");
    assert_string_equal(route(vh, "/exact", NULL), "-");
    assert_string_equal(route(vh, "/exact_ic", "x-h", "VALUE", NULL), "exact_ic");
    assert_string_equal(route(vh, "/exact_ic", "x-h", "valu", NULL), "-");
    assert_string_equal(route(vh, "/prefix", "x-h", "abc", NULL), "prefix");
    assert_string_equal(route(vh, "/prefix", "x-h", "ab", NULL), "prefix");
    assert_string_equal(route(vh, "/prefix", "x-h", "Abc", NULL), "-");
    assert_string_equal(route(vh, "/prefix", "x-h", "a", NULL), "-");
    assert_string_equal(route(vh, "/suffix", "x-h", "xyz", NULL), "suffix");
    assert_string_equal(route(vh, "/suffix", "x-h", "y", NULL), "-");
    assert_string_equal(route(vh, "/contains", "x-h", "a-mId-b", NULL), "contains");
    assert_string_equal(route(vh, "/contains", "x-h", "mi-d", NULL), "-");
    assert_string_equal(route(vh, "/regex", "x-h", "123", NULL), "regex");
    assert_string_equal(route(vh, "/regex", "x-h", "1234", NULL), "-");
    assert_string_equal(route(vh, "/regex", "x-h", "a123", NULL), "-");
    assert_string_equal(route(vh, "/deprecated", "x-h", "v1", NULL), "deprecated");
    assert_string_equal(route(vh, "/deprecated", "x-h", "v2", NULL), "-");
    assert_string_equal(route(vh, "/deprecated_prefix", "x-h", "prefix", NULL), "deprecated_prefix");
    assert_string_equal(route(vh, "/two", "x-a", "1", "x-b", "2", NULL), "two");
    assert_string_equal(route(vh, "/two", "x-b", "2", "x-a", "1", NULL), "two");
    assert_string_equal(route(vh, "/two", "x-a", "1", NULL), "-");
    assert_string_equal(route(vh, "/two", "x-a", "1", "x-b", "3", NULL), "-");
}

static void test_header_presence_range_invert(void **state)
{
    (void)state;
    static const char *const routes[] = {
        HROUTE("present", "{name: x-h, present_match: true}"),
        HROUTE("absent", "{name: x-h, present_match: false}"),
        HROUTE("bare", "{name: x-h}"),
        HROUTE("range", "{name: x-n, range_match: {start: -10, end: 10}}"),
        HROUTE("invert", "{name: x-h, string_match: {exact: bad}, invert_match: true}"),
        HROUTE("invert_present", "{name: x-h, present_match: true, invert_match: true}"),
        HROUTE("invert_absent", "{name: x-h, present_match: false, invert_match: true}"),
        HROUTE("missing_empty", "{name: x-h, string_match: {safe_regex: {regex: '^$'}}, "
                                "treat_missing_header_as_empty: true}"),
        HROUTE("missing_not_empty", "{name: x-h, string_match: {safe_regex: {regex: '^$'}}}"),
        HROUTE("missing_invert_range", "{name: x-h, range_match: {start: 0, end: 10}, invert_match: true, "
                                       "treat_missing_header_as_empty: true}"),
        HROUTE("invert_range", "{name: x-h, range_match: {start: 0, end: 10}, "
                               "invert_match: true}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/present", "x-h", "", NULL), "present");
    assert_string_equal(route(vh, "/present", NULL), "-");
    assert_string_equal(route(vh, "/absent", NULL), "absent");
    assert_string_equal(route(vh, "/absent", "x-h", "1", NULL), "-");
    assert_string_equal(route(vh, "/bare", "x-h", "anything", NULL), "bare");
    assert_string_equal(route(vh, "/bare", NULL), "-");
    static const char *const in_range[] = {"5", "-10", "9", "+3", "0", " 7 ", "-0"};
    static const char *const out_of_range[] = {"10", "-11", "3.5", "abc", "", "1a", "99999999999999999999", "--1"};
    for (size_t i = 0; i < sizeof(in_range) / sizeof(in_range[0]); i++)
        assert_string_equal(route(vh, "/range", "x-n", in_range[i], NULL), "range");
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++)
        assert_string_equal(route(vh, "/range", "x-n", out_of_range[i], NULL), "-");
    assert_string_equal(route(vh, "/range", NULL), "-");
    assert_string_equal(route(vh, "/invert", "x-h", "good", NULL), "invert");
    assert_string_equal(route(vh, "/invert", "x-h", "bad", NULL), "-");
    /* an inverted value matcher does not match a missing header */
    assert_string_equal(route(vh, "/invert", NULL), "-");
    assert_string_equal(route(vh, "/invert_present", NULL), "invert_present");
    assert_string_equal(route(vh, "/invert_present", "x-h", "1", NULL), "-");
    assert_string_equal(route(vh, "/invert_absent", "x-h", "1", NULL), "invert_absent");
    assert_string_equal(route(vh, "/invert_absent", NULL), "-");
    assert_string_equal(route(vh, "/missing_empty", NULL), "missing_empty");
    assert_string_equal(route(vh, "/missing_empty", "x-h", "", NULL), "missing_empty");
    assert_string_equal(route(vh, "/missing_empty", "x-h", "x", NULL), "-");
    assert_string_equal(route(vh, "/missing_not_empty", NULL), "-");
    assert_string_equal(route(vh, "/missing_not_empty", "x-h", "", NULL), "missing_not_empty");
    assert_string_equal(route(vh, "/missing_invert_range", NULL), "missing_invert_range");
    assert_string_equal(route(vh, "/missing_invert_range", "x-h", "3", NULL), "-");
    assert_string_equal(route(vh, "/invert_range", NULL), "-");
    assert_string_equal(route(vh, "/invert_range", "x-h", "30", NULL), "invert_range");
}

static void test_header_repeated_and_pseudo(void **state)
{
    (void)state;
    static const char *const routes[] = {
        HROUTE("joined", "{name: x-m, string_match: {exact: 'a,b'}}"),
        HROUTE("joined_long", "{name: x-l, string_match: {safe_regex: {regex: 'x+,y+,z+end'}}}"),
        HROUTE("method", "{name: ':method', string_match: {exact: POST}}"),
        HROUTE("authority", "{name: ':authority', string_match: {suffix: .example.com}}"),
        HROUTE("path_hdr", "{name: ':path', string_match: {contains: '?debug'}}"),
        HROUTE("scheme", "{name: ':scheme', string_match: {exact: https}}"),
        HROUTE("no_method", "{name: ':method', present_match: false}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/joined", "x-m", "a", "x-m", "b", NULL), "joined");
    assert_string_equal(route(vh, "/joined", "x-m", "a,b", NULL), "joined");
    assert_string_equal(route(vh, "/joined", "x-m", "a", NULL), "-");
    assert_string_equal(route(vh, "/joined", "x-m", "b", "x-other", "z", "x-m", "a", NULL), "-");
    /* more than the join's stack buffer holds */
    char x[400], y[400], z[400];
    memset(x, 'x', sizeof(x) - 1), x[sizeof(x) - 1] = '\0';
    memset(y, 'y', sizeof(y) - 1), y[sizeof(y) - 1] = '\0';
    memset(z, 'z', sizeof(z) - 1), z[sizeof(z) - 1] = '\0';
    memcpy(z + sizeof(z) - 4, "end", 4);
    assert_string_equal(route(vh, "/joined_long", "x-l", x, "x-l", y, "x-l", z, NULL), "joined_long");
    assert_string_equal(route(vh, "/joined_long", "x-l", x, "x-l", z, NULL), "-");
    assert_string_equal(route(vh, "/method", ":method", "POST", NULL), "method");
    assert_string_equal(route(vh, "/method", ":method", "GET", NULL), "-");
    assert_string_equal(route(vh, "/method", NULL), "-");
    assert_string_equal(route(vh, "/authority", ":authority", "api.example.com", NULL), "authority");
    assert_string_equal(route(vh, "/authority", ":authority", "example.org", NULL), "-");
    assert_string_equal(route(vh, "/path_hdr?debug=1", NULL), "path_hdr");
    assert_string_equal(route(vh, "/path_hdr?x=1", NULL), "-");
    assert_string_equal(route(vh, "/scheme", ":scheme", "https", NULL), "scheme");
    assert_string_equal(route(vh, "/scheme", ":scheme", "http", NULL), "-");
    assert_string_equal(route(vh, "/no_method", NULL), "no_method");
    assert_string_equal(route(vh, "/no_method", ":method", "GET", NULL), "-");
}

/* ---- query parameters ---- */

#define QROUTE(name, params) ROUTE(name, "{path: /" name ", query_parameters: [" params "]}")

static void test_query_parameters(void **state)
{
    (void)state;
    static const char *const routes[] = {
        QROUTE("present", "{name: debug, present_match: true}"),
        QROUTE("exact", "{name: v, string_match: {exact: '1'}}"),
        QROUTE("empty", "{name: flag, string_match: {exact: ''}}"),
        QROUTE("regex", "{name: id, string_match: {safe_regex: {regex: '[0-9]+'}}}"),
        QROUTE("encoded", "{name: q, string_match: {exact: 'a%20b'}}"),
        QROUTE("ci", "{name: mode, string_match: {prefix: FAST, ignore_case: true}}"),
        QROUTE("two", "{name: a, present_match: true}, {name: b, string_match: {suffix: z}}"),
        NULL,
    };
    const fd_virtual_host_t *vh = load_route_lines(routes);
    assert_string_equal(route(vh, "/present?debug", NULL), "present");
    assert_string_equal(route(vh, "/present?debug=0", NULL), "present");
    assert_string_equal(route(vh, "/present?x=1&&debug&", NULL), "present");
    assert_string_equal(route(vh, "/present?x=debug", NULL), "-");
    assert_string_equal(route(vh, "/present?DEBUG", NULL), "-");
    assert_string_equal(route(vh, "/present?debugx", NULL), "-");
    assert_string_equal(route(vh, "/present?", NULL), "-");
    assert_string_equal(route(vh, "/present", NULL), "-");
    assert_string_equal(route(vh, "/exact?v=1", NULL), "exact");
    assert_string_equal(route(vh, "/exact?a=2&v=1&b", NULL), "exact");
    assert_string_equal(route(vh, "/exact?v=1&v=2", NULL), "exact");
    /* the first occurrence of a name is the one matched */
    assert_string_equal(route(vh, "/exact?v=2&v=1", NULL), "-");
    assert_string_equal(route(vh, "/exact?v=10", NULL), "-");
    assert_string_equal(route(vh, "/exact?v", NULL), "-");
    assert_string_equal(route(vh, "/empty?flag", NULL), "empty");
    assert_string_equal(route(vh, "/empty?flag=", NULL), "empty");
    assert_string_equal(route(vh, "/empty?flag=x", NULL), "-");
    assert_string_equal(route(vh, "/regex?id=123", NULL), "regex");
    assert_string_equal(route(vh, "/regex?id=12a", NULL), "-");
    assert_string_equal(route(vh, "/encoded?q=a%20b", NULL), "encoded");
    assert_string_equal(route(vh, "/encoded?q=a b", NULL), "-");
    assert_string_equal(route(vh, "/ci?mode=fastest", NULL), "ci");
    assert_string_equal(route(vh, "/ci?mode=slow", NULL), "-");
    assert_string_equal(route(vh, "/two?b=xyz&a", NULL), "two");
    assert_string_equal(route(vh, "/two?a=1", NULL), "-");
}

/* ---- the index against the linear scan ---- */

static void write_random_route(FILE *out, int i)
{
    static const char *const segs[] = {"a", "b", "api", "v1", "Api", "x", "users", "A"};
    char path[64];
    int n = snprintf(path, sizeof(path), "/%s", PICK(segs));
    for (uint32_t k = rnd(3); k > 0; k--)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "/%s", PICK(segs));
    const char *ci = rnd(4) == 0 ? ", case_sensitive: false" : "";
    fprintf(out, "- name: r%d\n  match: {", i);
    switch (rnd(6)) {
    case 0: fprintf(out, "path: '%s'%s", path, ci); break;
    case 1: fprintf(out, "path_separated_prefix: '%s'%s", path, ci); break;
    case 2: fprintf(out, "safe_regex: {regex: '%s(/[a-z]+)?'}", path); break;
    case 3: fprintf(out, "prefix: '%s/'%s", path, ci); break;
    default: fprintf(out, "prefix: '%.*s'%s", (int)(1 + rnd((uint32_t)n)), path, ci); break;
    }
    switch (rnd(8)) {
    case 0: fprintf(out, ", headers: [{name: x-env, string_match: {exact: prod}}]"); break;
    case 1: fprintf(out, ", headers: [{name: x-env, present_match: true, invert_match: true}]"); break;
    case 2: fprintf(out, ", headers: [{name: x-n, range_match: {start: 0, end: 5}}]"); break;
    case 3: fprintf(out, ", query_parameters: [{name: debug, present_match: true}]"); break;
    case 4: fprintf(out, ", query_parameters: [{name: v, string_match: {exact: '1'}}]"); break;
    default: break;
    }
    fprintf(out, "}\n  direct_response: {status: 200}\n");
}

static fd_route_request_t *random_request(char *buf, size_t size)
{
    static const char *const segs[] = {"a", "b", "api", "v1", "Api", "x", "users", "A", "API", "zz", ""};
    static const char *const tails[] = {"", "", "/", "?debug", "?v=1", "?v=2&debug", "#f", "/z?v=1"};
    static const char *const envs[] = {"prod", "dev", "PROD", NULL};
    static const char *const nums[] = {"0", "4", "5", "-1", "x", NULL};
    int n = 0;
    for (uint32_t k = rnd(5); k > 0; k--)
        n += snprintf(buf + n, size - (size_t)n, "/%s", PICK(segs));
    snprintf(buf + n, size - (size_t)n, "%s", PICK(tails));
    const char *env = PICK(envs), *num = PICK(nums);
    const char *pairs[4] = {NULL};
    size_t p = 0;
    if (env != NULL)
        pairs[p++] = "x-env", pairs[p++] = env;
    if (num != NULL)
        pairs[p++] = "x-n", pairs[p++] = num;
    fd_route_request_t *req = h2o_mem_alloc_pool(&fx->pool, sizeof(*req));
    h2o_headers_t *headers = h2o_mem_alloc_pool(&fx->pool, sizeof(*headers));
    memset(req, 0, sizeof(*req));
    memset(headers, 0, sizeof(*headers));
    for (size_t i = 0; i < p; i += 2)
        h2o_add_header_by_str(&fx->pool, headers, pairs[i], strlen(pairs[i]), 0, NULL, pairs[i + 1],
                              strlen(pairs[i + 1]));
    req->path = iov(buf);
    req->headers = headers;
    return req;
}

static void test_index_matches_linear_scan(void **state)
{
    (void)state;
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    fputs("- name: vh\n  domains: ['*']\n  routes:\n", out);
    for (int i = 0; i < 400; i++) {
        char *route_text;
        size_t route_len;
        FILE *r = open_memstream(&route_text, &route_len);
        write_random_route(r, i);
        fclose(r);
        for (char *line = strtok(route_text, "\n"); line != NULL; line = strtok(NULL, "\n"))
            fprintf(out, "  %s\n", line);
        free(route_text);
    }
    fclose(out);
    fd_route_table_t *table = load_vhosts(text);
    free(text);
    fd_virtual_host_t *vh = &table->vhosts[0];
    size_t matched = 0;
    for (int i = 0; i < 30000; i++) {
        char path[256];
        fd_route_request_t *req = random_request(path, sizeof(path));
        const fd_route_t *want = ref_find(vh, req), *got = fd_route_find(vh, req);
        struct fd_route_index *ix = vh->index;
        vh->index = NULL; /* the module's own scan, used before the index is built */
        const fd_route_t *scanned = fd_route_find(vh, req);
        vh->index = ix;
        if (want != got || want != scanned)
            fail_msg("path '%s': want %s, index %s, scan %s", path, route_name(want), route_name(got),
                     route_name(scanned));
        matched += want != NULL;
        if (i % 1000 == 999)
            h2o_mem_clear_pool(&fx->pool);
    }
    print_message("index agreed with the linear scan on 30000 random requests (%zu matched a route)\n", matched);
    assert_true(matched > 3000);
}

/* More candidate lists than a lookup gathers at once: prefixes at every length of a path. */
static void test_many_candidate_lists(void **state)
{
    (void)state;
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    char prefix[256] = "";
    for (int i = 0; i < 120; i++) {
        prefix[i] = i % 2 == 0 ? '/' : 'a';
        fprintf(out,
                "- {name: n%d, match: {%s: '%s', headers: [{name: x-n, string_match: {exact: '%d'}}]}, "
                "direct_response: {status: 200}}\n",
                i, i % 3 == 0 ? "path_separated_prefix" : "prefix", i % 3 == 0 && i % 2 == 0 ? "/x" : prefix, i);
    }
    fputs("- {name: regex, match: {safe_regex: {regex: '(/a)+/?'}}, direct_response: {status: 200}}\n", out);
    fclose(out);
    const fd_virtual_host_t *vh = load_routes(text);
    free(text);
    char path[300] = "";
    for (int i = 0; i < 200; i++)
        path[i] = i % 2 == 0 ? '/' : 'a';
    for (int want = 0; want < 120; want++) {
        char value[16];
        snprintf(value, sizeof(value), "%d", want);
        const char *expect = want % 3 == 0 && want % 2 == 0 ? "regex" : NULL;
        char name[16];
        snprintf(name, sizeof(name), "n%d", want);
        assert_string_equal(route(vh, path, "x-n", value, NULL), expect != NULL ? expect : name);
    }
    assert_string_equal(route(vh, path, "x-n", "999", NULL), "regex");
    assert_string_equal(route(vh, "/b", "x-n", "1", NULL), "-");
}

static void test_build_twice_and_unindexed(void **state)
{
    (void)state;
    fd_route_table_t *t = load_vhosts("- name: a\n  domains: [a.example.com, '*.a.org']\n" ANY_ROUTE
                                      "- name: any\n  domains: ['*']\n" ANY_ROUTE);
    assert_int_equal(fd_route_index_build(t, &fx->config->pool), 0);
    assert_string_equal(vhost(t, "x.a.org"), "a");
    t->index = NULL;
    t->vhosts[0].index = NULL;
    assert_string_equal(vhost(t, "x.a.org"), "a");
    assert_string_equal(vhost(t, "A.EXAMPLE.COM"), "a");
    assert_string_equal(vhost(t, "b.example.com"), "any");
    assert_string_equal(route(&t->vhosts[0], "/x", NULL), "r");
}

/* ---- cost: 10 vs 10,000 routes (printed, never asserted) ---- */

#define LOOKUPS 100000
#define BENCH_PATHS 1024

static double time_lookups(const fd_virtual_host_t *vh, int n_routes, int lookups)
{
    static char paths[BENCH_PATHS][64];
    static fd_route_request_t reqs[BENCH_PATHS];
    static h2o_headers_t none;
    for (int i = 0; i < BENCH_PATHS; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/svc%u/items/%d?page=2", rnd((uint32_t)n_routes), i);
        reqs[i] = (fd_route_request_t){.path = iov(paths[i]), .method = iov("GET"), .headers = &none};
    }
    struct timespec start, end;
    size_t found = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < lookups; i++)
        found += fd_route_find(vh, &reqs[i % BENCH_PATHS]) != NULL;
    clock_gettime(CLOCK_MONOTONIC, &end);
    assert_int_equal(found, lookups);
    return ((double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec)) / lookups;
}

static fd_virtual_host_t *load_services(int n)
{
    char *text;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    for (int i = 0; i < n; i++)
        fprintf(out, "- {name: s%d, match: {prefix: /svc%d/}, direct_response: {status: 200}}\n", i, i);
    fclose(out);
    fd_virtual_host_t *vh = (fd_virtual_host_t *)load_routes(text);
    free(text);
    return vh;
}

static void test_lookup_cost_10_vs_10000_routes(void **state)
{
    (void)state;
    fd_virtual_host_t *vh = load_services(10);
    assert_string_equal(route(vh, "/svc7/x", NULL), "s7");
    time_lookups(vh, 10, LOOKUPS); /* warm up */
    double few = time_lookups(vh, 10, LOOKUPS);
    vh = load_services(10000);
    assert_string_equal(route(vh, "/svc9999/x", NULL), "s9999");
    assert_string_equal(route(vh, "/svc999/x", NULL), "s999");
    double many = time_lookups(vh, 10000, LOOKUPS);
    struct fd_route_index *ix = vh->index;
    vh->index = NULL;
    double linear = time_lookups(vh, 10000, LOOKUPS / 100);
    vh->index = ix;
    print_message("route lookup: %.0f ns with 10 routes, %.0f ns with 10000 routes: ratio %.2f "
                  "(a linear scan of 10000: %.0f ns, %.0fx)\n",
                  few, many, many / few, linear, linear / many);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_domain_precedence),
        T(test_domain_ports),
        T(test_domain_without_any),
        T(test_domain_index_matches_reference),
        T(test_path_kinds),
        T(test_first_match_wins),
        T(test_edge_paths),
        T(test_header_string_matchers),
        T(test_header_presence_range_invert),
        T(test_header_repeated_and_pseudo),
        T(test_query_parameters),
        T(test_index_matches_linear_scan),
        T(test_many_candidate_lists),
        T(test_build_twice_and_unindexed),
        T(test_lookup_cost_10_vs_10000_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
