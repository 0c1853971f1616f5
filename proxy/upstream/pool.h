/* A worker's keep-alive connection pool to one upstream address: non-blocking connects with a
 * timeout, idle connections handed out LIFO and reaped, and Envoy-shaped upstream_cx_* counters.
 * Pooled sockets stay registered with the event loop, reading, so lending or returning one costs
 * no syscall and a peer closing an idle one is noticed at once. */
#ifndef FD_UPSTREAM_POOL_H
#define FD_UPSTREAM_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <h2o/linklist.h>
#include <h2o/socket.h>
#include <h2o/timeout.h>

/* Why a request (or a connection attempt) failed. */
typedef enum fd_upstream_error {
    FD_UPSTREAM_OK = 0,
    FD_UPSTREAM_CONNECT_FAILURE,       /* refused, unreachable, or no socket could be made */
    FD_UPSTREAM_CONNECT_TIMEOUT,       /* not connected within connect_timeout_ms */
    FD_UPSTREAM_RESPONSE_TIMEOUT,      /* no response byte within response_timeout_ms */
    FD_UPSTREAM_IDLE_TIMEOUT,          /* nothing read for idle_timeout_ms */
    FD_UPSTREAM_RESET_BEFORE_RESPONSE, /* peer closed or reset before a whole response head (UC/UR) */
    FD_UPSTREAM_RESET_DURING_RESPONSE, /* peer closed or reset before the end of the body */
    FD_UPSTREAM_PROTOCOL_ERROR,        /* unparseable response, or a head over 64 KiB */
    FD_UPSTREAM_POOL_DISPOSED,         /* the pool was disposed while the request was in flight */
} fd_upstream_error_t;

/* A short constant name for logs ("connect_timeout", ...). */
const char *fd_upstream_error_str(fd_upstream_error_t err);

typedef struct fd_upstream_pool_config {
    uint32_t connect_timeout_ms; /* 0: no timeout of our own (the kernel gives up after ~2 min) */
    uint32_t idle_timeout_ms;    /* an idle connection is closed after this long; 0: never */
    size_t max_idle;             /* idle connections kept at most; 0 disables keep-alive */
} fd_upstream_pool_config_t;

/* Counters, only ever incremented except the two gauges. Every connection attempt counts in
 * cx_total, and every closed one in exactly one of cx_destroy_local (we closed it: cancel,
 * timeout, protocol error, reaping, max_idle, dispose) or cx_destroy_remote (the peer did, or
 * refused it), so cx_total == cx_active + cx_destroy_local + cx_destroy_remote. As in Envoy a
 * connect timeout counts in cx_connect_fail too. */
typedef struct fd_upstream_pool_stats {
    uint64_t cx_total;
    uint64_t cx_active; /* gauge: connecting, lent, or idle */
    uint64_t cx_idle;   /* gauge */
    uint64_t cx_connect_fail;
    uint64_t cx_connect_timeout;
    uint64_t cx_destroy_local;
    uint64_t cx_destroy_remote;
    uint64_t rq_total;
    uint64_t rq_retry; /* requests resent on a fresh connection after a reused one was reset */
} fd_upstream_pool_stats_t;

typedef struct fd_upstream_timeout_slot fd_upstream_timeout_slot_t;

/* One per worker and upstream address; the caller owns the memory (embed it or allocate it).
 * Everything in it belongs to the worker thread whose loop it was initialised with. */
typedef struct fd_upstream_pool {
    h2o_loop_t *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    fd_upstream_pool_config_t cfg;
    fd_upstream_pool_stats_t stats;
    /* private */
    h2o_linklist_t _idle; /* most recently returned first */
    h2o_linklist_t _busy; /* connecting, lent, or waiting to report a failure */
    h2o_timeout_t _connect_timeout;
    h2o_timeout_t _idle_timeout;
    h2o_timeout_t _zero_timeout; /* defers a failure found synchronously to the end of the loop turn */
    fd_upstream_timeout_slot_t *_timeouts;
    int _disposing;
} fd_upstream_pool_t;

/* Returns 0, or -1 when len does not fit a sockaddr_storage. addr is copied. */
int fd_upstream_pool_init(fd_upstream_pool_t *pool, h2o_loop_t *loop, const struct sockaddr *addr, socklen_t len,
                          const fd_upstream_pool_config_t *cfg);

/* Closes every connection. A request still in flight first gets on_error(FD_UPSTREAM_POOL_DISPOSED)
 * (it may start no new request on this pool: fd_upstream_request_start returns NULL from then
 * on). Must not be called from inside a callback of this pool's requests or connections, since
 * h2o 2.2 walks the timeouts being disposed while it runs those. The pool's memory is the
 * caller's to free afterwards. */
void fd_upstream_pool_dispose(fd_upstream_pool_t *pool);

/* The pool's shared h2o_timeout_t for a duration (one per distinct duration, the h2o idiom),
 * made on first use and disposed with the pool. */
h2o_timeout_t *fd_upstream_pool_timeout(fd_upstream_pool_t *pool, uint32_t ms);

/* The connection-level interface, used by the HTTP/1.1 client (http1_client.h). */

typedef struct fd_upstream_conn fd_upstream_conn_t;

/* Most bytes read from one connection per turn of the event loop. */
#define FD_UPSTREAM_READ_BURST (64 * 1024)

/* err is FD_UPSTREAM_OK once connected, else why the connection is gone: the pool has closed
 * it and frees it when this returns, so the owner must forget it (and not release it). */
typedef void (*fd_upstream_conn_ready_cb)(fd_upstream_conn_t *conn, fd_upstream_error_t err);
/* Bytes read from a lent connection are in conn->sock->input (at most FD_UPSTREAM_READ_BURST
 * more per call), or err says why nothing more will come (h2o_socket_error_closed on EOF,
 * h2o_socket_error_io on a reset). */
typedef void (*fd_upstream_conn_read_cb)(fd_upstream_conn_t *conn, const char *err);

struct fd_upstream_conn {
    fd_upstream_pool_t *pool;
    h2o_socket_t *sock; /* sock->data is the connection; NULL only while a failure waits to be reported */
    uint64_t reused;    /* requests this connection served before the current one */
    int connected;
    /* the owner's, while lent */
    fd_upstream_conn_ready_cb on_ready;
    fd_upstream_conn_read_cb on_read;
    void *data;
    /* private */
    h2o_linklist_t _link;
    h2o_timeout_entry_t _timer; /* connect timeout, idle reaping, or deferred failure */
    fd_upstream_error_t _deferred;
};

/* Lends a connection: the most recently idle one (already connected, no syscall) unless fresh
 * is set or none is idle, else a new one, in which case on_ready reports the outcome later
 * (never from inside this call). data (the owner) must not be NULL: a NULL data marks an idle
 * connection. Returns NULL only while the pool is being disposed. */
fd_upstream_conn_t *fd_upstream_pool_acquire(fd_upstream_pool_t *pool, int fresh, fd_upstream_conn_ready_cb on_ready,
                                             fd_upstream_conn_read_cb on_read, void *data);

typedef enum fd_upstream_release {
    FD_UPSTREAM_RELEASE_REUSE,        /* back to the idle list (closed instead if that is full) */
    FD_UPSTREAM_RELEASE_CLOSE_LOCAL,  /* we are closing it */
    FD_UPSTREAM_RELEASE_CLOSE_REMOTE, /* the peer closed or reset it */
} fd_upstream_release_t;

/* Gives a lent connection back; the owner must forget it. Reuse requires a connected socket
 * that is reading, not writing, with nothing left unread. */
void fd_upstream_pool_release(fd_upstream_conn_t *conn, fd_upstream_release_t how);

/* Stops or restarts read interest on a lent connection (an epoll_ctl each way: only for
 * backpressure, never on the per-request path). */
void fd_upstream_conn_pause_reading(fd_upstream_conn_t *conn, int pause);

#endif
