/* One monotonic millisecond clock for deadlines and durations: drain, DNS refresh, access-log
 * flushing and upstream service time (clock.c). */
#ifndef FD_CLOCK_H
#define FD_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: immune to wall-clock steps. */
uint64_t fd_monotonic_ms(void);

#endif
