/* One request forwarded upstream by the router (upstream_request.c), and the building of
 * what is sent: Envoy's request headers and path and host rewrites (upstream_headers.c). */
#ifndef FD_UPSTREAM_REQUEST_H
#define FD_UPSTREAM_REQUEST_H

#include <h2o.h>

#include "proxy/router/router.h"
#include "proxy/upstream/http1_client.h"

/* Sends req to host and answers req with the response or with Envoy's local reply. */
void fd_router_forward_to_host(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http,
                               const fd_virtual_host_t *vhost, const fd_route_t *route,
                               const fd_weighted_cluster_t *weighted, fd_router_cluster_t *rc, fd_router_host_t *host,
                               fd_stream_info_t *info);

/* Fills spec (memory from req's pool) with the upstream request: method, rewritten path and
 * authority, the request's headers less hop-by-hop ones, Envoy's x-forwarded-*,
 * x-request-id and x-envoy-* headers, and the route's header mutations. */
void fd_router_build_upstream_request(h2o_req_t *req, const fd_http_manager_t *http, const fd_virtual_host_t *vhost,
                                      const fd_route_t *route, const fd_weighted_cluster_t *weighted,
                                      const fd_router_host_t *host, fd_upstream_request_spec_t *spec);

/* Envoy's connection manager's request headers, set on req itself (so filters and access
 * logs see them): x-forwarded-for appended and x-forwarded-proto set at the edge
 * (use_remote_address), x-forwarded-proto set when absent, x-request-id generated when absent. */
void fd_router_edge_headers(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http);

/* The route's hash policies applied to req (for RING_HASH); 0 when none produced a value. */
int fd_router_hash_request(h2o_req_t *req, const fd_route_forward_t *fw, uint64_t *hash);

/* The reason phrase frontdesk sends with a status (HTTP/1.1). */
const char *fd_router_reason_phrase(int status);

/* Envoy's local reply: status, a short text body. */
void fd_router_local_reply(h2o_req_t *req, int status, const char *reason, const char *body);

#endif
