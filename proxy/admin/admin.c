/* The admin API's endpoints; see admin.h. Requests are few and come from operators, so
 * clarity wins over speed here. */
#include "proxy/admin/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin/admin_stats.h"
#include "proxy/server/cds.h"
#include "proxy/server/eds.h"
#include "proxy/server/lds.h"
#include "proxy/server/listen_socket.h"
#include "proxy/server/rds.h"
#include "proxy/server/server.h"
#include "proxy/version.h"

struct fd_admin {
    struct fd_server *server;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *sock;
    time_t started;
    int healthcheck_failed;
    json_t *bootstrap_json; /* the loaded bootstrap, for /config_dump (owned) */
};

typedef struct admin_handler {
    h2o_handler_t super;
    fd_admin_t *admin;
} admin_handler_t;

static void reply(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    req->http1_is_persistent = 0; /* no idle admin connections: shutdown can then close the listener cleanly */
    req->res.status = status;
    req->res.reason = status == 200   ? "OK"
                      : status == 404 ? "Not Found"
                      : status == 405 ? "Method Not Allowed"
                                      : "Service Unavailable";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_send_inline(req, body, len);
}

static int path_is(h2o_req_t *req, const char *path)
{
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path_normalized.len;
    return strlen(path) == len && memcmp(req->path_normalized.base, path, len) == 0;
}

static int is_post(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
}

static void on_ready(fd_admin_t *admin, h2o_req_t *req)
{
    fd_server_state_t state = fd_server_state(admin->server);
    char body[32];
    int n = snprintf(body, sizeof(body), "%s\n", fd_server_state_name(state));
    reply(req, state == FD_SERVER_LIVE ? 200 : 503, "text/plain", body, (size_t)n);
}

static void on_server_info(fd_admin_t *admin, h2o_req_t *req)
{
    char body[512];
    int n =
        snprintf(body, sizeof(body),
                 "{\n \"version\": \"frontdesk/%s\",\n \"state\": \"%s\",\n \"uptime_current_epoch\": \"%lds\"\n}\n",
                 FD_VERSION, fd_server_state_name(fd_server_state(admin->server)), (long)(time(NULL) - admin->started));
    reply(req, 200, "application/json", body, (size_t)n);
}

/* The value of a query parameter, percent-decoded into buf; NULL when absent. */
static const char *query_param(h2o_req_t *req, const char *name, char *buf, size_t size)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t name_len = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *item_end = amp ? amp : end;
        if ((size_t)(item_end - p) >= name_len && memcmp(p, name, name_len) == 0 &&
            (p + name_len == item_end || p[name_len] == '=')) {
            size_t o = 0;
            for (const char *c = p + name_len + (p + name_len < item_end); c < item_end && o + 1 < size; c++) {
                /* not sscanf: the path is not NUL-terminated, and sscanf would read past it */
                if (*c == '%' && c + 2 < item_end && h2o_hex_decode(buf + o, c + 1, 2) == 0)
                    o++, c += 2;
                else
                    buf[o++] = *c == '+' ? ' ' : *c;
            }
            buf[o] = '\0';
            return buf;
        }
        p = item_end + 1;
    }
    return NULL;
}

static void on_stats(fd_admin_t *admin, h2o_req_t *req, int prometheus)
{
    char format[16], filter[512], err[256], flag[8];
    fd_admin_stats_t stats;
    fd_admin_stats_collect(&stats, admin->server, (uint64_t)(time(NULL) - admin->started));
    const char *f = query_param(req, "format", format, sizeof(format));
    fd_admin_stats_format_t kind = prometheus                                  ? FD_STATS_PROMETHEUS
                                   : f != NULL && strcmp(f, "json") == 0       ? FD_STATS_JSON
                                   : f != NULL && strcmp(f, "prometheus") == 0 ? FD_STATS_PROMETHEUS
                                                                               : FD_STATS_TEXT;
    char *body = fd_admin_stats_render(&stats, kind, query_param(req, "filter", filter, sizeof(filter)),
                                       query_param(req, "usedonly", flag, sizeof(flag)) != NULL, err, sizeof(err));
    fd_admin_stats_dispose(&stats);
    if (body == NULL) {
        reply(req, 400, "text/plain", err, strlen(err));
        return;
    }
    reply(req, 200, kind == FD_STATS_JSON ? "application/json" : "text/plain; charset=UTF-8", body, strlen(body));
    free(body);
}

static void on_clusters(fd_admin_t *admin, h2o_req_t *req)
{
    char *body = fd_admin_clusters_render(admin->server);
    reply(req, 200, "text/plain", body, strlen(body));
    free(body);
}

static void on_config_dump(fd_admin_t *admin, h2o_req_t *req)
{
    fd_admin_dynamic_dump_t dynamic = {json_array(), json_array(), json_array(), json_array(),
                                       json_array(), NULL,         NULL};
    fd_lds_config_dump(fd_server_lds(admin->server), dynamic.listeners, &dynamic.listeners_version);
    fd_rds_config_dump(fd_server_rds(admin->server), dynamic.routes);
    fd_eds_config_dump(fd_server_eds(admin->server), dynamic.endpoints);
    fd_cds_config_dump(fd_server_cds(admin->server), dynamic.active_clusters, dynamic.warming_clusters,
                       dynamic.endpoints, &dynamic.clusters_version);
    char *body = fd_admin_config_dump(admin->bootstrap_json, admin->started, &dynamic);
    json_decref(dynamic.routes);
    json_decref(dynamic.endpoints);
    json_decref(dynamic.active_clusters);
    json_decref(dynamic.warming_clusters);
    json_decref(dynamic.listeners);
    reply(req, 200, "application/json", body, strlen(body));
    free(body);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    fd_admin_t *admin = ((admin_handler_t *)self)->admin;
    if (path_is(req, "/stats")) {
        on_stats(admin, req, 0);
    } else if (path_is(req, "/stats/prometheus")) {
        on_stats(admin, req, 1);
    } else if (path_is(req, "/clusters")) {
        on_clusters(admin, req);
    } else if (path_is(req, "/config_dump")) {
        on_config_dump(admin, req);
    } else if (path_is(req, "/ready")) {
        on_ready(admin, req);
    } else if (path_is(req, "/server_info")) {
        on_server_info(admin, req);
    } else if (path_is(req, "/quitquitquit")) {
        if (!is_post(req))
            return reply(req, 405, "text/plain", H2O_STRLIT("use POST\n")), 0;
        reply(req, 200, "text/plain", H2O_STRLIT("OK\n"));
        fd_server_start_drain(admin->server);
    } else if (path_is(req, "/healthcheck/fail") || path_is(req, "/healthcheck/ok")) {
        if (!is_post(req))
            return reply(req, 405, "text/plain", H2O_STRLIT("use POST\n")), 0;
        admin->healthcheck_failed = path_is(req, "/healthcheck/fail");
        reply(req, 200, "text/plain", H2O_STRLIT("OK\n"));
    } else {
        reply(req, 404, "text/plain", H2O_STRLIT("unknown admin endpoint\n"));
    }
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    fd_admin_t *admin = listener->data;
    h2o_socket_t *sock;
    if (err == NULL && (sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&admin->accept_ctx, sock);
}

fd_admin_t *fd_admin_start(struct fd_server *server, h2o_evloop_t *loop, const fd_config_t *config,
                           json_t *bootstrap_json)
{
    char err[256];
    int fd = fd_listen_socket_open(&config->admin_address, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "frontdesk: admin: %s\n", err);
        return NULL;
    }
    fd_admin_t *admin = calloc(1, sizeof(*admin));
    if (admin == NULL)
        abort();
    admin->server = server;
    admin->started = time(NULL);
    admin->bootstrap_json = bootstrap_json;
    h2o_config_init(&admin->globalconf);
    h2o_hostconf_t *host = h2o_config_register_host(&admin->globalconf, h2o_iovec_init(H2O_STRLIT("*")), 65535);
    admin_handler_t *handler =
        (admin_handler_t *)h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(*handler));
    handler->super.on_req = on_req;
    handler->admin = admin;
    h2o_context_init(&admin->ctx, loop, &admin->globalconf);
    admin->accept_ctx = (h2o_accept_ctx_t){.ctx = &admin->ctx, .hosts = admin->globalconf.hosts};
    admin->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    admin->sock->data = admin;
    h2o_socket_read_start(admin->sock, on_accept);
    return admin;
}

void fd_admin_stop(fd_admin_t *admin)
{
    json_decref(admin->bootstrap_json);
    h2o_socket_close(admin->sock);
    h2o_context_dispose(&admin->ctx);
    h2o_config_dispose(&admin->globalconf);
    free(admin);
}
