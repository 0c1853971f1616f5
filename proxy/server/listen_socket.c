/* Listening sockets; see listen_socket.h. */
#include "proxy/server/listen_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

int fd_listen_socket_open(const fd_socket_address_t *address, char *err, size_t err_len)
{
    int fd = socket(address->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) {
        snprintf(err, err_len, "socket(): %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
        snprintf(err, err_len, "setsockopt(): %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (address->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&address->addr, address->addr_len) != 0) {
        snprintf(err, err_len, "cannot bind %s:%u: %s", address->host, address->port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u: %s", address->host, address->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
