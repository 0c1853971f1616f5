/* Route redirects: computes the Location header of an Envoy RedirectAction. */
#ifndef FD_REDIRECT_H
#define FD_REDIRECT_H

#include <h2o.h>

#include "proxy/config/config.h"

/* The absolute URL to redirect req to, allocated from pool; route->kind is FD_ROUTE_REDIRECT. */
h2o_iovec_t fd_redirect_location(h2o_mem_pool_t *pool, h2o_req_t *req, const fd_route_t *route);

#endif
