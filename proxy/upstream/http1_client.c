/* The upstream HTTP/1.1 client (http1_client.h): the request is serialised once and written with
 * its body in one writev, the response head is parsed by picohttpparser, and the body is handed
 * out as it arrives, with backpressure. Connections are borrowed from pool.c and given back when
 * a response ends cleanly with keep-alive. */
#include "proxy/upstream/http1_client.h"
#include "proxy/util/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_LIMIT (64 * 1024) /* a response head larger than this is a protocol error */
#define MAX_HEADERS 100        /* as Envoy's default max_headers_count */
#define HIGH_WATER (64 * 1024) /* bytes read past a chunk awaiting proceed before reading stops */

enum { ST_CONNECTING, ST_AWAIT_HEAD, ST_BODY };
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };
enum { MORE, STOPPED }; /* body processing: waiting for bytes / paused or the request is gone */

struct fd_upstream_request {
    fd_upstream_pool_t *pool;
    fd_upstream_conn_t *conn; /* NULL once given back */
    const fd_upstream_callbacks_t *cb;
    void *data;
    h2o_iovec_t body; /* the caller's */
    h2o_timeout_entry_t timer;
    h2o_timeout_t *response_timeout; /* NULL: none */
    h2o_timeout_t *idle_timeout;     /* NULL: none */
    h2o_buffer_t *held;              /* the chunk awaiting proceed, taken off the socket */
    const char *pending_err;         /* a read error met while paused: reported after the bytes before it */
    struct phr_chunked_decoder chunked;
    uint64_t body_left;
    size_t head_last_len; /* buffered bytes of a partial response head already scanned */
    unsigned char state;
    unsigned char body_mode;
    unsigned may_resend : 1;
    unsigned resent : 1;
    unsigned is_head : 1;
    unsigned got_bytes : 1;
    unsigned keep_alive : 1;
    unsigned write_failed : 1;
    unsigned paused : 1;
    unsigned read_paused : 1;
    unsigned in_callback : 1;
    unsigned cancelled : 1;
    size_t head_len;
    char head[]; /* the serialised request head */
};

static void send_request(fd_upstream_request_t *req);
static int process_body(fd_upstream_request_t *req);

/* Request head */

static char *append(char *p, h2o_iovec_t s)
{
    if (s.len != 0) /* memcpy from a NULL base is undefined even for 0 bytes */
        memcpy(p, s.base, s.len);
    return p + s.len;
}

#define LIT(s) h2o_iovec_init(H2O_STRLIT(s))
#define EMPTY h2o_iovec_init("", 0) /* an empty chunk's base is not NULL: memcpy(dst, base, 0) is safe */

static size_t head_capacity(const fd_upstream_request_spec_t *spec)
{
    size_t i, n = spec->method.len + spec->path.len + spec->authority.len + sizeof(" HTTP/1.1\r\nhost: \r\n\r\n");

    for (i = 0; i != spec->num_headers; ++i)
        n += spec->headers[i].name.len + spec->headers[i].value.len + 4;
    if (spec->body.base != NULL)
        n += sizeof("content-length: 18446744073709551615\r\n");
    return n;
}

static size_t serialise(char *head, const fd_upstream_request_spec_t *spec)
{
    char *p = head;
    size_t i;

    p = append(p, spec->method);
    p = append(p, LIT(" "));
    p = append(p, spec->path);
    p = append(p, LIT(" HTTP/1.1\r\nhost: "));
    p = append(p, spec->authority);
    p = append(p, LIT("\r\n"));
    for (i = 0; i != spec->num_headers; ++i) {
        p = append(p, spec->headers[i].name);
        p = append(p, LIT(": "));
        p = append(p, spec->headers[i].value);
        p = append(p, LIT("\r\n"));
    }
    if (spec->body.base != NULL) {
        p = append(p, LIT("content-length: "));
        p += fd_u64_to_dec(spec->body.len, p); /* printf costs more than the rest of the head */
        p = append(p, LIT("\r\n"));
    }
    p = append(p, LIT("\r\n"));
    return (size_t)(p - head);
}

static int method_is(h2o_iovec_t method, const char *name)
{
    return h2o_memis(method.base, method.len, name, strlen(name));
}

static int is_idempotent(h2o_iovec_t m)
{
    return method_is(m, "GET") || method_is(m, "HEAD") || method_is(m, "OPTIONS") || method_is(m, "TRACE") ||
           method_is(m, "PUT") || method_is(m, "DELETE");
}

/* Life and death */

static void unlink_timer(fd_upstream_request_t *req)
{
    if (h2o_timeout_is_linked(&req->timer))
        h2o_timeout_unlink(&req->timer);
}

/* Before the first response byte the response timeout runs (the idle one when there is none);
 * after it, the idle timeout, restarted by every read. */
static void arm_timer(fd_upstream_request_t *req)
{
    h2o_timeout_t *t = req->idle_timeout;

    if (!req->got_bytes && req->response_timeout != NULL)
        t = req->response_timeout;
    unlink_timer(req);
    if (t != NULL)
        h2o_timeout_link(req->pool->loop, t, &req->timer);
}

static void destroy(fd_upstream_request_t *req)
{
    unlink_timer(req);
    if (req->held != NULL)
        h2o_buffer_dispose(&req->held);
    free(req);
}

static void give_back(fd_upstream_request_t *req, fd_upstream_release_t how)
{
    if (req->conn != NULL) {
        fd_upstream_pool_release(req->conn, how);
        req->conn = NULL;
    }
}

static void fail(fd_upstream_request_t *req, fd_upstream_error_t err, fd_upstream_release_t how)
{
    give_back(req, how);
    unlink_timer(req);
    req->in_callback = 1;
    req->cb->on_error(req, err, req->data);
    destroy(req);
}

/* Swaps the socket's input buffer for an empty one, so that a chunk handed out stays put while
 * the socket reads on (or goes back to the pool): no copy, and the buffers are recycled. */
static h2o_buffer_t *take_input(fd_upstream_conn_t *conn)
{
    h2o_buffer_t *buf = conn->sock->input;

    h2o_buffer_init(&conn->sock->input, &h2o_socket_buffer_prototype);
    return buf;
}

/* The final chunk: the connection goes back first, so that on_body can reuse it. */
static void complete(fd_upstream_request_t *req, h2o_iovec_t chunk, size_t excess, fd_upstream_release_t how)
{
    h2o_buffer_t *held = take_input(req->conn);

    if (how == FD_UPSTREAM_RELEASE_REUSE && req->pending_err != NULL)
        how = FD_UPSTREAM_RELEASE_CLOSE_REMOTE; /* the body was whole, but the peer has gone since */
    if (how == FD_UPSTREAM_RELEASE_REUSE && (!req->keep_alive || excess != 0 || req->write_failed))
        how = FD_UPSTREAM_RELEASE_CLOSE_LOCAL;
    give_back(req, how);
    unlink_timer(req);
    req->in_callback = 1;
    req->cb->on_body(req, chunk, 1, req->data);
    h2o_buffer_dispose(&held);
    destroy(req);
}

static int attach(fd_upstream_request_t *req, int fresh);

/* A reused connection that dies before any response byte was most likely closed by the server
 * as idle while our request was on its way: resend once, on a fresh connection. */
static void reset_before_response(fd_upstream_request_t *req)
{
    if (req->conn->reused == 0 || req->got_bytes || !req->may_resend || req->resent) {
        fail(req, FD_UPSTREAM_RESET_BEFORE_RESPONSE, FD_UPSTREAM_RELEASE_CLOSE_REMOTE);
        return;
    }
    give_back(req, FD_UPSTREAM_RELEASE_CLOSE_REMOTE);
    unlink_timer(req);
    req->resent = 1;
    req->write_failed = 0;
    req->head_last_len = 0;
    ++req->pool->stats.rq_retry;
    if (attach(req, 1) != 0)
        fail(req, FD_UPSTREAM_POOL_DISPOSED, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
}

/* Response head */

static h2o_iovec_t next_token(h2o_iovec_t *rest)
{
    const char *p = rest->base, *end = p + rest->len, *start, *stop;

    while (p != end && (*p == ' ' || *p == '\t' || *p == ','))
        ++p;
    for (start = p; p != end && *p != ','; ++p)
        ;
    for (stop = p; stop != start && (stop[-1] == ' ' || stop[-1] == '\t'); --stop)
        ;
    *rest = h2o_iovec_init(p, (size_t)(end - p));
    return h2o_iovec_init(start, (size_t)(stop - start));
}

static int header_is(const struct phr_header *h, const char *name)
{
    return h2o_lcstris(h->name, h->name_len, name, strlen(name));
}

/* Content-Length: one value, or a list of equal values (RFC 9110 8.6); -1 when malformed. */
static int parse_length(const struct phr_header *h, uint64_t *len)
{
    h2o_iovec_t rest = h2o_iovec_init(h->value, h->value_len), tok;
    int seen = 0;

    while ((tok = next_token(&rest)).len != 0) {
        size_t v = h2o_strtosize(tok.base, tok.len);
        if (v == SIZE_MAX || (*len != UINT64_MAX && *len != v))
            return -1;
        *len = v;
        seen = 1;
    }
    return seen ? 0 : -1;
}

typedef struct framing {
    uint64_t length; /* UINT64_MAX: no content-length */
    int has_te, chunked, close, keep_alive;
} framing_t;

static int scan_header(const struct phr_header *h, framing_t *f)
{
    h2o_iovec_t rest = h2o_iovec_init(h->value, h->value_len), tok;

    if (h->name == NULL)
        return 0; /* a continuation line */
    if (header_is(h, "content-length"))
        return parse_length(h, &f->length);
    if (header_is(h, "transfer-encoding")) {
        f->has_te = 1;
        while ((tok = next_token(&rest)).len != 0) /* chunked must be the last coding */
            f->chunked = h2o_lcstris(tok.base, tok.len, H2O_STRLIT("chunked"));
    } else if (header_is(h, "connection")) {
        while ((tok = next_token(&rest)).len != 0) {
            f->close |= h2o_lcstris(tok.base, tok.len, H2O_STRLIT("close"));
            f->keep_alive |= h2o_lcstris(tok.base, tok.len, H2O_STRLIT("keep-alive"));
        }
    }
    return 0;
}

/* How the body is delimited (RFC 9112 6.3) and whether the connection may be reused. Both
 * transfer-encoding and content-length is refused, as Envoy does: a smuggling attempt. */
static int set_framing(fd_upstream_request_t *req, int minor, int status, const struct phr_header *headers, size_t n)
{
    framing_t f = {UINT64_MAX, 0, 0, 0, 0};
    size_t i;

    for (i = 0; i != n; ++i)
        if (scan_header(&headers[i], &f) != 0)
            return -1;
    if (f.has_te && f.length != UINT64_MAX)
        return -1;
    req->keep_alive = minor >= 1 ? !f.close : f.keep_alive && !f.close;
    if (req->is_head || status == 204 || status == 304) {
        req->body_mode = BODY_NONE;
    } else if (f.has_te && f.chunked) {
        req->body_mode = BODY_CHUNKED;
        memset(&req->chunked, 0, sizeof(req->chunked));
        req->chunked.consume_trailer = 1; /* the connection is reusable only past the trailers */
    } else if (f.length != UINT64_MAX && !f.has_te) {
        req->body_mode = f.length == 0 ? BODY_NONE : BODY_LENGTH;
        req->body_left = f.length;
    } else {
        req->body_mode = BODY_UNTIL_CLOSE;
        req->keep_alive = 0;
    }
    return 0;
}

static void begin_response(fd_upstream_request_t *req, int minor, int status, const struct phr_header *headers,
                           size_t n, size_t head_len)
{
    if (set_framing(req, minor, status, headers, n) != 0) {
        fail(req, FD_UPSTREAM_PROTOCOL_ERROR, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
        return;
    }
    req->state = ST_BODY;
    req->in_callback = 1;
    req->cb->on_head(req, minor, status, headers, n, req->data);
    req->in_callback = 0;
    if (req->cancelled) {
        destroy(req);
        return;
    }
    /* consumed only now: consuming a whole buffer frees it, and headers point into it */
    h2o_buffer_consume(&req->conn->sock->input, head_len);
    if (req->body_mode == BODY_NONE) {
        complete(req, EMPTY, req->conn->sock->input->size, FD_UPSTREAM_RELEASE_REUSE);
        return;
    }
    process_body(req);
}

static void parse_head(fd_upstream_request_t *req)
{
    for (;;) {
        h2o_buffer_t *in = req->conn->sock->input;
        struct phr_header headers[MAX_HEADERS];
        size_t num_headers = MAX_HEADERS, msg_len;
        int minor, status, r;
        const char *msg;

        r = phr_parse_response(in->bytes, in->size, &minor, &status, &msg, &msg_len, headers, &num_headers,
                               req->head_last_len);
        if (r == -2 && in->size <= HEAD_LIMIT) {
            req->head_last_len = in->size;
            return;
        }
        /* 101 would switch protocols, which we never ask for */
        if (r < 0 || r > HEAD_LIMIT || status < 100 || status == 101) {
            fail(req, FD_UPSTREAM_PROTOCOL_ERROR, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
            return;
        }
        req->head_last_len = 0;
        if (status >= 200) {
            begin_response(req, minor, status, headers, num_headers, (size_t)r);
            return;
        }
        /* informational (100 Continue, 103 Early Hints, ...): skipped, the final head follows */
        h2o_buffer_consume(&req->conn->sock->input, (size_t)r);
        if (req->conn->sock->input->size == 0)
            return;
    }
}

/* Response body */

/* Hands out a non-final chunk and pauses until proceed. Returns 0 when proceed came from inside
 * on_body (go on), -1 when the request waits or is gone. */
static int deliver(fd_upstream_request_t *req, h2o_iovec_t chunk)
{
    req->held = take_input(req->conn);
    req->paused = 1;
    unlink_timer(req); /* the caller's pace is not the upstream's idleness */
    req->in_callback = 1;
    req->cb->on_body(req, chunk, 0, req->data);
    req->in_callback = 0;
    if (req->cancelled) {
        destroy(req);
        return -1;
    }
    if (req->paused)
        return -1;
    arm_timer(req);
    return 0;
}

/* Decodes in place; -1 on a malformed encoding. */
static int decode_chunked(fd_upstream_request_t *req, h2o_buffer_t *in, h2o_iovec_t *chunk, int *final, size_t *excess)
{
    size_t n = in->size;
    ssize_t r = phr_decode_chunked(&req->chunked, in->bytes, &n);

    if (r == -1)
        return -1;
    chunk->len = n;
    if (r >= 0) {
        *final = 1;
        *excess = (size_t)r;
    }
    return 0;
}

static int process_body(fd_upstream_request_t *req)
{
    while (!req->paused) {
        h2o_buffer_t *in = req->conn->sock->input;
        h2o_iovec_t chunk = h2o_iovec_init(in->bytes, 0);
        size_t excess = 0;
        int final = 0;

        if (in->size == 0)
            return MORE;
        if (req->body_mode == BODY_LENGTH) {
            chunk.len = in->size < req->body_left ? in->size : (size_t)req->body_left;
            req->body_left -= chunk.len;
            final = req->body_left == 0;
            excess = in->size - chunk.len;
        } else if (req->body_mode == BODY_CHUNKED) {
            if (decode_chunked(req, in, &chunk, &final, &excess) != 0) {
                fail(req, FD_UPSTREAM_PROTOCOL_ERROR, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
                return STOPPED;
            }
        } else {
            chunk.len = in->size;
        }
        if (final) {
            complete(req, chunk, excess, FD_UPSTREAM_RELEASE_REUSE);
            return STOPPED;
        }
        if (chunk.len == 0) { /* only chunk framing: the decoder has taken it all */
            h2o_buffer_consume(&req->conn->sock->input, in->size);
            return MORE;
        }
        if (deliver(req, chunk) != 0)
            return STOPPED;
    }
    return STOPPED;
}

/* Reading */

static void on_read_error(fd_upstream_request_t *req, const char *err)
{
    if (req->state == ST_AWAIT_HEAD)
        reset_before_response(req);
    else if (req->body_mode == BODY_UNTIL_CLOSE && err == h2o_socket_error_closed)
        complete(req, EMPTY, 0, FD_UPSTREAM_RELEASE_CLOSE_REMOTE);
    else
        fail(req, FD_UPSTREAM_RESET_DURING_RESPONSE, FD_UPSTREAM_RELEASE_CLOSE_REMOTE);
}

static void pause_reading(fd_upstream_request_t *req)
{
    if (!req->read_paused) {
        fd_upstream_conn_pause_reading(req->conn, 1);
        req->read_paused = 1;
    }
}

/* Reading goes on while a chunk awaits proceed (no epoll_ctl when the caller keeps up), up to
 * HIGH_WATER bytes; an error (EOF included) waits behind the bytes read before it. */
static void on_read_while_paused(fd_upstream_request_t *req, const char *err)
{
    if (err != NULL)
        req->pending_err = err;
    if (err != NULL || req->conn->sock->input->size >= HIGH_WATER)
        pause_reading(req);
}

static void on_conn_read(fd_upstream_conn_t *conn, const char *err)
{
    fd_upstream_request_t *req = conn->data;

    if (req->paused) {
        on_read_while_paused(req, err);
        return;
    }
    if (err != NULL) {
        on_read_error(req, err);
        return;
    }
    if (conn->sock->input->size == 0)
        return;
    req->got_bytes = 1;
    arm_timer(req);
    if (req->state == ST_AWAIT_HEAD)
        parse_head(req);
    else
        process_body(req);
}

/* Sending */

/* A failed write is left to the read side, which sees the same reset (or the response the
 * server managed to send first); the connection is just not reused. */
static void on_write_done(h2o_socket_t *sock, const char *err)
{
    fd_upstream_conn_t *conn = sock->data;
    fd_upstream_request_t *req = conn->data;

    if (err != NULL)
        req->write_failed = 1;
}

static void send_request(fd_upstream_request_t *req)
{
    h2o_iovec_t bufs[2] = {h2o_iovec_init(req->head, req->head_len), req->body};

    req->state = ST_AWAIT_HEAD;
    h2o_socket_write(req->conn->sock, bufs, req->body.len != 0 ? 2 : 1, on_write_done);
    arm_timer(req);
}

static void on_conn_ready(fd_upstream_conn_t *conn, fd_upstream_error_t err)
{
    fd_upstream_request_t *req = conn->data;

    if (err != FD_UPSTREAM_OK) {
        req->conn = NULL; /* the pool frees it */
        fail(req, err, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
        return;
    }
    send_request(req);
}

static int attach(fd_upstream_request_t *req, int fresh)
{
    req->conn = fd_upstream_pool_acquire(req->pool, fresh, on_conn_ready, on_conn_read, req);
    if (req->conn == NULL)
        return -1;
    req->state = ST_CONNECTING;
    req->got_bytes = 0;
    if (req->conn->connected)
        send_request(req);
    return 0;
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    fd_upstream_request_t *req = H2O_STRUCT_FROM_MEMBER(fd_upstream_request_t, timer, entry);
    int before_response = !req->got_bytes && req->response_timeout != NULL;

    fail(req, before_response ? FD_UPSTREAM_RESPONSE_TIMEOUT : FD_UPSTREAM_IDLE_TIMEOUT,
         FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
}

/* Public API */

fd_upstream_request_t *fd_upstream_request_start(fd_upstream_pool_t *pool, const fd_upstream_request_spec_t *spec,
                                                 const fd_upstream_callbacks_t *cb, void *data)
{
    fd_upstream_request_t *req;

    if (pool->_disposing)
        return NULL;
    req = h2o_mem_alloc(offsetof(fd_upstream_request_t, head) + head_capacity(spec));
    memset(req, 0, offsetof(fd_upstream_request_t, head));
    req->pool = pool;
    req->cb = cb;
    req->data = data;
    req->body = spec->body;
    req->head_len = serialise(req->head, spec);
    req->timer.cb = on_timeout;
    if (spec->response_timeout_ms != 0)
        req->response_timeout = fd_upstream_pool_timeout(pool, spec->response_timeout_ms);
    if (spec->idle_timeout_ms != 0)
        req->idle_timeout = fd_upstream_pool_timeout(pool, spec->idle_timeout_ms);
    req->is_head = method_is(spec->method, "HEAD");
    req->may_resend = is_idempotent(spec->method) || spec->resend_non_idempotent;
    ++pool->stats.rq_total;
    attach(req, 0); /* cannot fail: the pool is not being disposed */
    return req;
}

void fd_upstream_request_proceed(fd_upstream_request_t *req)
{
    const char *err = req->pending_err;

    if (!req->paused || req->cancelled)
        return;
    req->paused = 0;
    h2o_buffer_dispose(&req->held);
    if (req->in_callback)
        return; /* deliver() goes on when on_body returns */
    if (err == NULL) {
        if (req->read_paused) {
            fd_upstream_conn_pause_reading(req->conn, 0);
            req->read_paused = 0;
        }
        arm_timer(req);
    }
    if (process_body(req) == MORE && err != NULL)
        on_read_error(req, err);
}

void fd_upstream_request_cancel(fd_upstream_request_t *req)
{
    if (req->cancelled)
        return;
    req->cancelled = 1;
    give_back(req, FD_UPSTREAM_RELEASE_CLOSE_LOCAL);
    unlink_timer(req);
    if (!req->in_callback)
        destroy(req);
}

size_t fd_upstream_request_buffered(const fd_upstream_request_t *req)
{
    size_t n = 0;

    if (req->held != NULL && req->held->bytes != NULL)
        n += req->held->capacity;
    if (req->conn != NULL && req->conn->sock != NULL && req->conn->sock->input->bytes != NULL)
        n += req->conn->sock->input->capacity;
    return n;
}
