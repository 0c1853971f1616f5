/* A listener's runtime; see listener_runtime.h. */
#include "proxy/server/listener_runtime.h"

#include <stdio.h>
#include <stdlib.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/http/stream.h"
#include "proxy/router/route_match.h"
#include "proxy/server/server.h"

/* h2o settings come from the listener's HTTP connection manager. */
static void init_globalconf(h2o_globalconf_t *conf, const fd_listener_t *listener)
{
    const fd_http_manager_t *http = &fd_listener_first_chain(listener)->http;
    h2o_config_init(conf);
    conf->server_name = h2o_iovec_init(http->server_name.base, http->server_name.len);
    if (http->request_headers_timeout_ms != 0)
        conf->http1.req_timeout = http->request_headers_timeout_ms;
    conf->http2.idle_timeout = http->idle_timeout_ms;
    /* h2o 2.2 reads a request body whole before the handler runs: bound what one request holds */
    conf->max_request_entity_size = FD_MAX_REQUEST_BODY_BYTES;
    conf->http2.max_concurrent_requests_per_connection =
        http->http2_max_concurrent_streams < 256 ? http->http2_max_concurrent_streams : 256;
    h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("*")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    /* h2o's default filter chunk-encodes HTTP/1.1 bodies of unknown length and closes the
     * connection after any such non-200 response; frontdesk's HTTP/1.1 codec frames bodies
     * itself (HTTP/2 never needed it) */
    for (size_t i = 0; i < path->filters.size; i++) {
        if (path->filters.entries[i]->dispose != NULL)
            path->filters.entries[i]->dispose(path->filters.entries[i]);
        free(path->filters.entries[i]);
    }
    path->filters.size = 0;
    fd_stream_register(path);
}

/* Route lookups go through indexes built once per table, before any worker reads it. */
static int index_routes(fd_config_t *arena, const fd_listener_t *listener, char *err, size_t len)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        const fd_filter_chain_t *chain = fd_listener_chain_at(listener, c);
        if (chain != NULL && chain->http.routes != NULL &&
            fd_route_index_build(chain->http.routes, &arena->pool) != 0) {
            snprintf(err, len, "a virtual host has too many routes to index");
            return -1;
        }
    }
    return 0;
}

/* Each access log of each filter chain gets its sink (one per path, shared), or loses it. */
static int open_access_logs(fd_listener_t *listener, int open, char *err, size_t len)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        fd_filter_chain_t *chain = c < listener->n_chains ? &listener->chains[c] : listener->default_chain;
        for (size_t i = 0; chain != NULL && i < chain->http.n_access_logs; i++) {
            fd_access_log_t *log = &chain->http.access_logs[i];
            const char *path = log->kind == FD_ACCESS_LOG_FILE     ? log->path.base
                               : log->kind == FD_ACCESS_LOG_STDOUT ? "/dev/stdout"
                                                                   : "/dev/stderr";
            char why[256];
            if (!open) {
                if (log->sink != NULL)
                    fd_access_log_sink_release(log->sink);
                log->sink = NULL;
            } else if ((log->sink = fd_access_log_sink_open(path, why, sizeof(why))) == NULL) {
                snprintf(err, len, "access log '%s': %s", path, why);
                return -1;
            }
        }
    }
    return 0;
}

fd_listener_runtime_t *fd_listener_runtime_new(fd_config_t *arena, fd_listener_t *listener, char *err, size_t len)
{
    fd_listener_runtime_t *runtime = calloc(1, sizeof(*runtime));
    if (runtime == NULL)
        abort();
    fd_config_retain(arena);
    *runtime = (fd_listener_runtime_t){.refs = 1, .arena = arena, .listener = listener};
    init_globalconf(&runtime->globalconf, listener);
    if (fd_tls_listener_init(&runtime->tls, listener, err, len) != 0 || index_routes(arena, listener, err, len) != 0) {
        fd_listener_runtime_release(runtime);
        return NULL;
    }
    runtime->logs_open = 1;
    if (open_access_logs(listener, 1, err, len) != 0) {
        fd_listener_runtime_release(runtime);
        return NULL;
    }
    return runtime;
}

void fd_listener_runtime_retain(fd_listener_runtime_t *runtime)
{
    __atomic_add_fetch(&runtime->refs, 1, __ATOMIC_RELAXED);
}

void fd_listener_runtime_release(fd_listener_runtime_t *runtime)
{
    if (__atomic_sub_fetch(&runtime->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (runtime->logs_open)
        open_access_logs(runtime->listener, 0, NULL, 0);
    h2o_config_dispose(&runtime->globalconf);
    fd_tls_listener_dispose(&runtime->tls);
    fd_config_release(runtime->arena);
    free(runtime);
}
