/* Internals shared by the YAML loader's files: the walk context (document, path,
 * error sink, budgets) and the conversions each file provides to the others. */
#ifndef FD_YAML_LOADER_INT_H
#define FD_YAML_LOADER_INT_H

#include <yaml.h>

#include "proxy/config/yaml_loader.h"

/* Aliases can expand a small document exponentially; the walk stops after this many nodes. */
#define FD_YAML_NODE_BUDGET 2000000
#define FD_YAML_MAX_DEPTH 64
/* Lists and mappings inside each other. The walk enters at least every other level, so no
 * document nested deeper can load; libyaml's scanner slows down quadratically with the
 * depth of '[' and '{', so deeper documents are turned away before they are loaded. */
#define FD_YAML_MAX_NESTING (2 * FD_YAML_MAX_DEPTH + 2)

typedef struct fd_yaml_loader {
    yaml_document_t *doc;
    fd_cfg_source_t *src;
    fd_cfg_errors_t *errs;
    char path[1024];
    size_t path_len;
    size_t budget;
    unsigned depth;
    const yaml_node_t *walking[FD_YAML_MAX_DEPTH]; /* the nodes being walked, outermost first */
    int budget_reported;
    const char *extension_name; /* the 'name' beside a typed_config, for messages about it */
    int extension_optional;     /* 'is_optional: true' beside it: an unknown type is skipped */
    yaml_node_t *field_key;     /* the key of the field being loaded, for errors about its value */
} fd_yaml_loader_t;

/* Appends ".name", "[i]" or "[\"key\"]" to the path; returns the length to restore. */
size_t fd_yaml_path_push_field(fd_yaml_loader_t *ld, const char *name);
size_t fd_yaml_path_push_index(fd_yaml_loader_t *ld, size_t index);
size_t fd_yaml_path_push_key(fd_yaml_loader_t *ld, const char *key);
void fd_yaml_path_pop(fd_yaml_loader_t *ld, size_t len);

fd_cfg_mark_t fd_yaml_node_mark(const yaml_node_t *node);
void fd_yaml_error(fd_yaml_loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *fd_yaml_node_kind(const yaml_node_t *node);
int fd_yaml_is_null(const yaml_node_t *node);
/* The scalar's text, or NULL (with an error naming what was expected) for other kinds. */
const char *fd_yaml_expect_scalar(fd_yaml_loader_t *ld, const yaml_node_t *node, const char *what);

/* The value of key in a mapping, after merge keys; NULL when absent. */
yaml_node_t *fd_yaml_mapping_get(fd_yaml_loader_t *ld, yaml_node_t *map, const char *key);

/* Decodes a node into a new message (well-known types by their JSON mapping); NULL on error. */
ProtobufCMessage *fd_yaml_load_message_node(fd_yaml_loader_t *ld, yaml_node_t *node,
                                            const ProtobufCMessageDescriptor *desc);
/* Fills an initialised message from a mapping node; skip_key (or NULL) is ignored. */
void fd_yaml_fill_message(fd_yaml_loader_t *ld, yaml_node_t *node, ProtobufCMessage *msg, const char *skip_key);

/* Scalar conversions into a field's storage; 0 on success, -1 after reporting an error. */
int fd_yaml_scalar_to_field(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCFieldDescriptor *field, void *dst);
int fd_yaml_parse_duration(const char *text, int64_t *seconds, int32_t *nanos);
int fd_yaml_parse_timestamp(const char *text, int64_t *seconds, int32_t *nanos);

/* Well-known types with a JSON mapping of their own; returns NULL if desc is not one. */
typedef ProtobufCMessage *(*fd_yaml_wkt_loader_fn)(fd_yaml_loader_t *ld, yaml_node_t *node,
                                                   const ProtobufCMessageDescriptor *desc);
fd_yaml_wkt_loader_fn fd_yaml_wkt_loader(const ProtobufCMessageDescriptor *desc);

ProtobufCMessage *fd_yaml_new_message(const ProtobufCMessageDescriptor *desc);
char *fd_yaml_strdup(const char *s);

#endif
