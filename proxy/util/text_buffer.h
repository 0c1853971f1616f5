/* A growing, NUL-terminated text buffer written with printf formats, for admin pages built
 * off the request path (text_buffer.c). Out of memory aborts, as the admin does elsewhere. */
#ifndef FD_TEXT_BUFFER_H
#define FD_TEXT_BUFFER_H

#include <stddef.h>

typedef struct fd_text_buffer {
    char *data; /* malloc'ed; the caller takes it when done */
    size_t len, cap;
} fd_text_buffer_t;

/* Starts an empty buffer ("" at data). */
void fd_text_buffer_init(fd_text_buffer_t *buf);

/* Appends the formatted text, growing the buffer as needed. */
void fd_text_buffer_printf(fd_text_buffer_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
