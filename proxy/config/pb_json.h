/* Prints a protobuf-c message as Envoy-style JSON (protobuf's JSON mapping with the
 * original snake_case field names, '@type' inside Any), as Envoy's /config_dump does. */
#ifndef FD_PB_JSON_H
#define FD_PB_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "proxy/config/cfg_source.h"

/* Builds the JSON value of msg; src (may be NULL) supplies Anys decoded by the loader.
 * Returns a new reference, or NULL when out of memory. */
json_t *fd_pb_to_json_value(const ProtobufCMessage *msg, const fd_cfg_source_t *src);

/* The same as text, indented by two when pretty; caller frees. */
char *fd_pb_to_json(const ProtobufCMessage *msg, const fd_cfg_source_t *src, int pretty);

#endif
