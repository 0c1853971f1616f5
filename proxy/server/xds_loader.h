/* The xDS client (xds/, on gRPC core) as a shared object loaded only when the config has a
 * control server: gRPC and its ~45 libraries cost a static config nothing (its start RSS
 * stays near 7 MB instead of 11). */
#ifndef FD_XDS_LOADER_H
#define FD_XDS_LOADER_H

#include <stddef.h>

#include "xds/ads_client.h"

/* The client's functions, as xds/ads_client.h declares them. */
typedef struct fd_xds_client_api {
    fd_ads_client_t *(*start)(const fd_ads_options_t *opts);
    int (*subscribe)(fd_ads_client_t *client, const char *type_url, const char *const *names, size_t n);
    int (*ack)(fd_ads_client_t *client, const char *type_url, const char *version_info, const char *nonce);
    int (*nack)(fd_ads_client_t *client, const char *type_url, const char *nonce, const char *error_detail);
    void (*stop)(fd_ads_client_t *client);
} fd_xds_client_api_t;

/* Loads libfd_xds.so into *api: $FRONTDESK_XDS_LIB, else next to the binary, else in ../xds/
 * from it (bazel-bin's layout). -1 with a message in error. The library stays loaded for the
 * life of the process (gRPC does not unload). */
int fd_xds_client_load(fd_xds_client_api_t *api, char *error, size_t error_size);

#endif
