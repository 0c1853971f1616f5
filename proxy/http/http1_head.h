/* The text of HTTP/1.1 heads for the downstream codec (http1_server.c): a request head parsed
 * into an h2o request (copied into its pool), the response head written from one, and the
 * codec's own refusals (400, 413, 431). */
#ifndef FD_HTTP1_HEAD_H
#define FD_HTTP1_HEAD_H

#include <h2o.h>

#include "proxy/upstream/picohttpparser.h"

typedef enum fd_http1_head_status {
    FD_HTTP1_HEAD_OK,
    FD_HTTP1_HEAD_PARTIAL,  /* more bytes needed */
    FD_HTTP1_HEAD_BAD,      /* malformed: 400 */
    FD_HTTP1_HEAD_TOO_MANY, /* more header lines than allowed: 431 */
    FD_HTTP1_HEAD_BLANK,    /* only line breaks: close quietly */
} fd_http1_head_status_t;

/* What the codec needs to know of a parsed head. */
typedef struct fd_http1_head {
    size_t head_bytes;
    size_t content_length; /* 0 when none */
    int chunked;
    int expect_continue;
    int upgrade_h2c; /* Connection: upgrade with Upgrade: h2c */
} fd_http1_head_t;

/* Parses buf[0..len) (last_len: the length at the previous call for the same head) with room
 * for max_headers lines in scratch (max_headers + 1 entries). On OK, req has its method, path,
 * authority, version, headers and keep-alive flag, all in its pool; buf is not kept. */
fd_http1_head_status_t fd_http1_parse_head(h2o_req_t *req, const char *buf, size_t len, size_t last_len,
                                           struct phr_header *scratch, size_t max_headers, fd_http1_head_t *head);

/* The response head of req (status line, date, connection, content-length or
 * transfer-encoding, server, headers), in req's pool. *chunked says the body must go in
 * chunks; req->http1_is_persistent is cleared when only closing can end the body. */
h2o_iovec_t fd_http1_response_head(h2o_req_t *req, int *chunked);

/* Whether the response carries a body at all (not for HEAD, 1xx, 204, 304). */
int fd_http1_response_has_body(const h2o_req_t *req);

/* Whether h2o will take an Upgrade: h2c request (its HTTP2-Settings header is valid). */
int fd_http1_h2c_settings_ok(h2o_req_t *req);

/* A complete response that closes the connection, for a request the codec refuses. */
h2o_iovec_t fd_http1_error_reply(int status);

#endif
