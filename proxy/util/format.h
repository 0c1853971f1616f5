/* Formatting on the request path without printf, which costs more than the rest of a
 * request head (format.c). */
#ifndef FD_FORMAT_H
#define FD_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Writes v in decimal at out (at least 20 bytes) and returns the length; no NUL. */
size_t fd_u64_to_dec(uint64_t v, char *out);

#endif
