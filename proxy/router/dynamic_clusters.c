/* Clusters from CDS on one worker: a sorted table of individually allocated clusters, each
 * holding its config arena; one replaced or removed by an update retires and is freed when
 * the last request that picked it has logged and its hosts are idle. See router.h. */
#include <stdlib.h>
#include <string.h>

#include "proxy/router/router.h"

#define SWEEP_INTERVAL_MS 1000

/* The index of name in rw->dynamic, or where it would go (with *found 0). */
static size_t position_of(const fd_router_worker_t *rw, const char *name, size_t len, int *found)
{
    size_t lo = 0, hi = rw->n_dynamic;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = fd_string_compare(&rw->dynamic[mid]->config->name, name, len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

fd_router_cluster_t *fd_router_find_dynamic(const fd_router_worker_t *rw, const char *name, size_t len)
{
    int found;
    size_t at = position_of(rw, name, len, &found);
    return found ? rw->dynamic[at] : NULL;
}

static void free_cluster(fd_router_cluster_t *rc)
{
    fd_router_cluster_free_hosts(rc);
    fd_config_release(rc->arena);
    free(rc);
}

static void on_sweep(h2o_timeout_entry_t *entry)
{
    fd_router_sweep_clusters(H2O_STRUCT_FROM_MEMBER(fd_router_worker_t, sweep, entry));
}

void fd_router_sweep_clusters(fd_router_worker_t *rw)
{
    size_t kept = 0;
    for (size_t i = 0; i < rw->n_retired_clusters; i++) {
        fd_router_cluster_t *rc = rw->retired_clusters[i];
        if (fd_router_cluster_idle(rc))
            free_cluster(rc);
        else
            rw->retired_clusters[kept++] = rc;
    }
    rw->n_retired_clusters = kept;
    /* a host may go idle with no event of ours to notice it: look again later */
    if (kept != 0 && !h2o_timeout_is_linked(&rw->sweep)) {
        rw->sweep.cb = on_sweep;
        h2o_timeout_link(rw->loop, fd_router_timeout(rw, SWEEP_INTERVAL_MS), &rw->sweep);
    }
}

static void retire(fd_router_worker_t *rw, fd_router_cluster_t *rc)
{
    fd_router_cluster_t **grown = realloc(rw->retired_clusters, (rw->n_retired_clusters + 1) * sizeof(*grown));
    if (grown == NULL)
        abort();
    rc->is_retired = 1;
    rw->retired_clusters = grown;
    rw->retired_clusters[rw->n_retired_clusters++] = rc;
}

/* The counters of the cluster name carry over a change, as Envoy's stats are by name. */
static void carry_counters(fd_router_cluster_t *to, const fd_router_cluster_t *from)
{
    uint64_t *t = (uint64_t *)&to->stats;
    const uint64_t *f = (const uint64_t *)&from->stats;
    for (size_t i = 0; i < fd_cluster_stat_count; i++)
        if (fd_cluster_stat_descs[i].kind == FD_STAT_COUNTER)
            t[i] = FD_STAT_LOAD(f[i]);
}

void fd_router_set_cluster(fd_router_worker_t *rw, fd_config_t *arena, const fd_cluster_t *cluster,
                           const fd_router_address_t *addresses, size_t n)
{
    fd_router_cluster_t *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        abort();
    rw->random_state = rw->random_state * 6364136223846793005ull + 1442695040888963407ull;
    *rc = (fd_router_cluster_t){.config = cluster, .random_state = rw->random_state, .worker = rw, .arena = arena};
    fd_router_cluster_set_hosts(rw, rc, addresses, n);
    int found;
    size_t at = position_of(rw, cluster->name.base, cluster->name.len, &found);
    pthread_mutex_lock(&rw->hosts_lock);
    if (found) {
        fd_router_cluster_t *old = rw->dynamic[at];
        carry_counters(rc, old);
        rw->dynamic[at] = rc;
        retire(rw, old);
    } else {
        fd_router_cluster_t **grown = realloc(rw->dynamic, (rw->n_dynamic + 1) * sizeof(*grown));
        if (grown == NULL)
            abort();
        rw->dynamic = grown;
        memmove(&rw->dynamic[at + 1], &rw->dynamic[at], (rw->n_dynamic - at) * sizeof(*grown));
        rw->dynamic[at] = rc;
        rw->n_dynamic++;
    }
    pthread_mutex_unlock(&rw->hosts_lock);
    fd_router_sweep_clusters(rw);
}

void fd_router_remove_cluster(fd_router_worker_t *rw, const char *name)
{
    int found;
    size_t at = position_of(rw, name, strlen(name), &found);
    if (!found)
        return;
    pthread_mutex_lock(&rw->hosts_lock);
    fd_router_cluster_t *rc = rw->dynamic[at];
    memmove(&rw->dynamic[at], &rw->dynamic[at + 1], (rw->n_dynamic - at - 1) * sizeof(*rw->dynamic));
    rw->n_dynamic--;
    retire(rw, rc);
    pthread_mutex_unlock(&rw->hosts_lock);
    fd_router_sweep_clusters(rw);
}

void fd_router_update_cluster_hosts(fd_router_worker_t *rw, const char *name, const fd_router_address_t *addresses,
                                    size_t n)
{
    fd_router_cluster_t *rc = fd_router_find_dynamic(rw, name, strlen(name));
    if (rc != NULL)
        fd_router_cluster_set_hosts(rw, rc, addresses, n);
}

void fd_stream_info_name_cluster(fd_stream_info_t *info, fd_router_cluster_t *rc)
{
    if (rc != NULL && rc->arena != NULL)
        rc->refs++;
    fd_router_cluster_t *old = info->cluster_ref;
    info->cluster_ref = rc != NULL && rc->arena != NULL ? rc : NULL;
    info->upstream_cluster = rc != NULL ? rc->config : NULL;
    if (old != NULL && --old->refs == 0 && old->is_retired)
        fd_router_sweep_clusters(old->worker);
}

void fd_stream_info_end(fd_stream_info_t *info)
{
    fd_stream_info_name_host(info, NULL);
    fd_stream_info_name_cluster(info, NULL);
}

void fd_router_dispose_dynamic(fd_router_worker_t *rw)
{
    if (h2o_timeout_is_linked(&rw->sweep))
        h2o_timeout_unlink(&rw->sweep);
    pthread_mutex_lock(&rw->hosts_lock);
    for (size_t i = 0; i < rw->n_dynamic; i++)
        free_cluster(rw->dynamic[i]);
    for (size_t i = 0; i < rw->n_retired_clusters; i++)
        free_cluster(rw->retired_clusters[i]); /* no request is left */
    free(rw->dynamic);
    free(rw->retired_clusters);
    rw->dynamic = rw->retired_clusters = NULL;
    rw->n_dynamic = rw->n_retired_clusters = 0;
    pthread_mutex_unlock(&rw->hosts_lock);
}
