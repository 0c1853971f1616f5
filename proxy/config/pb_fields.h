/* What every walker of protobuf-c messages needs to know about a field: the size of one
 * element in memory, whether it is a map, and whether a message sets it (pb_fields.c). */
#ifndef FD_PB_FIELDS_H
#define FD_PB_FIELDS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Bytes one value of this type takes in a message or a repeated field's array. */
size_t fd_pb_element_size(ProtobufCType type);

/* protobuf-c keeps no map_entry option: a map is a repeated "...Entry" message holding
 * exactly key = 1 (a scalar) and value = 2, as protoc generates for map<K, V>. */
int fd_pb_is_map(const ProtobufCFieldDescriptor *field);

/* Whether msg sets field: a non-default proto3 scalar, a has_ flag, a present message, a
 * non-empty list, or the oneof's current member. */
int fd_pb_field_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field);

#endif
