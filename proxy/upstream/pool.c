/* The per-worker upstream connection pool (pool.h): connecting, lending, taking back, reaping
 * and counting connections to one address. It knows nothing of HTTP; the client in
 * http1_client.c owns a connection while it is lent. */
#include "proxy/upstream/pool.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fd_upstream_timeout_slot {
    h2o_timeout_t timeout;
    fd_upstream_timeout_slot_t *next;
};

const char *fd_upstream_error_str(fd_upstream_error_t err)
{
    switch (err) {
    case FD_UPSTREAM_OK: return "ok";
    case FD_UPSTREAM_CONNECT_FAILURE: return "connect_failure";
    case FD_UPSTREAM_CONNECT_TIMEOUT: return "connect_timeout";
    case FD_UPSTREAM_RESPONSE_TIMEOUT: return "response_timeout";
    case FD_UPSTREAM_IDLE_TIMEOUT: return "idle_timeout";
    case FD_UPSTREAM_RESET_BEFORE_RESPONSE: return "reset_before_response";
    case FD_UPSTREAM_RESET_DURING_RESPONSE: return "reset_during_response";
    case FD_UPSTREAM_PROTOCOL_ERROR: return "protocol_error";
    case FD_UPSTREAM_POOL_DISPOSED: return "pool_disposed";
    }
    return "unknown";
}

int fd_upstream_pool_init(fd_upstream_pool_t *pool, h2o_loop_t *loop, const struct sockaddr *addr, socklen_t len,
                          const fd_upstream_pool_config_t *cfg)
{
    if (len > sizeof(pool->addr))
        return -1;
    memset(pool, 0, sizeof(*pool));
    pool->loop = loop;
    memcpy(&pool->addr, addr, len);
    pool->addrlen = len;
    pool->cfg = *cfg;
    h2o_linklist_init_anchor(&pool->_idle);
    h2o_linklist_init_anchor(&pool->_busy);
    h2o_timeout_init(loop, &pool->_connect_timeout, cfg->connect_timeout_ms);
    h2o_timeout_init(loop, &pool->_idle_timeout, cfg->idle_timeout_ms);
    h2o_timeout_init(loop, &pool->_zero_timeout, 0);
    return 0;
}

h2o_timeout_t *fd_upstream_pool_timeout(fd_upstream_pool_t *pool, uint32_t ms)
{
    fd_upstream_timeout_slot_t *slot;

    for (slot = pool->_timeouts; slot != NULL; slot = slot->next)
        if (slot->timeout.timeout == ms)
            return &slot->timeout;
    slot = h2o_mem_alloc(sizeof(*slot));
    h2o_timeout_init(pool->loop, &slot->timeout, ms);
    slot->next = pool->_timeouts;
    pool->_timeouts = slot;
    return &slot->timeout;
}

static void unlink_timer(fd_upstream_conn_t *conn)
{
    if (h2o_timeout_is_linked(&conn->_timer))
        h2o_timeout_unlink(&conn->_timer);
}

/* Closes the socket (if any) and counts it; the connection stays allocated and listed. */
static void close_socket(fd_upstream_conn_t *conn, int remote)
{
    fd_upstream_pool_t *pool = conn->pool;

    unlink_timer(conn);
    if (conn->sock == NULL)
        return;
    h2o_socket_close(conn->sock);
    conn->sock = NULL;
    --pool->stats.cx_active;
    if (remote)
        ++pool->stats.cx_destroy_remote;
    else
        ++pool->stats.cx_destroy_local;
}

static void destroy(fd_upstream_conn_t *conn, int remote)
{
    close_socket(conn, remote);
    h2o_linklist_unlink(&conn->_link);
    free(conn);
}

/* The end of a connection that never served: tell the owner, then forget it. */
static void fail(fd_upstream_conn_t *conn, fd_upstream_error_t err, int remote)
{
    close_socket(conn, remote);
    h2o_linklist_unlink(&conn->_link);
    conn->on_ready(conn, err);
    free(conn);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    fd_upstream_conn_t *conn = H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _timer, entry);

    --conn->pool->stats.cx_idle;
    destroy(conn, 0);
}

/* h2o 2.2 reads until the kernel's buffer is dry: megabytes at a time from a fast peer, however
 * slow the consumer. So pooled sockets are DONT_READ, h2o only says they are readable, and this
 * reads at most READ_BURST per turn of the loop; the rest waits in the kernel (the poll is
 * level-triggered, so it is reported again without any epoll_ctl). A small response still
 * takes one read. Returns NULL, or h2o's error strings for EOF and errors. */
static const char *read_some(h2o_socket_t *sock)
{
    int fd = h2o_socket_get_fd(sock);
    size_t total = 0;

    while (total < FD_UPSTREAM_READ_BURST) {
        h2o_iovec_t buf = h2o_buffer_reserve(&sock->input, 4096);
        size_t want = buf.len < FD_UPSTREAM_READ_BURST - total ? buf.len : FD_UPSTREAM_READ_BURST - total;
        ssize_t r;
        if (buf.base == NULL)
            return h2o_socket_error_out_of_memory;
        while ((r = read(fd, buf.base, want)) == -1 && errno == EINTR)
            ;
        if (r == -1)
            return errno == EAGAIN || errno == EWOULDBLOCK ? NULL : h2o_socket_error_io;
        if (r == 0)
            return total == 0 ? h2o_socket_error_closed : NULL;
        sock->input->size += (size_t)r;
        total += (size_t)r;
        if ((size_t)r < want)
            break; /* drained */
    }
    return NULL;
}

/* On an idle connection any event means it is unusable: EOF or a reset from the peer, or bytes
 * nobody asked for (then we are the one closing it). */
static void on_idle_readable(fd_upstream_conn_t *conn)
{
    char c;
    ssize_t r;

    while ((r = read(h2o_socket_get_fd(conn->sock), &c, 1)) == -1 && errno == EINTR)
        ;
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    --conn->pool->stats.cx_idle;
    destroy(conn, r <= 0);
}

/* Read interest stays on for every pooled socket, lent or idle. */
static void on_read(h2o_socket_t *sock, const char *err)
{
    fd_upstream_conn_t *conn = sock->data;

    if (conn->data == NULL) {
        on_idle_readable(conn);
        return;
    }
    if (err == NULL)
        err = read_some(sock);
    if (err == NULL && sock->input->size == 0)
        return; /* nothing new */
    conn->on_read(conn, err);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    fd_upstream_conn_t *conn = sock->data;

    unlink_timer(conn);
    if (err != NULL) {
        ++conn->pool->stats.cx_connect_fail;
        fail(conn, FD_UPSTREAM_CONNECT_FAILURE, 1);
        return;
    }
    conn->connected = 1;
    h2o_socket_dont_read(sock, 1); /* read_some() reads; a flag, no syscall */
    h2o_socket_read_start(sock, on_read);
    conn->on_ready(conn, FD_UPSTREAM_OK);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    fd_upstream_conn_t *conn = H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _timer, entry);

    ++conn->pool->stats.cx_connect_timeout;
    ++conn->pool->stats.cx_connect_fail;
    fail(conn, FD_UPSTREAM_CONNECT_TIMEOUT, 0);
}

static void on_deferred_failure(h2o_timeout_entry_t *entry)
{
    fd_upstream_conn_t *conn = H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _timer, entry);

    fail(conn, conn->_deferred, 1);
}

/* h2o_socket_connect makes the socket non-blocking and sets TCP_NODELAY once, here. */
static void start_connect(fd_upstream_pool_t *pool, fd_upstream_conn_t *conn)
{
    ++pool->stats.cx_total;
    conn->sock = h2o_socket_connect(pool->loop, (struct sockaddr *)&pool->addr, pool->addrlen, on_connect);
    if (conn->sock == NULL) {
        /* counted as a connection that the network refused, reported from the loop so that
         * no callback runs inside fd_upstream_pool_acquire */
        ++pool->stats.cx_connect_fail;
        ++pool->stats.cx_destroy_remote;
        conn->_deferred = FD_UPSTREAM_CONNECT_FAILURE;
        conn->_timer.cb = on_deferred_failure;
        h2o_timeout_link(pool->loop, &pool->_zero_timeout, &conn->_timer);
        return;
    }
    ++pool->stats.cx_active;
    conn->sock->data = conn;
    if (pool->cfg.connect_timeout_ms != 0) {
        conn->_timer.cb = on_connect_timeout;
        h2o_timeout_link(pool->loop, &pool->_connect_timeout, &conn->_timer);
    }
}

static void lend(fd_upstream_conn_t *conn, fd_upstream_conn_ready_cb on_ready, fd_upstream_conn_read_cb on_read,
                 void *data)
{
    conn->on_ready = on_ready;
    conn->on_read = on_read;
    conn->data = data;
    h2o_linklist_insert(&conn->pool->_busy, &conn->_link);
}

fd_upstream_conn_t *fd_upstream_pool_acquire(fd_upstream_pool_t *pool, int fresh, fd_upstream_conn_ready_cb on_ready,
                                             fd_upstream_conn_read_cb on_read, void *data)
{
    fd_upstream_conn_t *conn;

    assert(data != NULL);
    if (pool->_disposing)
        return NULL;
    if (!fresh && !h2o_linklist_is_empty(&pool->_idle)) {
        conn = H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _link, pool->_idle.next);
        h2o_linklist_unlink(&conn->_link);
        unlink_timer(conn);
        --pool->stats.cx_idle;
        ++conn->reused;
        lend(conn, on_ready, on_read, data);
        return conn;
    }
    conn = h2o_mem_alloc(sizeof(*conn));
    memset(conn, 0, sizeof(*conn));
    conn->pool = pool;
    lend(conn, on_ready, on_read, data);
    start_connect(pool, conn);
    return conn;
}

static int reusable(fd_upstream_conn_t *conn)
{
    fd_upstream_pool_t *pool = conn->pool;
    h2o_socket_t *sock = conn->sock;

    return !pool->_disposing && pool->stats.cx_idle < pool->cfg.max_idle && conn->connected &&
           h2o_socket_is_reading(sock) && !h2o_socket_is_writing(sock) && sock->input->size == 0;
}

void fd_upstream_pool_release(fd_upstream_conn_t *conn, fd_upstream_release_t how)
{
    fd_upstream_pool_t *pool = conn->pool;

    if (how != FD_UPSTREAM_RELEASE_REUSE || !reusable(conn)) {
        destroy(conn, how == FD_UPSTREAM_RELEASE_CLOSE_REMOTE);
        return;
    }
    h2o_linklist_unlink(&conn->_link);
    conn->on_ready = NULL;
    conn->on_read = NULL;
    conn->data = NULL;
    h2o_linklist_insert(pool->_idle.next, &conn->_link); /* LIFO: the warmest connection goes first */
    ++pool->stats.cx_idle;
    if (pool->cfg.idle_timeout_ms != 0) {
        conn->_timer.cb = on_idle_timeout;
        h2o_timeout_link(pool->loop, &pool->_idle_timeout, &conn->_timer);
    }
}

void fd_upstream_conn_pause_reading(fd_upstream_conn_t *conn, int pause)
{
    if (pause)
        h2o_socket_read_stop(conn->sock);
    else
        h2o_socket_read_start(conn->sock, on_read);
}

/* Owners hear of the end first, and may cancel other requests from their callback (which
 * unlinks those connections): hence the list is re-read from its head every time. */
static void dispose_busy(fd_upstream_pool_t *pool)
{
    while (!h2o_linklist_is_empty(&pool->_busy)) {
        fd_upstream_conn_t *conn = H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _link, pool->_busy.next);
        if (conn->sock == NULL) /* the failure was counted already; report the original reason */
            fail(conn, conn->_deferred, 1);
        else
            fail(conn, FD_UPSTREAM_POOL_DISPOSED, 0);
    }
}

void fd_upstream_pool_dispose(fd_upstream_pool_t *pool)
{
    fd_upstream_timeout_slot_t *slot;

    pool->_disposing = 1;
    while (!h2o_linklist_is_empty(&pool->_idle)) {
        --pool->stats.cx_idle;
        destroy(H2O_STRUCT_FROM_MEMBER(fd_upstream_conn_t, _link, pool->_idle.next), 0);
    }
    dispose_busy(pool);
    h2o_timeout_dispose(pool->loop, &pool->_connect_timeout);
    h2o_timeout_dispose(pool->loop, &pool->_idle_timeout);
    h2o_timeout_dispose(pool->loop, &pool->_zero_timeout);
    while ((slot = pool->_timeouts) != NULL) {
        pool->_timeouts = slot->next;
        h2o_timeout_dispose(pool->loop, &slot->timeout);
        free(slot);
    }
}
