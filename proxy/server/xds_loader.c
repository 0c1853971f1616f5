/* Loading the xDS client library; see xds_loader.h. */
#include "proxy/server/xds_loader.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XDS_LIB "libfd_xds.so"

static void *open_library(char *tried, size_t tried_size)
{
    const char *env = getenv("FRONTDESK_XDS_LIB");
    if (env != NULL && env[0] != '\0') {
        snprintf(tried, tried_size, "%s", env);
        return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    const char *dir = dirname(exe);
    char path[PATH_MAX + 32];
    static const char *const places[] = {"%s/" XDS_LIB, "%s/../xds/" XDS_LIB};
    tried[0] = '\0';
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        snprintf(path, sizeof(path), places[i], dir);
        size_t used = strlen(tried);
        snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", path);
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle != NULL)
            return handle;
    }
    return NULL;
}

int fd_xds_client_load(fd_xds_client_api_t *api, char *error, size_t error_size)
{
    char tried[2 * PATH_MAX + 128];
    void *handle = open_library(tried, sizeof(tried));
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(error, error_size,
                 "the xDS client library %s did not load (tried %s)%s%s: install it next to the frontdesk binary, or "
                 "name it with FRONTDESK_XDS_LIB",
                 XDS_LIB, tried, why ? ": " : "", why ? why : "");
        return -1;
    }
    fd_xds_client_api_t loaded = {
        .start = (fd_ads_client_t * (*)(const fd_ads_options_t *)) dlsym(handle, "fd_ads_client_start"),
        .subscribe = (int (*)(fd_ads_client_t *, const char *, const char *const *, size_t))dlsym(
            handle, "fd_ads_client_subscribe"),
        .ack = (int (*)(fd_ads_client_t *, const char *, const char *, const char *))dlsym(handle, "fd_ads_client_ack"),
        .nack =
            (int (*)(fd_ads_client_t *, const char *, const char *, const char *))dlsym(handle, "fd_ads_client_nack"),
        .stop = (void (*)(fd_ads_client_t *))dlsym(handle, "fd_ads_client_stop"),
    };
    if (loaded.start == NULL || loaded.subscribe == NULL || loaded.ack == NULL || loaded.nack == NULL ||
        loaded.stop == NULL) {
        snprintf(error, error_size, "%s (%s) lacks the fd_ads_client_* functions: is it frontdesk's?", XDS_LIB, tried);
        dlclose(handle);
        return -1;
    }
    *api = loaded;
    return 0;
}
