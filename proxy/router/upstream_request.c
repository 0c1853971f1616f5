/* One forwarded request: the upstream request built with Envoy's headers and rewrites,
 * the response streamed back through h2o with backpressure, and the route timeout and
 * upstream failures turned into Envoy's local replies. */
#include "proxy/router/upstream_request.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy/router/header_ops.h"
#include "proxy/router/http_util.h"
#include "proxy/router/load_balancer.h"
#include "proxy/util/clock.h"

typedef struct forward {
    h2o_generator_t generator;
    h2o_req_t *req;
    fd_router_worker_t *rw;
    fd_router_cluster_t *cluster;
    fd_router_host_t *host; /* of the current attempt */
    const fd_http_manager_t *http;
    const fd_virtual_host_t *vhost;
    const fd_route_t *route;
    const fd_weighted_cluster_t *weighted;
    fd_stream_info_t *info;          /* in the request's pool, like this */
    fd_upstream_request_t *upstream; /* NULL once the upstream request has ended */
    h2o_timeout_entry_t timeout;     /* the route's, over all attempts */
    h2o_timeout_entry_t per_try;     /* the retry policy's, for one attempt */
    h2o_timeout_entry_t backoff;     /* before the next attempt */
    uint64_t started_ms;
    uint32_t retries_done;
    int response_started;
    int sending;   /* h2o holds a chunk of the upstream's: no h2o_send, and no cancel, until on_proceed */
    int timed_out; /* the route timeout fired while sending: the reset waits for on_proceed */
    int counted;   /* the current attempt is in host and cluster gauges */
} forward_t;

/* Why an attempt failed, for the retry policy's retry_on conditions. */
typedef enum retry_cause {
    CAUSE_CONNECT_FAILURE,
    CAUSE_RESET,   /* disconnect, reset or protocol error before the response */
    CAUSE_TIMEOUT, /* per-try or response timeout */
    CAUSE_STATUS,  /* the upstream answered with a status */
} retry_cause_t;

static void start_attempt(forward_t *fw);

#define CONNECT_ERROR_BODY "upstream connect error or disconnect/reset before headers. reset reason: "

const char *fd_router_reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    switch (status / 100) { /* a status without a well-known phrase: its class */
    case 1: return "Informational";
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

void fd_router_local_reply(h2o_req_t *req, int status, const char *reason, const char *body)
{
    req->res.status = status;
    req->res.reason = reason;
    size_t len = strlen(body);
    if (len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    req->res.content_length = len; /* as Envoy's: framed by length, the connection kept */
    h2o_send_inline(req, body, len);
}

/* The current attempt ends: the host is no longer busy with it and its timer stops.
 * success says how it ended for the host's rq_success / rq_error counters. */
static void end_attempt(forward_t *fw, int success)
{
    if (h2o_timeout_is_linked(&fw->per_try))
        h2o_timeout_unlink(&fw->per_try);
    if (!fw->counted)
        return;
    FD_STAT_DEC(fw->host->active_requests);
    FD_STAT_DEC(fw->cluster->stats.upstream_rq_active);
    FD_STAT_INC(fw->cluster->stats.upstream_rq_completed);
    if (success)
        FD_STAT_INC(fw->host->stats.rq_success);
    else
        FD_STAT_INC(fw->host->stats.rq_error);
    fw->counted = 0;
}

/* The forward ends: no attempt, no timer is left running. */
static void finish(forward_t *fw, int success)
{
    end_attempt(fw, success);
    if (h2o_timeout_is_linked(&fw->timeout))
        h2o_timeout_unlink(&fw->timeout);
    if (h2o_timeout_is_linked(&fw->backoff))
        h2o_timeout_unlink(&fw->backoff);
}

static void fail(forward_t *fw, int status, const char *body, const char *flags)
{
    finish(fw, 0);
    fw->info->response_flags = flags;
    if (!fw->response_started)
        fd_router_local_reply(fw->req, status, fd_router_reason_phrase(status), body);
    else
        h2o_send(fw->req, NULL, 0, H2O_SEND_STATE_ERROR); /* headers are out: reset the stream */
}

static void time_out(forward_t *fw)
{
    if (fw->upstream != NULL) {
        fd_upstream_request_cancel(fw->upstream);
        fw->upstream = NULL;
    }
    fail(fw, 504, "upstream request timeout", "UT");
}

static void on_route_timeout(h2o_timeout_entry_t *entry)
{
    forward_t *fw = H2O_STRUCT_FROM_MEMBER(forward_t, timeout, entry);
    FD_STAT_INC(fw->cluster->stats.upstream_rq_timeout);
    FD_STAT_INC(fw->host->stats.rq_timeout);
    /* h2o may still be writing the last chunk from the upstream request's buffer (HTTP/2 even
     * asserts that no h2o_send comes before on_proceed): the stream is reset from there */
    if (fw->sending)
        fw->timed_out = 1;
    else
        time_out(fw);
}

static int status_is_retriable(const fd_retry_policy_t *rp, int status)
{
    if ((rp->retry_on & FD_RETRY_ON_5XX) && status >= 500 && status <= 599)
        return 1;
    if ((rp->retry_on & FD_RETRY_ON_GATEWAY_ERROR) && status >= 502 && status <= 504)
        return 1;
    if ((rp->retry_on & FD_RETRY_ON_RETRIABLE_4XX) && status == 409)
        return 1;
    if (rp->retry_on & FD_RETRY_ON_RETRIABLE_STATUS_CODES)
        for (size_t i = 0; i < rp->n_retriable_status_codes; i++)
            if (rp->retriable_status_codes[i] == (uint32_t)status)
                return 1;
    return 0;
}

/* Envoy's retry_on conditions: 5xx and gateway-error also cover no response at all. */
static int should_retry(const forward_t *fw, retry_cause_t cause, int status)
{
    const fd_retry_policy_t *rp = fw->route->forward.retry;
    if (rp == NULL || fw->retries_done >= rp->num_retries || fw->response_started)
        return 0;
    uint32_t on = rp->retry_on;
    switch (cause) {
    case CAUSE_CONNECT_FAILURE:
        return (on & (FD_RETRY_ON_CONNECT_FAILURE | FD_RETRY_ON_5XX | FD_RETRY_ON_GATEWAY_ERROR)) != 0;
    case CAUSE_RESET:
    case CAUSE_TIMEOUT: return (on & (FD_RETRY_ON_RESET | FD_RETRY_ON_5XX | FD_RETRY_ON_GATEWAY_ERROR)) != 0;
    default: return status_is_retriable(rp, status);
    }
}

static void on_backoff_done(h2o_timeout_entry_t *entry)
{
    start_attempt(H2O_STRUCT_FROM_MEMBER(forward_t, backoff, entry));
}

/* Envoy's default backoff: 25 ms doubling per retry, capped at 250 ms. */
static void retry(forward_t *fw)
{
    end_attempt(fw, 0);
    fw->retries_done++;
    FD_STAT_INC(fw->cluster->stats.upstream_rq_retry);
    uint64_t delay = 25u << (fw->retries_done - 1 < 4 ? fw->retries_done - 1 : 4);
    fw->backoff.cb = on_backoff_done;
    h2o_timeout_link(fw->rw->loop, fd_router_timeout(fw->rw, delay < 250 ? delay : 250), &fw->backoff);
}

static void on_per_try_timeout(h2o_timeout_entry_t *entry)
{
    forward_t *fw = H2O_STRUCT_FROM_MEMBER(forward_t, per_try, entry);
    FD_STAT_INC(fw->cluster->stats.upstream_rq_per_try_timeout);
    FD_STAT_INC(fw->host->stats.rq_timeout);
    if (fw->upstream != NULL) {
        fd_upstream_request_cancel(fw->upstream);
        fw->upstream = NULL;
    }
    if (should_retry(fw, CAUSE_TIMEOUT, 0))
        retry(fw);
    else
        fail(fw, 504, "upstream request timeout", "UT");
}

static void on_upstream_error(fd_upstream_request_t *upstream, fd_upstream_error_t err, void *data)
{
    forward_t *fw = data;
    (void)upstream;
    fw->upstream = NULL;
    if (err == FD_UPSTREAM_RESPONSE_TIMEOUT || err == FD_UPSTREAM_IDLE_TIMEOUT)
        FD_STAT_INC(fw->cluster->stats.upstream_rq_timeout);
    else if (err == FD_UPSTREAM_RESET_BEFORE_RESPONSE || err == FD_UPSTREAM_RESET_DURING_RESPONSE)
        FD_STAT_INC(fw->cluster->stats.upstream_rq_rx_reset);
    retry_cause_t cause = err == FD_UPSTREAM_CONNECT_FAILURE || err == FD_UPSTREAM_CONNECT_TIMEOUT
                              ? CAUSE_CONNECT_FAILURE
                          : err == FD_UPSTREAM_RESPONSE_TIMEOUT || err == FD_UPSTREAM_IDLE_TIMEOUT ? CAUSE_TIMEOUT
                                                                                                   : CAUSE_RESET;
    if (should_retry(fw, cause, 0)) {
        retry(fw);
        return;
    }
    switch (err) {
    case FD_UPSTREAM_CONNECT_FAILURE:
    case FD_UPSTREAM_CONNECT_TIMEOUT: fail(fw, 503, CONNECT_ERROR_BODY "connection failure", "UF"); break;
    case FD_UPSTREAM_RESPONSE_TIMEOUT:
    case FD_UPSTREAM_IDLE_TIMEOUT: fail(fw, 504, "upstream request timeout", "UT"); break;
    case FD_UPSTREAM_PROTOCOL_ERROR: fail(fw, 503, CONNECT_ERROR_BODY "protocol error", "UPE"); break;
    default: fail(fw, 503, CONNECT_ERROR_BODY "connection termination", "UC"); break;
    }
}

static void copy_response_headers(forward_t *fw, const struct phr_header *headers, size_t n)
{
    h2o_req_t *req = fw->req;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += headers[i].name_len + headers[i].value_len;
    char *copy = h2o_mem_alloc_pool(&req->pool, bytes + 1); /* one block: the upstream's buffer dies soon */
    h2o_vector_reserve(&req->pool, &req->res.headers, req->res.headers.size + n + 4);
    for (size_t i = 0; i < n; i++) {
        char *name = copy;
        for (size_t k = 0; k < headers[i].name_len; k++)
            name[k] = (char)h2o_tolower(headers[i].name[k]);
        copy += headers[i].name_len;
        size_t len = headers[i].name_len;
        /* h2o writes its own server (Envoy's server_name), date and framing headers */
        if (fd_header_is_hop_by_hop(name, len) || (len == 6 && memcmp(name, "server", 6) == 0) ||
            (len == 4 && memcmp(name, "date", 4) == 0)) {
            if (len == 14 && memcmp(name, "content-length", 14) == 0) {
                size_t length = h2o_strtosize(headers[i].value, headers[i].value_len);
                if (length != SIZE_MAX)
                    req->res.content_length = length;
            }
            continue;
        }
        memcpy(copy, headers[i].value, headers[i].value_len);
        const h2o_token_t *token = h2o_lookup_token(name, len);
        if (token != NULL)
            h2o_add_header(&req->pool, &req->res.headers, token, NULL, copy, headers[i].value_len);
        else
            h2o_add_header_by_str(&req->pool, &req->res.headers, name, len, 0, NULL, copy, headers[i].value_len);
        copy += headers[i].value_len;
    }
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    forward_t *fw = H2O_STRUCT_FROM_MEMBER(forward_t, generator, generator);
    (void)req;
    fw->sending = 0;
    if (fw->timed_out)
        time_out(fw);
    else if (fw->upstream != NULL)
        fd_upstream_request_proceed(fw->upstream);
}

static void on_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    forward_t *fw = H2O_STRUCT_FROM_MEMBER(forward_t, generator, generator);
    (void)req;
    if (fw->upstream != NULL) { /* the client went away: nobody wants the rest */
        fd_upstream_request_cancel(fw->upstream);
        fw->upstream = NULL;
        FD_STAT_INC(fw->cluster->stats.upstream_rq_tx_reset);
    }
    finish(fw, 0);
}

static void on_upstream_head(fd_upstream_request_t *upstream, int minor_version, int status,
                             const struct phr_header *headers, size_t n, void *data)
{
    forward_t *fw = data;
    h2o_req_t *req = fw->req;
    (void)minor_version;
    if (should_retry(fw, CAUSE_STATUS, status)) {
        fd_stats_count_status(&fw->cluster->stats.upstream_rq_1xx, status);
        fd_upstream_request_cancel(upstream);
        fw->upstream = NULL;
        retry(fw);
        return;
    }
    req->res.status = status;
    req->res.reason = fd_router_reason_phrase(status);
    fd_stats_count_status(&fw->cluster->stats.upstream_rq_1xx, status);
    /* the stream set the route's response headers for a local reply; the upstream's response
     * starts afresh, and they are applied on top of it, once, below */
    req->res.headers.size = 0;
    copy_response_headers(fw, headers, n);
    fw->info->upstream_service_time_ms = (int64_t)(fd_monotonic_ms() - fw->started_ms);
    if (!fw->http->suppress_envoy_headers) {
        char *ms = h2o_mem_alloc_pool(&req->pool, 20);
        size_t len = fd_u64_to_dec((uint64_t)fw->info->upstream_service_time_ms, ms);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-envoy-upstream-service-time"), 0, NULL, ms,
                              len);
    }
    fd_header_ops_apply(&req->pool, &req->res.headers, &fw->route->response_headers);
    fd_header_ops_apply(&req->pool, &req->res.headers, &fw->vhost->response_headers);
    fd_header_ops_apply(&req->pool, &req->res.headers, &fw->vhost->table->response_headers);
    /* as Envoy, the per-try timeout no longer applies once the response has started: the route
     * timeout alone bounds the rest */
    if (h2o_timeout_is_linked(&fw->per_try))
        h2o_timeout_unlink(&fw->per_try);
    fw->response_started = 1;
    fw->generator = (h2o_generator_t){on_proceed, on_stop};
    h2o_start_response(req, &fw->generator);
}

static void on_upstream_body(fd_upstream_request_t *upstream, h2o_iovec_t chunk, int is_final, void *data)
{
    forward_t *fw = data;
    (void)upstream;
    if (is_final) {
        fw->upstream = NULL;
        finish(fw, 1);
        /* the last piece dies when this returns, and h2o may write it later: keep a copy */
        chunk = h2o_strdup(&fw->req->pool, chunk.base, chunk.len);
    } else {
        fw->sending = 1;
    }
    h2o_send(fw->req, &chunk, 1, is_final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static const fd_upstream_callbacks_t upstream_callbacks = {on_upstream_head, on_upstream_body, on_upstream_error};

/* The request's pool is freed when h2o is done with it; nothing of ours may outlive it. */
static void on_forward_disposed(void *p)
{
    forward_t *fw = p;
    if (fw->upstream != NULL)
        fd_upstream_request_cancel(fw->upstream);
    fw->upstream = NULL;
    finish(fw, 0);
}

static void start_attempt(forward_t *fw)
{
    if (fw->retries_done != 0) { /* a retry may go to another host */
        uint64_t hash;
        int have_hash = fd_router_hash_request(fw->req, &fw->route->forward, &hash);
        size_t index = fd_lb_pick(fw->cluster, have_hash ? &hash : NULL);
        if (index == SIZE_MAX) {
            fail(fw, 503, "no healthy upstream", "UH");
            return;
        }
        fw->host = fw->cluster->hosts[index];
    }
    fd_upstream_request_spec_t spec;
    fd_router_build_upstream_request(fw->req, fw->http, fw->vhost, fw->route, fw->weighted, fw->host, &spec);
    fd_stream_info_name_host(fw->info, fw->host); /* fw->host lives as long as the request, too */
    FD_STAT_INC(fw->host->active_requests);
    FD_STAT_INC(fw->host->stats.rq_total);
    FD_STAT_INC(fw->cluster->stats.upstream_rq_total);
    FD_STAT_INC(fw->cluster->stats.upstream_rq_active);
    fw->counted = 1;
    const fd_retry_policy_t *rp = fw->route->forward.retry;
    if (rp != NULL && rp->per_try_timeout_ms != 0) {
        fw->per_try.cb = on_per_try_timeout;
        h2o_timeout_link(fw->rw->loop, fd_router_timeout(fw->rw, rp->per_try_timeout_ms), &fw->per_try);
    }
    fw->upstream = fd_upstream_request_start(&fw->host->pool, &spec, &upstream_callbacks, fw);
    if (fw->upstream == NULL)
        fail(fw, 503, CONNECT_ERROR_BODY "connection failure", "UF");
}

void fd_router_forward_to_host(fd_router_worker_t *rw, h2o_req_t *req, const fd_http_manager_t *http,
                               const fd_virtual_host_t *vhost, const fd_route_t *route,
                               const fd_weighted_cluster_t *weighted, fd_router_cluster_t *rc, fd_router_host_t *host,
                               fd_stream_info_t *info)
{
    forward_t *fw = h2o_mem_alloc_shared(&req->pool, sizeof(*fw), on_forward_disposed);
    *fw = (forward_t){.req = req,
                      .rw = rw,
                      .cluster = rc,
                      .host = host,
                      .http = http,
                      .vhost = vhost,
                      .route = route,
                      .weighted = weighted,
                      .info = info};
    fw->started_ms = fd_monotonic_ms();
    if (route->forward.timeout_ms != 0) {
        fw->timeout.cb = on_route_timeout;
        h2o_timeout_link(rw->loop, fd_router_timeout(rw, route->forward.timeout_ms), &fw->timeout);
    }
    start_attempt(fw);
}
