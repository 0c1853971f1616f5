/* libFuzzer target: the bootstrap YAML/JSON loader. Every input is loaded as an
 * envoy.config.bootstrap.v3.Bootstrap; a message that loads must survive a binary
 * round trip (pack, unpack, pack again to the same bytes), and everything the loader
 * allocated must be freed, whether it succeeded or not. Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "proxy/config/cfg_errors.h"
#include "proxy/config/cfg_source.h"
#include "proxy/config/yaml_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "bootstrap_yaml_fuzz: %s\n", what);
    abort();
}

static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf == NULL)
        fail("out of memory");
    if (protobuf_c_message_pack(msg, buf) != *len)
        fail("pack wrote a different length than get_packed_size announced");
    return buf;
}

/* A loaded message must encode, decode, and encode again to the same bytes. */
static void round_trip(const ProtobufCMessage *msg)
{
    size_t len, again_len;
    uint8_t *buf = pack(msg, &len);
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    if (copy == NULL)
        fail("a loaded Bootstrap does not unpack from its own encoding");
    uint8_t *again = pack(copy, &again_len);
    if (again_len != len || memcmp(again, buf, len) != 0)
        fail("a loaded Bootstrap encodes differently after a round trip");
    protobuf_c_message_free_unpacked(copy, NULL);
    free(again);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fd_cfg_source_t src;
    fd_cfg_errors_t errs = {0};
    fd_cfg_source_init(&src, "fuzz.yaml");
    ProtobufCMessage *msg = fd_yaml_load_message((const char *)data, size,
                                                 &envoy__config__bootstrap__v3__bootstrap__descriptor, &src, &errs);
    if (msg != NULL && errs.count + errs.dropped != 0)
        fail("the loader returned a message and reported errors");
    if (msg == NULL && errs.count == 0)
        fail("the loader failed without saying why");
    if (msg != NULL) {
        round_trip(msg);
        protobuf_c_message_free_unpacked(msg, NULL);
    } else {
        free(fd_cfg_errors_join(&errs));
    }
    fd_cfg_errors_clear(&errs);
    fd_cfg_source_dispose(&src);
    return 0;
}
