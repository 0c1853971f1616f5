/* Header mutations from route configuration (request_headers_to_add/remove and the
 * response ones), applied with Envoy's append actions. */
#ifndef FD_HEADER_OPS_H
#define FD_HEADER_OPS_H

#include <h2o.h>

#include "proxy/config/config.h"

/* Removes ops->remove, then adds ops->add, as Envoy does. Values are copied into pool. */
void fd_header_ops_apply(h2o_mem_pool_t *pool, h2o_headers_t *headers, const fd_header_ops_t *ops);

#endif
