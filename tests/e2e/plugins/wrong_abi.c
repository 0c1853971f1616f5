/* A plugin that claims a filter ABI version frontdesk does not run. */
#include "filters/fd_filter.h"

__attribute__((visibility("default"))) const fd_filter_plugin_t fd_filter_plugin = {
    FD_FILTER_ABI_VERSION + 41,
    (const fd_filter_descriptor_t *const[]){NULL},
};
