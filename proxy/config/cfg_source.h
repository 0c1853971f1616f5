/* Where a loaded config came from: the source name for messages, the YAML position of
 * each message and field (by address), and the decoded message behind each Any, so the
 * translator can point at a line and column without the protobuf structs knowing. */
#ifndef FD_CFG_SOURCE_H
#define FD_CFG_SOURCE_H

#include <protobuf-c/protobuf-c.h>

#include "proxy/config/cfg_errors.h"
#include "proxy/config/ptrmap.h"

typedef struct fd_cfg_source {
    char *name;              /* file name, or "--config-yaml"; owned */
    fd_ptrmap_t marks;       /* message or field address -> line << 32 | column */
    fd_ptrmap_t any_decoded; /* Google__Protobuf__Any * -> ProtobufCMessage * (owned) */
} fd_cfg_source_t;

void fd_cfg_source_init(fd_cfg_source_t *src, const char *name);
void fd_cfg_source_dispose(fd_cfg_source_t *src);

void fd_cfg_source_set_mark(fd_cfg_source_t *src, const void *addr, fd_cfg_mark_t mark);

/* The position of a message or field; line 0 when unknown (src may be NULL). */
fd_cfg_mark_t fd_cfg_source_mark(const fd_cfg_source_t *src, const void *addr);

/* The message the loader decoded for an Any, or NULL (then unpack Any.value). */
ProtobufCMessage *fd_cfg_source_any_decoded(const fd_cfg_source_t *src, const void *any);

#endif
