/* The hop-by-hop header test of the request path, written for its speed (http_util.c);
 * decimal formatting is in proxy/util/format.h. */
#ifndef FD_HTTP_UTIL_H
#define FD_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/util/format.h"

/* Whether a lower-cased header name is hop-by-hop, i.e. not forwarded (RFC 9110 7.6.1,
 * plus the headers the proxy writes itself: host, content-length). */
int fd_header_is_hop_by_hop(const char *name, size_t len);

#endif
