/* Load balancing over a cluster's hosts as one worker sees them (load_balancer.c). */
#ifndef FD_LOAD_BALANCER_H
#define FD_LOAD_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/router/router.h"

/* The index of the host to use, or SIZE_MAX when the cluster has none. hash (may be NULL)
 * is the request's hash-policy value, used by RING_HASH. */
size_t fd_lb_pick(fd_router_cluster_t *rc, const uint64_t *hash);

/* Builds the RING_HASH ring of rc's hosts; -1 on allocation failure or too many hosts. */
int fd_lb_build_ring(fd_router_cluster_t *rc);

uint64_t fd_lb_random(uint64_t *state);
uint64_t fd_lb_hash(const void *data, size_t len);

#endif
