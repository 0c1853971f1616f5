/* The registry of every message declared under proto/: maps a full protobuf name
 * ("envoy.config.cluster.v3.Cluster") to its protobuf-c descriptor, for '@type'
 * lookups in Any. The table is generated at build time (tools/gen_registry.sh). */
#ifndef FD_PROTO_REGISTRY_H
#define FD_PROTO_REGISTRY_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Returns the descriptor of a message by full name (no leading dot), or NULL. */
const ProtobufCMessageDescriptor *fd_proto_registry_find(const char *full_name, size_t len);

/* Returns the descriptor named by a type URL ("type.googleapis.com/<full name>"),
 * accepting any prefix up to the last '/', as protobuf's JSON mapping does. */
const ProtobufCMessageDescriptor *fd_proto_registry_find_type_url(const char *url, size_t len);

/* The declared message whose full name is closest to name (a typo of it: at most two
 * edits), or NULL. */
const char *fd_proto_registry_closest(const char *name);

/* Iterates the registry: descriptors sorted by name; NULL past the end. */
const ProtobufCMessageDescriptor *fd_proto_registry_at(size_t index);

#endif
