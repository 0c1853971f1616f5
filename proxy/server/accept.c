/* Accepting a connection: TLS handshake, then the protocol; see accept.h. */
#include "proxy/server/accept.h"

#include <stdlib.h>
#include <string.h>

#include <h2o/http2.h>

#include "proxy/http/http1_server.h"

typedef struct handshake {
    fd_worker_listener_t *listener;
    h2o_socket_t *sock;
    struct timeval connected_at;
    h2o_timeout_entry_t timeout;
} handshake_t;

static void on_handshake_timeout(h2o_timeout_entry_t *entry)
{
    handshake_t *hs = H2O_STRUCT_FROM_MEMBER(handshake_t, timeout, entry);
    h2o_socket_t *sock = hs->sock;
    free(hs);
    sock->data = NULL;
    h2o_socket_close(sock);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    handshake_t *hs = sock->data;
    fd_worker_listener_t *wl = hs->listener;
    struct timeval connected_at = hs->connected_at;
    h2o_timeout_unlink(&hs->timeout);
    free(hs);
    sock->data = NULL;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    if (proto.len == 2 && memcmp(proto.base, "h2", 2) == 0)
        h2o_http2_accept(&wl->accept_ctx, sock, connected_at);
    else
        fd_http1_accept(&wl->http1, sock, connected_at);
}

void fd_accept_connection(fd_worker_listener_t *wl, h2o_socket_t *sock)
{
    struct timeval connected_at = *h2o_get_timestamp(&wl->ctx, NULL, NULL);
    if (wl->accept_ctx.ssl_ctx == NULL) {
        fd_http1_accept(&wl->http1, sock, connected_at);
        return;
    }
    handshake_t *hs = malloc(sizeof(*hs));
    if (hs == NULL) {
        h2o_socket_close(sock);
        return;
    }
    *hs = (handshake_t){.listener = wl, .sock = sock, .connected_at = connected_at};
    hs->timeout.cb = on_handshake_timeout;
    h2o_timeout_link(wl->ctx.loop, &wl->ctx.handshake_timeout, &hs->timeout);
    sock->data = hs;
    h2o_socket_ssl_handshake(sock, wl->accept_ctx.ssl_ctx, NULL, on_handshake);
}
