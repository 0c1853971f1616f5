/* See text_buffer.h. */
#include "proxy/util/text_buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void fd_text_buffer_init(fd_text_buffer_t *buf)
{
    buf->len = 0;
    buf->cap = 4096;
    if ((buf->data = malloc(buf->cap)) == NULL)
        abort();
    buf->data[0] = '\0';
}

void fd_text_buffer_printf(fd_text_buffer_t *buf, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf->data + buf->len, buf->cap - buf->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < buf->cap - buf->len) {
            buf->len += (size_t)n;
            return;
        }
        buf->cap = (buf->cap + (n > 0 ? (size_t)n : 0) + 1) * 2;
        if ((buf->data = realloc(buf->data, buf->cap)) == NULL)
            abort();
    }
}
