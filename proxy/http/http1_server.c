/* The downstream HTTP/1.1 codec; see http1_server.h. A connection reads a request head (and
 * body), hands the request to h2o's core (and so to the stream handler), writes the response
 * through its final output stream, and goes on with the next request, pipelined or not. */
#include "proxy/http/http1_server.h"

#include <stdlib.h>
#include <string.h>

#include <h2o/http1.h>
#include <h2o/http2.h>

#include "proxy/http/http1_head.h"
#include "proxy/upstream/picohttpparser.h"

typedef enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED } body_kind_t;

typedef struct http1_conn {
    h2o_conn_t super;
    h2o_socket_t *sock;
    fd_http1_listener_t *listener;
    h2o_linklist_t link; /* in listener->conns */
    h2o_timeout_entry_t timeout;
    size_t parsed_len;                  /* bytes of input the parser saw last time */
    body_kind_t body;                   /* of the request being read */
    size_t body_length;                 /* BODY_LENGTH: bytes expected */
    size_t body_done;                   /* BODY_CHUNKED: bytes of input decoded */
    struct phr_chunked_decoder chunked; /* of the request body */
    int head_started;                   /* a byte of the next request head has come */
    int dispatched;                     /* h2o has the request */
    int reading_paused;                 /* pipelined input piled up while a request was served */
    int peer_closed;                    /* the client closed its side while its request was served */
    int continue_pending;               /* "100 Continue" is being written */
    int sent_head;
    int chunked_response; /* the response body goes in chunks */
    int drop_body;        /* HEAD and the like: the head only */
    int is_first;
    h2o_ostream_t final;
    h2o_timeout_entry_t deferred; /* a send with nothing to write completes from the loop */
    h2o_socket_cb deferred_cb;
    h2o_req_t req; /* last: large, and initialised by h2o */
} http1_conn_t;

/* Returns 0 when the connection is gone (closed, or handed to h2o), 1 otherwise. */
static int handle_input(http1_conn_t *conn);
static void finish_after_close(http1_conn_t *conn);
static void on_read(h2o_socket_t *sock, const char *err);

static void set_timeout(http1_conn_t *conn, h2o_timeout_t *timeout, int enabled, h2o_timeout_cb cb)
{
    if (h2o_timeout_is_linked(&conn->timeout))
        h2o_timeout_unlink(&conn->timeout);
    if (!enabled)
        return;
    conn->timeout.cb = cb;
    h2o_timeout_link(conn->super.ctx->loop, timeout, &conn->timeout);
}

static void close_conn(http1_conn_t *conn)
{
    if (h2o_timeout_is_linked(&conn->timeout))
        h2o_timeout_unlink(&conn->timeout);
    if (h2o_timeout_is_linked(&conn->deferred))
        h2o_timeout_unlink(&conn->deferred);
    h2o_dispose_request(&conn->req); /* stops a response under way: the upstream request is cancelled */
    h2o_linklist_unlink(&conn->link);
    if (conn->sock != NULL)
        h2o_socket_close(conn->sock);
    free(conn);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(http1_conn_t, timeout, entry));
}

static void on_error_sent(h2o_socket_t *sock, const char *err)
{
    (void)err;
    close_conn(sock->data);
}

/* A codec-level refusal (no request object reached h2o): the reply, then the connection closes. */
static void refuse(http1_conn_t *conn, int status)
{
    h2o_iovec_t reply = fd_http1_error_reply(status);
    set_timeout(conn, NULL, 0, NULL);
    h2o_socket_read_stop(conn->sock);
    conn->dispatched = 1; /* nothing more is read */
    h2o_socket_write(conn->sock, &reply, 1, on_error_sent);
}

static void start_request(http1_conn_t *conn)
{
    h2o_init_request(&conn->req, &conn->super, NULL);
    conn->req._ostr_top = &conn->final;
    conn->sent_head = 0;
    conn->parsed_len = 0;
    conn->body = BODY_NONE;
    conn->head_started = 0;
    conn->dispatched = 0;
}

/* The socket (and what it has read) goes to h2o: its HTTP/2 for prior knowledge, its HTTP/1.1
 * for an Upgrade: h2c request, which it answers with 101 and then serves over HTTP/2. */
static void hand_over(http1_conn_t *conn, int prior_knowledge)
{
    h2o_socket_t *sock = conn->sock;
    h2o_accept_ctx_t *accept_ctx = conn->listener->accept_ctx;
    struct timeval connected_at = conn->super.connected_at;
    conn->sock = NULL;
    close_conn(conn);
    if (prior_knowledge)
        h2o_http2_accept(accept_ctx, sock, connected_at);
    else
        h2o_http1_accept(accept_ctx, sock, connected_at);
}

static void dispatch(http1_conn_t *conn)
{
    conn->dispatched = 1;
    set_timeout(conn, NULL, 0, NULL);
    h2o_process_request(&conn->req);
}

static void on_continue_sent(h2o_socket_t *sock, const char *err)
{
    http1_conn_t *conn = sock->data;
    conn->continue_pending = 0;
    if (err != NULL) {
        close_conn(conn);
        return;
    }
    if (conn->peer_closed) {
        finish_after_close(conn);
        return;
    }
    h2o_socket_read_start(sock, on_read);
    handle_input(conn);
}

/* Reads the body as it comes; dispatches the request once it is whole. */
static void read_body(http1_conn_t *conn)
{
    h2o_buffer_t *in = conn->sock->input;
    fd_http1_listener_t *l = conn->listener;
    if (conn->body == BODY_LENGTH) {
        if (in->size < conn->body_length) {
            set_timeout(conn, &l->body, l->has_body, on_timeout);
            return;
        }
        conn->req.entity = h2o_strdup(&conn->req.pool, in->bytes, conn->body_length);
        h2o_buffer_consume(&conn->sock->input, conn->body_length);
        dispatch(conn);
        return;
    }
    /* chunked: decoded in place; what follows the last chunk is the next request's */
    size_t size = in->size - conn->body_done;
    ssize_t rest = phr_decode_chunked(&conn->chunked, in->bytes + conn->body_done, &size);
    in->size = conn->body_done + size;
    conn->body_done = in->size;
    if (rest == -1) {
        refuse(conn, 400);
        return;
    }
    if (conn->body_done > l->max_body_bytes) {
        refuse(conn, 413);
        return;
    }
    if (rest == -2) {
        set_timeout(conn, &l->body, l->has_body, on_timeout);
        return;
    }
    conn->req.entity = h2o_strdup(&conn->req.pool, in->bytes, conn->body_done);
    in->size += (size_t)rest;
    h2o_buffer_consume(&conn->sock->input, conn->body_done);
    dispatch(conn);
}

/* What the head says about the body, and 100-continue; -1 when the request was refused. */
static int prepare_body(http1_conn_t *conn, const fd_http1_head_t *head)
{
    fd_http1_listener_t *l = conn->listener;
    if (head->chunked) {
        conn->body = BODY_CHUNKED;
        conn->body_done = 0;
        memset(&conn->chunked, 0, sizeof(conn->chunked));
        conn->chunked.consume_trailer = 1;
    } else if (head->content_length != 0) {
        if (head->content_length > l->max_body_bytes) {
            refuse(conn, 413);
            return -1;
        }
        conn->body = BODY_LENGTH;
        conn->body_length = head->content_length;
    }
    if (conn->body != BODY_NONE && head->expect_continue) {
        static const h2o_iovec_t reply = {H2O_STRLIT("HTTP/1.1 100 Continue\r\n\r\n")};
        conn->continue_pending = 1;
        h2o_socket_read_stop(conn->sock); /* nothing piles up if the client stops reading */
        h2o_socket_write(conn->sock, (h2o_iovec_t *)&reply, 1, on_continue_sent);
    }
    return 0;
}

static int is_prior_knowledge(const h2o_buffer_t *in, int *need_more)
{
    static const char preface[] = "PRI * HTTP/2";
    size_t n = in->size < sizeof(preface) - 1 ? in->size : sizeof(preface) - 1;
    if (memcmp(in->bytes, preface, n) != 0)
        return 0;
    *need_more = n < sizeof(preface) - 1;
    return !*need_more;
}

static int read_head(http1_conn_t *conn)
{
    fd_http1_listener_t *l = conn->listener;
    h2o_buffer_t *in = conn->sock->input;
    if (!conn->head_started) {
        conn->head_started = 1;
        conn->req.timestamps.request_begin_at = *h2o_get_timestamp(conn->super.ctx, NULL, NULL);
        if (l->has_headers)
            set_timeout(conn, &l->headers, 1, on_timeout);
    }
    int need_more = 0;
    if (conn->is_first && l->h2c && conn->sock->ssl == NULL && (is_prior_knowledge(in, &need_more) || need_more)) {
        if (!need_more) {
            hand_over(conn, 1);
            return 0;
        }
        return 1;
    }
    fd_http1_head_t head;
    size_t len = in->size < l->max_head_bytes ? in->size : l->max_head_bytes;
    int status = fd_http1_parse_head(&conn->req, in->bytes, len, conn->parsed_len, l->parsed, l->max_headers, &head);
    conn->parsed_len = len;
    if (status == FD_HTTP1_HEAD_PARTIAL) {
        if (len == l->max_head_bytes)
            refuse(conn, 431);
        return 1;
    }
    if (status != FD_HTTP1_HEAD_OK) {
        if (status == FD_HTTP1_HEAD_BLANK) {
            close_conn(conn); /* stray CRLFs, then nothing: h2o closes these too */
            return 0;
        }
        refuse(conn, status == FD_HTTP1_HEAD_TOO_MANY ? 431 : 400);
        return 1;
    }
    if (head.upgrade_h2c && l->h2c && conn->sock->ssl == NULL && fd_http1_h2c_settings_ok(&conn->req)) {
        hand_over(conn, 0);
        return 0;
    }
    conn->is_first = 0;
    conn->req.input.scheme = conn->sock->ssl != NULL ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP;
    if (conn->super.ctx->shutdown_requested)
        conn->req.http1_is_persistent = 0;
    h2o_buffer_consume(&conn->sock->input, head.head_bytes); /* the request has its own copy */
    if (prepare_body(conn, &head) != 0)
        return 1;
    if (conn->body == BODY_NONE)
        dispatch(conn);
    else if (!conn->continue_pending)
        read_body(conn);
    return 1;
}

static int handle_input(http1_conn_t *conn)
{
    if (conn->dispatched || conn->continue_pending || conn->sock->input->size == 0)
        return 1;
    if (conn->body == BODY_NONE)
        return read_head(conn);
    read_body(conn);
    return 1;
}

/* The client closed its side (or is gone): the requests it sent whole are still answered
 * (pipelined ones included, as h2o did), then the connection closes. */
static void finish_after_close(http1_conn_t *conn)
{
    if (!conn->dispatched && !conn->continue_pending && handle_input(conn) && !conn->dispatched &&
        !conn->continue_pending)
        close_conn(conn); /* nothing whole is left to answer */
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    http1_conn_t *conn = sock->data;
    if (err != NULL) {
        conn->peer_closed = 1;
        h2o_socket_read_stop(sock);
        finish_after_close(conn);
        return;
    }
    if (conn->dispatched) {
        /* pipelined requests wait for the response; past a bound, stop reading until then */
        if (sock->input->size > conn->listener->max_head_bytes + conn->listener->max_body_bytes / 64) {
            conn->reading_paused = 1;
            h2o_socket_read_stop(sock);
        }
        return;
    }
    handle_input(conn);
}

static void on_response_written(h2o_socket_t *sock, const char *err)
{
    http1_conn_t *conn = sock->data;
    if (err != NULL || !conn->req.http1_is_persistent ||
        (conn->super.ctx->shutdown_requested && !conn->listener->keep_alive_while_draining)) {
        close_conn(conn);
        return;
    }
    h2o_dispose_request(&conn->req);
    start_request(conn);
    if (conn->peer_closed) {
        finish_after_close(conn);
        return;
    }
    if (conn->reading_paused) {
        conn->reading_paused = 0;
        h2o_socket_read_start(sock, on_read);
    }
    set_timeout(conn, &conn->listener->idle, conn->listener->has_idle, on_timeout);
    handle_input(conn);
}

static void on_chunk_written(h2o_socket_t *sock, const char *err)
{
    http1_conn_t *conn = sock->data;
    if (err != NULL)
        close_conn(conn);
    else
        h2o_proceed_response(&conn->req);
}

/* The body pieces, in chunks when chunked ("<hex>\r\n" ... "\r\n", and "0\r\n\r\n" to end). */
static size_t frame(http1_conn_t *conn, h2o_req_t *req, h2o_iovec_t *out, h2o_iovec_t *bufs, size_t n,
                    h2o_send_state_t state)
{
    size_t count = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        total += bufs[i].len;
    req->bytes_sent += total; /* the body only, as Envoy's %BYTES_SENT% */
    if (conn->drop_body)
        return 0;
    if (conn->chunked_response && total != 0) {
        char *size = h2o_mem_alloc_pool(&req->pool, sizeof(size_t) * 2 + 2);
        size_t len = 0;
        for (int shift = (int)(sizeof(size_t) * 8) - 4; shift >= 0; shift -= 4)
            if (len != 0 || (total >> shift) & 0xf || shift == 0)
                size[len++] = "0123456789abcdef"[(total >> shift) & 0xf];
        size[len++] = '\r', size[len++] = '\n';
        out[count++] = h2o_iovec_init(size, len);
    }
    for (size_t i = 0; i < n; i++)
        if (bufs[i].len != 0)
            out[count++] = bufs[i];
    if (conn->chunked_response && total != 0)
        out[count++] = h2o_iovec_init(H2O_STRLIT("\r\n"));
    if (conn->chunked_response && state == H2O_SEND_STATE_FINAL)
        out[count++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
    return count;
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    http1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(http1_conn_t, final, self);
    h2o_iovec_t *out = alloca(sizeof(*out) * (n + 4));
    size_t count = 0;
    if (state == H2O_SEND_STATE_ERROR)
        req->http1_is_persistent = 0; /* no last chunk follows: the client sees the body cut short */
    if (!conn->sent_head) {
        conn->sent_head = 1;
        if (conn->super.ctx->shutdown_requested) /* draining since the request came: say so now */
            req->http1_is_persistent = 0;
        req->timestamps.response_start_at = *h2o_get_timestamp(conn->super.ctx, NULL, NULL);
        out[count++] = fd_http1_response_head(req, &conn->chunked_response);
        conn->drop_body = !fd_http1_response_has_body(req);
    }
    count += frame(conn, req, out + count, bufs, n, state);
    h2o_socket_cb done = h2o_send_state_is_in_progress(state) ? on_chunk_written : on_response_written;
    if (count != 0) {
        h2o_socket_write(conn->sock, out, count, done);
    } else { /* not from inside the sender: it may still be using the request */
        conn->deferred_cb = done;
        h2o_timeout_link(conn->super.ctx->loop, &conn->super.ctx->zero_timeout, &conn->deferred);
    }
}

static void on_deferred(h2o_timeout_entry_t *entry)
{
    http1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(http1_conn_t, deferred, entry);
    conn->deferred_cb(conn->sock, NULL);
}

static socklen_t get_sockname(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((http1_conn_t *)conn)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *conn, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((http1_conn_t *)conn)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *conn)
{
    return ((http1_conn_t *)conn)->sock;
}

static const h2o_conn_callbacks_t callbacks = {
    .get_sockname = get_sockname,
    .get_peername = get_peername,
    .get_socket = get_socket,
};

void fd_http1_accept(fd_http1_listener_t *listener, h2o_socket_t *sock, struct timeval connected_at)
{
    http1_conn_t *conn = (http1_conn_t *)h2o_create_connection(sizeof(*conn), listener->accept_ctx->ctx,
                                                               listener->accept_ctx->hosts, connected_at, &callbacks);
    memset((char *)conn + sizeof(conn->super), 0, offsetof(http1_conn_t, req) - sizeof(conn->super));
    conn->sock = sock;
    conn->listener = listener;
    conn->is_first = 1;
    conn->final.do_send = on_send;
    conn->deferred.cb = on_deferred;
    sock->data = conn;
    h2o_linklist_insert(&listener->conns, &conn->link);
    start_request(conn);
    set_timeout(conn, &listener->idle, listener->has_idle, on_timeout);
    h2o_socket_read_start(sock, on_read);
    handle_input(conn); /* a TLS handshake may have read some already */
}

void fd_http1_close_idle(fd_http1_listener_t *listener)
{
    h2o_linklist_t *node = listener->conns.next;
    while (node != &listener->conns) {
        http1_conn_t *conn = H2O_STRUCT_FROM_MEMBER(http1_conn_t, link, node);
        node = node->next;
        if (!conn->dispatched && !conn->head_started && conn->body == BODY_NONE)
            close_conn(conn);
    }
}

/* h2o walks every timeout queue of the loop on each turn: only the enabled ones are made. */
static void init_timeout(h2o_loop_t *loop, h2o_timeout_t *timeout, uint64_t ms, int *enabled)
{
    *enabled = ms != 0;
    if (*enabled)
        h2o_timeout_init(loop, timeout, ms);
}

void fd_http1_listener_init(fd_http1_listener_t *l, h2o_accept_ctx_t *accept_ctx, const fd_http_manager_t *http,
                            size_t max_body_bytes)
{
    memset(l, 0, sizeof(*l));
    h2o_loop_t *loop = accept_ctx->ctx->loop;
    l->accept_ctx = accept_ctx;
    l->max_head_bytes = (size_t)http->max_request_headers_kb * 1024;
    l->max_headers = http->max_headers_count;
    l->max_body_bytes = max_body_bytes;
    l->h2c = http->codec != FD_CODEC_HTTP1;
    init_timeout(loop, &l->idle, http->idle_timeout_ms, &l->has_idle);
    init_timeout(loop, &l->headers, http->request_headers_timeout_ms, &l->has_headers);
    init_timeout(loop, &l->body, http->stream_idle_timeout_ms, &l->has_body);
    l->parsed = calloc(l->max_headers + 1, sizeof(*l->parsed));
    if (l->parsed == NULL)
        abort();
    h2o_linklist_init_anchor(&l->conns);
}

void fd_http1_listener_dispose(fd_http1_listener_t *l)
{
    h2o_loop_t *loop = l->accept_ctx->ctx->loop;
    if (l->has_idle)
        h2o_timeout_dispose(loop, &l->idle);
    if (l->has_headers)
        h2o_timeout_dispose(loop, &l->headers);
    if (l->has_body)
        h2o_timeout_dispose(loop, &l->body);
    free(l->parsed);
}
