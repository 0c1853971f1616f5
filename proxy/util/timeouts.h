/* h2o 2.2 keeps one timeout queue per duration, linked into its loop by address: a set of
 * them by duration, each allocated once and never moved, made on first use. */
#ifndef FD_TIMEOUTS_H
#define FD_TIMEOUTS_H

#include <h2o.h>
#include <stdint.h>

typedef struct fd_timeouts {
    h2o_loop_t *loop;
    h2o_timeout_t **items;
    size_t n;
} fd_timeouts_t;

/* The queue for ms on the set's loop. */
h2o_timeout_t *fd_timeouts_get(fd_timeouts_t *set, uint64_t ms);

/* Disposes of every queue (nothing may be linked to them any more). */
void fd_timeouts_dispose(fd_timeouts_t *set);

#endif
