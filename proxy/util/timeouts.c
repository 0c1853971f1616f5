/* Timeout queues by duration; see timeouts.h. */
#include "proxy/util/timeouts.h"

#include <stdlib.h>

h2o_timeout_t *fd_timeouts_get(fd_timeouts_t *set, uint64_t ms)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i]->timeout == ms)
            return set->items[i];
    h2o_timeout_t **grown = realloc(set->items, (set->n + 1) * sizeof(*grown));
    h2o_timeout_t *timeout = malloc(sizeof(*timeout));
    if (grown == NULL || timeout == NULL)
        abort();
    set->items = grown;
    h2o_timeout_init(set->loop, timeout, ms);
    return set->items[set->n++] = timeout;
}

void fd_timeouts_dispose(fd_timeouts_t *set)
{
    for (size_t i = 0; i < set->n; i++) {
        h2o_timeout_dispose(set->loop, set->items[i]);
        free(set->items[i]);
    }
    free(set->items);
    set->items = NULL;
    set->n = 0;
}
