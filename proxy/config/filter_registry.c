/* Filters by config type, and the loading of plugins; see filter_registry.h. */
#include "proxy/config/filter_registry.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fd_filter_registry {
    const fd_filter_api_t *api;
    fd_filter_registration_t *filters;
    size_t n_filters;
    void **handles; /* dlopen handles of the loaded plugins */
    size_t n_handles;
};

fd_filter_registry_t *fd_filter_registry_new(const fd_filter_api_t *api)
{
    fd_filter_registry_t *registry = calloc(1, sizeof(*registry));
    if (registry == NULL)
        abort();
    registry->api = api;
    return registry;
}

void fd_filter_registry_free(fd_filter_registry_t *registry)
{
    if (registry == NULL)
        return;
    for (size_t i = 0; i < registry->n_filters; i++) {
        free((char *)registry->filters[i].origin);
        free((void *)registry->filters[i].filter);
    }
    for (size_t i = 0; i < registry->n_handles; i++)
        dlclose(registry->handles[i]);
    free(registry->filters);
    free(registry->handles);
    free(registry);
}

static const char *message_name(const char *type_url)
{
    const char *slash = strrchr(type_url, '/');
    return slash != NULL ? slash + 1 : type_url;
}

const fd_filter_registration_t *fd_filter_registry_find(const fd_filter_registry_t *registry, const char *type_url)
{
    if (registry == NULL)
        return NULL;
    const char *name = message_name(type_url);
    for (size_t i = 0; i < registry->n_filters; i++)
        if (strcmp(message_name(registry->filters[i].filter->type_url), name) == 0)
            return &registry->filters[i];
    return NULL;
}

const fd_filter_api_t *fd_filter_registry_api(const fd_filter_registry_t *registry)
{
    return registry->api;
}

/* A descriptor this proxy can run: its version, size and the fields every filter needs. */
static int check_descriptor(const fd_filter_descriptor_t *filter, const char *origin, char *error, size_t error_size)
{
    if (filter->abi_version != FD_FILTER_ABI_VERSION) {
        snprintf(error, error_size,
                 "%s: filter '%s' was built for frontdesk filter ABI %u, this frontdesk runs ABI %u: rebuild it "
                 "against this frontdesk's filters/fd_filter.h",
                 origin, filter->name != NULL ? filter->name : "?", filter->abi_version, FD_FILTER_ABI_VERSION);
        return -1;
    }
    size_t least = offsetof(fd_filter_descriptor_t, create_config) + sizeof(filter->create_config);
    if (filter->struct_size < least || filter->name == NULL || filter->type_url == NULL ||
        filter->create_config == NULL) {
        snprintf(error, error_size,
                 "%s: a filter descriptor is malformed (struct_size %u, at least %zu; name, type_url and "
                 "create_config are required)",
                 origin, filter->struct_size, least);
        return -1;
    }
    return 0;
}

int fd_filter_registry_add(fd_filter_registry_t *registry, const fd_filter_descriptor_t *filter, const char *origin,
                           char *error, size_t error_size)
{
    if (check_descriptor(filter, origin, error, error_size) != 0)
        return -1;
    const fd_filter_registration_t *taken = fd_filter_registry_find(registry, filter->type_url);
    if (taken != NULL) {
        snprintf(error, error_size, "%s: filter '%s' takes config type '%s', which filter '%s' of %s already takes",
                 origin, filter->name, filter->type_url, taken->filter->name, taken->origin);
        return -1;
    }
    fd_filter_registration_t *grown = realloc(registry->filters, (registry->n_filters + 1) * sizeof(*grown));
    char *origin_copy = strdup(origin);
    /* a copy whose members past what the filter was built with read as NULL */
    fd_filter_descriptor_t *copy = calloc(1, sizeof(*copy));
    if (grown == NULL || origin_copy == NULL || copy == NULL)
        abort();
    memcpy(copy, filter, filter->struct_size < sizeof(*copy) ? filter->struct_size : sizeof(*copy));
    copy->struct_size = sizeof(*copy);
    registry->filters = grown;
    registry->filters[registry->n_filters++] = (fd_filter_registration_t){copy, origin_copy};
    return 0;
}

int fd_filter_registry_load_plugin(fd_filter_registry_t *registry, const char *path, char *error, size_t error_size)
{
    /* RTLD_LOCAL: two plugins may use the same internal symbol names without clashing */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        snprintf(error, error_size, "plugin '%s' does not load: %s", path, dlerror());
        return -1;
    }
    const fd_filter_plugin_t *plugin = dlsym(handle, FD_FILTER_PLUGIN_SYMBOL);
    if (plugin == NULL) {
        snprintf(error, error_size,
                 "plugin '%s' exports no '%s': is it a frontdesk filter plugin (FD_FILTER_PLUGIN(...) in one of its "
                 "files)?",
                 path, FD_FILTER_PLUGIN_SYMBOL);
        dlclose(handle);
        return -1;
    }
    if (plugin->abi_version != FD_FILTER_ABI_VERSION) {
        snprintf(error, error_size,
                 "plugin '%s' was built for frontdesk filter ABI %u, this frontdesk runs ABI %u: rebuild it against "
                 "this frontdesk's filters/fd_filter.h",
                 path, plugin->abi_version, FD_FILTER_ABI_VERSION);
        dlclose(handle);
        return -1;
    }
    size_t before = registry->n_filters;
    for (size_t i = 0; plugin->filters != NULL && plugin->filters[i] != NULL; i++) {
        if (fd_filter_registry_add(registry, plugin->filters[i], path, error, error_size) != 0) {
            while (registry->n_filters > before) {
                registry->n_filters--;
                free((char *)registry->filters[registry->n_filters].origin);
                free((void *)registry->filters[registry->n_filters].filter);
            }
            dlclose(handle);
            return -1;
        }
    }
    if (registry->n_filters == before) {
        snprintf(error, error_size, "plugin '%s' declares no filter", path);
        dlclose(handle);
        return -1;
    }
    void **grown = realloc(registry->handles, (registry->n_handles + 1) * sizeof(*grown));
    if (grown == NULL)
        abort();
    registry->handles = grown;
    registry->handles[registry->n_handles++] = handle;
    return 0;
}
