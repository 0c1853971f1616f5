/* Positions and decoded Anys of a loaded config; see cfg_source.h. */
#include "proxy/config/cfg_source.h"

#include <stdlib.h>
#include <string.h>

void fd_cfg_source_init(fd_cfg_source_t *src, const char *name)
{
    memset(src, 0, sizeof(*src));
    src->name = strdup(name);
    if (src->name == NULL)
        abort();
}

void fd_cfg_source_dispose(fd_cfg_source_t *src)
{
    for (size_t i = 0; i < src->any_decoded.capacity; i++)
        if (src->any_decoded.slots[i].key != NULL)
            protobuf_c_message_free_unpacked((ProtobufCMessage *)(uintptr_t)src->any_decoded.slots[i].value, NULL);
    fd_ptrmap_dispose(&src->any_decoded);
    fd_ptrmap_dispose(&src->marks);
    free(src->name);
    src->name = NULL;
}

void fd_cfg_source_set_mark(fd_cfg_source_t *src, const void *addr, fd_cfg_mark_t mark)
{
    if (fd_ptrmap_put(&src->marks, addr, (uint64_t)mark.line << 32 | mark.column) != 0)
        abort();
}

fd_cfg_mark_t fd_cfg_source_mark(const fd_cfg_source_t *src, const void *addr)
{
    uint64_t v;
    if (src == NULL || !fd_ptrmap_get(&src->marks, addr, &v))
        return (fd_cfg_mark_t){0, 0};
    return (fd_cfg_mark_t){(unsigned)(v >> 32), (unsigned)(v & 0xffffffffu)};
}

ProtobufCMessage *fd_cfg_source_any_decoded(const fd_cfg_source_t *src, const void *any)
{
    uint64_t v;
    if (src == NULL || !fd_ptrmap_get(&src->any_decoded, any, &v))
        return NULL;
    return (ProtobufCMessage *)(uintptr_t)v;
}
