/* What serving one listener takes beyond its config: h2o's settings from its connection
 * manager, its TLS contexts, its route indexes and open access log sinks. Shared by the main
 * thread and every worker serving the listener (a reference each), for static listeners and,
 * later, listeners from LDS alike. */
#ifndef FD_LISTENER_RUNTIME_H
#define FD_LISTENER_RUNTIME_H

#include <h2o.h>

#include "proxy/config/config.h"
#include "proxy/server/tls.h"

typedef struct fd_listener_runtime {
    int refs;           /* atomic */
    fd_config_t *arena; /* holds listener: one reference */
    fd_listener_t *listener;
    h2o_globalconf_t globalconf;
    fd_listener_tls_t tls;
    int logs_open;
} fd_listener_runtime_t;

/* Builds the runtime of listener (in arena, which gets a reference); NULL with the reason in err
 * (a certificate, an access log path, a route table too large to index). Main thread. */
fd_listener_runtime_t *fd_listener_runtime_new(fd_config_t *arena, fd_listener_t *listener, char *err, size_t len);

void fd_listener_runtime_retain(fd_listener_runtime_t *runtime);
/* The last reference disposes of h2o's settings, the TLS contexts and the access log sinks. */
void fd_listener_runtime_release(fd_listener_runtime_t *runtime);

#endif
