/* Lifetime and lookups of the runtime config; see config.h. */
#include "proxy/config/config.h"

#include <stdlib.h>
#include <string.h>

fd_config_t *fd_config_new(void)
{
    fd_config_t *config = calloc(1, sizeof(*config));
    if (config == NULL)
        abort();
    h2o_mem_init_pool(&config->pool);
    config->refcount = 1;
    return config;
}

void fd_config_retain(fd_config_t *config)
{
    __atomic_add_fetch(&config->refcount, 1, __ATOMIC_RELAXED);
}

void fd_config_release(fd_config_t *config)
{
    if (__atomic_sub_fetch(&config->refcount, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    h2o_mem_clear_pool(&config->pool);
    free(config);
}

const fd_cluster_t *fd_config_find_cluster(const fd_config_t *config, const char *name, size_t len)
{
    size_t lo = 0, hi = config->n_clusters;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = fd_string_compare(&config->clusters[mid].name, name, len);
        if (cmp == 0)
            return &config->clusters[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
