/* TLS termination: an OpenSSL context per TLS filter chain (certificates, versions,
 * ciphers, curves, ALPN, client certificates), and SNI choosing the chain during the
 * handshake, as Envoy's filter_chain_match.server_names does. */
#include "proxy/server/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* h2o 2.2 keeps the SSL object in a private struct that begins with these two fields. */
struct st_h2o_socket_ssl_t {
    SSL_CTX *ssl_ctx;
    SSL *ossl;
};

static int chain_index_slot = -1; /* SSL ex_data: 1 + the chosen chain's index */
static int listener_slot = -1;    /* SSL_CTX ex_data: the fd_listener_tls_t */

static const char *ssl_error(void)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason ? reason : "unknown OpenSSL error";
}

static int use_certificate(SSL_CTX *ctx, const fd_tls_certificate_t *cert, char *err, size_t len)
{
    BIO *bio = BIO_new_mem_buf(cert->chain_pem.base, (int)cert->chain_pem.len);
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        ok = SSL_CTX_add0_chain_cert(ctx, extra) == 1; /* the rest of the chain, sent after the leaf */
    ERR_clear_error();                                 /* reading past the last certificate "fails" */
    X509_free(leaf);
    BIO_free(bio);
    bio = BIO_new_mem_buf(cert->key_pem.base, (int)cert->key_pem.len);
    EVP_PKEY *key = ok ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    if (!ok)
        snprintf(err, len, "certificate %s: %s", cert->chain_source.len ? cert->chain_source.base : "(inline)",
                 ssl_error());
    return ok ? 0 : -1;
}

/* tls_params.cipher_suites holds TLS 1.2 cipher names and TLS 1.3 suites ("TLS_...") alike. */
static int set_ciphers(SSL_CTX *ctx, const fd_tls_context_t *tls, char *err, size_t len)
{
    if (tls->cipher_suites.len == 0)
        return 0;
    char tls12[1024] = "", tls13[512] = "";
    char *list = strdup(tls->cipher_suites.base), *save = NULL;
    for (char *name = strtok_r(list, ":", &save); name != NULL; name = strtok_r(NULL, ":", &save)) {
        char *dst = strncmp(name, "TLS_", 4) == 0 ? tls13 : tls12;
        size_t size = dst == tls13 ? sizeof(tls13) : sizeof(tls12);
        snprintf(dst + strlen(dst), size - strlen(dst), "%s%s", dst[0] ? ":" : "", name);
    }
    free(list);
    if ((tls12[0] && SSL_CTX_set_cipher_list(ctx, tls12) != 1) ||
        (tls13[0] && SSL_CTX_set_ciphersuites(ctx, tls13) != 1)) {
        snprintf(err, len, "cipher_suites '%s': %s", tls->cipher_suites.base, ssl_error());
        return -1;
    }
    return 0;
}

static int require_client_certificates(SSL_CTX *ctx, const fd_tls_context_t *tls, char *err, size_t len)
{
    BIO *bio = BIO_new_mem_buf(tls->ca_pem.base, (int)tls->ca_pem.len);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509 *ca;
    int n = 0;
    while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_cert(store, ca);
        X509_free(ca);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        snprintf(err, len, "validation_context.trusted_ca holds no PEM certificate");
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

static h2o_iovec_t *alpn_list(const fd_tls_context_t *tls)
{
    h2o_iovec_t *list = calloc(tls->n_alpn + 1, sizeof(*list));
    if (list == NULL)
        abort();
    for (size_t i = 0; i < tls->n_alpn; i++)
        list[i] = h2o_iovec_init(tls->alpn[i].base, tls->alpn[i].len);
    return list;
}

static SSL_CTX *chain_context(fd_listener_tls_t *lt, const fd_tls_context_t *tls, size_t chain, char *err, size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_min_proto_version(ctx, tls->min_version ? tls->min_version : TLS1_2_VERSION); /* Envoy's default */
    SSL_CTX_set_max_proto_version(ctx, tls->max_version ? tls->max_version : TLS1_3_VERSION);
    int ok = 1;
    for (size_t i = 0; ok && i < tls->n_certificates; i++)
        ok = use_certificate(ctx, &tls->certificates[i], err, len) == 0;
    ok = ok && set_ciphers(ctx, tls, err, len) == 0;
    if (ok && tls->ecdh_curves.len != 0 && SSL_CTX_set1_curves_list(ctx, tls->ecdh_curves.base) != 1)
        ok = (snprintf(err, len, "ecdh_curves '%s': %s", tls->ecdh_curves.base, ssl_error()), 0);
    ok = ok && (!tls->require_client_certificate || require_client_certificates(ctx, tls, err, len) == 0);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    lt->alpn[chain] = alpn_list(tls);
    if (tls->n_alpn != 0)
        h2o_ssl_register_alpn_protocols(ctx, lt->alpn[chain]);
    SSL_CTX_set_ex_data(ctx, listener_slot, lt);
    SSL_CTX_set_client_hello_cb(ctx, fd_tls_on_client_hello, NULL);
    return ctx;
}

int fd_tls_listener_init(fd_listener_tls_t *lt, const fd_listener_t *listener, char *err, size_t len)
{
    if (chain_index_slot < 0) {
        chain_index_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        listener_slot = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    memset(lt, 0, sizeof(*lt));
    lt->listener = listener;
    size_t n = listener->n_chains + 1; /* the default chain last */
    lt->contexts = calloc(n, sizeof(*lt->contexts));
    lt->alpn = calloc(n, sizeof(*lt->alpn));
    if (lt->contexts == NULL || lt->alpn == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        const fd_filter_chain_t *chain = fd_listener_chain_at(listener, i);
        if (chain == NULL || chain->tls == NULL)
            continue;
        if ((lt->contexts[i] = chain_context(lt, chain->tls, i, err, len)) == NULL)
            return -1;
        if (lt->base == NULL)
            lt->base = lt->contexts[i];
    }
    return 0;
}

void fd_tls_listener_dispose(fd_listener_tls_t *lt)
{
    for (size_t i = 0; i <= (lt->listener ? lt->listener->n_chains : 0); i++) {
        SSL_CTX_free(lt->contexts[i]);
        free(lt->alpn[i]);
    }
    free(lt->contexts);
    free(lt->alpn);
}

/* Envoy's precedence: an exact server name, then the longest "*.suffix", then a chain that
 * names no server, then default_filter_chain. Returns n_chains for the default, or -1. */
ssize_t fd_tls_pick_chain(const fd_listener_t *listener, const char *sni)
{
    ssize_t wildcard = -1, catch_all = -1;
    size_t wildcard_len = 0, sni_len = sni != NULL ? strlen(sni) : 0;
    for (size_t i = 0; i < listener->n_chains; i++) {
        const fd_filter_chain_t *chain = &listener->chains[i];
        if (chain->n_server_names == 0 && catch_all < 0)
            catch_all = (ssize_t)i;
        for (size_t j = 0; j < chain->n_server_names && sni != NULL; j++) {
            const fd_string_t *name = &chain->server_names[j];
            if (name->len == sni_len && strcasecmp(name->base, sni) == 0)
                return (ssize_t)i;
            if (name->base[0] == '*' && name->len - 1 < sni_len && name->len - 1 > wildcard_len &&
                strcasecmp(sni + sni_len - (name->len - 1), name->base + 1) == 0)
                wildcard = (ssize_t)i, wildcard_len = name->len - 1;
        }
    }
    if (wildcard >= 0)
        return wildcard;
    if (catch_all >= 0)
        return catch_all;
    return listener->default_chain != NULL ? (ssize_t)listener->n_chains : -1;
}

/* SSL_set_SSL_CTX moves certificates only: the chain's versions, ciphers and client
 * certificate policy are the SSL object's own settings and follow separately. */
static void switch_context(SSL *ssl, SSL_CTX *ctx, const fd_listener_tls_t *lt, size_t chain)
{
    const fd_filter_chain_t *fc = fd_listener_chain_at(lt->listener, chain);
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
    SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(SSL_CTX_get_client_CA_list(ctx)));
    if (fc->tls->cipher_suites.len == 0) {
        SSL_set_cipher_list(ssl, OSSL_default_cipher_list());
        SSL_set_ciphersuites(ssl, OSSL_default_ciphersuites());
    } else {
        SSL_set_cipher_list(ssl, fc->tls->cipher_suites.base); /* unknown names are skipped per list */
        SSL_set_ciphersuites(ssl, fc->tls->cipher_suites.base);
        ERR_clear_error();
    }
}

/* The host_name of the ClientHello's server_name extension, into buf; NULL when absent. */
static const char *client_hello_sni(SSL *ssl, char *buf, size_t size)
{
    const unsigned char *p;
    size_t len;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return NULL;
    size_t list = (size_t)p[0] << 8 | p[1], name_len = (size_t)p[3] << 8 | p[4];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name || name_len + 5 > len || name_len == 0 ||
        name_len >= size || memchr(p + 5, '\0', name_len) != NULL)
        return NULL;
    memcpy(buf, p + 5, name_len);
    buf[name_len] = '\0';
    return buf;
}

/* Runs before the protocol version is chosen, so each chain's tls_params take effect. */
int fd_tls_on_client_hello(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    char sni[256];
    fd_listener_tls_t *lt = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), listener_slot);
    ssize_t chain = fd_tls_pick_chain(lt->listener, client_hello_sni(ssl, sni, sizeof(sni)));
    if (chain < 0 || lt->contexts[chain] == NULL) {
        *alert = SSL_AD_UNRECOGNIZED_NAME; /* no chain for this name: Envoy closes the connection */
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (lt->contexts[chain] != SSL_get_SSL_CTX(ssl))
        switch_context(ssl, lt->contexts[chain], lt, (size_t)chain);
    SSL_set_ex_data(ssl, chain_index_slot, (void *)(uintptr_t)(chain + 1));
    return SSL_CLIENT_HELLO_SUCCESS;
}

ssize_t fd_tls_chain_of(h2o_socket_t *sock, const fd_listener_tls_t *lt)
{
    if (sock == NULL || sock->ssl == NULL)
        return -1;
    SSL *ssl = sock->ssl->ossl;
    uintptr_t chosen = (uintptr_t)SSL_get_ex_data(ssl, chain_index_slot);
    if (chosen != 0)
        return (ssize_t)chosen - 1;
    return fd_tls_pick_chain(lt->listener, NULL); /* no SNI sent */
}
