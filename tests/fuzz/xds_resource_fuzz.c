/* libFuzzer target: xDS responses off the wire. The input is the binary encoding of an
 * envoy.service.discovery.v3.DiscoveryResponse; every resource whose type URL names a
 * declared message is decoded too, and everything is freed. A placeholder that the
 * xDS translator will extend. Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "fd_proto_registry.h"
#include "google/protobuf/any.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void unpack_resource(const Google__Protobuf__Any *any)
{
    if (any == NULL || any->type_url == NULL)
        return;
    const ProtobufCMessageDescriptor *type = fd_proto_registry_find_type_url(any->type_url, strlen(any->type_url));
    if (type == NULL)
        return;
    ProtobufCMessage *msg = protobuf_c_message_unpack(type, NULL, any->value.len, any->value.data);
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Envoy__Service__Discovery__V3__DiscoveryResponse *resp =
        envoy__service__discovery__v3__discovery_response__unpack(NULL, size, data);
    if (resp == NULL)
        return 0;
    for (size_t i = 0; i < resp->n_resources; i++)
        unpack_resource(resp->resources[i]);
    envoy__service__discovery__v3__discovery_response__free_unpacked(resp, NULL);
    return 0;
}
