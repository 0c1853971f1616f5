/* Route redirects: the Location of an Envoy RedirectAction (scheme, host, port, path or
 * prefix/regex rewrite, query stripping) computed from the request. */
#include "proxy/router/redirect.h"

#include <stdio.h>
#include <string.h>

/* Splits "host:port" (or "[v6]:port"); the port is empty when absent. */
static void split_authority(h2o_iovec_t authority, h2o_iovec_t *host, h2o_iovec_t *port)
{
    const char *end = authority.base + authority.len, *colon = NULL;
    for (const char *p = end; p > authority.base; p--) {
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
        if (p[-1] < '0' || p[-1] > '9')
            break;
    }
    *host = colon ? h2o_iovec_init(authority.base, (size_t)(colon - authority.base)) : authority;
    *port = colon ? h2o_iovec_init(colon + 1, (size_t)(end - colon - 1)) : h2o_iovec_init("", 0);
}

static h2o_iovec_t rewrite_regex(h2o_mem_pool_t *pool, h2o_iovec_t path, const fd_route_redirect_t *r)
{
    PCRE2_SIZE out_len = path.len * 2 + r->regex_rewrite_substitution.len + 256;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->regex_rewrite, NULL);
    h2o_iovec_t result = path;
    for (int attempt = 0; attempt < 2; attempt++) { /* a guess, then the size PCRE2 says it needs */
        char *out = h2o_mem_alloc_pool(pool, out_len);
        int rc =
            pcre2_substitute(r->regex_rewrite, (PCRE2_SPTR)path.base, path.len, 0,
                             PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_EXTENDED | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, md,
                             NULL, (PCRE2_SPTR)r->regex_rewrite_substitution.base, r->regex_rewrite_substitution.len,
                             (PCRE2_UCHAR *)out, &out_len);
        if (rc >= 0)
            result = h2o_iovec_init(out, out_len);
        if (rc != PCRE2_ERROR_NOMEMORY)
            break;
    }
    pcre2_match_data_free(md);
    return result;
}

static h2o_iovec_t redirect_path(h2o_mem_pool_t *pool, h2o_req_t *req, const fd_route_t *route)
{
    const fd_route_redirect_t *r = &route->redirect;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    h2o_iovec_t path = h2o_iovec_init(req->path.base, path_len);
    h2o_iovec_t query = h2o_iovec_init(req->path.base + path_len, req->path.len - path_len);
    if (r->path.len != 0) {
        path = h2o_iovec_init(r->path.base, r->path.len);
        if (memchr(r->path.base, '?', r->path.len) != NULL) /* a query in path_redirect replaces the request's */
            query = h2o_iovec_init("", 0);
    } else if (r->prefix_rewrite.len != 0 && route->match.kind == FD_PATH_MATCH_PREFIX &&
               path.len >= route->match.path.len) {
        path = h2o_concat(pool, h2o_iovec_init(r->prefix_rewrite.base, r->prefix_rewrite.len),
                          h2o_iovec_init(path.base + route->match.path.len, path.len - route->match.path.len));
    } else if (r->regex_rewrite != NULL) {
        path = rewrite_regex(pool, path, r);
    }
    if (r->strip_query)
        query = h2o_iovec_init("", 0);
    return h2o_concat(pool, path, query);
}

h2o_iovec_t fd_redirect_location(h2o_mem_pool_t *pool, h2o_req_t *req, const fd_route_t *route)
{
    const fd_route_redirect_t *r = &route->redirect;
    h2o_iovec_t scheme = r->https        ? h2o_iovec_init(H2O_STRLIT("https"))
                         : r->scheme.len ? h2o_iovec_init(r->scheme.base, r->scheme.len)
                                         : req->scheme->name;
    h2o_iovec_t host, port;
    split_authority(req->authority, &host, &port);
    if (r->host.len != 0)
        split_authority(h2o_iovec_init(r->host.base, r->host.len), &host, &port);
    char port_buf[8];
    if (r->port != 0) {
        port = h2o_iovec_init(port_buf, (size_t)snprintf(port_buf, sizeof(port_buf), "%u", r->port));
    } else if ((r->https || r->scheme.len != 0) && (h2o_memis(port.base, port.len, H2O_STRLIT("80")) ||
                                                    h2o_memis(port.base, port.len, H2O_STRLIT("443")))) {
        port = h2o_iovec_init("", 0); /* a scheme change drops the old scheme's default port, as in Envoy */
    }
    h2o_iovec_t path = redirect_path(pool, req, route);
    if (port.len != 0)
        return h2o_concat(pool, scheme, h2o_iovec_init(H2O_STRLIT("://")), host, h2o_iovec_init(H2O_STRLIT(":")), port,
                          path);
    return h2o_concat(pool, scheme, h2o_iovec_init(H2O_STRLIT("://")), host, path);
}
