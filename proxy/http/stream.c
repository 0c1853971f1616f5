/* The HTTP stream: for each request, take the worker's snapshot, pick the filter chain,
 * virtual host and route, and answer it: a direct response, a redirect, a local reply,
 * or (through the router) an upstream's response. */
#include "proxy/http/stream.h"

#include <stdio.h>
#include <string.h>

#include "proxy/router/header_ops.h"
#include "proxy/router/redirect.h"
#include "proxy/router/route_match.h"
#include "proxy/router/router.h"
#include "proxy/router/upstream_request.h"
#include "proxy/server/server.h"
#include "proxy/server/tls.h"
#include "proxy/server/worker.h"

typedef struct stream_handler {
    h2o_handler_t super;
    size_t listener;
} stream_handler_t;

/* What a request leaves behind when h2o frees its pool: the request is no longer in
 * flight (drain waits for that), and its status is counted under the listener's prefix. */
typedef struct stream_end {
    fd_worker_listener_t *listener;
    h2o_req_t *req;
} stream_end_t;

static void on_request_disposed(void *p)
{
    stream_end_t *end = p;
    fd_http_stats_t *stats = &end->listener->stats;
    end->listener->worker->requests_in_flight--;
    FD_STAT_DEC(stats->downstream_rq_active);
    FD_STAT_INC(stats->downstream_rq_completed);
    fd_stats_count_status(&stats->downstream_rq_1xx, end->req->res.status);
}

static void track_request(fd_worker_listener_t *wl, h2o_req_t *req)
{
    stream_end_t *end = h2o_mem_alloc_shared(&req->pool, sizeof(*end), on_request_disposed);
    *end = (stream_end_t){wl, req};
    wl->worker->requests_in_flight++;
    FD_STAT_INC(wl->stats.downstream_rq_total);
    FD_STAT_INC(wl->stats.downstream_rq_active);
    if (req->version >= 0x200)
        FD_STAT_INC(wl->stats.downstream_rq_http2_total);
    else
        FD_STAT_INC(wl->stats.downstream_rq_http1_total);
}

/* The filter chain of the request's connection: chosen by SNI during a TLS handshake,
 * else the first chain that names no server (plaintext), else the default chain. */
static const fd_filter_chain_t *pick_chain(fd_worker_listener_t *wl, h2o_req_t *req, const fd_listener_t *listener)
{
    const fd_listener_tls_t *lt = fd_server_listener_tls(wl->worker->server, wl->index);
    ssize_t index = lt->base != NULL ? fd_tls_chain_of(req->conn->callbacks->get_socket(req->conn), lt)
                                     : fd_tls_pick_chain(listener, NULL);
    if (index < 0)
        return NULL;
    return (size_t)index < listener->n_chains ? &listener->chains[index] : listener->default_chain;
}

static void apply_response_headers(h2o_req_t *req, const fd_route_table_t *table, const fd_virtual_host_t *vhost,
                                   const fd_route_t *route)
{
    /* Envoy applies the most specific level first: route, virtual host, route configuration. */
    fd_header_ops_apply(&req->pool, &req->res.headers, &route->response_headers);
    fd_header_ops_apply(&req->pool, &req->res.headers, &vhost->response_headers);
    fd_header_ops_apply(&req->pool, &req->res.headers, &table->response_headers);
}

static void send_direct(h2o_req_t *req, const fd_route_direct_t *direct)
{
    static const char *reasons[6] = {"", "", "OK", "Redirect", "Client Error", "Server Error"};
    req->res.status = direct->status;
    req->res.reason = reasons[direct->status / 100 < 6 ? direct->status / 100 : 0];
    if (direct->body.len != 0 && h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1) == -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    h2o_send_inline(req, direct->body.base, direct->body.len);
}

static void send_redirect(h2o_req_t *req, const fd_route_t *route)
{
    h2o_iovec_t location = fd_redirect_location(&req->pool, req, route);
    req->res.status = route->redirect.status;
    req->res.reason = "Redirect";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location.base, location.len);
    h2o_send_inline(req, "", 0);
}

/* Envoy's max_request_headers_kb and max_headers_count: 431 past either. (h2o itself
 * refuses more than 100 headers with a 400 before frontdesk sees the request.) */
static int headers_too_large(const h2o_req_t *req, const fd_http_manager_t *http)
{
    size_t bytes = req->method.len + req->path.len + req->authority.len + 16;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return bytes > (size_t)http->max_request_headers_kb * 1024 || req->headers.size > http->max_headers_count;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    fd_worker_listener_t *wl = fd_worker_listener_of(req->conn->ctx);
    fd_worker_t *worker = wl->worker;
    const fd_config_t *config = worker->config;
    track_request(wl, req);
    if (worker->draining)
        req->http1_is_persistent = 0; /* "connection: close": the client reconnects elsewhere */
    const fd_filter_chain_t *chain = pick_chain(wl, req, &config->listeners[((stream_handler_t *)self)->listener]);
    if (chain != NULL && headers_too_large(req, &chain->http)) {
        req->http1_is_persistent = 0;
        fd_router_local_reply(req, 431, "Request Header Fields Too Large", "");
        return 0;
    }
    const fd_route_table_t *table = chain != NULL ? chain->http.routes : NULL;
    fd_route_request_t rr = {req->authority, req->path, req->method, req->scheme->name, &req->headers};
    const fd_virtual_host_t *vhost = table != NULL ? fd_route_find_vhost(table, req->authority) : NULL;
    const fd_route_t *route = vhost != NULL ? fd_route_find(vhost, &rr) : NULL;
    if (route == NULL) {
        FD_STAT_INC(wl->stats.no_route);
        fd_router_local_reply(req, 404, "Not Found", ""); /* NR: no route */
        return 0;
    }
    apply_response_headers(req, table, vhost, route);
    switch (route->kind) {
    case FD_ROUTE_DIRECT_RESPONSE:
        FD_STAT_INC(wl->stats.rq_direct_response);
        send_direct(req, &route->direct);
        break;
    case FD_ROUTE_REDIRECT:
        FD_STAT_INC(wl->stats.rq_redirect);
        send_redirect(req, route);
        break;
    case FD_ROUTE_FORWARD: fd_router_forward(&worker->router, req, &chain->http, vhost, route); break;
    }
    return 0;
}

void fd_stream_register(h2o_pathconf_t *pathconf, size_t listener)
{
    stream_handler_t *handler = (stream_handler_t *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->listener = listener;
}
