/* See http_util.h. */
#include "proxy/router/http_util.h"

#include <string.h>

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, sizeof(lit) - 1) == 0)

/* Dispatches on the length first: most headers are rejected without a comparison. */
int fd_header_is_hop_by_hop(const char *name, size_t len)
{
    switch (len) {
    case 2: return IS("te");
    case 4: return IS("host");
    case 7: return IS("upgrade") || IS("trailer");
    case 10: return IS("connection") || IS("keep-alive");
    case 14: return IS("content-length") || IS("http2-settings");
    case 16: return IS("proxy-connection");
    case 17: return IS("transfer-encoding");
    default: return 0;
    }
}
