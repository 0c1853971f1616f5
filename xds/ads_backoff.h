/* Envoy's JitteredExponentialBackOffStrategy for the ADS stream: the n-th retry waits a
 * uniformly random time in [0, min(base * 2^n, max)), and a received message resets it.
 * Pure arithmetic (the caller supplies the random number) so that tests can pin it. */
#ifndef FD_ADS_BACKOFF_H
#define FD_ADS_BACKOFF_H

#include <stdint.h>

typedef struct fd_ads_backoff {
    uint64_t base_ms;
    uint64_t max_ms;
    uint64_t next_ms; /* the ceiling of the next wait */
} fd_ads_backoff_t;

/* base_ms 0 means Envoy's 500 ms, max_ms 0 means Envoy's 30 s; max is raised to base if lower. */
void fd_ads_backoff_init(fd_ads_backoff_t *b, uint64_t base_ms, uint64_t max_ms);

/* The next wait in ms, drawn from random; doubles the ceiling up to max_ms. */
uint64_t fd_ads_backoff_next(fd_ads_backoff_t *b, uint64_t random);

/* Back to base_ms (a message arrived: the stream works). */
void fd_ads_backoff_reset(fd_ads_backoff_t *b);

#endif
