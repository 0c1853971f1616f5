/* Protobuf MergeFrom for protobuf-c messages, walking descriptors: what --config-yaml
 * needs. protobuf-c's own merge on unpack mishandles oneofs inside repeated merges, so
 * this moves fields from src into dst instead, and src is freed afterwards. */
#include "proxy/config/pb_merge.h"
#include "proxy/config/pb_fields.h"

#include <stdlib.h>
#include <string.h>

static void append_repeated(ProtobufCMessage *dst, ProtobufCMessage *src, const ProtobufCFieldDescriptor *f)
{
    size_t *n_dst = (size_t *)((char *)dst + f->quantifier_offset),
           *n_src = (size_t *)((char *)src + f->quantifier_offset);
    void **a_dst = (void **)((char *)dst + f->offset), **a_src = (void **)((char *)src + f->offset);
    size_t size = fd_pb_element_size(f->type);
    if (*n_src == 0)
        return;
    char *joined = realloc(*a_dst, (*n_dst + *n_src) * size);
    if (joined == NULL)
        abort();
    memcpy(joined + *n_dst * size, *a_src, *n_src * size);
    *a_dst = joined;
    *n_dst += *n_src;
    free(*a_src); /* the elements now belong to dst */
    *a_src = NULL;
    *n_src = 0;
}

/* Frees what dst holds in field f (a string, bytes or message), leaving it empty. */
static void release_member(ProtobufCMessage *dst, const ProtobufCFieldDescriptor *f)
{
    char *member = (char *)dst + f->offset;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)member != NULL)
        protobuf_c_message_free_unpacked(*(ProtobufCMessage **)member, NULL);
    else if (f->type == PROTOBUF_C_TYPE_STRING && *(char **)member != NULL &&
             *(char **)member != (const char *)f->default_value && *(char **)member != protobuf_c_empty_string)
        free(*(char **)member); /* a string's default_value is the default string itself */
    else if (f->type == PROTOBUF_C_TYPE_BYTES)
        free(((ProtobufCBinaryData *)member)->data);
}

static void merge_singular(ProtobufCMessage *dst, ProtobufCMessage *src, const ProtobufCFieldDescriptor *f)
{
    if (!fd_pb_field_is_set(src, f))
        return;
    char *d = (char *)dst + f->offset, *s = (char *)src + f->offset;
    int same_oneof_member =
        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || *(uint32_t *)((char *)dst + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && same_oneof_member && *(ProtobufCMessage **)d != NULL) {
        fd_pb_merge(*(ProtobufCMessage **)d, *(ProtobufCMessage **)s);
        *(ProtobufCMessage **)s = NULL;
        return;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t set = *(uint32_t *)((char *)dst + f->quantifier_offset);
        if (set != 0)
            release_member(dst, protobuf_c_message_descriptor_get_field(dst->descriptor, set));
        *(uint32_t *)((char *)dst + f->quantifier_offset) = f->id;
    } else {
        release_member(dst, f);
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
            f->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)((char *)dst + f->quantifier_offset) = 1;
    }
    memcpy(d, s, fd_pb_element_size(f->type));
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
        *(void **)s = NULL; /* moved: src no longer owns it */
    else if (f->type == PROTOBUF_C_TYPE_BYTES)
        *(ProtobufCBinaryData *)s = (ProtobufCBinaryData){0, NULL};
}

void fd_pb_merge(ProtobufCMessage *dst, ProtobufCMessage *src)
{
    const ProtobufCMessageDescriptor *desc = dst->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            append_repeated(dst, src, f);
        else
            merge_singular(dst, src, f);
    }
    protobuf_c_message_free_unpacked(src, NULL);
}
