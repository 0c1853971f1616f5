/* Listeners from a control server (LDS, state of the world) on the stream of the bootstrap's
 * lds_config. Each Listener is translated and given its runtime (h2o settings, TLS contexts,
 * access logs) on the main thread, and its sockets (one per worker, SO_REUSEPORT); it warms
 * until the RouteConfigurations its connection managers name from RDS are in (or their
 * initial_fetch_timeout passes), then every worker serves it. A changed listener takes over the
 * sockets of its previous version when the address is the same, and the previous version
 * drains; one absent from a response drains and goes. A refused Listener is NACKed by name
 * while the others apply, as in Envoy. */
#ifndef FD_LDS_H
#define FD_LDS_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"
#include "proxy/config/filter_registry.h"
#include "proxy/server/server.h"
#include "proxy/server/xds_source.h"

typedef struct fd_lds fd_lds_t;

/* Watches every Listener on the lds_config stream (before fd_xds_sources_start); *out stays
 * NULL without lds_config. -1 (message on stderr) when the control server cannot be named. */
int fd_lds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 const fd_filter_registry_t *filters, fd_lds_t **out);

/* Asks for the listeners: at once without CDS, else once the first clusters are warm (the
 * server calls it), so that routes find their clusters, as in Envoy. NULL is a no-op. */
void fd_lds_begin(fd_lds_t *lds);

/* RDS had a first RouteConfiguration for some name: warming listeners may be ready. */
void fd_lds_on_routes(void *lds);

/* The first response is in and the listeners it brought are warm. NULL is ready. */
int fd_lds_ready(const fd_lds_t *lds);

/* listener_manager.* and listener_manager.lds.*. Main thread. */
typedef struct fd_lds_stats {
    uint64_t update_attempt, update_success, update_rejected;
    uint64_t listener_added, listener_modified, listener_removed;
    uint64_t active, warming;
} fd_lds_stats_t;
void fd_lds_stats(const fd_lds_t *lds, fd_lds_stats_t *out);

uint64_t fd_lds_unsupported_fields(const fd_lds_t *lds);

/* Envoy's ListenersConfigDump dynamic_listeners entries and the last accepted version_info. */
void fd_lds_config_dump(const fd_lds_t *lds, json_t *dynamic_listeners, const char **version);

/* After the workers have exited and the streams are stopped. NULL is a no-op. */
void fd_lds_free(fd_lds_t *lds);

#endif
