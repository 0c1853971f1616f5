/* Access-log output. Each worker fills its own buffer per sink with no lock; one logger thread per
 * process takes full buffers (and, every flush interval, partial ones) and does every write(2), so
 * a slow disk or a stalled pipe costs dropped and counted lines, never a blocked worker. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/util/clock.h"

#define MAX_IOV 64
#define MAX_POLLED 64

typedef struct al_slot al_slot_t;

typedef struct al_buf {
    struct al_buf *next;
    al_slot_t *slot; /* where it returns once written */
    size_t len, cap;
    uint64_t lines;
    char data[];
} al_buf_t;

typedef struct bufq {
    al_buf_t *head, *tail;
} bufq_t;

/* One worker's state for one sink, on its own cache line. `cur` moves by atomic exchange: whoever
 * takes a non-NULL pointer out owns that buffer, the worker to append, the logger to write it. */
struct al_slot {
    _Alignas(64) _Atomic(al_buf_t *) cur;
    _Atomic uint64_t buffered, dropped; /* written by the worker only */
    al_buf_t *free;                     /* g.lock */
    _Atomic unsigned n_free;            /* changed under g.lock, read without it by the worker */
    unsigned n_bufs;                    /* changed under g.lock by the worker only: allocated */
    fd_access_log_sink_t *sink;
};

struct fd_access_log_sink {
    fd_access_log_sink_t *next; /* g.sinks, under g.lock */
    char *path;
    unsigned refs; /* g.lock */
    int fd, owns_fd, is_socket, reopenable;
    bufq_t backlog; /* logger thread only: taken, not yet written */
    size_t backlog_off;
    int stalled; /* logger thread only: the last write would have blocked */
    _Atomic uint64_t write_completed, write_failed, flushed_by_timer, reopen_failed, lines_written, bytes_written,
        lines_lost;
    al_slot_t *slots; /* FD_ACCESS_LOG_MAX_WORKERS */
};

struct fd_access_log_worker {
    unsigned index;
};

static struct {
    pthread_mutex_t lock; /* held only to move buffer pointers, never across a write */
    fd_access_log_sink_t *sinks;
    bufq_t pending; /* handed over by workers, in order */
    unsigned char worker_used[FD_ACCESS_LOG_MAX_WORKERS];
    fd_access_log_options_t opts;
    int running;
    pthread_t thread;
    _Atomic int wake_fd, stopping, reopen;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

/* ---- small helpers ---- */

static void q_push(bufq_t *q, al_buf_t *b)
{
    b->next = NULL;
    if (q->tail != NULL)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
}

static al_buf_t *q_pop(bufq_t *q)
{
    al_buf_t *b = q->head;
    if (b != NULL && (q->head = b->next) == NULL)
        q->tail = NULL;
    return b;
}

static void add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* Single-writer counter: a plain load and store, no locked instruction on the request path. */
static void bump(_Atomic uint64_t *counter)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Async-signal-safe, so that reopen can be asked for from a SIGHUP handler. */
static void wake_logger(void)
{
    int fd = atomic_load(&g.wake_fd);
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the logger will wake */
    }
}

/* Called with g.lock held. */
static void return_buffer(al_buf_t *b)
{
    b->len = 0;
    b->lines = 0;
    b->next = b->slot->free;
    b->slot->free = b;
    atomic_fetch_add_explicit(&b->slot->n_free, 1, memory_order_relaxed);
}

/* ---- the worker side ---- */

/* Hands `full` (if any) to the logger and takes an empty buffer: the only lock a worker takes.
 * While a stalled sink holds all of the worker's buffers, lines are refused without the lock. */
static al_buf_t *switch_buffer(al_slot_t *slot, al_buf_t *full)
{
    al_buf_t *b;
    int grow = 0;
    if (full == NULL && slot->n_bufs >= g.opts.buffers_per_worker &&
        atomic_load_explicit(&slot->n_free, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&g.lock);
    if (full != NULL)
        q_push(&g.pending, full);
    if ((b = slot->free) != NULL) {
        slot->free = b->next;
        atomic_fetch_sub_explicit(&slot->n_free, 1, memory_order_relaxed);
    } else if ((grow = slot->n_bufs < g.opts.buffers_per_worker))
        slot->n_bufs++;
    pthread_mutex_unlock(&g.lock);
    if (full != NULL)
        wake_logger();
    if (grow && (b = malloc(sizeof(*b) + g.opts.buffer_size)) == NULL) {
        pthread_mutex_lock(&g.lock);
        slot->n_bufs--;
        pthread_mutex_unlock(&g.lock);
    } else if (grow) {
        *b = (al_buf_t){.slot = slot, .cap = g.opts.buffer_size};
    }
    return b;
}

typedef size_t (*fill_fn)(const void *ctx, char *dst, size_t cap);

static int drop(al_slot_t *slot, al_buf_t *b)
{
    atomic_store_explicit(&slot->cur, b, memory_order_release);
    bump(&slot->dropped);
    return 0;
}

/* fill writes at most cap bytes and returns the line's full length; a line that does not fit in
 * what is left of the buffer is written again into a fresh one. */
static int append(fd_access_log_worker_t *w, fd_access_log_sink_t *sink, fill_fn fill, const void *ctx)
{
    al_slot_t *slot = &sink->slots[w->index];
    al_buf_t *b = atomic_exchange_explicit(&slot->cur, NULL, memory_order_acq_rel);
    size_t n = b != NULL ? fill(ctx, b->data + b->len, b->cap - b->len) : 0;
    if (b == NULL || (n > b->cap - b->len && b->len > 0)) {
        b = switch_buffer(slot, b);
        if (b == NULL)
            return drop(slot, NULL);
        n = fill(ctx, b->data, b->cap);
    }
    if (n > b->cap - b->len)
        return drop(slot, b); /* longer than a whole buffer */
    b->len += n;
    b->lines++;
    atomic_store_explicit(&slot->cur, b, memory_order_release);
    bump(&slot->buffered);
    return 1;
}

typedef struct raw_line {
    const char *line;
    size_t len;
} raw_line_t;

static size_t fill_raw(const void *ctx, char *dst, size_t cap)
{
    const raw_line_t *l = ctx;
    if (l->len <= cap)
        memcpy(dst, l->line, l->len);
    return l->len;
}

int fd_access_log_write(fd_access_log_worker_t *w, fd_access_log_sink_t *sink, const char *line, size_t len)
{
    raw_line_t l = {line, len};
    return append(w, sink, fill_raw, &l);
}

typedef struct render_ctx {
    const fd_access_log_format_t *format;
    const fd_access_log_record_t *rec;
} render_ctx_t;

static size_t fill_render(const void *ctx, char *dst, size_t cap)
{
    const render_ctx_t *r = ctx;
    return fd_access_log_render(r->format, r->rec, dst, cap);
}

int fd_access_log_log(fd_access_log_worker_t *w, fd_access_log_sink_t *sink, const fd_access_log_format_t *format,
                      const fd_access_log_record_t *rec)
{
    render_ctx_t r = {format, rec};
    return append(w, sink, fill_render, &r);
}

fd_access_log_worker_t *fd_access_log_worker_new(void)
{
    fd_access_log_worker_t *w = malloc(sizeof(*w));
    if (w == NULL)
        return NULL;
    pthread_mutex_lock(&g.lock);
    for (w->index = 0; w->index < FD_ACCESS_LOG_MAX_WORKERS && g.worker_used[w->index]; w->index++)
        ;
    if (w->index < FD_ACCESS_LOG_MAX_WORKERS)
        g.worker_used[w->index] = 1;
    pthread_mutex_unlock(&g.lock);
    if (w->index == FD_ACCESS_LOG_MAX_WORKERS) {
        free(w);
        return NULL;
    }
    return w;
}

/* The worker's partly filled buffers stay in their slots: the next flush interval takes them, and a
 * later worker given the same index appends after them. */
void fd_access_log_worker_free(fd_access_log_worker_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&g.lock);
    g.worker_used[w->index] = 0;
    pthread_mutex_unlock(&g.lock);
    free(w);
}

/* ---- sinks ---- */

/* A pipe or FIFO inherited as stdout/stderr gets a description of its own through /proc, so that
 * it can be made non-blocking without changing the fd other code shares; a socket is written with
 * MSG_DONTWAIT. Anything else (a file, a tty) is written as it is. */
static void prepare_inherited_fd(fd_access_log_sink_t *s)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return;
    if (S_ISSOCK(st.st_mode)) {
        s->is_socket = 1;
    } else if (S_ISFIFO(st.st_mode)) {
        char proc[32];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->fd);
        int fd = open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            s->fd = fd;
            s->owns_fd = 1;
        }
    }
}

/* O_NONBLOCK matters only for a FIFO (a file ignores it), which then needs a reader already. */
static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

static int open_fd(fd_access_log_sink_t *s, char *err, size_t errlen)
{
    if (strcmp(s->path, "/dev/stdout") == 0 || strcmp(s->path, "/dev/stderr") == 0) {
        s->fd = s->path[5] == 'o' ? STDOUT_FILENO : STDERR_FILENO;
        prepare_inherited_fd(s);
        return 1;
    }
    if ((s->fd = open_path(s->path)) < 0) {
        snprintf(err, errlen, "cannot open access log '%s': %s%s", s->path, strerror(errno),
                 errno == ENXIO ? " (a FIFO needs a reader)" : "");
        return 0;
    }
    s->owns_fd = 1;
    s->reopenable = 1;
    struct stat st;
    s->is_socket = fstat(s->fd, &st) == 0 && S_ISSOCK(st.st_mode);
    return 1;
}

static void free_sink(fd_access_log_sink_t *s)
{
    al_buf_t *b;
    while ((b = q_pop(&s->backlog)) != NULL)
        free(b);
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++) {
        free(atomic_load(&s->slots[i].cur));
        while ((b = s->slots[i].free) != NULL) {
            s->slots[i].free = b->next;
            free(b);
        }
    }
    if (s->owns_fd)
        close(s->fd);
    free(s->slots);
    free(s->path);
    free(s);
}

static fd_access_log_sink_t *new_sink(const char *path, char *err, size_t errlen)
{
    fd_access_log_sink_t *s = calloc(1, sizeof(*s));
    size_t slots_size = FD_ACCESS_LOG_MAX_WORKERS * sizeof(al_slot_t);
    if (s == NULL || (s->path = strdup(path)) == NULL || (s->slots = aligned_alloc(64, slots_size)) == NULL) {
        snprintf(err, errlen, "cannot open access log '%s': out of memory", path);
        if (s != NULL)
            free(s->path);
        free(s);
        return NULL;
    }
    memset(s->slots, 0, slots_size);
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++)
        s->slots[i].sink = s;
    s->refs = 1;
    if (!open_fd(s, err, errlen)) {
        free_sink(s);
        return NULL;
    }
    return s;
}

/* Called with g.lock held. */
static fd_access_log_sink_t *find_sink(const char *path)
{
    for (fd_access_log_sink_t *s = g.sinks; s != NULL; s = s->next)
        if (strcmp(s->path, path) == 0)
            return s;
    return NULL;
}

fd_access_log_sink_t *fd_access_log_sink_open(const char *path, char *err, size_t errlen)
{
    pthread_mutex_lock(&g.lock);
    int running = g.running;
    fd_access_log_sink_t *s = running ? find_sink(path) : NULL;
    if (s != NULL)
        s->refs++; /* possibly reviving one the logger has not closed yet */
    pthread_mutex_unlock(&g.lock);
    if (!running)
        snprintf(err, errlen, "cannot open access log '%s': the access logger is not running", path);
    if (s != NULL || !running || (s = new_sink(path, err, errlen)) == NULL)
        return s;
    pthread_mutex_lock(&g.lock);
    s->next = g.sinks;
    g.sinks = s;
    pthread_mutex_unlock(&g.lock);
    return s;
}

/* Called with g.lock held. */
static void unlink_sink(fd_access_log_sink_t *s)
{
    for (fd_access_log_sink_t **p = &g.sinks; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            return;
        }
    }
}

/* Called with g.lock held, once the logger is gone: buffers handed over since stop die with it. */
static void purge_pending(fd_access_log_sink_t *s)
{
    bufq_t keep = {0};
    al_buf_t *b;
    while ((b = q_pop(&g.pending)) != NULL) {
        if (b->slot->sink == s)
            free(b);
        else
            q_push(&keep, b);
    }
    g.pending = keep;
}

void fd_access_log_sink_release(fd_access_log_sink_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&g.lock);
    int last = --s->refs == 0;
    int now = last && !g.running; /* else the logger writes what is left, then frees it */
    if (now) {
        unlink_sink(s);
        purge_pending(s);
    }
    pthread_mutex_unlock(&g.lock);
    if (now)
        free_sink(s);
    else if (last)
        wake_logger();
}

void fd_access_log_sink_stats(fd_access_log_sink_t *s, fd_access_log_sink_stats_t *st)
{
    *st = (fd_access_log_sink_stats_t){
        .write_completed = atomic_load(&s->write_completed),
        .write_failed = atomic_load(&s->write_failed),
        .flushed_by_timer = atomic_load(&s->flushed_by_timer),
        .reopen_failed = atomic_load(&s->reopen_failed),
        .lines_written = atomic_load(&s->lines_written),
        .bytes_written = atomic_load(&s->bytes_written),
        .lines_dropped = atomic_load(&s->lines_lost),
    };
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++) {
        st->write_buffered += atomic_load_explicit(&s->slots[i].buffered, memory_order_relaxed);
        st->lines_dropped += atomic_load_explicit(&s->slots[i].dropped, memory_order_relaxed);
    }
}

uint64_t fd_access_log_dropped_total(void)
{
    uint64_t total = 0;
    pthread_mutex_lock(&g.lock);
    for (fd_access_log_sink_t *s = g.sinks; s != NULL; s = s->next) {
        fd_access_log_sink_stats_t st;
        fd_access_log_sink_stats(s, &st);
        total += st.lines_dropped;
    }
    pthread_mutex_unlock(&g.lock);
    return total;
}

/* ---- the logger thread ---- */

/* The logger's view of the sinks, refreshed each round (only the logger removes sinks). */
typedef struct sink_list {
    fd_access_log_sink_t **v;
    unsigned char *closing; /* refs was 0 when the snapshot was taken */
    size_t n, cap;
} sink_list_t;

static void snapshot_sinks(sink_list_t *l)
{
    pthread_mutex_lock(&g.lock);
    l->n = 0;
    for (fd_access_log_sink_t *s = g.sinks; s != NULL; s = s->next) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            fd_access_log_sink_t **v = realloc(l->v, cap * sizeof(*v));
            unsigned char *closing = realloc(l->closing, cap);
            if (v != NULL)
                l->v = v;
            if (closing != NULL)
                l->closing = closing;
            if (v == NULL || closing == NULL)
                break; /* the rest wait for the next round */
            l->cap = cap;
        }
        l->closing[l->n] = s->refs == 0;
        l->v[l->n++] = s;
    }
    pthread_mutex_unlock(&g.lock);
}

/* Takes every partly filled buffer of s. Pushing under the same lock hold as the exchange keeps
 * each worker's buffers in order in g.pending. */
static void steal_slots(fd_access_log_sink_t *s)
{
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++) {
        al_slot_t *slot = &s->slots[i];
        if (atomic_load_explicit(&slot->cur, memory_order_relaxed) == NULL)
            continue;
        pthread_mutex_lock(&g.lock);
        al_buf_t *b = atomic_exchange_explicit(&slot->cur, NULL, memory_order_acq_rel);
        if (b != NULL && b->len > 0) {
            q_push(&g.pending, b);
            add(&s->flushed_by_timer, 1);
        } else if (b != NULL) {
            return_buffer(b);
        }
        pthread_mutex_unlock(&g.lock);
    }
}

static void collect_pending(void)
{
    pthread_mutex_lock(&g.lock);
    bufq_t taken = g.pending;
    g.pending = (bufq_t){0};
    pthread_mutex_unlock(&g.lock);
    al_buf_t *b;
    while ((b = q_pop(&taken)) != NULL)
        q_push(&b->slot->sink->backlog, b);
}

static void give_back(bufq_t *done)
{
    if (done->head == NULL)
        return;
    pthread_mutex_lock(&g.lock);
    al_buf_t *b;
    while ((b = q_pop(done)) != NULL)
        return_buffer(b);
    pthread_mutex_unlock(&g.lock);
}

static ssize_t write_iov(fd_access_log_sink_t *s, struct iovec *iov, int n)
{
    if (!s->is_socket)
        return writev(s->fd, iov, n);
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    return sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Moves the first `written` bytes of the backlog to done. */
static void consume(fd_access_log_sink_t *s, size_t written, bufq_t *done)
{
    add(&s->bytes_written, written);
    while (written > 0) {
        al_buf_t *b = s->backlog.head;
        size_t left = b->len - s->backlog_off;
        if (written < left) {
            s->backlog_off += written;
            return;
        }
        written -= left;
        add(&s->lines_written, b->lines);
        s->backlog_off = 0;
        q_push(done, q_pop(&s->backlog));
    }
}

/* Drops the first buffer after a failed write. */
static void lose_first(fd_access_log_sink_t *s, bufq_t *done)
{
    add(&s->lines_lost, s->backlog.head->lines);
    s->backlog_off = 0;
    q_push(done, q_pop(&s->backlog));
}

static int gather(fd_access_log_sink_t *s, struct iovec *iov)
{
    int n = 0;
    size_t off = s->backlog_off;
    for (al_buf_t *b = s->backlog.head; b != NULL && n < MAX_IOV; b = b->next, off = 0)
        iov[n++] = (struct iovec){.iov_base = b->data + off, .iov_len = b->len - off};
    return n;
}

/* Writes as much of s's backlog as it takes without blocking. */
static void write_sink(fd_access_log_sink_t *s)
{
    struct iovec iov[MAX_IOV];
    bufq_t done = {0};
    s->stalled = 0;
    while (s->backlog.head != NULL) {
        ssize_t n = write_iov(s, iov, gather(s, iov));
        if (n > 0) {
            add(&s->write_completed, 1);
            consume(s, (size_t)n, &done);
        } else if (n == 0) {
            add(&s->write_failed, 1); /* a device taking nothing: do not spin on it */
            lose_first(s, &done);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->stalled = 1;
            break;
        } else if (errno != EINTR) {
            add(&s->write_failed, 1);
            lose_first(s, &done);
        }
    }
    give_back(&done);
}

static void drop_backlog(fd_access_log_sink_t *s)
{
    bufq_t done = {0};
    while (s->backlog.head != NULL)
        lose_first(s, &done);
    give_back(&done);
}

static void reopen_sink(fd_access_log_sink_t *s)
{
    int fd = open_path(s->path);
    if (fd < 0) {
        add(&s->reopen_failed, 1);
        return;
    }
    close(s->fd);
    s->fd = fd;
}

/* Called with g.lock held: no buffer of s is anywhere but on its free lists. A sink revived and
 * released again since this round took its buffers may have new ones in a slot or in g.pending. */
static int drained(fd_access_log_sink_t *s)
{
    if (s->backlog.head != NULL)
        return 0;
    for (al_buf_t *b = g.pending.head; b != NULL; b = b->next)
        if (b->slot->sink == s)
            return 0;
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++)
        if (atomic_load_explicit(&s->slots[i].cur, memory_order_acquire) != NULL)
            return 0;
    return 1;
}

/* Frees s if its last reference is gone and its last lines are out (or given up on). */
static int reap(fd_access_log_sink_t *s, int give_up)
{
    if (give_up)
        drop_backlog(s);
    pthread_mutex_lock(&g.lock);
    int gone = s->refs == 0 && drained(s); /* refs again: sink_open may have revived it */
    if (gone)
        unlink_sink(s);
    pthread_mutex_unlock(&g.lock);
    if (gone)
        free_sink(s);
    return gone;
}

typedef struct logger {
    sink_list_t sinks;
    uint64_t next_tick, deadline;
    int stopping;
} logger_t;

/* Sleeps until a worker hands a buffer over, a stalled sink can take more, or the next tick. */
static void wait_for_work(logger_t *l, int busy)
{
    struct pollfd fds[1 + MAX_POLLED] = {{.fd = atomic_load(&g.wake_fd), .events = POLLIN}};
    nfds_t n = 1;
    for (size_t i = 0; i < l->sinks.n && n < 1 + MAX_POLLED; i++)
        if (l->sinks.v[i]->stalled)
            fds[n++] = (struct pollfd){.fd = l->sinks.v[i]->fd, .events = POLLOUT};
    uint64_t now = fd_monotonic_ms(), until = l->stopping ? l->deadline : l->next_tick;
    int timeout = until > now ? (int)(until - now) : 0;
    if (l->stopping && !busy)
        timeout = 0;
    else if (n == 1 + MAX_POLLED && timeout > 100)
        timeout = 100; /* more stalled sinks than polled: retry them soon */
    poll(fds, n, timeout);
    uint64_t drained;
    if (read(fds[0].fd, &drained, sizeof(drained)) < 0) {
        /* EAGAIN: woken by the clock or a sink */
    }
}

static int any_backlog(const logger_t *l)
{
    for (size_t i = 0; i < l->sinks.n; i++)
        if (l->sinks.v[i]->backlog.head != NULL)
            return 1;
    return 0;
}

/* Closes the released sinks that are done and drops them from the snapshot. */
static void reap_released(logger_t *l, int give_up)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->sinks.n; i++) {
        if (l->sinks.closing[i] && reap(l->sinks.v[i], give_up))
            continue;
        l->sinks.closing[kept] = l->sinks.closing[i];
        l->sinks.v[kept++] = l->sinks.v[i];
    }
    l->sinks.n = kept;
}

/* One round: take buffers (partly filled ones every tick, and all of a released sink's), write what
 * the sinks accept, close released sinks. Returns 0 once stopping is done. */
static int logger_round(logger_t *l)
{
    uint64_t now = fd_monotonic_ms();
    int tick = l->stopping || now >= l->next_tick;
    snapshot_sinks(&l->sinks);
    for (size_t i = 0; i < l->sinks.n; i++)
        if (tick || l->sinks.closing[i])
            steal_slots(l->sinks.v[i]);
    if (tick)
        l->next_tick = now + g.opts.flush_interval_ms;
    collect_pending();
    int reopen = atomic_exchange(&g.reopen, 0);
    for (size_t i = 0; i < l->sinks.n; i++) {
        if (reopen && l->sinks.v[i]->reopenable)
            reopen_sink(l->sinks.v[i]);
        write_sink(l->sinks.v[i]);
    }
    int give_up = l->stopping && now >= l->deadline;
    int busy = any_backlog(l);
    reap_released(l, give_up);
    return !(l->stopping && (!busy || give_up));
}

static void *logger_main(void *arg)
{
    (void)arg;
    logger_t l = {.next_tick = fd_monotonic_ms() + g.opts.flush_interval_ms};
    int busy = 1;
    for (;;) {
        wait_for_work(&l, busy);
        if (!l.stopping && atomic_load(&g.stopping)) {
            l.stopping = 1;
            l.deadline = fd_monotonic_ms() + g.opts.stop_timeout_ms;
        }
        if (!logger_round(&l))
            break;
        busy = any_backlog(&l);
    }
    for (size_t i = 0; i < l.sinks.n; i++)
        drop_backlog(l.sinks.v[i]); /* stalled past the stop timeout */
    free(l.sinks.v);
    free(l.sinks.closing);
    return NULL;
}

/* ---- start, stop, reopen ---- */

static void set_defaults(const fd_access_log_options_t *in)
{
    g.opts = in != NULL ? *in : (fd_access_log_options_t){0};
    if (g.opts.flush_interval_ms == 0)
        g.opts.flush_interval_ms = 1000;
    if (g.opts.buffer_size == 0)
        g.opts.buffer_size = 64 * 1024;
    if (g.opts.buffers_per_worker == 0)
        g.opts.buffers_per_worker = 4;
    if (g.opts.stop_timeout_ms == 0)
        g.opts.stop_timeout_ms = 5000;
}

/* The logger takes no signal: SIGHUP and SIGTERM go to the main thread, and a write to a pipe
 * whose reader left fails with EPIPE here instead of killing the process. */
static int spawn_logger(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&g.thread, NULL, logger_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int fd_access_log_start(const fd_access_log_options_t *options)
{
    pthread_mutex_lock(&g.lock);
    int running = g.running;
    pthread_mutex_unlock(&g.lock);
    if (running) {
        errno = EALREADY;
        return -1;
    }
    set_defaults(options);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    atomic_store(&g.wake_fd, fd);
    atomic_store(&g.stopping, 0);
    int rc = spawn_logger();
    if (rc != 0) {
        atomic_store(&g.wake_fd, -1);
        close(fd);
        errno = rc;
        return -1;
    }
    pthread_mutex_lock(&g.lock);
    g.running = 1;
    pthread_mutex_unlock(&g.lock);
    return 0;
}

/* Called with g.lock held once the logger is gone: the released sinks it had no time to close. */
static fd_access_log_sink_t *take_released(void)
{
    fd_access_log_sink_t *released = NULL, **p = &g.sinks;
    while (*p != NULL) {
        fd_access_log_sink_t *s = *p;
        if (s->refs > 0) {
            p = &s->next;
            continue;
        }
        *p = s->next;
        purge_pending(s);
        s->next = released;
        released = s;
    }
    return released;
}

void fd_access_log_stop(void)
{
    pthread_mutex_lock(&g.lock);
    int running = g.running;
    pthread_mutex_unlock(&g.lock);
    if (!running)
        return;
    atomic_store(&g.stopping, 1);
    wake_logger();
    pthread_join(g.thread, NULL);
    pthread_mutex_lock(&g.lock);
    g.running = 0;
    fd_access_log_sink_t *released = take_released();
    pthread_mutex_unlock(&g.lock);
    close(atomic_exchange(&g.wake_fd, -1));
    while (released != NULL) {
        fd_access_log_sink_t *next = released->next;
        free_sink(released);
        released = next;
    }
}

void fd_access_log_reopen_all(void)
{
    atomic_store(&g.reopen, 1);
    wake_logger();
}
