/* The HTTP filters frontdesk can instantiate, found by the type of their config: those of
 * plugins loaded with --plugin (dlopen, ABI version checked at load) and built-in ones.
 * Lives for the whole process: configs keep pointers into it. */
#ifndef FD_FILTER_REGISTRY_H
#define FD_FILTER_REGISTRY_H

#include <stddef.h>

#include "filters/fd_filter.h"

typedef struct fd_filter_registry fd_filter_registry_t;

/* One filter the registry knows, and where it came from (for messages). */
typedef struct fd_filter_registration {
    const fd_filter_descriptor_t *filter;
    const char *origin; /* the plugin's path, or "built-in" */
} fd_filter_registration_t;

/* api is what create_config and every hook is given (proxy/http/filter_api.c). */
fd_filter_registry_t *fd_filter_registry_new(const fd_filter_api_t *api);
/* Frees the registry and unloads its plugins: only once no config uses them. */
void fd_filter_registry_free(fd_filter_registry_t *registry);

/* Loads a plugin and registers its filters; -1 with a message in error (a file that does not
 * load, no FD_FILTER_PLUGIN_SYMBOL, another ABI version, a config type already taken). */
int fd_filter_registry_load_plugin(fd_filter_registry_t *registry, const char *path, char *error, size_t error_size);
/* Registers a filter linked into frontdesk; -1 with a message as above. */
int fd_filter_registry_add(fd_filter_registry_t *registry, const fd_filter_descriptor_t *filter, const char *origin,
                           char *error, size_t error_size);

/* The filter taking configs of type_url (compared by message name: what follows the last
 * '/'), or NULL. */
const fd_filter_registration_t *fd_filter_registry_find(const fd_filter_registry_t *registry, const char *type_url);
const fd_filter_api_t *fd_filter_registry_api(const fd_filter_registry_t *registry);

#endif
