/* What the router sends upstream: the path and host after the route's rewrites, the
 * request's headers less hop-by-hop ones, Envoy's x-forwarded-for/-proto, x-request-id and
 * x-envoy-* headers, the route's header mutations; and hash-policy values for ring hash. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy/router/header_ops.h"
#include "proxy/router/http_util.h"
#include "proxy/router/load_balancer.h"
#include "proxy/router/upstream_request.h"

/* Envoy keeps "te: trailers" (gRPC needs it) and drops every other te. */
static int is_te_trailers(const h2o_header_t *header)
{
    return h2o_memis(header->name->base, header->name->len, H2O_STRLIT("te")) &&
           h2o_memis(header->value.base, header->value.len, H2O_STRLIT("trailers"));
}

static h2o_iovec_t path_only(h2o_req_t *req)
{
    return h2o_iovec_init(req->path.base, req->query_at != SIZE_MAX ? req->query_at : req->path.len);
}

static h2o_iovec_t regex_substitute(h2o_mem_pool_t *pool, h2o_iovec_t path, const fd_route_forward_t *fw)
{
    PCRE2_SIZE out_len = path.len * 2 + fw->regex_rewrite_substitution.len + 256;
    for (int attempt = 0; attempt < 2; attempt++) { /* a guess, then the size PCRE2 says it needs */
        char *out = h2o_mem_alloc_pool(pool, out_len);
        int rc = pcre2_substitute(fw->regex_rewrite, (PCRE2_SPTR)path.base, path.len, 0,
                                  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, NULL, NULL,
                                  (PCRE2_SPTR)fw->regex_rewrite_substitution.base, fw->regex_rewrite_substitution.len,
                                  (PCRE2_UCHAR *)out, &out_len);
        if (rc >= 0)
            return h2o_iovec_init(out, out_len);
        if (rc != PCRE2_ERROR_NOMEMORY)
            break;
    }
    return path;
}

/* prefix_rewrite replaces the matched prefix; regex_rewrite substitutes in the path. The
 * query string is kept either way. Returns the path unchanged when the route rewrites nothing. */
static h2o_iovec_t rewrite_path(h2o_req_t *req, const fd_route_t *route)
{
    const fd_route_forward_t *fw = &route->forward;
    h2o_iovec_t path = path_only(req), query = h2o_iovec_init(path.base + path.len, req->path.len - path.len);
    if (fw->prefix_rewrite.len != 0 && route->match.kind != FD_PATH_MATCH_REGEX && path.len >= route->match.path.len)
        path = h2o_concat(&req->pool, h2o_iovec_init(fw->prefix_rewrite.base, fw->prefix_rewrite.len),
                          h2o_iovec_init(path.base + route->match.path.len, path.len - route->match.path.len));
    else if (fw->regex_rewrite != NULL)
        path = regex_substitute(&req->pool, path, fw);
    else
        return req->path;
    return h2o_concat(&req->pool, path, query);
}

static h2o_iovec_t rewrite_authority(h2o_req_t *req, const fd_route_forward_t *fw, const fd_router_host_t *host)
{
    if (fw->host_rewrite_literal.len != 0)
        return h2o_iovec_init(fw->host_rewrite_literal.base, fw->host_rewrite_literal.len);
    /* Envoy: the upstream host's hostname, which only DNS clusters' hosts have */
    if (fw->auto_host_rewrite && host->endpoint != NULL && host->endpoint->address.addr_len == 0)
        return h2o_iovec_init(host->endpoint->address.host, strlen(host->endpoint->address.host));
    return req->authority;
}

static h2o_iovec_t peer_ip(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    char buf[INET6_ADDRSTRLEN];
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    const void *addr = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
    if (len == 0 || inet_ntop(ss.ss_family, addr, buf, sizeof(buf)) == NULL)
        return h2o_iovec_init("", 0);
    return h2o_strdup(&req->pool, buf, strlen(buf));
}

/* A random UUID (version 4), as Envoy generates for x-request-id. */
static h2o_iovec_t request_id(fd_router_worker_t *rw, h2o_mem_pool_t *pool)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = fd_lb_random(&rw->random_state), b = fd_lb_random(&rw->random_state);
    a = (a & ~0xf000ull) | 0x4000;                    /* version 4 */
    b = (b & ~(0xc000ull << 48)) | (0x8000ull << 48); /* variant 10 */
    char *out = h2o_mem_alloc_pool(pool, 36), *p = out;
    for (int i = 0; i < 32; i++) {
        uint64_t word = i < 16 ? a : b;
        *p++ = hex[(word >> (60 - 4 * (i % 16))) & 0xf];
        if (i == 7 || i == 11 || i == 15 || i == 19)
            *p++ = '-';
    }
    return h2o_iovec_init(out, 36);
}

static void set_header(h2o_mem_pool_t *pool, h2o_headers_t *headers, const char *name, size_t len, h2o_iovec_t value)
{
    ssize_t cursor;
    while ((cursor = h2o_find_header_by_str(headers, name, len, -1)) != -1)
        h2o_delete_header(headers, cursor);
    h2o_add_header_by_str(pool, headers, name, len, 0, NULL, value.base, value.len);
}

/* Every x-forwarded-for value of the request, in order: one list, however many fields carry it
 * (RFC 9110 5.3). NULL base when there is none. */
static h2o_iovec_t forwarded_for(h2o_req_t *req)
{
    h2o_iovec_t list = h2o_iovec_init(NULL, 0);
    ssize_t cursor = -1;
    while ((cursor = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), cursor)) != -1) {
        h2o_iovec_t value = req->headers.entries[cursor].value;
        list = list.base == NULL ? value : h2o_concat(&req->pool, list, h2o_iovec_init(H2O_STRLIT(", ")), value);
    }
    return list;
}

void fd_router_edge_headers(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http)
{
    h2o_headers_t *headers = &req->headers;
    if (http->use_remote_address) {
        h2o_iovec_t ip = peer_ip(req), xff = forwarded_for(req);
        h2o_iovec_t value = xff.base == NULL ? ip : h2o_concat(&req->pool, xff, h2o_iovec_init(H2O_STRLIT(", ")), ip);
        set_header(&req->pool, headers, H2O_STRLIT("x-forwarded-for"), value);
    }
    if (http->use_remote_address || h2o_find_header_by_str(headers, H2O_STRLIT("x-forwarded-proto"), -1) == -1)
        set_header(&req->pool, headers, H2O_STRLIT("x-forwarded-proto"), req->scheme->name);
    if (http->generate_request_id && h2o_find_header_by_str(headers, H2O_STRLIT("x-request-id"), -1) == -1)
        h2o_add_header_by_str(&req->pool, headers, H2O_STRLIT("x-request-id"), 0, NULL, request_id(rw, &req->pool).base,
                              36);
}

/* HTTP/2 lets a client split its cookie over several fields; HTTP/1.1 wants one, joined by "; "
 * (RFC 9113 8.2.3), as Envoy sends it. */
static void merge_cookies(h2o_mem_pool_t *pool, h2o_headers_t *headers)
{
    ssize_t first = h2o_find_header(headers, H2O_TOKEN_COOKIE, -1), next;
    if (first == -1)
        return;
    while ((next = h2o_find_header(headers, H2O_TOKEN_COOKIE, first)) != -1) {
        headers->entries[first].value = h2o_concat(pool, headers->entries[first].value,
                                                   h2o_iovec_init(H2O_STRLIT("; ")), headers->entries[next].value);
        h2o_delete_header(headers, next);
    }
}

void fd_router_build_upstream_request(h2o_req_t *req, const fd_http_manager_t *http, const fd_virtual_host_t *vhost,
                                      const fd_route_t *route, const fd_weighted_cluster_t *weighted,
                                      const fd_router_host_t *host, fd_upstream_request_spec_t *spec)
{
    h2o_headers_t headers = {NULL};
    h2o_vector_reserve(&req->pool, &headers, req->headers.size + 8);
    for (size_t i = 0; i < req->headers.size; i++)
        if (!fd_header_is_hop_by_hop(req->headers.entries[i].name->base, req->headers.entries[i].name->len) ||
            is_te_trailers(&req->headers.entries[i]))
            headers.entries[headers.size++] = req->headers.entries[i];
    merge_cookies(&req->pool, &headers);
    if (!http->suppress_envoy_headers && route->forward.timeout_ms != 0) {
        char *ms = h2o_mem_alloc_pool(&req->pool, 20);
        size_t n = fd_u64_to_dec(route->forward.timeout_ms, ms);
        set_header(&req->pool, &headers, H2O_STRLIT("x-envoy-expected-rq-timeout-ms"), h2o_iovec_init(ms, n));
    }
    h2o_iovec_t path = rewrite_path(req, route);
    if (path.base != req->path.base && !http->suppress_envoy_headers)
        set_header(&req->pool, &headers, H2O_STRLIT("x-envoy-original-path"), req->path);
    /* Envoy's order: weighted cluster, route, virtual host, route configuration. */
    if (weighted != NULL)
        fd_header_ops_apply(&req->pool, &headers, &weighted->headers);
    fd_header_ops_apply(&req->pool, &headers, &route->request_headers);
    fd_header_ops_apply(&req->pool, &headers, &vhost->request_headers);
    fd_header_ops_apply(&req->pool, &headers, &vhost->table->request_headers);
    fd_upstream_header_t *out = h2o_mem_alloc_pool(&req->pool, (headers.size + 1) * sizeof(*out));
    for (size_t i = 0; i < headers.size; i++)
        out[i] = (fd_upstream_header_t){*headers.entries[i].name, headers.entries[i].value};
    *spec = (fd_upstream_request_spec_t){
        .method = req->method,
        .path = path,
        .authority = rewrite_authority(req, &route->forward, host),
        .headers = out,
        .num_headers = headers.size,
        .body = req->entity,
        .idle_timeout_ms = (uint32_t)route->forward.idle_timeout_ms,
    };
}

/* The value of `name` in a "k=v; k2=v2" cookie header or a "k=v&k2=v2" query string. */
static int find_pair(h2o_iovec_t list, char sep, const fd_string_t *name, h2o_iovec_t *value)
{
    const char *p = list.base, *end = list.base + list.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == sep))
            p++;
        const char *item = p;
        while (p < end && *p != sep)
            p++;
        const char *eq = memchr(item, '=', (size_t)(p - item));
        size_t key_len = eq != NULL ? (size_t)(eq - item) : (size_t)(p - item);
        if (key_len == name->len && memcmp(item, name->base, key_len) == 0) {
            *value = eq != NULL ? h2o_iovec_init(eq + 1, (size_t)(p - eq - 1)) : h2o_iovec_init("", 0);
            return 1;
        }
    }
    return 0;
}

static int hash_named_value(h2o_req_t *req, const fd_hash_policy_t *p, uint64_t *hash)
{
    h2o_iovec_t value;
    if (p->kind == FD_HASH_COOKIE) {
        ssize_t cursor = -1;
        while ((cursor = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, cursor)) != -1)
            if (find_pair(req->headers.entries[cursor].value, ';', &p->name, &value))
                goto found;
        return 0;
    }
    if (req->query_at == SIZE_MAX ||
        !find_pair(h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1), '&', &p->name,
                   &value))
        return 0;
found:
    *hash = fd_lb_hash(value.base, value.len);
    return 1;
}

static int hash_one(h2o_req_t *req, const fd_hash_policy_t *p, uint64_t *hash)
{
    ssize_t cursor;
    switch (p->kind) {
    case FD_HASH_HEADER:
        if ((cursor = h2o_find_header_by_str(&req->headers, p->name.base, p->name.len, -1)) == -1)
            return 0;
        *hash = fd_lb_hash(req->headers.entries[cursor].value.base, req->headers.entries[cursor].value.len);
        return 1;
    case FD_HASH_SOURCE_IP: {
        h2o_iovec_t ip = peer_ip(req);
        *hash = fd_lb_hash(ip.base, ip.len);
        return ip.len != 0;
    }
    default: /* cookie and query parameter policies hash their value when present */
        return hash_named_value(req, p, hash);
    }
}

int fd_router_hash_request(h2o_req_t *req, const fd_route_forward_t *fw, uint64_t *hash)
{
    int have = 0;
    for (size_t i = 0; i < fw->n_hash_policies; i++) {
        uint64_t h;
        if (!hash_one(req, &fw->hash_policies[i], &h))
            continue;
        *hash = have ? ((*hash << 1) | (*hash >> 63)) ^ h : h; /* Envoy combines policies by rotate-xor */
        have = 1;
        if (fw->hash_policies[i].terminal)
            break;
    }
    return have;
}
