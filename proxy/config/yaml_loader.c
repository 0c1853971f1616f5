/* The generic YAML to protobuf walk: messages, fields, lists, maps, oneofs and merge
 * keys, driven by protobuf-c descriptors. Scalars are in yaml_scalars.c and the
 * well-known types in yaml_wkt.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/config/pb_fields.h"
#include "proxy/config/yaml_loader_int.h"

char *fd_yaml_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

ProtobufCMessage *fd_yaml_new_message(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = malloc(desc->sizeof_message);
    if (msg == NULL)
        abort();
    protobuf_c_message_init(desc, msg);
    return msg;
}

/* Appends one formatted segment, truncating the path (never overflowing) when it is full. */
static size_t path_append(fd_yaml_loader_t *ld, const char *segment)
{
    size_t before = ld->path_len, room = sizeof(ld->path) - ld->path_len;
    int n = snprintf(ld->path + ld->path_len, room, "%s", segment);
    ld->path_len = (n < 0 || (size_t)n >= room) ? sizeof(ld->path) - 1 : ld->path_len + (size_t)n;
    return before;
}

size_t fd_yaml_path_push_field(fd_yaml_loader_t *ld, const char *name)
{
    char segment[300];
    snprintf(segment, sizeof(segment), ld->path_len == 0 ? "%s" : ".%s", name);
    return path_append(ld, segment);
}

size_t fd_yaml_path_push_index(fd_yaml_loader_t *ld, size_t index)
{
    char segment[32];
    snprintf(segment, sizeof(segment), "[%zu]", index);
    return path_append(ld, segment);
}

size_t fd_yaml_path_push_key(fd_yaml_loader_t *ld, const char *key)
{
    char segment[300];
    snprintf(segment, sizeof(segment), "[\"%s\"]", key);
    return path_append(ld, segment);
}

void fd_yaml_path_pop(fd_yaml_loader_t *ld, size_t len)
{
    ld->path_len = len;
    ld->path[len] = '\0';
}

fd_cfg_mark_t fd_yaml_node_mark(const yaml_node_t *node)
{
    return (fd_cfg_mark_t){(unsigned)node->start_mark.line + 1, (unsigned)node->start_mark.column + 1};
}

void fd_yaml_error(fd_yaml_loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
{
    char message[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fd_cfg_errors_add(ld->errs, ld->src->name, node != NULL ? fd_yaml_node_mark(node) : (fd_cfg_mark_t){0, 0}, ld->path,
                      "%s", message);
}

const char *fd_yaml_node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

int fd_yaml_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

const char *fd_yaml_expect_scalar(fd_yaml_loader_t *ld, const yaml_node_t *node, const char *what)
{
    if (node->type == YAML_SCALAR_NODE)
        return (const char *)node->data.scalar.value;
    fd_yaml_error(ld, node, "expected %s, got %s", what, fd_yaml_node_kind(node));
    return NULL;
}

/* Each node visit costs budget, so alias bombs end with an error (reported once). */
static int spend_budget(fd_yaml_loader_t *ld, const yaml_node_t *node)
{
    if (ld->budget > 0) {
        ld->budget--;
        return 1;
    }
    if (!ld->budget_reported)
        fd_yaml_error(ld, node, "document too large after expanding aliases (over %d nodes)", FD_YAML_NODE_BUDGET);
    ld->budget_reported = 1;
    return 0;
}

/* Whether node is being walked already: reached again through an alias to itself. */
static int walking(const fd_yaml_loader_t *ld, const yaml_node_t *node)
{
    for (unsigned i = 0; i < ld->depth; i++)
        if (ld->walking[i] == node)
            return 1;
    return 0;
}

/* Pays for a message, Value or merge source and pushes it on the walk, so alias bombs,
 * recursive anchors and deep nesting end with an error instead of running away. */
static int enter_node(fd_yaml_loader_t *ld, const yaml_node_t *node)
{
    if (!spend_budget(ld, node))
        return 0;
    if (walking(ld, node)) {
        fd_yaml_error(ld, node, "an alias inside %s refers back to it (a recursive anchor), so it would never end",
                      fd_yaml_node_kind(node));
        return 0;
    }
    if (ld->depth >= FD_YAML_MAX_DEPTH) {
        if (!ld->budget_reported)
            fd_yaml_error(ld, node, "nesting deeper than %d levels", FD_YAML_MAX_DEPTH);
        ld->budget_reported = 1;
        return 0;
    }
    ld->walking[ld->depth++] = node;
    return 1;
}

/* The key/value pairs of a mapping after YAML merge keys ("<<: *base"): own keys first,
 * then merged keys not already present, in order. A hash index of each scalar key's
 * first pair keeps key lookups constant-time, so big or much-merged mappings stay linear. */
typedef struct pair_list {
    yaml_node_t **keys, **values;
    size_t count, capacity;
    size_t *first;  /* open addressing: 1 + the index of a key's first pair, 0 when free */
    size_t slots;   /* a power of two, over twice the keys indexed; 0 before the first */
    size_t indexed; /* distinct scalar keys */
} pair_list_t;

static const char *pair_key(const pair_list_t *pairs, size_t i)
{
    const yaml_node_t *key = pairs->keys[i];
    return key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value : NULL;
}

/* The slot holding key's first pair, or the free slot where it would go. */
static size_t pair_slot(const pair_list_t *pairs, const char *key)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (const char *c = key; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    size_t slot = (size_t)h & (pairs->slots - 1);
    while (pairs->first[slot] != 0 && strcmp(pair_key(pairs, pairs->first[slot] - 1), key) != 0)
        slot = (slot + 1) & (pairs->slots - 1);
    return slot;
}

static void pair_index_grow(pair_list_t *pairs)
{
    size_t *old = pairs->first, old_slots = pairs->slots;
    pairs->slots = old_slots ? old_slots * 2 : 32;
    pairs->first = calloc(pairs->slots, sizeof(*pairs->first));
    if (pairs->first == NULL)
        abort();
    for (size_t s = 0; s < old_slots; s++)
        if (old[s] != 0)
            pairs->first[pair_slot(pairs, pair_key(pairs, old[s] - 1))] = old[s];
    free(old);
}

/* Whether one of the first limit pairs has this scalar key. */
static int pair_list_has(const pair_list_t *pairs, size_t limit, const char *key)
{
    if (pairs->slots == 0)
        return 0;
    size_t first = pairs->first[pair_slot(pairs, key)];
    return first != 0 && first - 1 < limit;
}

static void pair_list_add(pair_list_t *pairs, yaml_node_t *key, yaml_node_t *value)
{
    if (pairs->count == pairs->capacity) {
        pairs->capacity = pairs->capacity ? pairs->capacity * 2 : 16;
        pairs->keys = realloc(pairs->keys, pairs->capacity * sizeof(*pairs->keys));
        pairs->values = realloc(pairs->values, pairs->capacity * sizeof(*pairs->values));
        if (pairs->keys == NULL || pairs->values == NULL)
            abort();
    }
    pairs->keys[pairs->count] = key;
    pairs->values[pairs->count++] = value;
    const char *name = pair_key(pairs, pairs->count - 1);
    if (name == NULL)
        return;
    if ((pairs->indexed + 1) * 2 > pairs->slots)
        pair_index_grow(pairs);
    size_t slot = pair_slot(pairs, name);
    if (pairs->first[slot] == 0) {
        pairs->first[slot] = pairs->count;
        pairs->indexed++;
    }
}

static void pair_list_free(pair_list_t *pairs)
{
    free(pairs->keys);
    free(pairs->values);
    free(pairs->first);
}

static int is_merge_key(const yaml_node_t *key)
{
    return key->type == YAML_SCALAR_NODE && key->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((char *)key->data.scalar.value, "<<") == 0;
}

static void collect_pairs(fd_yaml_loader_t *ld, yaml_node_t *map, pair_list_t *pairs, int merged);

static void collect_merge(fd_yaml_loader_t *ld, yaml_node_t *source, pair_list_t *pairs)
{
    if (!enter_node(ld, source))
        return;
    if (source->type == YAML_MAPPING_NODE) {
        collect_pairs(ld, source, pairs, 1);
    } else if (source->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = source->data.sequence.items.start; it < source->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
            if (item->type == YAML_MAPPING_NODE)
                collect_merge(ld, item, pairs);
            else
                fd_yaml_error(ld, item, "merge key '<<' takes mappings, got %s", fd_yaml_node_kind(item));
        }
    } else {
        fd_yaml_error(ld, source, "merge key '<<' takes a mapping or a list of mappings, got %s",
                      fd_yaml_node_kind(source));
    }
    ld->depth--;
}

static void collect_pairs(fd_yaml_loader_t *ld, yaml_node_t *map, pair_list_t *pairs, int merged)
{
    yaml_node_pair_t *p;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(ld->doc, p->value);
        if (is_merge_key(key))
            continue;
        if (merged && key->type == YAML_SCALAR_NODE &&
            pair_list_has(pairs, pairs->count, (char *)key->data.scalar.value)) {
            if (!spend_budget(ld, key)) /* merging the same keys again and again is an alias bomb too */
                return;
            continue;
        }
        pair_list_add(pairs, key, value);
    }
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (is_merge_key(yaml_document_get_node(ld->doc, p->key)))
            collect_merge(ld, yaml_document_get_node(ld->doc, p->value), pairs);
}

yaml_node_t *fd_yaml_mapping_get(fd_yaml_loader_t *ld, yaml_node_t *map, const char *key)
{
    pair_list_t pairs = {0};
    yaml_node_t *found = NULL;
    collect_pairs(ld, map, &pairs, 0);
    for (size_t i = 0; i < pairs.count && found == NULL; i++)
        if (pair_key(&pairs, i) != NULL && strcmp(pair_key(&pairs, i), key) == 0)
            found = pairs.values[i];
    pair_list_free(&pairs);
    return found;
}

/* "connectTimeout" -> "connect_timeout"; snake_case names pass through unchanged. */
static void camel_to_snake(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in != '\0' && o + 2 < size; in++) {
        if (*in >= 'A' && *in <= 'Z') {
            out[o++] = '_';
            out[o++] = (char)(*in - 'A' + 'a');
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc, const char *key)
{
    char snake[256], reserved[260];
    camel_to_snake(key, snake, sizeof(snake));
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, snake);
    if (f == NULL) { /* fields whose names clash with protobuf-c's own members carry a '_' */
        snprintf(reserved, sizeof(reserved), "%s_", snake);
        f = protobuf_c_message_descriptor_get_field_by_name(desc, reserved);
    }
    return f;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

static void report_unknown_field(fd_yaml_loader_t *ld, yaml_node_t *key, const ProtobufCMessageDescriptor *desc)
{
    const char *name = (const char *)key->data.scalar.value, *best = NULL;
    char snake[256];
    if (ld->errs->count == FD_CFG_ERRORS_MAX) { /* the error is only counted: skip the costly suggestion */
        fd_yaml_error(ld, key, "unknown field '%s' in %s", name, desc->name);
        return;
    }
    camel_to_snake(name, snake, sizeof(snake));
    size_t best_distance = strlen(snake) / 3 + 1;
    if (best_distance > 3)
        best_distance = 3;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        size_t d = edit_distance(snake, desc->fields[i].name);
        if (d <= best_distance && (best == NULL || d < best_distance)) {
            best = desc->fields[i].name;
            best_distance = d;
        }
    }
    if (best != NULL)
        fd_yaml_error(ld, key, "unknown field '%s' (did you mean '%s'?)", name, best);
    else
        fd_yaml_error(ld, key, "unknown field '%s' in %s", name, desc->name);
}

/* Converts one value (scalar or message) into dst, which is field storage or a list slot. */
static int load_value(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCFieldDescriptor *field, void *dst)
{
    if (field->type != PROTOBUF_C_TYPE_MESSAGE)
        return fd_yaml_scalar_to_field(ld, node, field, dst);
    ProtobufCMessage *sub = fd_yaml_load_message_node(ld, node, field->descriptor);
    *(ProtobufCMessage **)dst = sub;
    return sub != NULL ? 0 : -1;
}

static void load_map(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCFieldDescriptor *field,
                     ProtobufCMessage *msg)
{
    if (node->type != YAML_MAPPING_NODE) {
        fd_yaml_error(ld, node, "expected a mapping (a map), got %s", fd_yaml_node_kind(node));
        return;
    }
    pair_list_t pairs = {0};
    collect_pairs(ld, node, &pairs, 0);
    const ProtobufCMessageDescriptor *entry_desc = field->descriptor;
    ProtobufCMessage **entries = calloc(pairs.count ? pairs.count : 1, sizeof(*entries));
    size_t n = 0;
    if (entries == NULL)
        abort();
    int scalar_values = entry_desc->fields[1].type != PROTOBUF_C_TYPE_MESSAGE;
    for (size_t i = 0; i < pairs.count; i++) {
        const char *key = fd_yaml_expect_scalar(ld, pairs.keys[i], "a scalar map key");
        int duplicate = key != NULL && pair_list_has(&pairs, i, key);
        /* a message value pays for itself as it is entered; any other entry pays here */
        if ((key == NULL || duplicate || scalar_values) && !spend_budget(ld, pairs.keys[i]))
            break;
        if (key == NULL)
            continue;
        if (duplicate) {
            fd_yaml_error(ld, pairs.keys[i], "key '%s' is given twice", key);
            continue;
        }
        size_t saved = fd_yaml_path_push_key(ld, key);
        const char *outer_name = ld->extension_name;
        ld->extension_name = key; /* typed_per_filter_config and friends are keyed by extension name */
        ProtobufCMessage *entry = fd_yaml_new_message(entry_desc);
        int ok =
            load_value(ld, pairs.keys[i], &entry_desc->fields[0], (char *)entry + entry_desc->fields[0].offset) == 0 &&
            load_value(ld, pairs.values[i], &entry_desc->fields[1], (char *)entry + entry_desc->fields[1].offset) == 0;
        if (ok) {
            fd_cfg_source_set_mark(ld->src, entry, fd_yaml_node_mark(pairs.values[i]));
            entries[n++] = entry;
        } else {
            protobuf_c_message_free_unpacked(entry, NULL);
        }
        ld->extension_name = outer_name;
        fd_yaml_path_pop(ld, saved);
    }
    pair_list_free(&pairs);
    *(size_t *)((char *)msg + field->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)msg + field->offset) = entries;
}

static void load_repeated(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCFieldDescriptor *field,
                          ProtobufCMessage *msg)
{
    if (fd_pb_is_map(field)) {
        load_map(ld, node, field, msg);
        return;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        fd_yaml_error(ld, node, "expected a list, got %s", fd_yaml_node_kind(node));
        return;
    }
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start),
           size = fd_pb_element_size(field->type);
    char *array = calloc(count ? count : 1, size);
    size_t n = 0;
    if (array == NULL)
        abort();
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        if (field->type != PROTOBUF_C_TYPE_MESSAGE && !spend_budget(ld, item))
            break; /* a message item pays as it is entered, a scalar here */
        size_t saved = fd_yaml_path_push_index(ld, i);
        if (load_value(ld, item, field, array + n * size) == 0) {
            void *mark_addr = field->type == PROTOBUF_C_TYPE_MESSAGE ? *(void **)(array + n * size) : array + n * size;
            fd_cfg_source_set_mark(ld->src, mark_addr, fd_yaml_node_mark(item));
            n++;
        }
        fd_yaml_path_pop(ld, saved);
    }
    *(size_t *)((char *)msg + field->quantifier_offset) = n;
    *(void **)((char *)msg + field->offset) = array;
}

/* Two members of one oneof are an error; returns the member already set, or NULL. */
static const ProtobufCFieldDescriptor *oneof_conflict(const ProtobufCMessage *msg,
                                                      const ProtobufCFieldDescriptor *field)
{
    if (!(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    uint32_t set = *(const uint32_t *)((const char *)msg + field->quantifier_offset);
    if (set == 0 || set == field->id)
        return NULL;
    return protobuf_c_message_descriptor_get_field(msg->descriptor, set);
}

static void load_field(fd_yaml_loader_t *ld, yaml_node_t *key, yaml_node_t *value,
                       const ProtobufCFieldDescriptor *field, ProtobufCMessage *msg)
{
    ld->field_key = key;
    size_t saved = fd_yaml_path_push_field(ld, field->name);
    const ProtobufCFieldDescriptor *other = oneof_conflict(msg, field);
    if (other != NULL) {
        fd_yaml_error(ld, key, "'%s' and '%s' are alternatives (oneof): set only one", other->name, field->name);
    } else if (fd_yaml_is_null(value)) {
        /* null leaves the field unset, as in protobuf's JSON mapping */
    } else if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        load_repeated(ld, value, field, msg);
        fd_cfg_source_set_mark(ld->src, (char *)msg + field->offset, fd_yaml_node_mark(key));
    } else if (load_value(ld, value, field, (char *)msg + field->offset) == 0) {
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)((char *)msg + field->quantifier_offset) = field->id;
        else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_MESSAGE &&
                 field->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)((char *)msg + field->quantifier_offset) = 1;
        /* A field's position is its key's: that is where a user looks for it. */
        fd_cfg_source_set_mark(ld->src, (char *)msg + field->offset, fd_yaml_node_mark(key));
    }
    fd_yaml_path_pop(ld, saved);
}

/* google.protobuf.Struct is written as the map it holds ({key: value, ...}), so it is
 * read by the map walk: merge keys, duplicate keys and the node budget apply to it too. */
static int is_struct(const ProtobufCMessageDescriptor *desc)
{
    return strcmp(desc->name, "google.protobuf.Struct") == 0;
}

void fd_yaml_fill_message(fd_yaml_loader_t *ld, yaml_node_t *node, ProtobufCMessage *msg, const char *skip_key)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (is_struct(desc)) {
        load_map(ld, node, &desc->fields[0], msg);
        return;
    }
    pair_list_t pairs = {0};
    collect_pairs(ld, node, &pairs, 0);
    unsigned char *seen = calloc(desc->n_fields + 1, 1);
    if (seen == NULL)
        abort();
    const char *outer_name = ld->extension_name;
    int outer_optional = ld->extension_optional;
    ld->extension_name = NULL;
    ld->extension_optional = 0;
    for (size_t i = 0; i < pairs.count; i++) {
        if (pair_key(&pairs, i) == NULL || pairs.values[i]->type != YAML_SCALAR_NODE)
            continue;
        const char *value = (const char *)pairs.values[i]->data.scalar.value;
        if (strcmp(pair_key(&pairs, i), "name") == 0)
            ld->extension_name = value;
        else if (strcmp(pair_key(&pairs, i), "is_optional") == 0 || strcmp(pair_key(&pairs, i), "isOptional") == 0)
            ld->extension_optional = strcasecmp(value, "true") == 0;
    }
    for (size_t i = 0; i < pairs.count; i++) {
        const char *name = fd_yaml_expect_scalar(ld, pairs.keys[i], "a field name");
        int skipped = name == NULL || (skip_key != NULL && strcmp(name, skip_key) == 0);
        const ProtobufCFieldDescriptor *field = skipped ? NULL : find_field(desc, name);
        size_t index = field != NULL ? (size_t)(field - desc->fields) : 0;
        /* a field's first value pays as it loads; a key that loads nothing pays here */
        if ((skipped || field == NULL || seen[index]) && !spend_budget(ld, pairs.keys[i]))
            break;
        if (skipped)
            continue;
        if (field == NULL) {
            report_unknown_field(ld, pairs.keys[i], desc);
            continue;
        }
        if (seen[index]) {
            fd_yaml_error(ld, pairs.keys[i], "field '%s' is given twice", field->name);
            continue;
        }
        seen[index] = 1;
        load_field(ld, pairs.keys[i], pairs.values[i], field, msg);
    }
    ld->extension_name = outer_name;
    ld->extension_optional = outer_optional;
    free(seen);
    pair_list_free(&pairs);
}

ProtobufCMessage *fd_yaml_load_message_node(fd_yaml_loader_t *ld, yaml_node_t *node,
                                            const ProtobufCMessageDescriptor *desc)
{
    if (!enter_node(ld, node))
        return NULL;
    ProtobufCMessage *msg = NULL;
    fd_yaml_wkt_loader_fn wkt = fd_yaml_wkt_loader(desc);
    if (wkt != NULL) {
        msg = wkt(ld, node, desc);
    } else if (node->type != YAML_MAPPING_NODE) {
        fd_yaml_error(ld, node, "expected a mapping for %s, got %s", desc->name, fd_yaml_node_kind(node));
    } else {
        msg = fd_yaml_new_message(desc);
        fd_yaml_fill_message(ld, node, msg, NULL);
    }
    if (msg != NULL)
        fd_cfg_source_set_mark(ld->src, msg, fd_yaml_node_mark(node));
    ld->depth--;
    return msg;
}

static void report_syntax_error(fd_cfg_errors_t *errs, const char *source, const yaml_parser_t *parser)
{
    fd_cfg_mark_t mark = {(unsigned)parser->problem_mark.line + 1, (unsigned)parser->problem_mark.column + 1};
    if (parser->context != NULL && (strstr(parser->context, "flow") || strstr(parser->context, "quoted")) &&
        parser->context_mark.index != parser->problem_mark.index)
        /* an unclosed '[', '{' or quote: where it began is what needs fixing */
        fd_cfg_errors_add(errs, source, mark, NULL, "YAML syntax error: %s %s (begun at line %u, column %u)",
                          parser->problem, parser->context, (unsigned)parser->context_mark.line + 1,
                          (unsigned)parser->context_mark.column + 1);
    else if (parser->context != NULL)
        fd_cfg_errors_add(errs, source, mark, NULL, "YAML syntax error: %s %s", parser->problem, parser->context);
    else
        fd_cfg_errors_add(errs, source, mark, NULL, "YAML syntax error: %s",
                          parser->problem ? parser->problem : "unreadable input");
}

/* A first pass over libyaml's events checks that lists and mappings nest at most
 * FD_YAML_MAX_NESTING deep before the document is built: libyaml checks every token
 * against every open '[' or '{', so 64 KiB of '[' took seconds and 128 KiB a minute.
 * Syntax errors are left to the load, which meets them at the same place. Returns 0, or
 * -1 after reporting the error. */
static int check_nesting(const char *text, size_t len, const char *source, fd_cfg_errors_t *errs)
{
    yaml_parser_t parser;
    yaml_event_t event;
    int depth = 0, result = 0, done = 0;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done && yaml_parser_parse(&parser, &event)) {
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = event.type == YAML_DOCUMENT_END_EVENT || event.type == YAML_STREAM_END_EVENT;
        if (depth > FD_YAML_MAX_NESTING) {
            fd_cfg_mark_t mark = {(unsigned)event.start_mark.line + 1, (unsigned)event.start_mark.column + 1};
            fd_cfg_errors_add(errs, source, mark, NULL,
                              "lists and mappings nested deeper than %d levels (no configuration needs that many)",
                              FD_YAML_MAX_NESTING);
            result = -1;
            done = 1;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return result;
}

/* A bootstrap is one document; a second one ("---") would otherwise be silently ignored. */
static int has_second_document(yaml_parser_t *parser, const char *source, fd_cfg_errors_t *errs)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next)) {
        report_syntax_error(errs, source, parser);
        return 1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&next);
    int second = root != NULL && !fd_yaml_is_null(root);
    if (second)
        fd_cfg_errors_add(errs, source, fd_yaml_node_mark(root), NULL,
                          "a second YAML document begins here; a configuration is one document");
    yaml_document_delete(&next);
    return second;
}

ProtobufCMessage *fd_yaml_load_message(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                                       fd_cfg_source_t *src, fd_cfg_errors_t *errs)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    size_t errors_before = errs->count + errs->dropped;
    if (check_nesting(text, len, src->name, errs) != 0)
        return NULL;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        report_syntax_error(errs, src->name, &parser);
        yaml_parser_delete(&parser);
        return NULL;
    }
    if (has_second_document(&parser, src->name, errs)) {
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_parser_delete(&parser);
    ProtobufCMessage *msg = NULL;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || fd_yaml_is_null(root)) {
        fd_cfg_errors_add(errs, src->name, (fd_cfg_mark_t){0, 0}, NULL, "the document is empty");
    } else {
        fd_yaml_loader_t ld = {.doc = &doc, .src = src, .errs = errs, .budget = FD_YAML_NODE_BUDGET};
        msg = fd_yaml_load_message_node(&ld, root, desc);
    }
    yaml_document_delete(&doc);
    if (msg != NULL && errs->count + errs->dropped != errors_before) {
        protobuf_c_message_free_unpacked(msg, NULL);
        msg = NULL;
    }
    if (msg == NULL) { /* positions and decoded Anys of freed messages must not match new ones */
        char *name = fd_yaml_strdup(src->name);
        fd_cfg_source_dispose(src);
        fd_cfg_source_init(src, name);
        free(name);
    }
    return msg;
}
