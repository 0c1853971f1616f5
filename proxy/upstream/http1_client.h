/* frontdesk's upstream HTTP/1.1 client, on the per-worker pools of pool.h. Built for the
 * syscall floor on a pooled connection: one writev of the request (head and body), one read of
 * a small response, no epoll_ctl, nothing else. The response body is streamed with
 * backpressure: after each piece the client waits for fd_upstream_request_proceed. */
#ifndef FD_UPSTREAM_HTTP1_CLIENT_H
#define FD_UPSTREAM_HTTP1_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <h2o/memory.h>

#include "proxy/upstream/picohttpparser.h"
#include "proxy/upstream/pool.h"

typedef struct fd_upstream_request fd_upstream_request_t;

/* A header written as given: "name: value\r\n". */
typedef struct fd_upstream_header {
    h2o_iovec_t name;
    h2o_iovec_t value;
} fd_upstream_header_t;

/* What to send. Everything but body is copied by fd_upstream_request_start (serialised once
 * into the request head), so it may die when that returns; the body is sent from the caller's
 * memory, which must stay valid until the request ends (a resend needs it again). The client
 * writes the request line, "host: <authority>", the headers, and "content-length: <n>" when
 * body.base is not NULL; headers must not include host, content-length, transfer-encoding or
 * connection, nor CR or LF anywhere (they are not checked). */
typedef struct fd_upstream_request_spec {
    h2o_iovec_t method;
    h2o_iovec_t path;
    h2o_iovec_t authority;
    const fd_upstream_header_t *headers;
    size_t num_headers;
    h2o_iovec_t body;             /* base NULL: no body (and no content-length) */
    uint32_t response_timeout_ms; /* from the request being written to the first response byte; 0: none */
    uint32_t idle_timeout_ms;     /* between reads (and before the first when response_timeout_ms is 0);
                                     never runs while the client waits for proceed; 0: none */
    /* A request whose reused connection is closed or reset before any response byte arrives
     * (a keep-alive race: the server closed it as idle) is resent once, on a fresh connection,
     * if its method is idempotent (RFC 9110 9.2.2: GET HEAD OPTIONS TRACE PUT DELETE), or if
     * this is set. Browsers resend any method in that case; Go resends only idempotent ones;
     * we follow the RFC by default and let the router opt in, e.g. for an Idempotency-Key. */
    int resend_non_idempotent;
} fd_upstream_request_spec_t;

/* Exactly one of a final on_body or on_error ends a request; the request is freed when that
 * callback returns. on_head comes first, once (1xx responses are skipped). */
typedef struct fd_upstream_callbacks {
    /* The final response head. headers point into the client's buffer: valid until this returns. */
    void (*on_head)(fd_upstream_request_t *req, int minor_version, int status, const struct phr_header *headers,
                    size_t num_headers, void *data);
    /* Decoded body bytes (content-length, chunked, or until close). A non-final chunk is never
     * empty; it stays valid until fd_upstream_request_proceed (or cancel), and no more body
     * arrives before that call. The final call (chunk possibly empty: HEAD, 204, 304, a
     * content-length of 0, the end of a chunked or until-close body) needs no proceed; its
     * chunk is valid until it returns. By then the connection is back in the pool, so a new
     * request started from here can reuse it. chunk.base is never NULL, even when empty. */
    void (*on_body)(fd_upstream_request_t *req, h2o_iovec_t chunk, int is_final, void *data);
    void (*on_error)(fd_upstream_request_t *req, fd_upstream_error_t err, void *data);
} fd_upstream_callbacks_t;

/* Starts a request on pool: takes an idle connection (no syscall) or connects. cb must outlive
 * the request (a static const table, typically); data is handed back to every callback. No
 * callback runs inside this call. Returns NULL only while the pool is being disposed. */
fd_upstream_request_t *fd_upstream_request_start(fd_upstream_pool_t *pool, const fd_upstream_request_spec_t *spec,
                                                 const fd_upstream_callbacks_t *cb, void *data);

/* Releases the last non-final chunk and lets the body flow again. The next on_body may come
 * from inside this call when bytes are already buffered; calling it from inside on_body is
 * fine too (the next chunk then follows when on_body returns). A no-op when nothing waits. */
void fd_upstream_request_proceed(fd_upstream_request_t *req);

/* Aborts the request: its connection is closed, never reused, and no callback follows. Valid
 * from inside on_head and on_body, where everything they were handed dies with it. */
void fd_upstream_request_cancel(fd_upstream_request_t *req);

/* Bytes of memory the client holds for the response right now (the chunk awaiting proceed and
 * what was read after it): bounded by backpressure, whatever the body size. */
size_t fd_upstream_request_buffered(const fd_upstream_request_t *req);

#endif
