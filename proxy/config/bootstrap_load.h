/* Reads the bootstrap the way Envoy does: -c FILE (YAML, JSON, or binary protobuf by
 * extension) with --config-yaml merged over it (protobuf MergeFrom semantics). */
#ifndef FD_BOOTSTRAP_LOAD_H
#define FD_BOOTSTRAP_LOAD_H

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "proxy/config/cfg_errors.h"
#include "proxy/config/cfg_source.h"

typedef struct fd_bootstrap {
    Envoy__Config__Bootstrap__V3__Bootstrap *config; /* owned */
    fd_cfg_source_t source;                          /* positions for error messages */
} fd_bootstrap_t;

/* Loads path and/or config_yaml (either may be NULL, not both). Returns 0, or -1 with
 * every error found in errs. On success free with fd_bootstrap_dispose. */
int fd_bootstrap_load(fd_bootstrap_t *out, const char *path, const char *config_yaml, fd_cfg_errors_t *errs);

void fd_bootstrap_dispose(fd_bootstrap_t *bootstrap);

/* Reads a whole file; NULL with an error (naming the file and errno) on failure. */
char *fd_bootstrap_read_file(const char *path, size_t *len, fd_cfg_errors_t *errs);

#endif
