/* The /config_dump entry of a resource taken from a control server, in Envoy's layout:
 * {"version_info", "<key>": {"@type", ...the resource}, "last_updated"}. Main thread. */
#ifndef FD_XDS_DUMP_H
#define FD_XDS_DUMP_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <time.h>

typedef struct fd_xds_dump {
    json_t *resource; /* with its "@type"; NULL until the first accepted one */
    char *version;
    time_t updated;
} fd_xds_dump_t;

/* Records resource (accepted in version) in place of the previous one. */
void fd_xds_dump_set(fd_xds_dump_t *dump, const ProtobufCMessage *resource, const char *version);
/* Appends the entry to array under key ("route_config", "endpoint_config"); nothing yet, nothing. */
void fd_xds_dump_append(const fd_xds_dump_t *dump, const char *key, json_t *array);
void fd_xds_dump_clear(fd_xds_dump_t *dump);

/* A hash of the resource's encoding: an update that sends it again changes nothing. */
uint64_t fd_xds_resource_hash(const ProtobufCMessage *resource);

#endif
