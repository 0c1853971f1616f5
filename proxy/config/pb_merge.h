/* Protobuf's MergeFrom for protobuf-c messages of the same type: scalars set in src
 * replace dst's, lists append, messages merge recursively, a oneof takes src's member.
 * src is consumed (its fields move into dst) and freed. */
#ifndef FD_PB_MERGE_H
#define FD_PB_MERGE_H

#include <protobuf-c/protobuf-c.h>

void fd_pb_merge(ProtobufCMessage *dst, ProtobufCMessage *src);

#endif
