/* frontdesk's downstream HTTP/1.1 codec, in place of h2o 2.2's: requests parsed off the
 * connection into h2o requests, responses written back. Unlike h2o's it leaves the socket
 * registered for reading while a request is served (the request head is copied into the
 * request's pool, so the input buffer may move under it), saving two epoll_ctl calls per
 * request, and formats the response head without printf. HTTP/2 (prior knowledge or
 * Upgrade: h2c) is handed to h2o. */
#ifndef FD_HTTP1_SERVER_H
#define FD_HTTP1_SERVER_H

#include <h2o.h>

#include "proxy/config/config.h"

/* One listener's HTTP/1.1 settings and connections, on one worker. */
typedef struct fd_http1_listener {
    h2o_accept_ctx_t *accept_ctx;
    size_t max_head_bytes; /* max_request_headers_kb: past it, 431 */
    size_t max_headers;    /* max_headers_count: past it, 431 */
    size_t max_body_bytes; /* past it, 413 */
    int h2c;               /* Upgrade: h2c and prior knowledge are accepted (codec AUTO) */
    h2o_timeout_t idle;    /* idle_timeout: no request under way */
    h2o_timeout_t headers; /* request_headers_timeout: from the first byte of a head */
    h2o_timeout_t body;    /* stream_idle_timeout: between pieces of a request body */
    int has_idle, has_headers, has_body;
    struct phr_header *parsed; /* scratch for the parser: max_headers + 1 */
    h2o_linklist_t conns;
    /* Once its context's shutdown is requested, a connection whose response promised keep-alive
     * stays open (its next response says "connection: close"): a removed listener's drain, where
     * the client may already be sending on it. 0: it closes after the response (process drain). */
    int keep_alive_while_draining;
} fd_http1_listener_t;

void fd_http1_listener_init(fd_http1_listener_t *listener, h2o_accept_ctx_t *accept_ctx, const fd_http_manager_t *http,
                            size_t max_body_bytes);
/* Every connection must be closed first. */
void fd_http1_listener_dispose(fd_http1_listener_t *listener);

/* Serves a new connection (cleartext, or TLS after a handshake that chose HTTP/1.1). */
void fd_http1_accept(fd_http1_listener_t *listener, h2o_socket_t *sock, struct timeval connected_at);

/* Drain: closes the connections with no request under way; the others close after theirs. */
void fd_http1_close_idle(fd_http1_listener_t *listener);

#endif
