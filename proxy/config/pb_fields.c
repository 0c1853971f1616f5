/* Field facts shared by the loader, the printer, the merger and the support checker;
 * see pb_fields.h. */
#include "proxy/config/pb_fields.h"

#include <string.h>

size_t fd_pb_element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
    }
}

int fd_pb_is_map(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED || d == NULL || d->n_fields != 2)
        return 0;
    size_t n = strlen(d->short_name);
    const ProtobufCFieldDescriptor *k = &d->fields[0], *v = &d->fields[1];
    return n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 && k->id == 1 && strcmp(k->name, "key") == 0 &&
           v->id == 2 && strcmp(v->name, "value") == 0 && k->label != PROTOBUF_C_LABEL_REPEATED &&
           v->label != PROTOBUF_C_LABEL_REPEATED && k->type != PROTOBUF_C_TYPE_FLOAT &&
           k->type != PROTOBUF_C_TYPE_DOUBLE && k->type != PROTOBUF_C_TYPE_BYTES &&
           k->type != PROTOBUF_C_TYPE_MESSAGE && k->type != PROTOBUF_C_TYPE_ENUM;
}

int fd_pb_field_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    const void *member = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)(base + f->quantifier_offset) != 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)member != NULL;
    case PROTOBUF_C_TYPE_STRING: return *(const char *const *)member != NULL && **(const char *const *)member != '\0';
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)member)->len != 0;
    default: {
        static const char zero[8];
        return memcmp(member, zero, fd_pb_element_size(f->type)) != 0;
    }
    }
}
