/* Declarations of the picohttpparser functions that libh2o-evloop.so (h2o 2.2.5) exports
 * (`nm -D libh2o-evloop.so | grep phr_`), exactly as h2o 2.2.5's bundled deps/picohttpparser
 * declares them; Debian ships the code in the library but not this header. */
#ifndef picohttpparser_h /* picohttpparser's own guard: including the real header too is harmless */
#define picohttpparser_h

#include <sys/types.h>

/* A header line: name and value point into the parsed buffer (name is NULL for a continuation
 * line of a multi-line header). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Parses a request head; returns as phr_parse_response does. On -1, *num_headers equal to the
 * capacity given means the head had more header lines than that. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

/* Returns the length of the response head if it is complete, -2 if it is partial, -1 if it is
 * malformed; last_len is the buffer's length at the previous call (0 on the first), so a head
 * arriving in pieces is not rescanned from the start. */
int phr_parse_response(const char *_buf, size_t len, int *minor_version, int *status, const char **msg, size_t *msg_len,
                       struct phr_header *headers, size_t *num_headers, size_t last_len);

/* Zero-filled before the first call. The layout must match the library's (2.2.5: offsets 0, 8,
 * 9, 10), because phr_decode_chunked writes into it. */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk; /* number of bytes left in current chunk */
    char consume_trailer;       /* if trailing headers should be consumed */
    char _hex_count;
    char _state;
};

/* Decodes chunked data in place: *bufsz becomes the length of the decoded bytes at the start of
 * buf. Returns -2 when more data is needed (every byte was consumed), -1 on a malformed
 * encoding, or, once the terminating chunk (and, with consume_trailer, the trailers) was seen,
 * the number of bytes left undecoded at the tail of buf. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

/* Returns whether the decoder is in the middle of a chunk's data. */
int phr_decode_chunked_is_in_data(struct phr_chunked_decoder *decoder);

#endif
