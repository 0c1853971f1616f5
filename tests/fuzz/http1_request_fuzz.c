/* libFuzzer target: HTTP/1.1 requests off a downstream connection, as the codec reads them
 * (proxy/http/http1_head.c): the head parsed as it would arrive in two pieces and whole,
 * its h2c settings checked, then a chunked body decoded in place. Built by tests/fuzz/run.sh. */
#include <h2o.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http/http1_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 100

static void parse(const char *buf, size_t size)
{
    static struct phr_header scratch[MAX_HEADERS + 1];
    h2o_req_t req;
    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);
    fd_http1_head_t head;
    /* first a prefix (a head arriving in pieces), then everything, as the codec retries */
    size_t first = size / 2;
    fd_http1_head_status_t status = fd_http1_parse_head(&req, buf, first, 0, scratch, MAX_HEADERS, &head);
    if (status == FD_HTTP1_HEAD_PARTIAL)
        status = fd_http1_parse_head(&req, buf, size, first, scratch, MAX_HEADERS, &head);
    if (status == FD_HTTP1_HEAD_OK) {
        fd_http1_h2c_settings_ok(&req);
        if (head.chunked && head.head_bytes < size) {
            size_t body = size - head.head_bytes;
            char *copy = malloc(body);
            memcpy(copy, buf + head.head_bytes, body);
            struct phr_chunked_decoder decoder = {.consume_trailer = 1};
            phr_decode_chunked(&decoder, copy, &body);
            free(copy);
        }
    }
    h2o_mem_clear_pool(&req.pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that reading past the end is caught */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    parse(buf, size);
    free(buf);
    return 0;
}
