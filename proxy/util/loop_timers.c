/* A min-heap of deadlines and the timerfd set to the earliest; see loop_timers.h. */
#include "proxy/util/loop_timers.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "proxy/util/clock.h"

static int earlier(const fd_loop_timer_t *a, const fd_loop_timer_t *b)
{
    return a->deadline_ms < b->deadline_ms || (a->deadline_ms == b->deadline_ms && a->seq < b->seq);
}

static void place(fd_loop_timers_t *timers, fd_loop_timer_t *timer, size_t index)
{
    timers->heap[index] = timer;
    timer->heap_index = index;
}

static void sift_up(fd_loop_timers_t *timers, size_t index)
{
    fd_loop_timer_t *timer = timers->heap[index];
    while (index > 1 && earlier(timer, timers->heap[index / 2])) {
        place(timers, timers->heap[index / 2], index);
        index /= 2;
    }
    place(timers, timer, index);
}

static void sift_down(fd_loop_timers_t *timers, size_t index)
{
    fd_loop_timer_t *timer = timers->heap[index];
    for (;;) {
        size_t child = index * 2;
        if (child > timers->size)
            break;
        if (child + 1 <= timers->size && earlier(timers->heap[child + 1], timers->heap[child]))
            child++;
        if (!earlier(timers->heap[child], timer))
            break;
        place(timers, timers->heap[child], index);
        index = child;
    }
    place(timers, timer, index);
}

/* Sets the timerfd to the earliest deadline (absolute, on the monotonic clock). */
static void rearm(fd_loop_timers_t *timers)
{
    int armed = timers->size != 0;
    uint64_t next = armed ? timers->heap[1]->deadline_ms : 0;
    if (armed == timers->armed && next == timers->armed_ms)
        return;
    struct itimerspec spec = {0};
    if (armed) {
        spec.it_value.tv_sec = (time_t)(next / 1000);
        spec.it_value.tv_nsec = (long)(next % 1000) * 1000000;
    }
    timerfd_settime(h2o_socket_get_fd(timers->sock), TFD_TIMER_ABSTIME, &spec, NULL);
    timers->armed = armed;
    timers->armed_ms = next;
}

void fd_loop_timer_cancel(fd_loop_timers_t *timers, fd_loop_timer_t *timer)
{
    size_t index = timer->heap_index;
    if (index == 0)
        return;
    fd_loop_timer_t *last = timers->heap[timers->size--];
    timer->heap_index = 0;
    if (last != timer) {
        place(timers, last, index);
        sift_down(timers, index);
        sift_up(timers, last->heap_index);
    }
    rearm(timers);
}

void fd_loop_timer_start(fd_loop_timers_t *timers, fd_loop_timer_t *timer, uint64_t ms, fd_loop_timer_cb cb)
{
    fd_loop_timer_cancel(timers, timer);
    if (timers->size + 1 >= timers->capacity) {
        size_t capacity = timers->capacity ? timers->capacity * 2 : 64;
        fd_loop_timer_t **grown = realloc(timers->heap, capacity * sizeof(*grown));
        if (grown == NULL)
            abort();
        timers->heap = grown;
        timers->capacity = capacity;
    }
    timer->deadline_ms = fd_monotonic_ms() + ms;
    timer->seq = timers->next_seq++;
    timer->cb = cb;
    place(timers, timer, ++timers->size);
    sift_up(timers, timers->size);
    rearm(timers);
}

static void on_expiry(h2o_socket_t *sock, const char *err)
{
    fd_loop_timers_t *timers = sock->data;
    uint64_t expirations;
    (void)err;
    while (read(h2o_socket_get_fd(sock), &expirations, sizeof(expirations)) < 0 && errno == EINTR)
        ;
    timers->armed = 0; /* it fired */
    uint64_t now = fd_monotonic_ms();
    while (timers->size != 0 && timers->heap[1]->deadline_ms <= now) {
        fd_loop_timer_t *timer = timers->heap[1];
        fd_loop_timer_cancel(timers, timer);
        timer->cb(timer); /* may start or cancel timers */
    }
    rearm(timers);
}

int fd_loop_timers_init(fd_loop_timers_t *timers, h2o_loop_t *loop)
{
    *timers = (fd_loop_timers_t){0};
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -1;
    timers->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    timers->sock->data = timers;
    h2o_socket_read_start(timers->sock, on_expiry);
    return 0;
}

void fd_loop_timers_dispose(fd_loop_timers_t *timers)
{
    for (size_t i = 1; i <= timers->size; i++)
        timers->heap[i]->heap_index = 0;
    free(timers->heap);
    if (timers->sock != NULL)
        h2o_socket_close(timers->sock);
    *timers = (fd_loop_timers_t){0};
}
