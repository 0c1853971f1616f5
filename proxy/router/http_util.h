/* Small helpers of the request path, written for its speed: decimal formatting without
 * printf, and the hop-by-hop header test (http_util.c). */
#ifndef FD_HTTP_UTIL_H
#define FD_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal at out (at least 20 bytes) and returns the length; no NUL. */
size_t fd_u64_to_dec(uint64_t v, char *out);

/* Whether a lower-cased header name is hop-by-hop, i.e. not forwarded (RFC 9110 7.6.1,
 * plus the headers the proxy writes itself: host, content-length). */
int fd_header_is_hop_by_hop(const char *name, size_t len);

#endif
