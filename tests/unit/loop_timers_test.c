/* Tests of timers of any duration on an h2o loop (proxy/util/loop_timers.h): order of firing
 * across many durations, cancelling (also from a callback and of the earliest timer, which
 * moves the timerfd), re-arming, and a heap that grows past its first allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/util/clock.h"
#include "proxy/util/loop_timers.h"

typedef struct probe {
    fd_loop_timer_t timer;
    int id;
    uint64_t fired_at;
} probe_t;

static fd_loop_timers_t timers;
static int order[512];
static size_t n_fired;
static probe_t *to_cancel; /* cancelled by the next callback that runs */

static void on_fire(fd_loop_timer_t *t)
{
    probe_t *p = (probe_t *)t;
    p->fired_at = fd_monotonic_ms();
    order[n_fired++] = p->id;
    if (to_cancel != NULL) {
        fd_loop_timer_cancel(&timers, &to_cancel->timer);
        to_cancel = NULL;
    }
}

/* Runs the loop until want callbacks ran, or 2 s passed. */
static void run_until(h2o_loop_t *loop, size_t want)
{
    uint64_t deadline = fd_monotonic_ms() + 2000;
    while (n_fired < want && fd_monotonic_ms() < deadline)
        h2o_evloop_run(loop, 10);
}

static int setup(void **state)
{
    h2o_loop_t *loop = h2o_evloop_create();
    assert_int_equal(fd_loop_timers_init(&timers, loop), 0);
    n_fired = 0;
    to_cancel = NULL;
    *state = loop;
    return 0;
}

static int teardown(void **state)
{
    h2o_loop_t *loop = *state;
    fd_loop_timers_dispose(&timers);
    for (int i = 0; i < 3; i++) /* the timerfd's socket closes on the next turns */
        h2o_evloop_run(loop, 0);
    h2o_evloop_destroy(loop);
    return 0;
}

static void test_fires_in_deadline_order(void **state)
{
    static const uint64_t delays[] = {40, 5, 25, 5, 60, 0, 15};
    probe_t probes[7];
    uint64_t started = fd_monotonic_ms();
    for (int i = 0; i < 7; i++) {
        probes[i] = (probe_t){.id = i};
        fd_loop_timer_start(&timers, &probes[i].timer, delays[i], on_fire);
    }
    probes[3].timer.deadline_ms = probes[1].timer.deadline_ms; /* a tie, whatever the clock did */
    run_until(*state, 7);
    assert_int_equal(n_fired, 7);
    static const int expected[] = {5, 1, 3, 6, 2, 0, 4};
    assert_memory_equal(order, expected, sizeof(expected)); /* ties in the order they were set */
    for (int i = 0; i < 7; i++) {
        assert_true(probes[i].fired_at >= started + delays[i]);
        assert_false(fd_loop_timer_is_armed(&probes[i].timer));
    }
}

static void test_cancel_the_earliest_and_from_a_callback(void **state)
{
    probe_t first = {.id = 1}, second = {.id = 2}, third = {.id = 3}, fourth = {.id = 4};
    fd_loop_timer_start(&timers, &first.timer, 10, on_fire);
    fd_loop_timer_start(&timers, &second.timer, 20, on_fire);
    fd_loop_timer_start(&timers, &third.timer, 30, on_fire);
    fd_loop_timer_start(&timers, &fourth.timer, 40, on_fire);
    fd_loop_timer_cancel(&timers, &first.timer); /* the timerfd now waits for the second */
    fd_loop_timer_cancel(&timers, &first.timer); /* twice is harmless */
    to_cancel = &third;                          /* the second's callback cancels the third */
    run_until(*state, 2);
    h2o_evloop_run(*state, 60); /* time for the third to have fired, had it not been cancelled */
    assert_int_equal(n_fired, 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 4);
}

static void test_restart_moves_an_armed_timer(void **state)
{
    probe_t a = {.id = 1}, b = {.id = 2};
    fd_loop_timer_start(&timers, &a.timer, 5, on_fire);
    fd_loop_timer_start(&timers, &b.timer, 20, on_fire);
    fd_loop_timer_start(&timers, &a.timer, 40, on_fire); /* moved past b */
    run_until(*state, 2);
    assert_int_equal(n_fired, 2);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 1);
}

static void test_many_timers_grow_the_heap(void **state)
{
    enum { N = 300 };
    probe_t *probes = calloc(N, sizeof(*probes));
    /* deadlines in a scrambled order, cancelling every third */
    for (int i = 0; i < N; i++) {
        probes[i].id = i;
        fd_loop_timer_start(&timers, &probes[i].timer, (uint64_t)((i * 37) % N) / 10, on_fire);
    }
    size_t cancelled = 0;
    for (int i = 0; i < N; i += 3, cancelled++)
        fd_loop_timer_cancel(&timers, &probes[i].timer);
    run_until(*state, N - cancelled);
    assert_int_equal(n_fired, N - cancelled);
    for (size_t i = 1; i < n_fired; i++)
        assert_true(probes[order[i - 1]].timer.deadline_ms <= probes[order[i]].timer.deadline_ms);
    for (size_t i = 0; i < n_fired; i++)
        assert_true(order[i] % 3 != 0);
    free(probes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_in_deadline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_the_earliest_and_from_a_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_moves_an_armed_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_timers_grow_the_heap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
