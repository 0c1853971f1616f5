/* DNS for STRICT_DNS and LOGICAL_DNS clusters: resolved once before the workers start,
 * then re-resolved on a thread of its own every dns_refresh_rate (dns_resolver.c). */
#ifndef FD_DNS_RESOLVER_H
#define FD_DNS_RESOLVER_H

#include "proxy/config/config.h"
#include "proxy/router/router.h"
#include "proxy/server/server.h"

typedef struct fd_dns_resolver fd_dns_resolver_t;

/* Resolves every DNS cluster of config now (blocking: call before the workers start). */
fd_dns_resolver_t *fd_dns_resolver_create(fd_server_t *server, const fd_config_t *config);

/* Gives a worker, before its thread starts, the addresses resolved so far. */
void fd_dns_resolver_seed(fd_dns_resolver_t *resolver, fd_router_worker_t *rw);

/* Starts the refresh thread; -1 when it cannot. */
int fd_dns_resolver_start(fd_dns_resolver_t *resolver);

/* Asks the thread to stop without waiting (drain); it posts nothing more to the workers. */
void fd_dns_resolver_request_stop(fd_dns_resolver_t *resolver);
int fd_dns_resolver_exited(fd_dns_resolver_t *resolver);

/* Stops the thread, waiting for a lookup in progress, and frees everything. */
void fd_dns_resolver_stop(fd_dns_resolver_t *resolver);

#endif
