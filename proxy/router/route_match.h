/* The router's matching: which virtual host of a route table serves a request's authority
 * (Envoy's domain precedence), and which of its routes serves the request (Envoy's
 * first-match-wins), through indexes built once so neither lookup grows with the table. */
#ifndef FD_ROUTE_MATCH_H
#define FD_ROUTE_MATCH_H

#include <h2o.h>

#include "proxy/config/config.h"

/* What matching reads of a request; an iovec with a NULL base is absent (no such header). */
typedef struct fd_route_request {
    h2o_iovec_t authority;        /* Host / :authority as received, port included */
    h2o_iovec_t path;             /* :path, query included */
    h2o_iovec_t method;           /* for ":method" header matchers */
    h2o_iovec_t scheme;           /* for ":scheme" header matchers */
    const h2o_headers_t *headers; /* lower-cased names, as h2o keeps them; may be NULL */
} fd_route_request_t;

/* Builds the domain index of table and the route index of each of its virtual hosts, from
 * pool (the config's: the indexes die with it). Call once the table is complete; lookups on
 * a table without indexes still work, by linear scans. Returns 0, or -1 when the table is
 * too large to index (more than 2^32 - 1 routes in a virtual host). */
int fd_route_index_build(fd_route_table_t *table, h2o_mem_pool_t *pool);

/* Envoy's precedence, case-insensitive: the exact domain, then the longest suffix wildcard
 * ("*.example.com", "*-bar.example.com"), then the longest prefix wildcard ("api.*"), then
 * "*". As in Envoy (without ignore_port_in_host_matching) a port is part of the authority:
 * "example.com:8080" matches the domain "example.com:8080", never "example.com". NULL when
 * nothing matches. */
const fd_virtual_host_t *fd_route_find_vhost(const fd_route_table_t *table, h2o_iovec_t authority);

/* The first route of vhost, in config order, whose path, headers and query parameters all
 * match req; NULL when none does. Allocates nothing unless a header repeated in the request
 * joins to more than a few hundred bytes, or PCRE2 runs without its JIT. */
const fd_route_t *fd_route_find(const fd_virtual_host_t *vhost, const fd_route_request_t *req);

#endif
