/* Jittered exponential backoff, as Envoy's JitteredExponentialBackOffStrategy. */
#include "xds/ads_backoff.h"

#define FD_ADS_BACKOFF_BASE_MS 500
#define FD_ADS_BACKOFF_MAX_MS 30000

void fd_ads_backoff_init(fd_ads_backoff_t *b, uint64_t base_ms, uint64_t max_ms)
{
    b->base_ms = base_ms ? base_ms : FD_ADS_BACKOFF_BASE_MS;
    b->max_ms = max_ms ? max_ms : FD_ADS_BACKOFF_MAX_MS;
    if (b->max_ms < b->base_ms)
        b->max_ms = b->base_ms;
    b->next_ms = b->base_ms;
}

uint64_t fd_ads_backoff_next(fd_ads_backoff_t *b, uint64_t random)
{
    uint64_t ceiling = b->next_ms;
    b->next_ms = b->next_ms < b->max_ms / 2 ? b->next_ms * 2 : b->max_ms;
    return random % ceiling;
}

void fd_ads_backoff_reset(fd_ads_backoff_t *b)
{
    b->next_ms = b->base_ms;
}
