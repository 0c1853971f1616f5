/* The admin API's endpoints; see admin.h. Requests are few and come from operators, so
 * clarity wins over speed here. */
#include "proxy/admin/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/server/listen_socket.h"
#include "proxy/version.h"

struct fd_admin {
    struct fd_server *server;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *sock;
    time_t started;
    int healthcheck_failed;
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
    if (fd_server_is_draining(admin->server))
        reply(req, 503, "text/plain", H2O_STRLIT("DRAINING\n"));
    else
        reply(req, 200, "text/plain", H2O_STRLIT("LIVE\n"));
}

static void on_server_info(fd_admin_t *admin, h2o_req_t *req)
{
    char body[512];
    int n = snprintf(
        body, sizeof(body),
        "{\n \"version\": \"frontdesk/%s\",\n \"state\": \"%s\",\n \"uptime_current_epoch\": \"%lds\"\n}\n", FD_VERSION,
        fd_server_is_draining(admin->server) ? "DRAINING" : "LIVE", (long)(time(NULL) - admin->started));
    reply(req, 200, "application/json", body, (size_t)n);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    fd_admin_t *admin = ((admin_handler_t *)self)->admin;
    if (path_is(req, "/ready")) {
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

fd_admin_t *fd_admin_start(struct fd_server *server, h2o_evloop_t *loop, const fd_config_t *config)
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
    h2o_socket_close(admin->sock);
    h2o_context_dispose(&admin->ctx);
    h2o_config_dispose(&admin->globalconf);
    free(admin);
}
