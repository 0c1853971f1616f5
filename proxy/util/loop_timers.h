/* Timers of any duration on one h2o event loop: a binary min-heap of deadlines driven by
 * one timerfd. (h2o 2.2 keeps one timeout queue per distinct duration, which suits fixed
 * config timeouts but not the arbitrary delays a filter asks for.) Loop thread only. */
#ifndef FD_LOOP_TIMERS_H
#define FD_LOOP_TIMERS_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fd_loop_timer fd_loop_timer_t;
typedef void (*fd_loop_timer_cb)(fd_loop_timer_t *timer);

/* Embedded in its owner; zero-initialised it is not armed. */
struct fd_loop_timer {
    uint64_t deadline_ms; /* on fd_monotonic_ms's clock */
    uint64_t seq;         /* equal deadlines fire in the order they were set */
    size_t heap_index;    /* 1-based place in the heap; 0: not armed */
    fd_loop_timer_cb cb;
};

typedef struct fd_loop_timers {
    fd_loop_timer_t **heap; /* heap[0] is unused: children of i are 2i and 2i+1 */
    size_t size, capacity;
    h2o_socket_t *sock; /* the timerfd */
    int armed;          /* the timerfd is set, to armed_ms */
    uint64_t armed_ms;
    uint64_t next_seq;
} fd_loop_timers_t;

/* -1 with errno when no timerfd can be made. */
int fd_loop_timers_init(fd_loop_timers_t *timers, h2o_loop_t *loop);
/* Timers still armed are dropped, not run. */
void fd_loop_timers_dispose(fd_loop_timers_t *timers);

/* Arms timer to run cb (from the loop) after ms; an armed timer is moved. */
void fd_loop_timer_start(fd_loop_timers_t *timers, fd_loop_timer_t *timer, uint64_t ms, fd_loop_timer_cb cb);
void fd_loop_timer_cancel(fd_loop_timers_t *timers, fd_loop_timer_t *timer);

static inline int fd_loop_timer_is_armed(const fd_loop_timer_t *timer)
{
    return timer->heap_index != 0;
}

#endif
