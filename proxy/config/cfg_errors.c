/* Bounded configuration error list; see cfg_errors.h. */
#include "proxy/config/cfg_errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fd_cfg_errors_add(fd_cfg_errors_t *errs, const char *source, fd_cfg_mark_t mark, const char *path, const char *fmt,
                       ...)
{
    if (errs->count == FD_CFG_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    char message[1024], where[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (source != NULL && mark.line != 0)
        snprintf(where, sizeof(where), "%s:%u:%u: ", source, mark.line, mark.column);
    else if (source != NULL)
        snprintf(where, sizeof(where), "%s: ", source);
    char *line = NULL;
    int n = (path != NULL && path[0] != '\0') ? asprintf(&line, "%s%s: %s", where, path, message)
                                              : asprintf(&line, "%s%s", where, message);
    if (n < 0)
        abort();
    errs->marks[errs->count] = mark;
    errs->items[errs->count++] = line;
}

char *fd_cfg_errors_join(const fd_cfg_errors_t *errs)
{
    size_t len = 1;
    for (size_t i = 0; i < errs->count; i++)
        len += strlen(errs->items[i]) + 1;
    len += 64;
    char *out = malloc(len), *p = out;
    if (out == NULL)
        abort();
    *p = '\0';
    for (size_t i = 0; i < errs->count; i++)
        p += sprintf(p, "%s%s", i ? "\n" : "", errs->items[i]);
    if (errs->dropped != 0)
        sprintf(p, "\n... and %zu more errors", errs->dropped);
    return out;
}

static int mark_before(fd_cfg_mark_t a, fd_cfg_mark_t b)
{
    if (a.line == 0 || b.line == 0)
        return a.line != 0 && b.line == 0;
    return a.line < b.line || (a.line == b.line && a.column < b.column);
}

void fd_cfg_errors_sort(fd_cfg_errors_t *errs)
{
    for (size_t i = 1; i < errs->count; i++) {
        char *item = errs->items[i];
        fd_cfg_mark_t mark = errs->marks[i];
        size_t j = i;
        for (; j > 0 && mark_before(mark, errs->marks[j - 1]); j--) {
            errs->items[j] = errs->items[j - 1];
            errs->marks[j] = errs->marks[j - 1];
        }
        errs->items[j] = item;
        errs->marks[j] = mark;
    }
}

void fd_cfg_errors_clear(fd_cfg_errors_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        free(errs->items[i]);
    errs->count = 0;
    errs->dropped = 0;
}
