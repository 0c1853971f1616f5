/* TLS transport sockets: DownstreamTlsContext (termination) and UpstreamTlsContext
 * (origination). Certificates and keys are read and checked here, so a bad PEM or a
 * key that does not match its certificate is a config error, not a failed handshake. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <string.h>

#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "proxy/config/translate_int.h"

#define TLS_SOCKET "envoy.transport_sockets.tls"
#define RAW_SOCKET "envoy.transport_sockets.raw_buffer"

static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason ? reason : "unreadable PEM";
}

/* Parses chain and key with OpenSSL and checks that they belong together. */
static void check_key_pair(fd_translator_t *tr, const Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate *c,
                           const fd_tls_certificate_t *cert)
{
    BIO *bio = BIO_new_mem_buf(cert->chain_pem.base, (int)cert->chain_pem.len);
    X509 *x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (x509 == NULL) {
        fd_tr_error_in(tr, &c->certificate_chain, "certificate_chain", "no PEM certificate could be read: %s",
                       openssl_reason());
        return;
    }
    bio = BIO_new_mem_buf(cert->key_pem.base, (int)cert->key_pem.len);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (key == NULL)
        fd_tr_error_in(tr, &c->private_key, "private_key", "no PEM private key could be read: %s", openssl_reason());
    else if (X509_check_private_key(x509, key) != 1)
        fd_tr_error_in(tr, &c->private_key, "private_key", "the private key does not match the certificate (%s)",
                       openssl_reason());
    EVP_PKEY_free(key);
    X509_free(x509);
}

static void translate_certificates(fd_translator_t *tr,
                                   const Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext *common,
                                   fd_tls_context_t *out)
{
    out->certificates = fd_tr_alloc(tr, common->n_tls_certificates * sizeof(*out->certificates));
    for (size_t i = 0; i < common->n_tls_certificates; i++) {
        const Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate *c = common->tls_certificates[i];
        fd_tls_certificate_t *cert = &out->certificates[out->n_certificates];
        size_t saved = fd_tr_push_index(tr, "tls_certificates", i);
        if (c->certificate_chain == NULL || c->private_key == NULL) {
            fd_tr_error(tr, c, "certificate_chain and private_key are both required");
        } else {
            size_t s1 = fd_tr_push(tr, "certificate_chain");
            int ok = fd_tr_data_source(tr, c->certificate_chain, &cert->chain_pem) == 0;
            fd_tr_pop(tr, s1);
            s1 = fd_tr_push(tr, "private_key");
            ok = fd_tr_data_source(tr, c->private_key, &cert->key_pem) == 0 && ok;
            fd_tr_pop(tr, s1);
            if (ok) {
                check_key_pair(tr, c, cert);
                out->n_certificates++;
            }
        }
        fd_tr_pop(tr, saved);
    }
}

static int tls_version(fd_translator_t *tr, const void *addr, const char *field, int v)
{
    static const int versions[] = {0, TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    if (v < 0 || v > 4) {
        fd_tr_error_in(tr, addr, field, "unknown TLS protocol version %d", v);
        return 0;
    }
    return versions[v];
}

static fd_string_t join(fd_translator_t *tr, char *const *items, size_t n, char sep)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *out = fd_tr_alloc(tr, len + 1), *p = out;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? (char[]){sep, 0} : "", items[i]);
    return (fd_string_t){out, (size_t)(p - out)};
}

static void translate_params(fd_translator_t *tr, const Envoy__Extensions__TransportSockets__Tls__V3__TlsParameters *p,
                             fd_tls_context_t *out)
{
    size_t saved = fd_tr_push(tr, "tls_params");
    out->min_version = tls_version(tr, p, "tls_minimum_protocol_version", p->tls_minimum_protocol_version);
    out->max_version = tls_version(tr, p, "tls_maximum_protocol_version", p->tls_maximum_protocol_version);
    if (out->min_version && out->max_version && out->min_version > out->max_version)
        fd_tr_error(tr, p, "tls_minimum_protocol_version is above tls_maximum_protocol_version");
    out->cipher_suites = join(tr, p->cipher_suites, p->n_cipher_suites, ':');
    out->ecdh_curves = join(tr, p->ecdh_curves, p->n_ecdh_curves, ':');
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (out->cipher_suites.len != 0 && SSL_CTX_set_cipher_list(ctx, out->cipher_suites.base) != 1 &&
        SSL_CTX_set_ciphersuites(ctx, out->cipher_suites.base) != 1)
        fd_tr_error_in(tr, p, "cipher_suites", "no usable cipher in '%s' (%s)", out->cipher_suites.base,
                       openssl_reason());
    if (out->ecdh_curves.len != 0 && SSL_CTX_set1_curves_list(ctx, out->ecdh_curves.base) != 1)
        fd_tr_error_in(tr, p, "ecdh_curves", "unknown curve in '%s'", out->ecdh_curves.base);
    SSL_CTX_free(ctx);
    fd_tr_pop(tr, saved);
}

/* Envoy joins alpn_protocols with ',' and splits again, so "h2,http/1.1" is two protocols. */
static void translate_alpn(fd_translator_t *tr, char *const *items, size_t n, fd_tls_context_t *out)
{
    fd_string_t all = join(tr, items, n, ',');
    size_t count = 0;
    out->alpn = fd_tr_alloc(tr, (all.len + 1) * sizeof(*out->alpn));
    for (char *tok = strtok((char *)all.base, ","); tok != NULL; tok = strtok(NULL, ","))
        if (strlen(tok) > 0 && strlen(tok) < 256)
            out->alpn[count++] = (fd_string_t){tok, strlen(tok)};
    out->n_alpn = count;
}

static void translate_common(fd_translator_t *tr,
                             const Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext *common,
                             fd_tls_context_t *out)
{
    size_t saved = fd_tr_push(tr, "common_tls_context");
    translate_certificates(tr, common, out);
    if (common->tls_params != NULL)
        translate_params(tr, common->tls_params, out);
    translate_alpn(tr, common->alpn_protocols, common->n_alpn_protocols, out);
    if (common->validation_context_type_case ==
            ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT &&
        common->validation_context->trusted_ca != NULL) {
        size_t s1 = fd_tr_push(tr, "validation_context.trusted_ca");
        fd_tr_data_source(tr, common->validation_context->trusted_ca, &out->ca_pem);
        fd_tr_pop(tr, s1);
    }
    fd_tr_pop(tr, saved);
}

/* Returns the Any of a TLS transport socket, NULL for raw_buffer (or after an error). */
static const Google__Protobuf__Any *tls_socket_config(fd_translator_t *tr,
                                                      const Envoy__Config__Core__V3__TransportSocket *ts)
{
    if (strcmp(ts->name, RAW_SOCKET) == 0 || strcmp(ts->name, "raw_buffer") == 0)
        return NULL;
    if (ts->config_type_case != ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG) {
        fd_tr_error(tr, ts, "transport socket '%s' needs a typed_config", ts->name);
        return NULL;
    }
    const char *type = fd_tr_any_type_name(ts->typed_config);
    if (strncmp(type, "envoy.extensions.transport_sockets.tls.v3.", 42) != 0) {
        fd_tr_error(tr, ts, "transport socket '%s' (%s) is not supported by frontdesk (only %s and %s)", ts->name, type,
                    TLS_SOCKET, RAW_SOCKET);
        return NULL;
    }
    return ts->typed_config;
}

fd_tls_context_t *fd_tr_downstream_tls(fd_translator_t *tr, const Envoy__Config__Core__V3__TransportSocket *ts)
{
    const Google__Protobuf__Any *any = tls_socket_config(tr, ts);
    if (any == NULL)
        return NULL;
    size_t saved = fd_tr_push(tr, "typed_config");
    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *dtc =
        (Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *)fd_tr_any_open(
            tr, any, &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor);
    fd_tls_context_t *out = NULL;
    if (dtc != NULL) {
        fd_tr_check_supported(tr, &dtc->base);
        out = fd_tr_alloc(tr, sizeof(*out));
        if (dtc->common_tls_context != NULL)
            translate_common(tr, dtc->common_tls_context, out);
        if (out->n_certificates == 0 &&
            (dtc->common_tls_context == NULL || dtc->common_tls_context->n_tls_certificates == 0))
            fd_tr_error(tr, dtc,
                        "a DownstreamTlsContext needs at least one entry in common_tls_context.tls_certificates");
        out->require_client_certificate = dtc->require_client_certificate && dtc->require_client_certificate->value;
        if (out->require_client_certificate && out->ca_pem.len == 0)
            fd_tr_error_in(tr, dtc, "require_client_certificate",
                           "client certificates need common_tls_context.validation_context.trusted_ca");
    }
    fd_tr_any_release(tr, any, (ProtobufCMessage *)dtc);
    fd_tr_pop(tr, saved);
    return out;
}

fd_tls_context_t *fd_tr_upstream_tls(fd_translator_t *tr, const Envoy__Config__Core__V3__TransportSocket *ts)
{
    const Google__Protobuf__Any *any = tls_socket_config(tr, ts);
    if (any == NULL)
        return NULL;
    size_t saved = fd_tr_push(tr, "typed_config");
    Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *utc =
        (Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *)fd_tr_any_open(
            tr, any, &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor);
    fd_tls_context_t *out = NULL;
    if (utc != NULL) {
        fd_tr_check_supported(tr, &utc->base);
        out = fd_tr_alloc(tr, sizeof(*out));
        if (utc->common_tls_context != NULL)
            translate_common(tr, utc->common_tls_context, out);
        out->sni = fd_tr_string(tr, utc->sni);
    }
    fd_tr_any_release(tr, any, (ProtobufCMessage *)utc);
    fd_tr_pop(tr, saved);
    return out;
}
