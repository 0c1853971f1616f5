/* A worker's listeners from LDS: one added (taking over from a listener of the same name,
 * which drains), one removed (it stops accepting, its idle connections close, HTTP/2 ones get
 * GOAWAY, busy ones finish), and the sweep that frees a drained listener once no connection
 * or request is left on it. See worker.h. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/server/listener_runtime.h"
#include "proxy/server/server.h"
#include "proxy/server/worker.h"
#include "proxy/util/clock.h"

#define SWEEP_INTERVAL_MS 100

static void sweep(fd_worker_t *worker);

static void on_sweep(h2o_timeout_entry_t *entry)
{
    sweep(H2O_STRUCT_FROM_MEMBER(fd_worker_t, listener_sweep, entry));
}

/* Under listeners_lock: a swept listener's counters stay in its prefix's sum. */
static void retire_stats(fd_worker_t *worker, const fd_worker_listener_t *wl)
{
    const char *prefix = fd_listener_first_chain(wl->runtime->listener)->http.stat_prefix.base;
    struct fd_worker_retired_stats *r = NULL;
    for (size_t i = 0; i < worker->n_retired_stats && r == NULL; i++)
        if (strcmp(worker->retired_stats[i].prefix, prefix) == 0)
            r = &worker->retired_stats[i];
    if (r == NULL) {
        struct fd_worker_retired_stats *grown =
            realloc(worker->retired_stats, (worker->n_retired_stats + 1) * sizeof(*grown));
        if (grown == NULL)
            abort();
        worker->retired_stats = grown;
        r = memset(&grown[worker->n_retired_stats++], 0, sizeof(*grown));
        if ((r->prefix = strdup(prefix)) == NULL)
            abort();
    }
    uint64_t *to = (uint64_t *)&r->stats;
    const uint64_t *from = (const uint64_t *)&wl->stats;
    for (size_t i = 0; i < fd_http_stat_count; i++)
        to[i] += FD_STAT_LOAD(from[i]); /* gauges are 0 by now: nothing is left on it */
}

static void sweep(fd_worker_t *worker)
{
    size_t kept = 0, draining = 0;
    pthread_mutex_lock(&worker->listeners_lock);
    for (size_t i = 0; i < worker->n_listeners; i++) {
        fd_worker_listener_t *wl = worker->listeners[i];
        /* as Envoy: a draining listener's connections have --drain-time-s to go on their own */
        if (wl->removed && fd_monotonic_ms() >= wl->removed_at_ms + fd_server_drain_time_s(worker->server) * 1000ull)
            fd_http1_close_idle(&wl->http1);
        if (!wl->removed || wl->connections != 0 || wl->requests_in_flight != 0) {
            worker->listeners[kept++] = wl;
            draining += wl->removed;
            continue;
        }
        retire_stats(worker, wl);
        fd_worker_listener_dispose(wl);
        fd_listener_runtime_release(wl->runtime);
        free(wl);
    }
    worker->n_listeners = kept;
    pthread_mutex_unlock(&worker->listeners_lock);
    if (draining != 0 && !h2o_timeout_is_linked(&worker->listener_sweep)) {
        worker->listener_sweep.cb = on_sweep;
        h2o_timeout_link(worker->loop, fd_router_timeout(&worker->router, SWEEP_INTERVAL_MS), &worker->listener_sweep);
    }
}

/* The serving listener of that name, or NULL. */
static fd_worker_listener_t *serving(fd_worker_t *worker, const char *name, size_t len)
{
    for (size_t i = 0; i < worker->n_listeners; i++) {
        fd_worker_listener_t *wl = worker->listeners[i];
        if (!wl->removed && fd_string_compare(&wl->runtime->listener->name, name, len) == 0)
            return wl;
    }
    return NULL;
}

static void drain(fd_worker_t *worker, fd_worker_listener_t *wl)
{
    wl->removed = 1;
    wl->removed_at_ms = fd_monotonic_ms();
    /* idle keep-alive connections are not cut at once: a client may be sending on one right now;
     * each gets "connection: close" with its next response, or is closed once the drain time is up */
    fd_worker_listener_stop(wl, 0);
    sweep(worker);
}

void fd_worker_listeners_add(fd_worker_t *worker, fd_listener_runtime_t *runtime, int fd)
{
    const fd_string_t *name = &runtime->listener->name;
    fd_worker_listener_t *old = serving(worker, name->base, name->len);
    fd_worker_listener_t *wl = fd_worker_listener_new(worker, runtime, fd);
    fd_worker_routes_add_listener(worker, runtime->listener);
    pthread_mutex_lock(&worker->listeners_lock); /* the admin may be walking the list */
    fd_worker_listener_t **grown = realloc(worker->listeners, (worker->n_listeners + 1) * sizeof(*grown));
    if (grown == NULL)
        abort();
    worker->listeners = grown;
    worker->listeners[worker->n_listeners++] = wl;
    pthread_mutex_unlock(&worker->listeners_lock);
    if (worker->draining)
        drain(worker, wl); /* the process drains: nothing new is accepted */
    if (old != NULL)
        drain(worker, old); /* new connections go to the new one; its own finish */
}

void fd_worker_listeners_remove(fd_worker_t *worker, const char *name)
{
    fd_worker_listener_t *wl = serving(worker, name, strlen(name));
    if (wl != NULL)
        drain(worker, wl);
}

void fd_worker_listeners_dispose_sweep(fd_worker_t *worker)
{
    if (h2o_timeout_is_linked(&worker->listener_sweep))
        h2o_timeout_unlink(&worker->listener_sweep);
}
