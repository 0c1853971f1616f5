/* A bounded list of configuration errors, each with where it happened (file, line,
 * column, field path) and what to do about it. Shared by the YAML loader, the
 * translator and the xDS NACK path, so every source reports in the same words. */
#ifndef FD_CFG_ERRORS_H
#define FD_CFG_ERRORS_H

#include <stddef.h>

#define FD_CFG_ERRORS_MAX 64

/* A position in a config source; line 0 means "unknown" (e.g. an xDS resource). */
typedef struct fd_cfg_mark {
    unsigned line;   /* 1-based */
    unsigned column; /* 1-based */
} fd_cfg_mark_t;

typedef struct fd_cfg_errors {
    char *items[FD_CFG_ERRORS_MAX];
    fd_cfg_mark_t marks[FD_CFG_ERRORS_MAX];
    size_t count;   /* stored, at most FD_CFG_ERRORS_MAX */
    size_t dropped; /* reported past the bound */
} fd_cfg_errors_t;

/* Records "<source>:<line>:<col>: <path>: <message>"; parts that are unknown are left out. */
void fd_cfg_errors_add(fd_cfg_errors_t *errs, const char *source, fd_cfg_mark_t mark, const char *path, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

/* Joins all errors with newlines (plus a line counting dropped ones); caller frees. */
char *fd_cfg_errors_join(const fd_cfg_errors_t *errs);

/* Orders errors by line and column (stable), those without a position last: a user
 * reads a file top to bottom, while the translator reports in its own order. */
void fd_cfg_errors_sort(fd_cfg_errors_t *errs);

void fd_cfg_errors_clear(fd_cfg_errors_t *errs);

#endif
