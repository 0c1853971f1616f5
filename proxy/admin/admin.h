/* The admin listener (Envoy's admin API) on the main thread: /ready, /server_info,
 * /config_dump, /quitquitquit, /healthcheck/fail and /ok. */
#ifndef FD_ADMIN_H
#define FD_ADMIN_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"

struct fd_server;
typedef struct fd_admin fd_admin_t;

/* Binds admin.address and serves it on loop; NULL (with a message on stderr) on failure.
 * Takes bootstrap_json (the loaded bootstrap as Envoy-style JSON) for /config_dump. */
fd_admin_t *fd_admin_start(struct fd_server *server, h2o_evloop_t *loop, const fd_config_t *config,
                           json_t *bootstrap_json);

/* /clusters as Envoy prints it, and /config_dump; malloc'ed (admin_views.c). */
char *fd_admin_clusters_render(struct fd_server *server);

/* The dynamic parts of /config_dump, in Envoy's layout (each an array of entries). */
typedef struct fd_admin_dynamic_dump {
    json_t *routes, *endpoints, *active_clusters, *warming_clusters, *listeners;
    const char *clusters_version;  /* the last accepted CDS version_info, or NULL */
    const char *listeners_version; /* LDS's */
} fd_admin_dynamic_dump_t;
char *fd_admin_config_dump(json_t *bootstrap, time_t loaded_at, const fd_admin_dynamic_dump_t *dynamic);

/* One worker's cluster: static c of its config, or (c SIZE_MAX) the CDS cluster name; NULL
 * when it has none (or has exited). The caller holds the worker's hosts_lock. */
struct fd_router_worker;
struct fd_router_cluster;
const struct fd_router_cluster *fd_admin_worker_cluster(const struct fd_router_worker *router, size_t c,
                                                        const char *name);

/* Closes the admin listener and frees it (on the thread that started it). */
void fd_admin_stop(fd_admin_t *admin);

/* Implemented by the server: drain requests and state, for /quitquitquit and /ready. */
void fd_server_start_drain(struct fd_server *server);
int fd_server_is_draining(struct fd_server *server);
size_t fd_server_worker_count(struct fd_server *server);
struct fd_worker *fd_server_worker(struct fd_server *server, size_t index);
fd_config_t *fd_server_config(struct fd_server *server);

#endif
