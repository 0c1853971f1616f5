/* The translator's entry point for a bootstrap, and the path and error bookkeeping
 * every translator file uses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/translate_int.h"

static size_t path_append(fd_translator_t *tr, const char *fmt, const char *s, size_t index)
{
    size_t before = tr->path_len, room = sizeof(tr->path) - tr->path_len;
    int n = snprintf(tr->path + tr->path_len, room, fmt, s, index);
    tr->path_len = (n < 0 || (size_t)n >= room) ? sizeof(tr->path) - 1 : tr->path_len + (size_t)n;
    return before;
}

size_t fd_tr_push(fd_translator_t *tr, const char *field)
{
    return path_append(tr, tr->path_len == 0 ? "%s" : ".%s", field, 0);
}

size_t fd_tr_push_index(fd_translator_t *tr, const char *field, size_t index)
{
    return path_append(tr, tr->path_len == 0 ? "%s[%zu]" : ".%s[%zu]", field, index);
}

void fd_tr_pop(fd_translator_t *tr, size_t len)
{
    tr->path_len = len;
    tr->path[len] = '\0';
}

static void report(fd_translator_t *tr, const void *addr, const char *sub, const char *fmt, va_list ap)
{
    char message[1024];
    vsnprintf(message, sizeof(message), fmt, ap);
    size_t saved = sub != NULL ? fd_tr_push(tr, sub) : tr->path_len;
    fd_cfg_errors_add(tr->errs, tr->src != NULL ? tr->src->name : NULL, fd_cfg_source_mark(tr->src, addr), tr->path,
                      "%s", message);
    fd_tr_pop(tr, saved);
}

void fd_tr_error(fd_translator_t *tr, const void *addr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(tr, addr, NULL, fmt, ap);
    va_end(ap);
}

void fd_tr_error_in(fd_translator_t *tr, const void *addr, const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(tr, addr, sub, fmt, ap);
    va_end(ap);
}

typedef struct fd_tr_cluster_ref {
    char *path, *name;
    fd_cfg_mark_t mark;
    fd_tr_ref_kind_t kind;
} fd_tr_cluster_ref_t;

void fd_tr_require_cluster(fd_translator_t *tr, const void *addr, const char *field, const char *name,
                           fd_tr_ref_kind_t kind)
{
    if (name[0] == '\0') {
        fd_tr_error_in(tr, addr, field, "cluster name is empty");
        return;
    }
    if (kind == FD_TR_REF_ROUTE && tr->have_cds)
        return;
    fd_tr_cluster_ref_t *refs = realloc(tr->cluster_refs, (tr->n_cluster_refs + 1) * sizeof(*refs));
    if (refs == NULL)
        abort();
    tr->cluster_refs = refs;
    size_t saved = fd_tr_push(tr, field);
    refs[tr->n_cluster_refs++] =
        (fd_tr_cluster_ref_t){strdup(tr->path), strdup(name), fd_cfg_source_mark(tr->src, addr), kind};
    fd_tr_pop(tr, saved);
}

void fd_tr_check_cluster_refs(fd_translator_t *tr, const fd_config_t *statics)
{
    for (size_t i = 0; i < tr->n_cluster_refs; i++) {
        fd_tr_cluster_ref_t *ref = &tr->cluster_refs[i];
        if (fd_config_find_cluster(statics, ref->name, strlen(ref->name)) == NULL)
            fd_cfg_errors_add(tr->errs, tr->src != NULL ? tr->src->name : NULL, ref->mark, ref->path,
                              ref->kind == FD_TR_REF_XDS
                                  ? "the xDS cluster '%s' is not defined in static_resources.clusters (the control "
                                    "server must be a static cluster)"
                                  : "unknown cluster '%s': no cluster of that name in static_resources.clusters",
                              ref->name);
        free(ref->path);
        free(ref->name);
    }
    free(tr->cluster_refs);
    tr->cluster_refs = NULL;
    tr->n_cluster_refs = 0;
}

void *fd_tr_alloc(fd_translator_t *tr, size_t size)
{
    void *p = h2o_mem_alloc_pool(&tr->config->pool, size ? size : 1);
    memset(p, 0, size ? size : 1);
    return p;
}

static void translate_node(fd_translator_t *tr, const Envoy__Config__Core__V3__Node *node)
{
    if (node == NULL)
        return;
    tr->config->node_id = fd_tr_string(tr, node->id);
    tr->config->node_cluster = fd_tr_string(tr, node->cluster);
}

static void translate_admin(fd_translator_t *tr, const Envoy__Config__Bootstrap__V3__Admin *admin)
{
    if (admin == NULL || admin->address == NULL)
        return;
    size_t saved = fd_tr_push(tr, "admin.address");
    if (fd_tr_socket_address(tr, admin->address, &tr->config->admin_address, 0) == 0)
        tr->config->has_admin = 1;
    fd_tr_pop(tr, saved);
}

static int compare_clusters(const void *a, const void *b)
{
    const fd_string_t *x = &((const fd_cluster_t *)a)->name, *y = &((const fd_cluster_t *)b)->name;
    int cmp = memcmp(x->base, y->base, x->len < y->len ? x->len : y->len);
    return cmp != 0 ? cmp : (x->len > y->len) - (x->len < y->len);
}

static void translate_clusters(fd_translator_t *tr, Envoy__Config__Cluster__V3__Cluster *const *clusters, size_t n)
{
    fd_config_t *config = tr->config;
    config->clusters = fd_tr_alloc(tr, n * sizeof(*config->clusters));
    for (size_t i = 0; i < n; i++) {
        size_t saved = fd_tr_push_index(tr, "static_resources.clusters", i);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(clusters[j]->name, clusters[i]->name) == 0) {
                fd_tr_error_in(
                    tr, &clusters[i]->name, "name",
                    "duplicate cluster name '%s' (also static_resources.clusters[%zu]); names must be unique",
                    clusters[i]->name, j);
                break;
            }
        }
        fd_tr_cluster(tr, clusters[i], &config->clusters[config->n_clusters++]);
        fd_tr_pop(tr, saved);
    }
    qsort(config->clusters, config->n_clusters, sizeof(*config->clusters), compare_clusters);
}

static int same_address(const fd_socket_address_t *a, const fd_socket_address_t *b)
{
    return a->port != 0 && a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static void translate_listeners(fd_translator_t *tr, Envoy__Config__Listener__V3__Listener *const *listeners, size_t n)
{
    fd_config_t *config = tr->config;
    config->listeners = fd_tr_alloc(tr, n * sizeof(*config->listeners));
    for (size_t i = 0; i < n; i++) {
        size_t saved = fd_tr_push_index(tr, "static_resources.listeners", i);
        fd_listener_t *l = &config->listeners[config->n_listeners++];
        fd_tr_listener(tr, listeners[i], l);
        for (size_t j = 0; j + 1 < config->n_listeners; j++) {
            const fd_listener_t *other = &config->listeners[j];
            if (l->name.len != 0 && other->name.len == l->name.len &&
                memcmp(other->name.base, l->name.base, l->name.len) == 0)
                fd_tr_error_in(tr, &listeners[i]->name, "name",
                               "duplicate listener name '%s' (also static_resources.listeners[%zu])", l->name.base, j);
            else if (same_address(&l->address, &other->address))
                fd_tr_error_in(tr, listeners[i]->address, "address",
                               "listener address %s:%u is already used by static_resources.listeners[%zu]",
                               l->address.host, l->address.port, j);
        }
        fd_tr_pop(tr, saved);
    }
}

static void translate_dynamic(fd_translator_t *tr, const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr)
{
    if (dr == NULL)
        return;
    size_t saved = fd_tr_push(tr, "dynamic_resources");
    fd_config_t *config = tr->config;
    if (dr->ads_config != NULL) {
        size_t s = fd_tr_push(tr, "ads_config");
        fd_tr_api_config_source(tr, dr->ads_config, &config->ads);
        fd_tr_pop(tr, s);
    }
    if (dr->lds_config != NULL) {
        size_t s = fd_tr_push(tr, "lds_config");
        fd_tr_config_source(tr, dr->lds_config, &config->lds);
        fd_tr_pop(tr, s);
    }
    if (dr->cds_config != NULL) {
        size_t s = fd_tr_push(tr, "cds_config");
        fd_tr_config_source(tr, dr->cds_config, &config->cds);
        fd_tr_pop(tr, s);
    }
    fd_tr_pop(tr, saved);
}

fd_config_t *fd_translate_bootstrap(const Envoy__Config__Bootstrap__V3__Bootstrap *bootstrap,
                                    const fd_cfg_source_t *src, const fd_filter_registry_t *filters,
                                    fd_cfg_errors_t *errs)
{
    fd_config_t *config = fd_config_new();
    fd_translator_t tr = {.src = src, .errs = errs, .config = config, .filters = filters};
    size_t errors_before = errs->count + errs->dropped;
    fd_tr_check_supported(&tr, &bootstrap->base);
    translate_node(&tr, bootstrap->node);
    translate_admin(&tr, bootstrap->admin);
    const Envoy__Config__Bootstrap__V3__Bootstrap__StaticResources *sr = bootstrap->static_resources;
    const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr = bootstrap->dynamic_resources;
    tr.have_cds = dr != NULL && dr->cds_config != NULL;
    if (sr != NULL)
        translate_clusters(&tr, sr->clusters, sr->n_clusters);
    translate_dynamic(&tr, dr);
    if (sr != NULL)
        translate_listeners(&tr, sr->listeners, sr->n_listeners);
    fd_tr_check_cluster_refs(&tr, config);
    if (tr.first_ads_use != NULL && !config->ads.present)
        fd_cfg_errors_add(errs, src != NULL ? src->name : NULL, tr.first_ads_mark, tr.first_ads_use,
                          "'ads: {}' needs dynamic_resources.ads_config (the aggregated stream to use)");
    free(tr.first_ads_use);
    if (errs->count + errs->dropped != errors_before) {
        fd_config_release(config);
        return NULL;
    }
    return config;
}

fd_config_t *fd_tr_finish_resource(fd_translator_t *tr, const fd_config_t *statics, size_t errors_before)
{
    if (statics != NULL) {
        fd_tr_check_cluster_refs(tr, statics); /* a control server it names must be a static cluster */
        if (tr->first_ads_use != NULL && !statics->ads.present)
            fd_cfg_errors_add(tr->errs, NULL, (fd_cfg_mark_t){0}, tr->first_ads_use,
                              "'ads: {}' needs dynamic_resources.ads_config in the bootstrap");
    }
    free(tr->first_ads_use);
    free(tr->cluster_refs); /* none left unless statics was NULL, where none are made */
    tr->first_ads_use = NULL;
    tr->cluster_refs = NULL;
    if (tr->errs->count + tr->errs->dropped == errors_before)
        return tr->config;
    fd_config_release(tr->config);
    return NULL;
}

fd_config_t *fd_translate_route_configuration(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                              const fd_filter_registry_t *filters, fd_route_table_t **table,
                                              fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings)
{
    fd_config_t *arena = fd_config_new();
    /* have_cds: clusters a route names are looked up when a request comes, as Envoy's RDS does */
    fd_translator_t tr = {.errs = errs, .config = arena, .filters = filters, .warnings = warnings, .have_cds = 1};
    size_t errors_before = errs->count + errs->dropped;
    fd_tr_check_supported(&tr, &rc->base);
    *table = fd_tr_alloc(&tr, sizeof(**table));
    fd_tr_route_table(&tr, rc, *table);
    if ((arena = fd_tr_finish_resource(&tr, NULL, errors_before)) == NULL)
        *table = NULL;
    return arena;
}

fd_config_t *fd_translate_listener_resource(const Envoy__Config__Listener__V3__Listener *l, const fd_config_t *statics,
                                            const fd_filter_registry_t *filters, fd_listener_t **listener,
                                            fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings)
{
    fd_config_t *arena = fd_config_new();
    /* have_cds: routes may name clusters CDS brings, looked up when a request comes */
    fd_translator_t tr = {.errs = errs, .config = arena, .filters = filters, .warnings = warnings, .have_cds = 1};
    size_t errors_before = errs->count + errs->dropped;
    fd_tr_check_supported(&tr, &l->base);
    *listener = fd_tr_alloc(&tr, sizeof(**listener));
    fd_tr_listener(&tr, l, *listener);
    for (size_t i = 0; i < statics->n_listeners && errs->count + errs->dropped == errors_before; i++)
        if (same_address(&(*listener)->address, &statics->listeners[i].address))
            fd_cfg_errors_add(errs, NULL, (fd_cfg_mark_t){0}, "address",
                              "listener address %s:%u is already used by the static listener '%s'",
                              (*listener)->address.host, (*listener)->address.port, statics->listeners[i].name.base);
    if ((arena = fd_tr_finish_resource(&tr, statics, errors_before)) == NULL)
        *listener = NULL;
    return arena;
}
