/* A new downstream connection on a worker: TLS first when the listener has it (the handshake
 * bounded by h2o's handshake timeout), then HTTP/2 when ALPN chose it, frontdesk's HTTP/1.1
 * codec otherwise. */
#ifndef FD_ACCEPT_H
#define FD_ACCEPT_H

#include <h2o.h>

#include "proxy/server/worker.h"

void fd_accept_connection(fd_worker_listener_t *wl, h2o_socket_t *sock);

#endif
