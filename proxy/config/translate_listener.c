/* Listeners: address, listener filters, and filter chains chosen by SNI, each with an
 * optional TLS context and exactly one HTTP connection manager. */
#include <stdio.h>
#include <string.h>

#include "proxy/config/translate_int.h"

#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define HCM_TYPE "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

/* Listener filters whose job frontdesk already does: SNI is read by the TLS stack and the
 * HTTP version is detected by the codec, so these are accepted as no-ops. */
static int builtin_listener_filter(const Envoy__Config__Listener__V3__ListenerFilter *f)
{
    const char *type = f->config_type_case == ENVOY__CONFIG__LISTENER__V3__LISTENER_FILTER__CONFIG_TYPE_TYPED_CONFIG
                           ? fd_tr_any_type_name(f->typed_config)
                           : "";
    return strcmp(type, "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector") == 0 ||
           (type[0] == '\0' && strcmp(f->name, "envoy.filters.listener.tls_inspector") == 0);
}

static void translate_listener_filters(fd_translator_t *tr, const Envoy__Config__Listener__V3__Listener *l)
{
    for (size_t i = 0; i < l->n_listener_filters; i++) {
        const Envoy__Config__Listener__V3__ListenerFilter *f = l->listener_filters[i];
        if (builtin_listener_filter(f))
            continue;
        size_t saved = fd_tr_push_index(tr, "listener_filters", i);
        fd_tr_error(tr, f,
                    "listener filter '%s' is not supported by frontdesk (only envoy.filters.listener.tls_inspector)",
                    f->name);
        fd_tr_pop(tr, saved);
    }
}

static void translate_network_filters(fd_translator_t *tr, const Envoy__Config__Listener__V3__FilterChain *fc,
                                      fd_filter_chain_t *out)
{
    if (fc->n_filters != 1)
        fd_tr_error_in(tr, fc, "filters", "a filter chain needs exactly one network filter, %s (got %zu)", HCM_NAME,
                       fc->n_filters);
    for (size_t i = 0; i < fc->n_filters; i++) {
        const Envoy__Config__Listener__V3__Filter *f = fc->filters[i];
        size_t saved = fd_tr_push_index(tr, "filters", i);
        const char *type = f->config_type_case == ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG
                               ? fd_tr_any_type_name(f->typed_config)
                               : "";
        int typed = type[0] != '\0';
        if (strcmp(type, HCM_TYPE) == 0) {
            size_t s = fd_tr_push(tr, "typed_config");
            fd_tr_http_manager(tr, f->typed_config, &out->http);
            fd_tr_pop(tr, s);
        } else if (!typed && strcmp(f->name, HCM_NAME) == 0) {
            fd_tr_error(tr, f, "%s needs a typed_config (%s)", HCM_NAME, HCM_TYPE);
        } else {
            fd_tr_error(tr, f, "network filter '%s'%s%s%s is not supported by frontdesk (only %s)", f->name,
                        typed ? " (" : "", type, typed ? ")" : "", HCM_NAME);
        }
        fd_tr_pop(tr, saved);
    }
}

static void translate_chain_match(fd_translator_t *tr, const Envoy__Config__Listener__V3__FilterChainMatch *m,
                                  fd_filter_chain_t *out)
{
    size_t saved = fd_tr_push(tr, "filter_chain_match");
    out->server_names = fd_tr_alloc(tr, m->n_server_names * sizeof(*out->server_names));
    out->n_server_names = m->n_server_names;
    for (size_t i = 0; i < m->n_server_names; i++) {
        const char *name = m->server_names[i], *star = strchr(name, '*');
        size_t s = fd_tr_push_index(tr, "server_names", i);
        if (name[0] == '\0' || (star != NULL && (star != name || name[1] != '.')))
            fd_tr_error(tr, &m->server_names[i],
                        "server name '%s' is not valid: use a host name or a leading wildcard such as '*.example.com'",
                        name);
        fd_tr_pop(tr, s);
        out->server_names[i] = fd_tr_string_lower(tr, name);
    }
    if (m->transport_protocol[0] != '\0' && strcmp(m->transport_protocol, "tls") != 0 &&
        strcmp(m->transport_protocol, "raw_buffer") != 0)
        fd_tr_error_in(tr, &m->transport_protocol, "transport_protocol", "transport_protocol '%s' is not known",
                       m->transport_protocol);
    fd_tr_pop(tr, saved);
}

static void translate_chain(fd_translator_t *tr, const Envoy__Config__Listener__V3__FilterChain *fc,
                            fd_filter_chain_t *out)
{
    out->name = fd_tr_string(tr, fc->name);
    if (fc->filter_chain_match != NULL)
        translate_chain_match(tr, fc->filter_chain_match, out);
    if (fc->transport_socket != NULL) {
        size_t saved = fd_tr_push(tr, "transport_socket");
        out->tls = fd_tr_downstream_tls(tr, fc->transport_socket);
        fd_tr_pop(tr, saved);
    }
    translate_network_filters(tr, fc, out);
}

static int same_server_names(const fd_filter_chain_t *a, const fd_filter_chain_t *b)
{
    if (a->n_server_names != b->n_server_names)
        return 0;
    for (size_t i = 0; i < a->n_server_names; i++)
        if (strcmp(a->server_names[i].base, b->server_names[i].base) != 0)
            return 0;
    return 1;
}

static void translate_chains(fd_translator_t *tr, const Envoy__Config__Listener__V3__Listener *l, fd_listener_t *out)
{
    out->chains = fd_tr_alloc(tr, l->n_filter_chains * sizeof(*out->chains));
    out->n_chains = l->n_filter_chains;
    for (size_t i = 0; i < l->n_filter_chains; i++) {
        size_t saved = fd_tr_push_index(tr, "filter_chains", i);
        translate_chain(tr, l->filter_chains[i], &out->chains[i]);
        for (size_t j = 0; j < i; j++)
            if (same_server_names(&out->chains[j], &out->chains[i]))
                fd_tr_error(tr, l->filter_chains[i],
                            "filter_chains[%zu] has the same filter_chain_match as this one; a connection could not "
                            "choose between them",
                            j);
        fd_tr_pop(tr, saved);
    }
    if (l->default_filter_chain != NULL) {
        size_t saved = fd_tr_push(tr, "default_filter_chain");
        out->default_chain = fd_tr_alloc(tr, sizeof(*out->default_chain));
        translate_chain(tr, l->default_filter_chain, out->default_chain);
        fd_tr_pop(tr, saved);
    }
    if (l->n_filter_chains == 0 && l->default_filter_chain == NULL)
        fd_tr_error_in(tr, l, "filter_chains", "a listener needs at least one filter chain");
    size_t tls = 0, total = out->n_chains + (out->default_chain != NULL);
    for (size_t i = 0; i < total; i++)
        tls += (i < out->n_chains ? &out->chains[i] : out->default_chain)->tls != NULL;
    if (tls != 0 && tls != total)
        fd_tr_error_in(tr, l, "filter_chains",
                       "this listener mixes TLS and plaintext filter chains; frontdesk needs one listener for each");
}

void fd_tr_listener(fd_translator_t *tr, const Envoy__Config__Listener__V3__Listener *l, fd_listener_t *out)
{
    memset(out, 0, sizeof(*out));
    if (l->address == NULL) {
        fd_tr_error_in(tr, l, "address", "a listener needs an address");
    } else {
        size_t saved = fd_tr_push(tr, "address");
        fd_tr_socket_address(tr, l->address, &out->address, 0);
        fd_tr_pop(tr, saved);
    }
    if (l->name[0] != '\0') {
        out->name = fd_tr_string(tr, l->name);
    } else if (out->address.host != NULL) { /* Envoy names unnamed listeners; use the address */
        char name[300];
        snprintf(name, sizeof(name), "%s:%u", out->address.host, out->address.port);
        out->name = fd_tr_string(tr, name);
    }
    out->per_connection_buffer_limit_bytes =
        l->per_connection_buffer_limit_bytes != NULL ? l->per_connection_buffer_limit_bytes->value : 1u << 20;
    translate_listener_filters(tr, l);
    translate_chains(tr, l, out);
}
