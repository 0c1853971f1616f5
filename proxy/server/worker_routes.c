/* Route configurations from RDS on one worker: a slot per route_config_name, its current
 * configuration, and the ones updates replaced, kept until their last request ends (no
 * atomic per request: the counts are the worker's own). See worker.h. */
#include <stdlib.h>
#include <string.h>

#include "proxy/server/worker.h"

static void add_name(fd_worker_t *worker, const fd_string_t *name)
{
    for (size_t i = 0; i < worker->n_rds; i++)
        if (strcmp(worker->rds[i].name, name->base) == 0)
            return;
    fd_worker_rds_t *grown = realloc(worker->rds, (worker->n_rds + 1) * sizeof(*grown));
    char *copy = strdup(name->base); /* a listener from LDS may go before the slot */
    if (grown == NULL || copy == NULL)
        abort();
    worker->rds = grown;
    worker->rds[worker->n_rds++] = (fd_worker_rds_t){.name = copy};
}

void fd_worker_routes_add_listener(fd_worker_t *worker, const fd_listener_t *listener)
{
    for (size_t c = 0; c <= listener->n_chains; c++) {
        const fd_filter_chain_t *chain = fd_listener_chain_at(listener, c);
        if (chain != NULL && chain->http.routes == NULL && chain->http.rds_name.len != 0)
            add_name(worker, &chain->http.rds_name);
    }
}

void fd_worker_routes_init(fd_worker_t *worker)
{
    for (size_t l = 0; l < worker->config->n_listeners; l++)
        fd_worker_routes_add_listener(worker, &worker->config->listeners[l]);
}

static fd_worker_rds_t *slot_of(fd_worker_t *worker, const char *name, size_t len)
{
    for (size_t i = 0; i < worker->n_rds; i++)
        if (strlen(worker->rds[i].name) == len && memcmp(worker->rds[i].name, name, len) == 0)
            return &worker->rds[i];
    return NULL;
}

fd_worker_routes_t *fd_worker_routes_acquire(fd_worker_t *worker, fd_string_t name)
{
    fd_worker_rds_t *slot = slot_of(worker, name.base, name.len);
    if (slot == NULL || slot->current == NULL)
        return NULL;
    slot->current->in_flight++;
    return slot->current;
}

static void free_routes(fd_worker_routes_t *routes)
{
    fd_config_release(routes->arena);
    free(routes);
}

void fd_worker_routes_release(fd_worker_routes_t *routes)
{
    if (--routes->in_flight == 0 && routes->retired)
        free_routes(routes);
}

void fd_worker_routes_update(fd_worker_t *worker, const char *name, fd_config_t *arena, const fd_route_table_t *table)
{
    fd_worker_rds_t *slot = slot_of(worker, name, strlen(name));
    if (slot == NULL) { /* not a name of this config: the reference is not kept */
        if (arena != NULL)
            fd_config_release(arena);
        return;
    }
    fd_worker_routes_t *routes = NULL;
    if (arena != NULL) { /* NULL: no listener uses the name any more; a later one waits for RDS again */
        if ((routes = calloc(1, sizeof(*routes))) == NULL)
            abort();
        *routes = (fd_worker_routes_t){.arena = arena, .table = table};
    }
    fd_worker_routes_t *old = slot->current;
    slot->current = routes; /* the next request routes with it */
    if (old != NULL) {
        old->retired = 1;
        if (old->in_flight == 0)
            free_routes(old);
    }
}

void fd_worker_routes_dispose(fd_worker_t *worker)
{
    for (size_t i = 0; i < worker->n_rds; i++) {
        if (worker->rds[i].current != NULL)
            free_routes(worker->rds[i].current); /* no request is left */
        free((char *)worker->rds[i].name);
    }
    free(worker->rds);
    worker->rds = NULL;
    worker->n_rds = 0;
}
