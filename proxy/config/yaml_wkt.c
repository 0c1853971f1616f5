/* Well-known types with protobuf's JSON mapping, as Envoy's loader reads them: Duration
 * and Timestamp as strings, wrappers as plain scalars, Struct/Value/ListValue as any
 * YAML, Empty as {}, and Any as a mapping whose '@type' names a declared message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd_proto_registry.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "proxy/config/yaml_loader_int.h"

static ProtobufCMessage *load_duration(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    const char *text = fd_yaml_expect_scalar(ld, node, "a duration such as \"5s\" or \"0.25s\"");
    if (text == NULL)
        return NULL;
    Google__Protobuf__Duration *d = (Google__Protobuf__Duration *)fd_yaml_new_message(desc);
    if (fd_yaml_parse_duration(text, &d->seconds, &d->nanos) != 0) {
        fd_yaml_error(ld, node,
                      "invalid duration '%s' (expected seconds with an 's' suffix, such as \"5s\" or \"0.25s\")", text);
        free(d);
        return NULL;
    }
    return &d->base;
}

static ProtobufCMessage *load_timestamp(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    const char *text = fd_yaml_expect_scalar(ld, node, "an RFC 3339 timestamp");
    if (text == NULL)
        return NULL;
    Google__Protobuf__Timestamp *t = (Google__Protobuf__Timestamp *)fd_yaml_new_message(desc);
    if (fd_yaml_parse_timestamp(text, &t->seconds, &t->nanos) != 0) {
        fd_yaml_error(ld, node, "invalid timestamp '%s' (expected RFC 3339, such as \"2026-01-31T12:00:00Z\")", text);
        free(t);
        return NULL;
    }
    return &t->base;
}

/* google.protobuf.UInt32Value and friends: the scalar itself stands for {value: ...}. */
static ProtobufCMessage *load_wrapper(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = fd_yaml_new_message(desc);
    if (fd_yaml_scalar_to_field(ld, node, &desc->fields[0], (char *)msg + desc->fields[0].offset) != 0) {
        free(msg);
        return NULL;
    }
    return msg;
}

static ProtobufCMessage *load_empty(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    if (node->type != YAML_MAPPING_NODE || node->data.mapping.pairs.top != node->data.mapping.pairs.start) {
        fd_yaml_error(ld, node, "expected an empty mapping {} for %s", desc->name);
        return NULL;
    }
    return fd_yaml_new_message(desc);
}

static Google__Protobuf__Value *load_value_node(fd_yaml_loader_t *ld, yaml_node_t *node);

/* The generic walk reads a Struct as the map it holds (see fd_yaml_fill_message). */
static Google__Protobuf__Struct *load_struct_node(fd_yaml_loader_t *ld, yaml_node_t *node)
{
    ProtobufCMessage *s = fd_yaml_new_message(&google__protobuf__struct__descriptor);
    fd_yaml_fill_message(ld, node, s, NULL);
    return (Google__Protobuf__Struct *)s;
}

static Google__Protobuf__ListValue *load_list_node(fd_yaml_loader_t *ld, yaml_node_t *node)
{
    Google__Protobuf__ListValue *l =
        (Google__Protobuf__ListValue *)fd_yaml_new_message(&google__protobuf__list_value__descriptor);
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    l->values = calloc(count ? count : 1, sizeof(*l->values));
    if (l->values == NULL)
        abort();
    for (size_t i = 0; i < count; i++) {
        size_t saved = fd_yaml_path_push_index(ld, i);
        Google__Protobuf__Value *v =
            load_value_node(ld, yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]));
        fd_yaml_path_pop(ld, saved);
        if (v != NULL)
            l->values[l->n_values++] = v;
    }
    return l;
}

/* A plain scalar that reads as a finite number: digits, not words such as "inf" or "nan". */
static int scalar_number(const char *text, double *out)
{
    const char *p = text + (text[0] == '-' || text[0] == '+');
    if (!((p[0] >= '0' && p[0] <= '9') || (p[0] == '.' && p[1] >= '0' && p[1] <= '9')))
        return 0;
    char *end;
    *out = strtod(text, &end);
    return end != text && *end == '\0' && isfinite(*out);
}

static void set_scalar_value(Google__Protobuf__Value *v, yaml_node_t *node)
{
    const char *text = (const char *)node->data.scalar.value;
    double d;
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (fd_yaml_is_null(node)) {
            v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
            v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
            return;
        }
        if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
            v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
            v->bool_value = text[0] == 't';
            return;
        }
        if (scalar_number(text, &d)) {
            v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
            v->number_value = d;
            return;
        }
    }
    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v->string_value = fd_yaml_strdup(text);
}

static Google__Protobuf__Value *load_value_node(fd_yaml_loader_t *ld, yaml_node_t *node)
{
    ProtobufCMessage *msg = fd_yaml_load_message_node(ld, node, &google__protobuf__value__descriptor);
    return (Google__Protobuf__Value *)msg;
}

static ProtobufCMessage *load_value(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    Google__Protobuf__Value *v = (Google__Protobuf__Value *)fd_yaml_new_message(desc);
    if (node->type == YAML_SCALAR_NODE) {
        set_scalar_value(v, node);
    } else if (node->type == YAML_MAPPING_NODE) {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
        v->struct_value = load_struct_node(ld, node);
    } else {
        v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        v->list_value = load_list_node(ld, node);
    }
    return &v->base;
}

static ProtobufCMessage *load_struct(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    if (node->type != YAML_MAPPING_NODE) {
        fd_yaml_error(ld, node, "expected a mapping for %s, got %s", desc->name, fd_yaml_node_kind(node));
        return NULL;
    }
    return &load_struct_node(ld, node)->base;
}

static ProtobufCMessage *load_list(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        fd_yaml_error(ld, node, "expected a list for %s, got %s", desc->name, fd_yaml_node_kind(node));
        return NULL;
    }
    return &load_list_node(ld, node)->base;
}

/* An Any holding a well-known type has only '@type' and 'value'; reports any other key. */
static int any_wkt_keys_ok(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *type)
{
    int ok = 1;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const char *name = fd_yaml_expect_scalar(ld, key, "a field name");
        if (name == NULL) {
            ok = 0;
        } else if (strcmp(name, "@type") != 0 && strcmp(name, "value") != 0) {
            fd_yaml_error(ld, key, "unknown field '%s' in an Any holding %s (it takes only '@type' and 'value')", name,
                          type->name);
            ok = 0;
        }
    }
    return ok;
}

/* Decodes the message an Any holds: a well-known type sits under "value", others inline. */
static ProtobufCMessage *load_any_payload(fd_yaml_loader_t *ld, yaml_node_t *node,
                                          const ProtobufCMessageDescriptor *type)
{
    if (fd_yaml_wkt_loader(type) != NULL) {
        if (!any_wkt_keys_ok(ld, node, type))
            return NULL;
        yaml_node_t *value = fd_yaml_mapping_get(ld, node, "value");
        if (value == NULL) {
            fd_yaml_error(ld, node, "an Any holding %s needs a 'value' field", type->name);
            return NULL;
        }
        return fd_yaml_load_message_node(ld, value, type);
    }
    ProtobufCMessage *msg = fd_yaml_new_message(type);
    fd_yaml_fill_message(ld, node, msg, "@type");
    fd_cfg_source_set_mark(ld->src, msg, fd_yaml_node_mark(node)); /* errors about the whole payload point here */
    return msg;
}

/* A misspelt type is the user's to fix; a real type frontdesk lacks names the extension. */
static void report_unknown_type(fd_yaml_loader_t *ld, yaml_node_t *type_node, const char *url)
{
    const char *slash = strrchr(url, '/');
    const char *name = slash != NULL ? slash + 1 : url, *best = fd_proto_registry_closest(name);
    if (best != NULL)
        fd_yaml_error(ld, type_node, "unknown '@type' '%s' (did you mean 'type.googleapis.com/%s'?)", url, best);
    else if (ld->extension_name != NULL)
        fd_yaml_error(ld, type_node, "'%s' is not supported by frontdesk: it has no extension of type '%s'",
                      ld->extension_name, url);
    else
        fd_yaml_error(ld, type_node, "unknown '@type' '%s': frontdesk does not support this message type", url);
}

static ProtobufCMessage *load_any(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCMessageDescriptor *desc)
{
    if (node->type != YAML_MAPPING_NODE) {
        fd_yaml_error(ld, node, "expected a mapping with '@type' for google.protobuf.Any, got %s",
                      fd_yaml_node_kind(node));
        return NULL;
    }
    yaml_node_t *type_node = fd_yaml_mapping_get(ld, node, "@type");
    if (type_node == NULL && node->data.mapping.pairs.top == node->data.mapping.pairs.start)
        return fd_yaml_new_message(desc); /* {}: an empty Any; Envoy then goes by the extension's name */
    if (type_node == NULL) {
        fd_yaml_error(ld, ld->field_key != NULL ? ld->field_key : node,
                      "missing '@type' (an Any must name the message it holds)");
        return NULL;
    }
    const char *url = fd_yaml_expect_scalar(ld, type_node, "a type URL");
    if (url == NULL)
        return NULL;
    const ProtobufCMessageDescriptor *type = fd_proto_registry_find_type_url(url, strlen(url));
    if (type == NULL) {
        if (ld->extension_optional) { /* Envoy skips an optional extension it does not have */
            Google__Protobuf__Any *opaque = (Google__Protobuf__Any *)fd_yaml_new_message(desc);
            opaque->type_url = fd_yaml_strdup(url);
            return &opaque->base;
        }
        report_unknown_type(ld, type_node, url);
        return NULL;
    }
    ProtobufCMessage *payload = load_any_payload(ld, node, type);
    if (payload == NULL)
        return NULL;
    Google__Protobuf__Any *any = (Google__Protobuf__Any *)fd_yaml_new_message(desc);
    any->type_url = fd_yaml_strdup(url);
    any->value.len = protobuf_c_message_get_packed_size(payload);
    any->value.data = malloc(any->value.len ? any->value.len : 1);
    if (any->value.data == NULL)
        abort();
    protobuf_c_message_pack(payload, any->value.data);
    if (fd_ptrmap_put(&ld->src->any_decoded, any, (uint64_t)(uintptr_t)payload) != 0)
        abort();
    return &any->base;
}

fd_yaml_wkt_loader_fn fd_yaml_wkt_loader(const ProtobufCMessageDescriptor *desc)
{
    static const struct {
        const char *name;
        fd_yaml_wkt_loader_fn fn;
    } table[] = {
        {"google.protobuf.Duration", load_duration},   {"google.protobuf.Timestamp", load_timestamp},
        {"google.protobuf.DoubleValue", load_wrapper}, {"google.protobuf.FloatValue", load_wrapper},
        {"google.protobuf.Int64Value", load_wrapper},  {"google.protobuf.UInt64Value", load_wrapper},
        {"google.protobuf.Int32Value", load_wrapper},  {"google.protobuf.UInt32Value", load_wrapper},
        {"google.protobuf.BoolValue", load_wrapper},   {"google.protobuf.StringValue", load_wrapper},
        {"google.protobuf.BytesValue", load_wrapper},  {"google.protobuf.Struct", load_struct},
        {"google.protobuf.Value", load_value},         {"google.protobuf.ListValue", load_list},
        {"google.protobuf.Empty", load_empty},         {"google.protobuf.Any", load_any},
    };
    if (strncmp(desc->name, "google.protobuf.", 16) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(desc->name, table[i].name) == 0)
            return table[i].fn;
    return NULL;
}
