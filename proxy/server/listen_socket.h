/* Listening sockets: one per worker per listener, bound with SO_REUSEPORT so the
 * kernel spreads connections over the workers without a shared accept queue. */
#ifndef FD_LISTEN_SOCKET_H
#define FD_LISTEN_SOCKET_H

#include <stddef.h>

#include "proxy/config/config.h"

/* Opens a non-blocking listening socket; -1 with a message in err on failure. */
int fd_listen_socket_open(const fd_socket_address_t *address, char *err, size_t err_len);

#endif
