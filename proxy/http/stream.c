/* The HTTP stream: for each request, take the worker's snapshot, pick the filter chain,
 * virtual host and route, and answer it: a direct response, a redirect, a local reply,
 * or (through the router) an upstream's response. */
#include "proxy/http/stream.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/http/filter_chain.h"
#include "proxy/router/header_ops.h"
#include "proxy/router/redirect.h"
#include "proxy/router/route_match.h"
#include "proxy/router/router.h"
#include "proxy/router/upstream_request.h"
#include "proxy/server/listener_runtime.h"
#include "proxy/server/server.h"
#include "proxy/server/worker.h"

/* What a request leaves behind when h2o frees its pool: the request is no longer in
 * flight (drain waits for that), its status is counted under the listener's prefix, and
 * its access log lines are written. */
typedef struct stream_end {
    fd_worker_listener_t *listener;
    h2o_req_t *req;
    const fd_filter_chain_t *chain;
    const fd_route_table_t *table;
    const fd_virtual_host_t *vhost;
    const fd_route_t *route;
    fd_filter_chain_stream_t *filters; /* NULL: the router is the only HTTP filter */
    fd_worker_routes_t *rds;           /* the RDS route configuration it routes with, if any */
    fd_stream_info_t info;
} stream_end_t;

static h2o_iovec_t iovec_of(const char *s)
{
    return s != NULL ? h2o_iovec_init(s, strlen(s)) : h2o_iovec_init(NULL, 0);
}

static void log_request(stream_end_t *end)
{
    h2o_req_t *req = end->req;
    char remote[64], local[64], upstream[300];
    struct sockaddr_storage ss;
    struct timeval now;
    gettimeofday(&now, NULL);
    const fd_stream_info_t *info = &end->info;
    fd_access_log_record_t rec = {
        .start_time = {req->timestamps.request_begin_at.tv_sec, req->timestamps.request_begin_at.tv_usec * 1000},
        .method = req->input.method,
        .path = req->input.path,
        .scheme = req->input.scheme != NULL ? req->input.scheme->name : req->scheme->name,
        .authority = req->input.authority,
        .protocol = fd_access_log_protocol(req->version),
        .response_flags = iovec_of(info->response_flags),
        .upstream_cluster = info->upstream_cluster
                                ? h2o_iovec_init(info->upstream_cluster->name.base, info->upstream_cluster->name.len)
                                : h2o_iovec_init(NULL, 0),
        .route_name = end->route && end->route->name.len ? h2o_iovec_init(end->route->name.base, end->route->name.len)
                                                         : h2o_iovec_init(NULL, 0),
        .response_code = req->res.status,
        .bytes_received = req->entity.len,
        .bytes_sent = req->bytes_sent,
        .duration_ms = (int64_t)h2o_timeval_subtract(&req->timestamps.request_begin_at, &now) / 1000,
        .upstream_service_time_ms = info->upstream_service_time_ms,
        .request_headers = &req->headers,
        .response_headers = &req->res.headers,
    };
    if (info->upstream_host != NULL) {
        const fd_socket_address_t *a = &info->upstream_host->address;
        rec.upstream_host = h2o_iovec_init(
            upstream, fd_access_log_format_address((const struct sockaddr *)&a->addr, upstream, sizeof(upstream)));
    }
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) != 0)
        rec.downstream_remote_address =
            h2o_iovec_init(remote, fd_access_log_format_address((struct sockaddr *)&ss, remote, sizeof(remote)));
    if (req->conn->callbacks->get_sockname(req->conn, (struct sockaddr *)&ss) != 0)
        rec.downstream_local_address =
            h2o_iovec_init(local, fd_access_log_format_address((struct sockaddr *)&ss, local, sizeof(local)));
    for (size_t i = 0; i < end->chain->http.n_access_logs; i++) {
        const fd_access_log_t *log = &end->chain->http.access_logs[i];
        fd_access_log_log(end->listener->worker->access_log, log->sink, log->compiled, &rec);
    }
}

static void on_request_disposed(void *p)
{
    stream_end_t *end = p;
    fd_http_stats_t *stats = &end->listener->stats;
    end->listener->worker->requests_in_flight--;
    end->listener->requests_in_flight--;
    FD_STAT_DEC(stats->downstream_rq_active);
    FD_STAT_INC(stats->downstream_rq_completed);
    fd_stats_count_status(&stats->downstream_rq_1xx, end->req->res.status);
    if (end->filters != NULL)
        fd_filter_chain_end(end->filters);
    if (end->chain != NULL && end->chain->http.n_access_logs != 0)
        log_request(end);
    fd_stream_info_end(&end->info); /* the log line was the last use of the host and cluster */
    if (end->rds != NULL)           /* after the log line, which names the route */
        fd_worker_routes_release(end->rds);
}

static stream_end_t *track_request(fd_worker_listener_t *wl, h2o_req_t *req)
{
    stream_end_t *end = h2o_mem_alloc_shared(&req->pool, sizeof(*end), on_request_disposed);
    *end = (stream_end_t){.listener = wl, .req = req, .info = {.upstream_service_time_ms = -1}};
    wl->worker->requests_in_flight++;
    wl->requests_in_flight++;
    FD_STAT_INC(wl->stats.downstream_rq_total);
    FD_STAT_INC(wl->stats.downstream_rq_active);
    if (req->version >= 0x200)
        FD_STAT_INC(wl->stats.downstream_rq_http2_total);
    else
        FD_STAT_INC(wl->stats.downstream_rq_http1_total);
    return end;
}

static const fd_filter_chain_t *pick_chain(fd_worker_listener_t *wl, h2o_req_t *req)
{
    const fd_listener_t *listener = wl->runtime->listener;
    const fd_listener_tls_t *lt = &wl->runtime->tls;
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
    req->res.status = direct->status;
    req->res.reason = fd_router_reason_phrase(direct->status);
    if (direct->body.len != 0 && h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1) == -1)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    req->res.content_length = direct->body.len;
    h2o_send_inline(req, direct->body.base, direct->body.len);
}

static void send_redirect(h2o_req_t *req, const fd_route_t *route)
{
    h2o_iovec_t location = fd_redirect_location(&req->pool, req, route);
    req->res.status = route->redirect.status;
    req->res.reason = fd_router_reason_phrase(route->redirect.status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location.base, location.len);
    req->res.content_length = 0;
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

/* The router's part, once every other HTTP filter has let the request through: no route
 * (404 NR), a direct response, a redirect, or the request forwarded upstream. */
static void route_request(void *data)
{
    stream_end_t *end = data;
    h2o_req_t *req = end->req;
    fd_worker_listener_t *wl = end->listener;
    const fd_route_t *route = end->route;
    if (route == NULL) {
        FD_STAT_INC(wl->stats.no_route);
        end->info.response_flags = "NR";
        fd_router_local_reply(req, 404, "Not Found", ""); /* NR: no route */
        return;
    }
    apply_response_headers(req, end->table, end->vhost, route);
    switch (route->kind) {
    case FD_ROUTE_DIRECT_RESPONSE:
        FD_STAT_INC(wl->stats.rq_direct_response);
        send_direct(req, &route->direct);
        break;
    case FD_ROUTE_REDIRECT:
        FD_STAT_INC(wl->stats.rq_redirect);
        send_redirect(req, route);
        break;
    case FD_ROUTE_FORWARD:
        fd_router_forward(&wl->worker->router, req, &end->chain->http, end->vhost, route, &end->info);
        break;
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self; /* one handler for every listener: the worker listener says which */
    fd_worker_listener_t *wl = fd_worker_listener_of(req->conn->ctx);
    fd_worker_t *worker = wl->worker;
    stream_end_t *end = track_request(wl, req);
    if (worker->draining || wl->removed)
        req->http1_is_persistent = 0; /* "connection: close": the client reconnects elsewhere */
    const fd_filter_chain_t *chain = pick_chain(wl, req);
    end->chain = chain;
    if (chain == NULL) {
        route_request(end);
        return 0;
    }
    if (headers_too_large(req, &chain->http)) {
        req->http1_is_persistent = 0;
        fd_router_local_reply(req, 431, "Request Header Fields Too Large", "");
        return 0;
    }
    fd_router_edge_headers(&worker->router, req, &chain->http);
    const fd_route_table_t *table = chain->http.routes;
    if (table == NULL && (end->rds = fd_worker_routes_acquire(worker, chain->http.rds_name)) != NULL)
        table = end->rds->table; /* from RDS: kept for this request whatever updates come */
    fd_route_request_t rr = {req->authority, req->path, req->method, req->scheme->name, &req->headers};
    end->table = table;
    end->vhost = table != NULL ? fd_route_find_vhost(table, req->authority) : NULL;
    end->route = end->vhost != NULL ? fd_route_find(end->vhost, &rr) : NULL;
    /* as Envoy's router, the route is chosen once, before the filters: they see it and its configs */
    fd_filter_chain_route_t routed = {end->table, end->vhost, end->route};
    end->filters = fd_filter_chain_begin(req, &chain->http, &worker->timers, routed, route_request, end);
    if (end->filters != NULL)
        fd_filter_chain_run(end->filters);
    else
        route_request(end);
    return 0;
}

void fd_stream_register(h2o_pathconf_t *pathconf)
{
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}
