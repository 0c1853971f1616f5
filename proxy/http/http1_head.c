/* HTTP/1.1 request heads in, response heads out; see http1_head.h. */
#include "proxy/http/http1_head.h"

#include <string.h>

#include "proxy/util/format.h"

static int only_line_breaks(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* The headers h2o keeps out of req->headers (host becomes the authority; the framing headers
 * are the codec's), and whether they make sense together. */
typedef struct special_headers {
    h2o_iovec_t host, connection, upgrade;
    int content_length_seen;
} special_headers_t;

static int take_special(const h2o_token_t *token, h2o_iovec_t value, special_headers_t *special, fd_http1_head_t *head)
{
    if (token == H2O_TOKEN_HOST) {
        if (special->host.base == NULL)
            special->host = value;
    } else if (token == H2O_TOKEN_CONTENT_LENGTH) {
        size_t length = h2o_strtosize(value.base, value.len);
        if (length == SIZE_MAX || (special->content_length_seen && length != head->content_length))
            return -1; /* conflicting lengths: a request smuggling attempt, as Envoy sees it */
        special->content_length_seen = 1;
        head->content_length = length;
    } else if (token == H2O_TOKEN_TRANSFER_ENCODING) {
        if (!h2o_lcstris(value.base, value.len, H2O_STRLIT("chunked")))
            return -1;
        head->chunked = 1;
    } else if (token == H2O_TOKEN_EXPECT) {
        head->expect_continue = h2o_lcstris(value.base, value.len, H2O_STRLIT("100-continue"));
    } else if (token == H2O_TOKEN_UPGRADE) {
        special->upgrade = value;
    }
    return 0;
}

/* Adds the headers (names lower-cased in the copy) to req; -1 on a malformed one. */
static int add_headers(h2o_req_t *req, const char *buf, char *copy, const struct phr_header *headers, size_t n,
                       special_headers_t *special, fd_http1_head_t *head)
{
    h2o_vector_reserve(&req->pool, &req->headers, n);
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name == NULL)
            return -1; /* obsolete line folding */
        char *name = copy + (headers[i].name - buf);
        h2o_iovec_t value = h2o_iovec_init(copy + (headers[i].value - buf), headers[i].value_len);
        h2o_strtolower(name, headers[i].name_len);
        const h2o_token_t *token = h2o_lookup_token(name, headers[i].name_len);
        if (token == NULL) {
            h2o_add_header_by_str(&req->pool, &req->headers, name, headers[i].name_len, 0, NULL, value.base, value.len);
        } else if (token->is_init_header_special) {
            if (take_special(token, value, special, head) != 0)
                return -1;
        } else {
            h2o_add_header(&req->pool, &req->headers, token, NULL, value.base, value.len);
            if (token == H2O_TOKEN_CONNECTION)
                special->connection = value;
        }
    }
    if (head->chunked && special->content_length_seen)
        return -1; /* both framings: Envoy refuses it too */
    return 0;
}

fd_http1_head_status_t fd_http1_parse_head(h2o_req_t *req, const char *buf, size_t len, size_t last_len,
                                           struct phr_header *scratch, size_t max_headers, fd_http1_head_t *head)
{
    const char *method, *path;
    size_t method_len, path_len, n = max_headers + 1;
    int minor;
    int r = phr_parse_request(buf, len, &method, &method_len, &path, &path_len, &minor, scratch, &n, last_len);
    if (r == -2)
        return FD_HTTP1_HEAD_PARTIAL;
    if (r == -1)
        return n == max_headers + 1                     ? FD_HTTP1_HEAD_TOO_MANY
               : len <= 4 && only_line_breaks(buf, len) ? FD_HTTP1_HEAD_BLANK
                                                        : FD_HTTP1_HEAD_BAD;
    if (n > max_headers)
        return FD_HTTP1_HEAD_TOO_MANY;
    /* one copy of the whole head: the socket's buffer may move while the request is served */
    char *copy = h2o_mem_alloc_pool(&req->pool, (size_t)r);
    memcpy(copy, buf, (size_t)r);
    *head = (fd_http1_head_t){.head_bytes = (size_t)r};
    special_headers_t special = {{NULL, 0}, {NULL, 0}, {NULL, 0}, 0};
    if (add_headers(req, buf, copy, scratch, n, &special, head) != 0)
        return FD_HTTP1_HEAD_BAD;
    req->input.method = h2o_iovec_init(copy + (method - buf), method_len);
    req->input.path = h2o_iovec_init(copy + (path - buf), path_len);
    if (special.host.base != NULL)
        req->input.authority = special.host;
    req->version = 0x100 | (minor != 0);
    if (special.connection.base != NULL) {
        req->http1_is_persistent =
            h2o_contains_token(special.connection.base, special.connection.len, H2O_STRLIT("keep-alive"), ',') ||
            (req->version >= 0x101 &&
             !h2o_contains_token(special.connection.base, special.connection.len, H2O_STRLIT("close"), ','));
        head->upgrade_h2c =
            special.upgrade.base != NULL && h2o_lcstris(special.upgrade.base, special.upgrade.len, H2O_STRLIT("h2c")) &&
            h2o_contains_token(special.connection.base, special.connection.len, H2O_STRLIT("upgrade"), ',');
    } else {
        req->http1_is_persistent = req->version >= 0x101;
    }
    return FD_HTTP1_HEAD_OK;
}

/* Whether h2o will take this Upgrade: h2c request: an HTTP2-Settings header holding a SETTINGS
 * payload with values in range (else h2o would answer it over HTTP/1.1 itself). */
int fd_http1_h2c_settings_ok(h2o_req_t *req)
{
    /* h2o takes it only when its first Connection header names http2-settings */
    ssize_t connection = h2o_find_header(&req->headers, H2O_TOKEN_CONNECTION, -1);
    if (connection == -1 ||
        !h2o_contains_token(req->headers.entries[connection].value.base, req->headers.entries[connection].value.len,
                            H2O_STRLIT("http2-settings"), ','))
        return 0;
    ssize_t cursor = h2o_find_header(&req->headers, H2O_TOKEN_HTTP2_SETTINGS, -1);
    if (cursor == -1)
        return 0;
    h2o_iovec_t encoded = req->headers.entries[cursor].value;
    h2o_iovec_t payload = h2o_decode_base64url(&req->pool, encoded.base, encoded.len);
    if (payload.base == NULL || payload.len % 6 != 0)
        return 0;
    for (size_t i = 0; i < payload.len; i += 6) {
        const uint8_t *p = (const uint8_t *)payload.base + i;
        uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
        uint32_t value = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
        if ((id == 2 && value > 1) || (id == 4 && value > 0x7fffffff) ||
            (id == 5 && (value < 16384 || value > 16777215)))
            return 0;
    }
    return 1;
}

static char *append(char *dst, const char *s, size_t len)
{
    memcpy(dst, s, len);
    return dst + len;
}

#define APPEND_LIT(dst, lit) append((dst), (lit), sizeof(lit) - 1)

static int is_head_request(const h2o_req_t *req)
{
    return h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
}

int fd_http1_response_has_body(const h2o_req_t *req)
{
    int status = req->res.status;
    return !(status >= 100 && status <= 199) && status != 204 && status != 304 && !is_head_request(req);
}

/* How the body's end is told: its length, chunks (HTTP/1.1), or closing (HTTP/1.0). */
static int frame_body(h2o_req_t *req)
{
    if (req->res.content_length != SIZE_MAX || !fd_http1_response_has_body(req))
        return 0;
    if (req->version >= 0x101)
        return 1;
    req->http1_is_persistent = 0;
    return 0;
}

h2o_iovec_t fd_http1_response_head(h2o_req_t *req, int *chunked)
{
    h2o_context_t *ctx = req->conn->ctx;
    h2o_timestamp_t ts;
    h2o_get_timestamp(ctx, &req->pool, &ts);
    const char *reason = req->res.reason != NULL ? req->res.reason : "";
    size_t reason_len = strlen(reason);
    h2o_iovec_t server = ctx->globalconf->server_name;
    size_t size = sizeof("HTTP/1.1 000 \r\ndate: \r\nconnection: keep-alive\r\ncontent-length: \r\n"
                         "transfer-encoding: chunked\r\nserver: \r\n\r\n") +
                  reason_len + H2O_TIMESTR_RFC1123_LEN + 20 + server.len;
    for (size_t i = 0; i < req->res.headers.size; i++)
        size += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
    char *buf = h2o_mem_alloc_pool(&req->pool, size), *dst = buf;
    *chunked = frame_body(req);
    unsigned status = req->res.status >= 100 && req->res.status <= 999 ? (unsigned)req->res.status : 500;
    dst = APPEND_LIT(dst, "HTTP/1.1 ");
    *dst++ = (char)('0' + status / 100);
    *dst++ = (char)('0' + status / 10 % 10);
    *dst++ = (char)('0' + status % 10);
    *dst++ = ' ';
    dst = append(dst, reason, reason_len);
    dst = APPEND_LIT(dst, "\r\ndate: ");
    dst = append(dst, ts.str->rfc1123, H2O_TIMESTR_RFC1123_LEN);
    dst = APPEND_LIT(dst, "\r\n");
    /* as Envoy: HTTP/1.1 keeps the connection without saying so; HTTP/1.0 must be told */
    if (!req->http1_is_persistent)
        dst = APPEND_LIT(dst, "connection: close\r\n");
    else if (req->version < 0x101)
        dst = APPEND_LIT(dst, "connection: keep-alive\r\n");
    if (req->res.content_length != SIZE_MAX) {
        dst = APPEND_LIT(dst, "content-length: ");
        dst += fd_u64_to_dec(req->res.content_length, dst);
        dst = APPEND_LIT(dst, "\r\n");
    } else if (*chunked) {
        dst = APPEND_LIT(dst, "transfer-encoding: chunked\r\n");
    }
    if (server.len != 0) {
        dst = APPEND_LIT(dst, "server: ");
        dst = append(dst, server.base, server.len);
        dst = APPEND_LIT(dst, "\r\n");
    }
    for (size_t i = 0; i < req->res.headers.size; i++) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        dst = append(dst, h->name->base, h->name->len);
        dst = APPEND_LIT(dst, ": ");
        dst = append(dst, h->value.base, h->value.len);
        dst = APPEND_LIT(dst, "\r\n");
    }
    dst = APPEND_LIT(dst, "\r\n");
    return h2o_iovec_init(buf, (size_t)(dst - buf));
}

#define ERROR_REPLY(status_line, length)                                                                               \
    "HTTP/1.1 " status_line "\r\ncontent-length: " length "\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"

h2o_iovec_t fd_http1_error_reply(int status)
{
    static const char bad_request[] = ERROR_REPLY("400 Bad Request", "11") "Bad Request";
    static const char too_large[] = ERROR_REPLY("413 Payload Too Large", "17") "Payload Too Large";
    static const char header_too_large[] =
        ERROR_REPLY("431 Request Header Fields Too Large", "31") "Request Header Fields Too Large";
    switch (status) {
    case 413: return h2o_iovec_init(too_large, sizeof(too_large) - 1);
    case 431: return h2o_iovec_init(header_too_large, sizeof(header_too_large) - 1);
    default: return h2o_iovec_init(bad_request, sizeof(bad_request) - 1);
    }
}
