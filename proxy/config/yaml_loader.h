/* The generic YAML/JSON to protobuf loader. It walks protobuf-c descriptors, so every
 * declared field is understood without per-field code, and it reads Envoy's dialect:
 * '@type' in Any, "5s" durations, wrappers as scalars, Struct, enums by name in any
 * case, snake_case or camelCase keys, anchors, aliases and merge keys. */
#ifndef FD_YAML_LOADER_H
#define FD_YAML_LOADER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "proxy/config/cfg_errors.h"
#include "proxy/config/cfg_source.h"

/* Parses text (YAML or JSON) into a new message of type desc. Positions and decoded
 * Anys are recorded in src. Every error found is added to errs (bounded). Returns the
 * message, which the caller frees with protobuf_c_message_free_unpacked(msg, NULL),
 * or NULL when any error was found (src then holds no positions or decoded Anys). */
ProtobufCMessage *fd_yaml_load_message(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                                       fd_cfg_source_t *src, fd_cfg_errors_t *errs);

#endif
