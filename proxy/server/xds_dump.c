/* /config_dump entries of dynamic resources; see xds_dump.h. */
#include "proxy/server/xds_dump.h"

#include <stdlib.h>
#include <string.h>

#include "proxy/config/pb_json.h"

void fd_xds_dump_set(fd_xds_dump_t *dump, const ProtobufCMessage *resource, const char *version)
{
    json_t *body = fd_pb_to_json_value(resource, NULL);
    json_t *typed = json_object();
    json_object_set_new(typed, "@type", json_sprintf("type.googleapis.com/%s", resource->descriptor->name));
    if (body != NULL)
        json_object_update(typed, body);
    json_decref(body);
    fd_xds_dump_clear(dump);
    dump->resource = typed;
    dump->version = strdup(version);
    dump->updated = time(NULL);
    if (dump->version == NULL)
        abort();
}

void fd_xds_dump_append(const fd_xds_dump_t *dump, const char *key, json_t *array)
{
    if (dump->resource == NULL)
        return;
    char updated[32];
    struct tm tm;
    gmtime_r(&dump->updated, &tm);
    strftime(updated, sizeof(updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_array_append_new(array, json_pack("{s:s, s:O, s:s}", "version_info", dump->version, key, dump->resource,
                                           "last_updated", updated));
}

void fd_xds_dump_clear(fd_xds_dump_t *dump)
{
    json_decref(dump->resource);
    free(dump->version);
    *dump = (fd_xds_dump_t){0};
}

uint64_t fd_xds_resource_hash(const ProtobufCMessage *resource)
{
    size_t len = protobuf_c_message_get_packed_size(resource);
    uint8_t *bytes = malloc(len ? len : 1);
    if (bytes == NULL)
        abort();
    protobuf_c_message_pack(resource, bytes);
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ bytes[i]) * 0x100000001b3ull;
    free(bytes);
    return hash;
}
