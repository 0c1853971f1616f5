/* TLS termination for a listener: one OpenSSL context per TLS filter chain, and the
 * ClientHello callback that picks the chain by SNI during the handshake (tls.c). */
#ifndef FD_TLS_H
#define FD_TLS_H

#include <h2o.h>
#include <openssl/ssl.h>
#include <sys/types.h>

#include "proxy/config/config.h"

typedef struct fd_listener_tls {
    const fd_listener_t *listener;
    SSL_CTX **contexts; /* per chain, the default chain last; NULL for plaintext chains */
    h2o_iovec_t **alpn; /* per chain, NULL-terminated, kept for h2o's ALPN callback */
    SSL_CTX *base;      /* the one handshakes start with; NULL when no chain has TLS */
} fd_listener_tls_t;

/* Builds the contexts; -1 with a message in err (certificate, cipher, curve, CA). */
int fd_tls_listener_init(fd_listener_tls_t *lt, const fd_listener_t *listener, char *err, size_t len);
void fd_tls_listener_dispose(fd_listener_tls_t *lt);

/* The chain index (n_chains: the default chain) Envoy would pick for an SNI (NULL: none
 * sent), or -1 when no chain matches. */
ssize_t fd_tls_pick_chain(const fd_listener_t *listener, const char *sni);

/* The chain chosen during the handshake of a TLS connection, or -1 for plaintext. */
ssize_t fd_tls_chain_of(h2o_socket_t *sock, const fd_listener_tls_t *lt);

int fd_tls_on_client_hello(SSL *ssl, int *alert, void *arg);

#endif
