/* DNS for STRICT_DNS and LOGICAL_DNS clusters: static ones resolved once before the workers
 * start, CDS ones as they come; all re-resolved on a thread of its own every
 * dns_refresh_rate (dns_resolver.c). */
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

/* CDS, from the main thread: the last addresses of a DNS cluster name (a copy to free; *n 0
 * when none), to seed its next version; a version to resolve from now on (arena holds cluster;
 * the resolver takes its own reference), replacing any of that name and starting from seed;
 * a name no longer resolved. Hosts of CDS clusters go to the workers by name. */
fd_router_address_t *fd_dns_resolver_last(fd_dns_resolver_t *resolver, const char *name, size_t *n);
void fd_dns_resolver_add(fd_dns_resolver_t *resolver, fd_config_t *arena, const fd_cluster_t *cluster,
                         const fd_router_address_t *seed, size_t n);
void fd_dns_resolver_remove(fd_dns_resolver_t *resolver, const char *name);

/* Starts the refresh thread; -1 when it cannot. */
int fd_dns_resolver_start(fd_dns_resolver_t *resolver);

/* Asks the thread to stop without waiting (drain); it posts nothing more to the workers. */
void fd_dns_resolver_request_stop(fd_dns_resolver_t *resolver);
int fd_dns_resolver_exited(fd_dns_resolver_t *resolver);

/* Stops the thread, waiting for a lookup in progress, and frees everything. */
void fd_dns_resolver_stop(fd_dns_resolver_t *resolver);

#endif
