/* Tests of the upstream HTTP/1.1 client and its keep-alive pools (proxy/upstream/http1_client.h,
 * pool.h): the client runs on a real h2o event loop against real backends on 127.0.0.1, each a
 * thread with blocking sockets playing a script per connection. Every test checks the pool's
 * counters and that no file descriptor is left open; one counts the syscalls of a pooled request. */
#undef _FORTIFY_SOURCE /* the syscall counters below define read(), which fortify inlines */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/upstream/http1_client.h"
#include "proxy/upstream/pool.h"

/* Syscall counting: these definitions interpose libc's for libh2o-evloop.so (which the link
 * exports them to) and count on the thread that sets count_on, the loop's. */

struct syscalls {
    unsigned read, write, writev, epoll_ctl, epoll_wait, sockopt, sockname, socket, connect, close;
};

static __thread int count_on;
static __thread struct syscalls sc, first_sc; /* first_sc: the first request, which connects */

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_epoll_ctl)(int, int, int, struct epoll_event *);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*real_socket)(int, int, int);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_close)(int);

#define RESOLVE(f) (*(void **)&real_##f = dlsym(RTLD_NEXT, #f))

static void resolve_real(void)
{
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(writev);
    RESOLVE(epoll_ctl);
    RESOLVE(epoll_wait);
    RESOLVE(setsockopt);
    RESOLVE(getsockopt);
    RESOLVE(getsockname);
    RESOLVE(getpeername);
    RESOLVE(socket);
    RESOLVE(connect);
    RESOLVE(close);
}

#define COUNT(field) (count_on ? ++sc.field : 0)

ssize_t read(int fd, void *buf, size_t n)
{
    COUNT(read);
    return real_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    COUNT(write);
    return real_write(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    COUNT(writev);
    return real_writev(fd, iov, n);
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    COUNT(epoll_ctl);
    return real_epoll_ctl(ep, op, fd, ev);
}

int epoll_wait(int ep, struct epoll_event *evs, int n, int timeout)
{
    COUNT(epoll_wait);
    return real_epoll_wait(ep, evs, n, timeout);
}

int setsockopt(int fd, int level, int name, const void *v, socklen_t len)
{
    COUNT(sockopt);
    return real_setsockopt(fd, level, name, v, len);
}

int getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
    COUNT(sockopt);
    return real_getsockopt(fd, level, name, v, len);
}

int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    COUNT(sockname);
    return real_getsockname(fd, sa, len);
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    COUNT(sockname);
    return real_getpeername(fd, sa, len);
}

int socket(int domain, int type, int proto)
{
    COUNT(socket);
    return real_socket(domain, type, proto);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    COUNT(connect);
    return real_connect(fd, sa, len);
}

int close(int fd)
{
    COUNT(close);
    return real_close(fd);
}

/* The loop */

static h2o_loop_t *loop;
static h2o_timeout_t proceed_timeout; /* a slow downstream: proceed 1 ms after each chunk */

static uint64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Runs the loop until cond holds, for 5 s at most. */
#define RUN_UNTIL(cond)                                                                                                \
    do {                                                                                                               \
        uint64_t deadline_ = now_ms() + 5000;                                                                          \
        while (!(cond) && now_ms() < deadline_)                                                                        \
            h2o_evloop_run(loop, 10);                                                                                  \
        assert_true(cond);                                                                                             \
    } while (0)

static void run_for(unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    while (now_ms() < deadline)
        h2o_evloop_run(loop, 5);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory itself */
}

/* Backends: a thread that accepts connections one at a time and hands each to serve(). */

typedef struct backend backend_t;
typedef void (*serve_fn)(backend_t *b, int fd, int index);

struct backend {
    int listen_fd, wake[2];
    pthread_t thread;
    struct sockaddr_in addr;
    serve_fn serve;
    const char *const *script; /* the response to the n-th request (the last one repeats) */
    size_t script_len;
    int dribble;     /* write responses 3 bytes at a time */
    int close_after; /* close each connection after its first response */
    int mode;        /* for scripts that vary */
    atomic_int conns, requests, saw_eof;
    pthread_mutex_t lock;
    char last_request[4096];
};

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p != NULL ? strtoul(p + 17, NULL, 10) : 0;
}

/* Reads one request (head and content-length body); returns its length, 0 on EOF, -1 on error. */
static ssize_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, total = 0;
    char *end = NULL;

    while (end == NULL || len < total) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            return len == 0 && r == 0 ? 0 : -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL)
            total = (size_t)(end + 4 - buf) + content_length(buf);
        if (len == cap - 1)
            return -1;
    }
    return (ssize_t)len;
}

static ssize_t read_recorded(backend_t *b, int fd)
{
    char buf[4096];
    ssize_t n = read_request(fd, buf, sizeof(buf));

    if (n > 0) {
        pthread_mutex_lock(&b->lock);
        memcpy(b->last_request, buf, (size_t)n + 1);
        pthread_mutex_unlock(&b->lock);
    }
    return n;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len != 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

static void respond(backend_t *b, int fd)
{
    int i = atomic_fetch_add(&b->requests, 1);
    const char *resp = b->script[(size_t)i < b->script_len ? (size_t)i : b->script_len - 1];
    size_t len = strlen(resp), off;

    if (!b->dribble) {
        write_all(fd, resp, len);
        return;
    }
    for (off = 0; off < len; off += 3) {
        write_all(fd, resp + off, len - off < 3 ? len - off : 3);
        usleep(500);
    }
}

static void wait_eof(backend_t *b, int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    atomic_store(&b->saw_eof, 1);
}

/* Answers requests from the script until EOF (or after one, with close_after). */
static void serve_script(backend_t *b, int fd, int index)
{
    (void)index;
    while (read_recorded(b, fd) > 0) {
        respond(b, fd);
        if (b->close_after)
            return;
    }
}

/* Reads the request, never answers. */
static void serve_silent(backend_t *b, int fd, int index)
{
    (void)index;
    if (read_recorded(b, fd) > 0)
        atomic_fetch_add(&b->requests, 1);
    wait_eof(b, fd);
}

/* Reads the request and closes the connection without a word. */
static void serve_hangup(backend_t *b, int fd, int index)
{
    (void)index;
    if (read_recorded(b, fd) > 0)
        atomic_fetch_add(&b->requests, 1);
}

/* The first connection answers one request, keep-alive, then closes (the keep-alive race);
 * later ones answer (mode 0) or hang up (mode 1). */
static void serve_first_then_close(backend_t *b, int fd, int index)
{
    if (index == 0) {
        if (read_recorded(b, fd) > 0)
            respond(b, fd);
    } else if (b->mode == 1) {
        serve_hangup(b, fd, index);
    } else {
        serve_script(b, fd, index);
    }
}

/* Answers with the request's body. */
static void serve_echo(backend_t *b, int fd, int index)
{
    char buf[4096], head[128];
    ssize_t n;

    (void)index;
    while ((n = read_request(fd, buf, sizeof(buf))) > 0) {
        const char *body = strstr(buf, "\r\n\r\n") + 4;
        size_t len = (size_t)n - (size_t)(body - buf);
        pthread_mutex_lock(&b->lock);
        memcpy(b->last_request, buf, (size_t)n + 1);
        pthread_mutex_unlock(&b->lock);
        atomic_fetch_add(&b->requests, 1);
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n\r\n", len);
        write_all(fd, head, strlen(head));
        write_all(fd, body, len);
    }
}

#define STREAM_SIZE (10u << 20)

static char pattern_at(uint64_t i)
{
    return (char)('a' + (i * 7 + i / 4096) % 26);
}

/* 10 MiB as fast as the socket takes it: content-length (mode 0) or until close (mode 1). */
static void serve_stream(backend_t *b, int fd, int index)
{
    static const char cl[] = "HTTP/1.1 200 OK\r\ncontent-length: 10485760\r\n\r\n";
    static const char uc[] = "HTTP/1.1 200 OK\r\n\r\n";
    char piece[65536];
    uint64_t off, i;

    (void)index;
    if (read_recorded(b, fd) <= 0)
        return;
    atomic_fetch_add(&b->requests, 1);
    write_all(fd, b->mode == 0 ? cl : uc, b->mode == 0 ? sizeof(cl) - 1 : sizeof(uc) - 1);
    for (off = 0; off < STREAM_SIZE; off += sizeof(piece)) {
        for (i = 0; i != sizeof(piece); ++i)
            piece[i] = pattern_at(off + i);
        write_all(fd, piece, sizeof(piece));
    }
}

/* The head and 1000 bytes of a 100000-byte body, then nothing until the client goes away. */
static void serve_partial(backend_t *b, int fd, int index)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
    char body[1000];

    (void)index;
    if (read_recorded(b, fd) <= 0)
        return;
    atomic_fetch_add(&b->requests, 1);
    memset(body, 'x', sizeof(body));
    write_all(fd, resp, sizeof(resp) - 1);
    write_all(fd, body, sizeof(body));
    wait_eof(b, fd);
}

static void *backend_main(void *arg)
{
    backend_t *b = arg;
    struct timeval tv = {5, 0}; /* a test gone wrong must not hang the backend */

    for (;;) {
        struct pollfd p[2] = {{b->listen_fd, POLLIN, 0}, {b->wake[0], POLLIN, 0}};
        int fd;
        if (poll(p, 2, -1) < 0 || p[1].revents != 0)
            break;
        if ((fd = accept(b->listen_fd, NULL, NULL)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        b->serve(b, fd, atomic_fetch_add(&b->conns, 1));
        close(fd);
    }
    return NULL;
}

static int listen_local(struct sockaddr_in *addr, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    socklen_t len = sizeof(*addr);

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    getsockname(fd, (struct sockaddr *)addr, &len);
    return fd;
}

/* Per test: a backend, a pool, and the file descriptors open before them. */

typedef struct fixture {
    backend_t be;
    fd_upstream_pool_t pool;
    int backend_live, pool_live, fds;
} fixture_t;

static void backend_start(fixture_t *f, serve_fn serve, const char *const *script, size_t script_len)
{
    backend_t *b = &f->be;

    b->listen_fd = listen_local(&b->addr, 16);
    assert_int_equal(pipe2(b->wake, O_CLOEXEC), 0);
    b->serve = serve;
    b->script = script;
    b->script_len = script_len;
    pthread_mutex_init(&b->lock, NULL);
    assert_int_equal(pthread_create(&b->thread, NULL, backend_main, b), 0);
    f->backend_live = 1;
}

static void backend_stop(fixture_t *f)
{
    backend_t *b = &f->be;

    if (!f->backend_live)
        return;
    f->backend_live = 0;
    write_all(b->wake[1], "x", 1);
    pthread_join(b->thread, NULL);
    close(b->wake[0]);
    close(b->wake[1]);
    close(b->listen_fd);
    pthread_mutex_destroy(&b->lock);
}

static const fd_upstream_pool_config_t default_cfg = {1000, 10000, 16};

static void pool_start(fixture_t *f, const fd_upstream_pool_config_t *cfg)
{
    assert_int_equal(fd_upstream_pool_init(&f->pool, loop, (struct sockaddr *)&f->be.addr, sizeof(f->be.addr),
                                           cfg ? cfg : &default_cfg),
                     0);
    f->pool_live = 1;
}

static void check_invariant(const fd_upstream_pool_t *pool)
{
    const fd_upstream_pool_stats_t *s = &pool->stats;
    assert_int_equal(s->cx_total, s->cx_active + s->cx_destroy_local + s->cx_destroy_remote);
}

static void pool_stop(fixture_t *f)
{
    if (!f->pool_live)
        return;
    f->pool_live = 0;
    fd_upstream_pool_dispose(&f->pool);
}

/* The end of every test: everything closed, counters consistent, no descriptor left. */
static void finish(fixture_t *f)
{
    check_invariant(&f->pool);
    pool_stop(f);
    assert_int_equal(f->pool.stats.cx_active, 0);
    assert_int_equal(f->pool.stats.cx_idle, 0);
    check_invariant(&f->pool);
    backend_stop(f);
    h2o_evloop_run(loop, 0); /* frees the sockets closed above */
    assert_int_equal(count_fds(), f->fds);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->fds = count_fds();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    pool_stop(f);
    backend_stop(f);
    h2o_evloop_run(loop, 0);
    free(f);
    return 0;
}

/* A client: starts requests and records what the callbacks say. */

typedef struct client {
    fd_upstream_pool_t *pool;
    fd_upstream_request_spec_t spec;
    fd_upstream_request_t *req;
    int chain;     /* further requests to start from the end of each one */
    int completed; /* final on_body */
    int failed;    /* on_error */
    int callbacks_after_end;
    fd_upstream_error_t error;
    int status, minor, heads, chunks, empty_chunks;
    char x_test[64];
    char body[8192];
    size_t body_len;
    uint64_t total;
    int pattern_ok;
    int async_proceed, cancel_in_body, start_in_error;
    size_t max_buffered;
    h2o_timeout_entry_t proceed_timer;
    void (*before_next)(struct client *c);
} client_t;

static const fd_upstream_callbacks_t callbacks;

static void start(client_t *c)
{
    c->heads = 0;
    c->body_len = 0;
    c->total = 0;
    c->pattern_ok = 1;
    c->status = 0;
    c->req = fd_upstream_request_start(c->pool, &c->spec, &callbacks, c);
    assert_non_null(c->req);
}

static void on_head(fd_upstream_request_t *req, int minor, int status, const struct phr_header *headers, size_t n,
                    void *data)
{
    client_t *c = data;
    size_t i;

    assert_ptr_equal(req, c->req);
    c->heads++;
    c->minor = minor;
    c->status = status;
    c->x_test[0] = '\0';
    for (i = 0; i != n; ++i)
        if (headers[i].name_len == 6 && memcmp(headers[i].name, "x-test", 6) == 0)
            snprintf(c->x_test, sizeof(c->x_test), "%.*s", (int)headers[i].value_len, headers[i].value);
}

static void end_of_request(client_t *c)
{
    c->req = NULL;
    if (c->chain > 0) {
        --c->chain;
        if (c->before_next != NULL)
            c->before_next(c);
        start(c);
    }
}

static void on_proceed_timer(h2o_timeout_entry_t *entry)
{
    client_t *c = H2O_STRUCT_FROM_MEMBER(client_t, proceed_timer, entry);
    size_t held = fd_upstream_request_buffered(c->req);

    if (held > c->max_buffered)
        c->max_buffered = held;
    fd_upstream_request_proceed(c->req);
}

static void on_body(fd_upstream_request_t *req, h2o_iovec_t chunk, int is_final, void *data)
{
    client_t *c = data;
    size_t i, held = fd_upstream_request_buffered(req);

    if (c->req != req)
        c->callbacks_after_end++;
    if (held > c->max_buffered)
        c->max_buffered = held;
    c->chunks++;
    c->empty_chunks += chunk.len == 0;
    for (i = 0; i != chunk.len; ++i)
        if (chunk.base[i] != pattern_at(c->total + i))
            c->pattern_ok = 0;
    if (c->body_len + chunk.len < sizeof(c->body)) {
        memcpy(c->body + c->body_len, chunk.base, chunk.len);
        c->body_len += chunk.len;
        c->body[c->body_len] = '\0';
    }
    c->total += chunk.len;
    if (is_final) {
        c->completed++;
        end_of_request(c);
    } else if (c->cancel_in_body) {
        fd_upstream_request_cancel(req);
        c->req = NULL;
    } else if (c->async_proceed) {
        h2o_timeout_link(loop, &proceed_timeout, &c->proceed_timer);
    } else {
        fd_upstream_request_proceed(req);
    }
}

static void on_error(fd_upstream_request_t *req, fd_upstream_error_t err, void *data)
{
    client_t *c = data;

    if (c->req != req)
        c->callbacks_after_end++;
    c->failed++;
    c->error = err;
    if (c->start_in_error) /* while the pool is being disposed: refused */
        assert_null(fd_upstream_request_start(c->pool, &c->spec, &callbacks, c));
    end_of_request(c);
}

static const fd_upstream_callbacks_t callbacks = {on_head, on_body, on_error};

static void client_init(client_t *c, fd_upstream_pool_t *pool, const char *method)
{
    memset(c, 0, sizeof(*c));
    c->pool = pool;
    c->spec.method = h2o_iovec_init(method, strlen(method));
    c->spec.path = h2o_iovec_init(H2O_STRLIT("/p?q=1"));
    c->spec.authority = h2o_iovec_init(H2O_STRLIT("backend.local"));
    c->proceed_timer.cb = on_proceed_timer;
    c->error = FD_UPSTREAM_OK;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bodies by framing */

static void test_content_length(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\nx-test: yes\r\ncontent-length: 5\r\n\r\nhello"};
    static const fd_upstream_header_t headers[] = {{{H2O_STRLIT("x-request-id")}, {H2O_STRLIT("abc")}},
                                                   {{H2O_STRLIT("Accept")}, {H2O_STRLIT("*/*")}}};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.spec.headers = headers;
    c.spec.num_headers = 2;
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.status, 200);
    assert_int_equal(c.minor, 1);
    assert_string_equal(c.x_test, "yes");
    assert_string_equal(c.body, "hello");
    assert_int_equal(c.failed, 0);
    /* the request as written: the request line, host, the headers as given, nothing else */
    assert_string_equal(f->be.last_request, "GET /p?q=1 HTTP/1.1\r\nhost: backend.local\r\nx-request-id: abc\r\n"
                                            "Accept: */*\r\n\r\n");
    assert_int_equal(f->pool.stats.cx_total, 1);
    assert_int_equal(f->pool.stats.rq_total, 1);
    assert_int_equal(f->pool.stats.cx_idle, 1);
    assert_int_equal(f->pool.stats.cx_active, 1);
    finish(f);
}

static const char *const chunked_script[] = {"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-test: chunked\r\n\r\n"
                                             "5;name=value\r\nhello\r\n"
                                             "6;a=b;c\r\n world\r\n"
                                             "1\r\n!\r\n"
                                             "0;last\r\nx-trailer: one\r\nx-other: two\r\n\r\n",
                                             "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext"};

/* Chunk extensions and trailers are consumed, so the connection is reused for a second request. */
static void run_chunked(fixture_t *f, int dribble)
{
    client_t c;

    backend_start(f, serve_script, chunked_script, ARRAY_LEN(chunked_script));
    f->be.dribble = dribble;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_string_equal(c.x_test, "chunked");
    assert_string_equal(c.body, "hello world!");
    start(&c);
    RUN_UNTIL(c.completed == 2);
    assert_string_equal(c.body, "next");
    assert_int_equal(c.failed, 0);
    assert_int_equal(atomic_load(&f->be.conns), 1);
    assert_int_equal(f->pool.stats.cx_total, 1);
    finish(f);
}

static void test_chunked(void **state)
{
    run_chunked(*state, 0);
}

/* The same, written 3 bytes at a time: head and chunk framing split across many reads. */
static void test_chunked_many_small_reads(void **state)
{
    run_chunked(*state, 1);
}

static void test_until_close(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\nx-test: uc\r\n\r\nuntil the end"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    f->be.close_after = 1;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_string_equal(c.body, "until the end");
    assert_int_equal(c.failed, 0);
    assert_int_equal(f->pool.stats.cx_idle, 0);
    assert_int_equal(f->pool.stats.cx_destroy_remote, 1);
    finish(f);
}

/* Keep-alive */

static void test_keepalive_reuse(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.chain = 9;
    start(&c);
    RUN_UNTIL(c.completed == 10);
    assert_int_equal(c.failed, 0);
    assert_int_equal(atomic_load(&f->be.conns), 1);
    assert_int_equal(atomic_load(&f->be.requests), 10);
    assert_int_equal(f->pool.stats.cx_total, 1);
    assert_int_equal(f->pool.stats.rq_total, 10);
    assert_int_equal(f->pool.stats.rq_retry, 0);
    finish(f);
}

static void test_connection_close_not_reused(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.chain = 2;
    start(&c);
    RUN_UNTIL(c.completed == 3);
    assert_int_equal(c.failed, 0);
    assert_int_equal(atomic_load(&f->be.conns), 3);
    assert_int_equal(f->pool.stats.cx_total, 3);
    assert_int_equal(f->pool.stats.cx_destroy_local, 3); /* we close first, once the body is in */
    assert_int_equal(f->pool.stats.cx_idle, 0);
    finish(f);
}

/* HTTP/1.0 keeps the connection only with "connection: keep-alive". */
static void test_http10(void **state)
{
    static const char *const script[] = {
        "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 1\r\n\r\na",
        "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb",
        "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nc",
    };
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, ARRAY_LEN(script));
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.chain = 2;
    start(&c);
    RUN_UNTIL(c.completed == 3);
    assert_int_equal(c.minor, 0);
    assert_string_equal(c.body, "c");
    assert_int_equal(atomic_load(&f->be.conns), 2); /* a and b on the first, c on a new one */
    finish(f);
}

static void test_max_idle(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"};
    static const fd_upstream_pool_config_t no_keepalive = {1000, 10000, 0};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, &no_keepalive);
    client_init(&c, &f->pool, "GET");
    c.chain = 1;
    start(&c);
    RUN_UNTIL(c.completed == 2);
    assert_int_equal(c.empty_chunks, 2);
    assert_int_equal(f->pool.stats.cx_total, 2);
    assert_int_equal(f->pool.stats.cx_destroy_local, 2);
    finish(f);
}

/* An idle connection closed by the peer leaves the pool at once; the next request connects. */
static void test_idle_closed_by_peer(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    f->be.close_after = 1;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.completed == 1);
    RUN_UNTIL(f->pool.stats.cx_destroy_remote == 1);
    assert_int_equal(f->pool.stats.cx_idle, 0);
    start(&c);
    RUN_UNTIL(c.completed == 2);
    assert_int_equal(c.failed, 0);
    assert_int_equal(f->pool.stats.rq_retry, 0);
    assert_int_equal(atomic_load(&f->be.conns), 2);
    finish(f);
}

static void test_idle_reaped(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"};
    static const fd_upstream_pool_config_t short_idle = {1000, 50, 16};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, &short_idle);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_int_equal(f->pool.stats.cx_idle, 1);
    RUN_UNTIL(f->pool.stats.cx_idle == 0);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    finish(f);
}

/* Connecting */

static void test_connect_refused(void **state)
{
    fixture_t *f = *state;
    client_t c;
    int fd = listen_local(&f->be.addr, 1);

    close(fd); /* nothing listens on that port any more */
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    assert_int_equal(c.failed, 0); /* never from inside fd_upstream_request_start */
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_CONNECT_FAILURE);
    assert_int_equal(c.heads, 0);
    assert_int_equal(f->pool.stats.cx_connect_fail, 1);
    assert_int_equal(f->pool.stats.cx_destroy_remote, 1);
    finish(f);
}

/* A listener whose accept queue is full drops SYNs: the connect never completes. */
static void test_connect_timeout(void **state)
{
    static const fd_upstream_pool_config_t cfg = {100, 10000, 16};
    fixture_t *f = *state;
    client_t c;
    int lfd = listen_local(&f->be.addr, 0), filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_int_equal(connect(filler, (struct sockaddr *)&f->be.addr, sizeof(f->be.addr)), 0);
    pool_start(f, &cfg);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_CONNECT_TIMEOUT);
    assert_int_equal(f->pool.stats.cx_connect_timeout, 1);
    assert_int_equal(f->pool.stats.cx_connect_fail, 1);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    close(filler);
    close(lfd);
    finish(f);
}

/* Timeouts */

static void test_response_timeout(void **state)
{
    fixture_t *f = *state;
    client_t c;
    uint64_t started;

    backend_start(f, serve_silent, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.spec.response_timeout_ms = 100;
    c.spec.idle_timeout_ms = 5000;
    h2o_evloop_run(loop, 0); /* h2o times from the loop's clock, refreshed by each run */
    started = now_ms();
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_true(now_ms() - started >= 90);
    assert_int_equal(c.error, FD_UPSTREAM_RESPONSE_TIMEOUT);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    RUN_UNTIL(atomic_load(&f->be.saw_eof));
    finish(f);
}

static void test_idle_timeout(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_partial, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.spec.response_timeout_ms = 5000;
    c.spec.idle_timeout_ms = 100;
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_IDLE_TIMEOUT);
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.total, 1000);
    RUN_UNTIL(atomic_load(&f->be.saw_eof));
    finish(f);
}

/* Resets, and the resend-once on a reused connection */

static void test_reset_before_response(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_hangup, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_RESET_BEFORE_RESPONSE);
    assert_int_equal(f->pool.stats.rq_retry, 0); /* a fresh connection: nothing to blame on keep-alive */
    assert_int_equal(atomic_load(&f->be.conns), 1);
    assert_int_equal(f->pool.stats.cx_destroy_remote, 1);
    finish(f);
}

static void test_reset_during_response(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly some"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    f->be.close_after = 1;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_RESET_DURING_RESPONSE);
    assert_string_equal(c.body, "only some");
    finish(f);
}

static const char *const ok_script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst",
                                        "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond"};

/* The second request goes out on the kept connection, which the server has just closed. */
static void test_resend_on_reused_connection(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_first_then_close, ok_script, 2);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.chain = 1; /* started from the first one's final on_body, before the loop sees the close */
    start(&c);
    RUN_UNTIL(c.completed == 2 || c.failed != 0);
    assert_int_equal(c.failed, 0);
    assert_string_equal(c.body, "second");
    assert_int_equal(f->pool.stats.rq_retry, 1);
    assert_int_equal(f->pool.stats.rq_total, 2);
    assert_int_equal(atomic_load(&f->be.conns), 2);
    finish(f);
}

static void test_resend_only_once(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_first_then_close, ok_script, 2);
    f->be.mode = 1; /* the fresh connection hangs up too */
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.chain = 1;
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.completed, 1);
    assert_int_equal(c.error, FD_UPSTREAM_RESET_BEFORE_RESPONSE);
    assert_int_equal(f->pool.stats.rq_retry, 1);
    assert_int_equal(atomic_load(&f->be.conns), 2);
    finish(f);
}

static void make_post(client_t *c)
{
    c->spec.method = h2o_iovec_init(H2O_STRLIT("POST"));
    c->spec.body = h2o_iovec_init(H2O_STRLIT("k=v"));
}

/* POST is not idempotent: not resent, unless the caller says it may be. */
static void run_post_on_stale(fixture_t *f, int resend)
{
    client_t c;

    backend_start(f, serve_first_then_close, ok_script, 2);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.spec.resend_non_idempotent = resend;
    c.before_next = make_post;
    c.chain = 1;
    start(&c);
    RUN_UNTIL(c.completed + c.failed == 2);
    if (resend) {
        assert_int_equal(c.completed, 2);
        assert_string_equal(c.body, "second");
        assert_int_equal(f->pool.stats.rq_retry, 1);
        assert_non_null(strstr(f->be.last_request, "POST /p?q=1 HTTP/1.1\r\n"));
        assert_non_null(strstr(f->be.last_request, "\r\ncontent-length: 3\r\n\r\nk=v"));
    } else {
        assert_int_equal(c.failed, 1);
        assert_int_equal(c.error, FD_UPSTREAM_RESET_BEFORE_RESPONSE);
        assert_int_equal(f->pool.stats.rq_retry, 0);
        assert_int_equal(atomic_load(&f->be.conns), 1);
    }
    finish(f);
}

static void test_post_not_resent(void **state)
{
    run_post_on_stale(*state, 0);
}

static void test_post_resent_when_allowed(void **state)
{
    run_post_on_stale(*state, 1);
}

/* Responses without a body */

static void set_get(client_t *c)
{
    c->spec.method = h2o_iovec_init(H2O_STRLIT("GET"));
}

static void test_no_body_responses(void **state)
{
    static const char *const script[] = {
        "HTTP/1.1 200 OK\r\ncontent-length: 12345\r\nx-test: head\r\n\r\n", /* to HEAD */
        "HTTP/1.1 204 No Content\r\nx-test: 204\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\nx-test: 304\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-test: after\r\n\r\nafter",
    };
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, ARRAY_LEN(script));
    pool_start(f, NULL);
    client_init(&c, &f->pool, "HEAD");
    c.before_next = set_get;
    c.chain = 3;
    start(&c);
    RUN_UNTIL(c.completed + c.failed == 4);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.empty_chunks, 3); /* HEAD, 204, 304: one empty final chunk each */
    assert_string_equal(c.x_test, "after");
    assert_string_equal(c.body, "after");
    assert_int_equal(atomic_load(&f->be.conns), 1); /* no phantom body was waited for or left behind */
    finish(f);
}

static void test_informational_skipped(void **state)
{
    static const char *const script[] = {"HTTP/1.1 100 Continue\r\n\r\n"
                                         "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
                                         "HTTP/1.1 200 OK\r\nx-test: final\r\ncontent-length: 2\r\n\r\nok"};
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    f->be.dribble = 1;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_int_equal(c.heads, 1);
    assert_int_equal(c.status, 200);
    assert_string_equal(c.x_test, "final");
    assert_string_equal(c.body, "ok");
    finish(f);
}

/* Protocol errors */

static void run_protocol_error(fixture_t *f, const char *response)
{
    const char *script[] = {response};
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    RUN_UNTIL(c.failed == 1);
    assert_int_equal(c.error, FD_UPSTREAM_PROTOCOL_ERROR);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    finish(f);
}

static void test_huge_header(void **state)
{
    size_t n = 70 * 1024;
    char *resp = malloc(n + 128);

    strcpy(resp, "HTTP/1.1 200 OK\r\nx-huge: ");
    memset(resp + strlen(resp), 'h', n);
    strcpy(resp + strlen("HTTP/1.1 200 OK\r\nx-huge: ") + n, "\r\ncontent-length: 0\r\n\r\n");
    run_protocol_error(*state, resp);
    free(resp);
}

static void test_garbage_response(void **state)
{
    run_protocol_error(*state, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
}

static void test_bad_chunk(void **state)
{
    run_protocol_error(*state, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
}

static void test_te_and_content_length(void **state)
{
    run_protocol_error(*state, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n"
                               "5\r\nhello\r\n0\r\n\r\n");
}

static void test_conflicting_content_lengths(void **state)
{
    run_protocol_error(*state, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!");
}

/* Streaming with backpressure */

/* Backpressure bound: a held chunk and what was read after it, each under HIGH_WATER (64 KiB)
 * plus one READ_BURST (64 KiB), in h2o buffers that may be twice as large as their contents. */
#define BUFFER_BOUND (512u << 10)

static void run_stream(fixture_t *f, int until_close)
{
    client_t c;

    backend_start(f, serve_stream, NULL, 0);
    f->be.mode = until_close;
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.spec.idle_timeout_ms = 2000;
    c.async_proceed = 1;
    start(&c);
    RUN_UNTIL(c.completed + c.failed == 1);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.total, STREAM_SIZE);
    assert_true(c.pattern_ok);
    assert_true(c.chunks > 10);
    print_message("      10 MiB in %d chunks, at most %zu bytes held\n", c.chunks, c.max_buffered);
    assert_true(c.max_buffered < BUFFER_BOUND);
    finish(f);
}

static void test_stream_10mib_with_proceed(void **state)
{
    run_stream(*state, 0);
}

/* Until close: the EOF arrives while a chunk waits for proceed, and must wait behind it. */
static void test_stream_until_close_with_proceed(void **state)
{
    run_stream(*state, 1);
}

static void test_cancel_mid_response(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_partial, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.cancel_in_body = 1;
    start(&c);
    RUN_UNTIL(c.chunks == 1);
    RUN_UNTIL(atomic_load(&f->be.saw_eof)); /* the connection was closed */
    run_for(20);
    assert_int_equal(c.chunks, 1); /* and nothing came after the cancel */
    assert_int_equal(c.completed + c.failed + c.callbacks_after_end, 0);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    assert_int_equal(f->pool.stats.cx_idle, 0);
    finish(f);
}

static void test_cancel_while_connecting(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_silent, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    start(&c);
    fd_upstream_request_cancel(c.req);
    run_for(20);
    assert_int_equal(c.completed + c.failed, 0);
    assert_int_equal(f->pool.stats.cx_active, 0);
    assert_int_equal(f->pool.stats.cx_destroy_local, 1);
    finish(f);
}

static void test_request_body(void **state)
{
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_echo, NULL, 0);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "PUT");
    c.spec.body = h2o_iovec_init(H2O_STRLIT("{\"name\":\"frontdesk\"}"));
    start(&c);
    RUN_UNTIL(c.completed == 1);
    assert_string_equal(c.body, "{\"name\":\"frontdesk\"}");
    assert_string_equal(f->be.last_request, "PUT /p?q=1 HTTP/1.1\r\nhost: backend.local\r\ncontent-length: 20\r\n\r\n"
                                            "{\"name\":\"frontdesk\"}");
    /* an empty body is still announced */
    c.spec.body = h2o_iovec_init("", 0);
    start(&c);
    RUN_UNTIL(c.completed == 2);
    assert_non_null(strstr(f->be.last_request, "\r\ncontent-length: 0\r\n\r\n"));
    assert_int_equal(atomic_load(&f->be.conns), 1);
    finish(f);
}

/* In-flight requests hear of the pool's disposal, and may not start new ones then. */
static void test_dispose_in_flight(void **state)
{
    fixture_t *f = *state;
    client_t a, b;

    backend_start(f, serve_silent, NULL, 0);
    pool_start(f, NULL);
    client_init(&a, &f->pool, "GET");
    client_init(&b, &f->pool, "GET");
    a.start_in_error = 1;
    start(&a);
    start(&b);
    RUN_UNTIL(atomic_load(&f->be.requests) == 1); /* one is being served, the other waits to be accepted */
    assert_int_equal(f->pool.stats.cx_active, 2);
    pool_stop(f);
    assert_int_equal(a.failed + b.failed, 2);
    assert_int_equal(a.error, FD_UPSTREAM_POOL_DISPOSED);
    assert_int_equal(b.error, FD_UPSTREAM_POOL_DISPOSED);
    finish(f);
}

/* The syscall floor: a request on a pooled connection costs one writev and one read (plus the
 * epoll_wait that waits for the answer): no epoll_ctl, no socket options, no address lookups. */
static void count_start(client_t *c)
{
    static int first_done;

    (void)c;
    if (!first_done) { /* the first request ends here, before the second starts */
        first_done = 1;
        first_sc = sc;
        memset(&sc, 0, sizeof(sc));
    }
}

static void test_syscalls_per_pooled_request(void **state)
{
    static const char *const script[] = {"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"};
    enum { N = 20 };
    fixture_t *f = *state;
    client_t c;

    backend_start(f, serve_script, script, 1);
    pool_start(f, NULL);
    client_init(&c, &f->pool, "GET");
    c.before_next = count_start;
    c.chain = N;
    memset(&sc, 0, sizeof(sc));
    count_on = 1;
    start(&c); /* the first request connects: counted apart, the others follow from its end */
    RUN_UNTIL(c.completed == N + 1);
    count_on = 0;
    print_message("      first request (connect): socket %u connect %u sockopt %u epoll_ctl %u writev %u read %u "
                  "epoll_wait %u\n",
                  first_sc.socket, first_sc.connect, first_sc.sockopt, first_sc.epoll_ctl, first_sc.writev,
                  first_sc.read, first_sc.epoll_wait);
    print_message("      %d pooled requests: writev %u read %u write %u epoll_ctl %u epoll_wait %u sockopt %u "
                  "sockname %u close %u\n",
                  N, sc.writev, sc.read, sc.write, sc.epoll_ctl, sc.epoll_wait, sc.sockopt, sc.sockname, sc.close);
    assert_int_equal(c.failed, 0);
    assert_int_equal(atomic_load(&f->be.conns), 1);
    assert_int_equal(sc.writev, N);
    assert_int_equal(sc.read, N);
    assert_int_equal(sc.write, 0);
    assert_int_equal(sc.epoll_ctl, 0);
    assert_int_equal(sc.sockopt, 0);
    assert_int_equal(sc.sockname, 0);
    assert_int_equal(sc.socket + sc.connect + sc.close, 0);
    assert_true(sc.epoll_wait <= 2 * N);
    finish(f);
}

/* The loop lives for the whole run: h2o 2.2.5's h2o_evloop_destroy leaves its epoll fd open,
 * so it is closed here by hand, found among the process's descriptors. */
static void close_epoll_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[320], target[64];

    while ((e = readdir(d)) != NULL) {
        ssize_t n;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0)
            close(atoi(e->d_name));
    }
    closedir(d);
}

static int group_setup(void **state)
{
    (void)state;
    loop = h2o_evloop_create();
    h2o_timeout_init(loop, &proceed_timeout, 1);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    h2o_timeout_dispose(loop, &proceed_timeout);
    h2o_evloop_destroy(loop);
    close_epoll_fds();
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_content_length),
        T(test_chunked),
        T(test_chunked_many_small_reads),
        T(test_until_close),
        T(test_keepalive_reuse),
        T(test_connection_close_not_reused),
        T(test_http10),
        T(test_max_idle),
        T(test_idle_closed_by_peer),
        T(test_idle_reaped),
        T(test_connect_refused),
        T(test_connect_timeout),
        T(test_response_timeout),
        T(test_idle_timeout),
        T(test_reset_before_response),
        T(test_reset_during_response),
        T(test_resend_on_reused_connection),
        T(test_resend_only_once),
        T(test_post_not_resent),
        T(test_post_resent_when_allowed),
        T(test_no_body_responses),
        T(test_informational_skipped),
        T(test_huge_header),
        T(test_garbage_response),
        T(test_bad_chunk),
        T(test_te_and_content_length),
        T(test_conflicting_content_lengths),
        T(test_stream_10mib_with_proceed),
        T(test_stream_until_close_with_proceed),
        T(test_cancel_mid_response),
        T(test_cancel_while_connecting),
        T(test_request_body),
        T(test_dispose_in_flight),
        T(test_syscalls_per_pooled_request),
    };

    resolve_real();
    signal(SIGPIPE, SIG_IGN); /* writes to a reset connection are expected here */
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
