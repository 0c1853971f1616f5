/* Prints protobuf-c messages as protobuf's canonical JSON, the way Envoy's /config_dump
 * shows config: snake_case names, defaults left out, well-known types by their own
 * mapping, '@type' inside Any. Depth is bounded so that hostile messages print, not crash. */
#include "proxy/config/pb_json.h"
#include "proxy/config/pb_fields.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fd_proto_registry.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

/* Messages nested deeper than this print as null. */
#define PB_JSON_MAX_DEPTH 100

/* protobuf's limits for Duration (+-10000 years) and Timestamp (years 1 to 9999). */
#define DURATION_MAX_SECONDS INT64_C(315576000000)
#define TIMESTAMP_MIN_SECONDS INT64_C(-62135596800)
#define TIMESTAMP_MAX_SECONDS INT64_C(253402300799)

typedef struct pj_ctx {
    const fd_cfg_source_t *src; /* NULL inside an Any unpacked here: the loader never saw it */
    unsigned depth;
} pj_ctx_t;

typedef json_t *(*wkt_fn)(pj_ctx_t *ctx, const ProtobufCMessage *msg);

static json_t *message_json(pj_ctx_t *ctx, const ProtobufCMessage *msg);
static json_t *fields_json(pj_ctx_t *ctx, const ProtobufCMessage *msg);
static json_t *value_json(pj_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const void *p);
static wkt_fn wkt_printer(const ProtobufCMessageDescriptor *desc);

/* ---- strings: JSON text must be UTF-8, and protobuf-c does not validate what it unpacks */

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) { /* no overlong forms, no surrogates */
        len = 3;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) { /* nothing past U+10FFFF */
        len = 4;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static int utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_seq_len((const unsigned char *)s + i, len - i)) == 0)
            return 0;
    return 1;
}

/* A copy of s with each invalid byte replaced by U+FFFD; NULL when out of memory. */
static char *utf8_sanitize(const char *s, size_t len)
{
    char *out = len < SIZE_MAX / 3 ? malloc(len * 3 + 1) : NULL;
    size_t o = 0;
    for (size_t i = 0, n; out != NULL && i < len; i += n ? n : 1) {
        n = utf8_seq_len((const unsigned char *)s + i, len - i);
        memcpy(out + o, n ? s + i : "\xEF\xBF\xBD", n ? n : 3);
        o += n ? n : 3;
    }
    if (out != NULL)
        out[o] = '\0';
    return out;
}

static json_t *string_json(const char *s)
{
    s = s != NULL ? s : "";
    size_t len = strlen(s);
    if (utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    char *clean = utf8_sanitize(s, len);
    json_t *j = clean != NULL ? json_string_nocheck(clean) : NULL;
    free(clean);
    return j;
}

/* obj[key] = v, taking v's reference even on failure; -1 when v is NULL or out of memory. */
static int set_key(json_t *obj, const char *key, json_t *v)
{
    key = key != NULL ? key : "";
    size_t len = strlen(key);
    if (v == NULL || utf8_valid(key, len))
        return json_object_set_new_nocheck(obj, key, v);
    char *clean = utf8_sanitize(key, len);
    if (clean == NULL) {
        json_decref(v);
        return -1;
    }
    int rc = json_object_set_new_nocheck(obj, clean, v);
    free(clean);
    return rc;
}

/* ---- scalars */

/* protobuf's SimpleDtoa: 15 significant digits unless they do not read back, so that 0.1
 * prints as 0.1 rather than jansson's 0.10000000000000001. */
static void format_double(double d, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, size, "%.17g", d);
}

/* protobuf's SimpleFtoa: the same with 6 and 9 digits, so 0.1f prints as 0.1. */
static void format_float(float f, char *buf, size_t size)
{
    snprintf(buf, size, "%.6g", (double)f);
    if (strtof(buf, NULL) != f)
        snprintf(buf, size, "%.9g", (double)f);
}

static json_t *nonfinite_json(double d)
{
    return json_string(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
}

static json_t *double_json(double d)
{
    return isfinite(d) ? json_real(d) : nonfinite_json(d);
}

/* Kept as the double nearest the float's shortest text, which then prints as that text. */
static json_t *float_json(float f)
{
    char buf[32];
    if (!isfinite(f))
        return nonfinite_json(f);
    format_float(f, buf, sizeof(buf));
    return json_real(strtod(buf, NULL));
}

/* 64-bit integers are strings: JavaScript numbers lose precision past 2^53. */
static json_t *int64_json(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string_nocheck(buf);
}

static json_t *uint64_json(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_string_nocheck(buf);
}

/* Standard base64 with padding; chunks are multiples of 3 so only the last one pads. */
static json_t *bytes_json(const ProtobufCBinaryData *b)
{
    enum { CHUNK = 3 * 4096 };
    size_t len = b->data != NULL ? b->len : 0, o = 0;
    char *out = len / 3 < (SIZE_MAX - 5) / 4 ? malloc(len / 3 * 4 + 5) : NULL;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += CHUNK) {
        size_t n = len - i < CHUNK ? len - i : CHUNK;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, b->data + i, (int)n);
    }
    json_t *j = json_stringn_nocheck(out, o);
    free(out);
    return j;
}

static json_t *enum_json(const ProtobufCEnumDescriptor *desc, int v)
{
    if (desc == &google__protobuf__null_value__descriptor)
        return json_null();
    const ProtobufCEnumValue *ev = desc != NULL ? protobuf_c_enum_descriptor_get_value(desc, v) : NULL;
    return ev != NULL ? json_string(ev->name) : json_integer(v);
}

/* ---- fields */

/* An unset message where protobuf reads the default instance (a map value or a oneof
 * member left NULL): print what an empty message of that type prints. */
static json_t *default_json(pj_ctx_t *ctx, const ProtobufCMessageDescriptor *desc)
{
    if (desc == NULL || desc->sizeof_message < sizeof(ProtobufCMessage))
        return json_null();
    ProtobufCMessage *msg = malloc(desc->sizeof_message);
    if (msg == NULL)
        return NULL;
    protobuf_c_message_init(desc, msg);
    json_t *j = message_json(ctx, msg);
    free(msg);
    return j;
}

static json_t *submessage_json(pj_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
    return msg != NULL ? message_json(ctx, msg) : default_json(ctx, f->descriptor);
}

/* One value of field f stored at p (the field's storage, a list slot or a map entry's). */
static json_t *value_json(pj_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return int64_json(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return uint64_json(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT: return float_json(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return double_json(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: return enum_json(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING: return string_json(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: return bytes_json(p);
    case PROTOBUF_C_TYPE_MESSAGE: return submessage_json(ctx, f, *(ProtobufCMessage *const *)p);
    }
    return json_null();
}

/* A google.protobuf.Value whose kind is unset has no JSON form: protobuf leaves it out of
 * lists, maps and fields alike. */
static int is_empty_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor != &google__protobuf__value__descriptor)
        return 0;
    const Google__Protobuf__Value *v = *(Google__Protobuf__Value *const *)p;
    return v == NULL || v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET;
}

/* JSON object keys are strings, so integer and bool map keys print as their text. */
static const char *map_key_text(const ProtobufCFieldDescriptor *k, const void *p, char *buf, size_t size)
{
    switch (k->type) {
    case PROTOBUF_C_TYPE_STRING: return *(char *const *)p;
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)p ? "true" : "false";
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: snprintf(buf, size, "%" PRIu32, *(const uint32_t *)p); return buf;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)p); return buf;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: snprintf(buf, size, "%" PRId64, *(const int64_t *)p); return buf;
    default: snprintf(buf, size, "%" PRId32, *(const int32_t *)p); return buf;
    }
}

static json_t *map_json(pj_ctx_t *ctx, const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *entries, size_t n)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    const ProtobufCFieldDescriptor *k = &d->fields[0], *v = &d->fields[1];
    json_t *obj = json_object();
    char buf[24];
    for (size_t i = 0; obj != NULL && i < n; i++) {
        const char *e = (const char *)entries[i];
        if (e == NULL || is_empty_value(v, e + v->offset))
            continue;
        if (set_key(obj, map_key_text(k, e + k->offset, buf, sizeof(buf)), value_json(ctx, v, e + v->offset)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *array_json(pj_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const char *items, size_t n)
{
    json_t *arr = json_array();
    size_t size = fd_pb_element_size(f->type);
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (is_empty_value(f, items + i * size))
            continue;
        if (json_array_append_new(arr, value_json(ctx, f, items + i * size)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *repeated_json(pj_ctx_t *ctx, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
    const void *items = *(void *const *)((const char *)msg + f->offset);
    if (items == NULL)
        n = 0;
    return fd_pb_is_map(f) ? map_json(ctx, f, items, n) : array_json(ctx, f, items, n);
}

/* proto3's implicit presence: a field is "set" when it differs from zero. */
static int is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p == 0;
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_STRING: return *(char *const *)p == NULL || **(char *const *)p == '\0';
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)p == NULL;
    default: return fd_pb_element_size(f->type) == 8 ? *(const uint64_t *)p == 0 : *(const uint32_t *)p == 0;
    }
}

/* Whether protobuf's printer would show the field (it leaves out unset ones). */
static int field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    const void *p = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED: return 1;
    case PROTOBUF_C_LABEL_REPEATED: return *(const size_t *)(base + f->quantifier_offset) != 0;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
            return *(void *const *)p != NULL && *(void *const *)p != f->default_value;
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    default: return !is_zero(f, p);
    }
}

/* Protobuf-c renames a field "base" (its struct's own member) to "base_". */
static const char *json_field_name(const ProtobufCFieldDescriptor *f)
{
    return strcmp(f->name, "base_") == 0 ? "base" : f->name;
}

/* An ordinary message: its set fields in field-number order, as protobuf-c sorts them. */
static json_t *fields_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    json_t *obj = json_object();
    for (unsigned i = 0; obj != NULL && i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *p = (const char *)msg + f->offset;
        int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (!field_present(msg, f) || (!repeated && is_empty_value(f, p)))
            continue;
        json_t *v = repeated ? repeated_json(ctx, msg, f) : value_json(ctx, f, p);
        if (set_key(obj, json_field_name(f), v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *message_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC || ctx->depth >= PB_JSON_MAX_DEPTH)
        return json_null();
    wkt_fn wkt = wkt_printer(desc);
    ctx->depth++;
    json_t *j = wkt != NULL ? wkt(ctx, msg) : fields_json(ctx, msg);
    ctx->depth--;
    return j;
}

/* ---- well-known types */

/* protobuf prints 0, 3, 6 or 9 fractional digits: the fewest that keep every nanosecond. */
static void format_nanos(int32_t nanos, char *buf, size_t size)
{
    if (nanos == 0)
        buf[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(buf, size, ".%03" PRId32, nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(buf, size, ".%06" PRId32, nanos / 1000);
    else
        snprintf(buf, size, ".%09" PRId32, nanos);
}

/* "5s", "0.250s", "-1.500s". Out of range or mixed signs has no string form: the raw
 * fields print instead, so the value is still visible. */
static json_t *duration_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const Google__Protobuf__Duration *d = (const Google__Protobuf__Duration *)msg;
    int64_t s = d->seconds;
    int32_t n = d->nanos;
    char frac[16], buf[64];
    if (s > DURATION_MAX_SECONDS || s < -DURATION_MAX_SECONDS || n <= -1000000000 || n >= 1000000000 ||
        (s > 0 && n < 0) || (s < 0 && n > 0))
        return fields_json(ctx, msg);
    format_nanos(n < 0 ? -n : n, frac, sizeof(frac));
    snprintf(buf, sizeof(buf), "%s%" PRId64 "%ss", s < 0 || n < 0 ? "-" : "", s < 0 ? -s : s, frac);
    return json_string_nocheck(buf);
}

/* RFC 3339 in UTC: "2026-01-31T12:00:00Z", "2026-01-31T12:00:00.500Z". */
static json_t *timestamp_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const Google__Protobuf__Timestamp *t = (const Google__Protobuf__Timestamp *)msg;
    time_t secs = (time_t)t->seconds;
    struct tm tm;
    char frac[16], buf[128];
    if (t->seconds < TIMESTAMP_MIN_SECONDS || t->seconds > TIMESTAMP_MAX_SECONDS || t->nanos < 0 ||
        t->nanos > 999999999 || gmtime_r(&secs, &tm) == NULL)
        return fields_json(ctx, msg);
    format_nanos(t->nanos, frac, sizeof(frac));
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return json_string_nocheck(buf);
}

/* google.protobuf.UInt32Value and friends print as their value, even when it is zero. */
static json_t *wrapper_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[0];
    return value_json(ctx, f, (const char *)msg + f->offset);
}

/* Struct is its map of fields and ListValue its list of values, each a plain JSON object or
 * array; Value is whichever member its oneof holds (null_value prints as null). */
static json_t *struct_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    return repeated_json(ctx, msg, &msg->descriptor->fields[0]);
}

static json_t *value_kind_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const Google__Protobuf__Value *v = (const Google__Protobuf__Value *)msg;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(msg->descriptor, (unsigned)v->kind_case);
    return f != NULL ? value_json(ctx, f, (const char *)msg + f->offset) : json_null();
}

static json_t *empty_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    (void)ctx;
    (void)msg;
    return json_object();
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static int wire_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, unsigned limit);

static int wire_submessage_ok(const ProtobufCMessageDescriptor *desc, uint64_t number, const uint8_t *p, size_t len,
                              unsigned limit)
{
    const ProtobufCFieldDescriptor *f =
        number <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)number) : NULL;
    return f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE || wire_ok(f->descriptor, p, len, limit - 1);
}

/* An Any's bytes were opaque to the unpack that built the outer message, so they may nest
 * deep enough to exhaust the stack in protobuf-c's recursive unpack: walk them first. */
static int wire_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, unsigned limit)
{
    const uint8_t *end = p + len;
    uint64_t tag, n;
    if (limit == 0)
        return 0;
    while (p < end) {
        if (!read_varint(&p, end, &tag))
            return 0;
        if ((tag & 7) == 0) {
            if (!read_varint(&p, end, &n))
                return 0;
            continue;
        }
        if ((tag & 7) == 2 && !read_varint(&p, end, &n))
            return 0;
        n = (tag & 7) == 1 ? 8 : (tag & 7) == 5 ? 4 : (tag & 7) == 2 ? n : UINT64_MAX; /* groups: unsupported */
        if (n > (uint64_t)(end - p) || ((tag & 7) == 2 && !wire_submessage_ok(desc, tag >> 3, p, n, limit)))
            return 0;
        p += n;
    }
    return 1;
}

/* The payload's fields join '@type', except a well-known type's JSON, which goes in "value". */
static int add_payload(pj_ctx_t *ctx, json_t *obj, const ProtobufCMessage *payload)
{
    json_t *j = message_json(ctx, payload);
    if (j == NULL)
        return -1;
    if (wkt_printer(payload->descriptor) != NULL || !json_is_object(j))
        return set_key(obj, "value", j);
    int rc = json_object_update(obj, j);
    json_decref(j);
    return rc;
}

/* Bytes that name no known type or do not decode print as base64, so nothing is lost; no
 * bytes (an optional extension frontdesk lacks, as the loader keeps it) print just '@type'. */
static int add_opaque_payload(json_t *obj, const ProtobufCBinaryData *value)
{
    return value->len == 0 ? 0 : set_key(obj, "value_base64", bytes_json(value));
}

/* The payload is the message the loader decoded, else Any.value unpacked here. */
static int add_any_payload(pj_ctx_t *ctx, json_t *obj, const Google__Protobuf__Any *any)
{
    const char *url = any->type_url != NULL ? any->type_url : "";
    const ProtobufCMessageDescriptor *type = fd_proto_registry_find_type_url(url, strlen(url));
    const ProtobufCMessage *payload = type != NULL ? fd_cfg_source_any_decoded(ctx->src, any) : NULL;
    const fd_cfg_source_t *src = ctx->src;
    const uint8_t *data = any->value.len != 0 ? any->value.data : (const uint8_t *)"";
    ProtobufCMessage *owned = NULL;
    if (payload != NULL && payload->descriptor != type) /* a stale entry for a reused address */
        payload = NULL;
    if (payload == NULL && type != NULL && data != NULL && wire_ok(type, data, any->value.len, PB_JSON_MAX_DEPTH)) {
        payload = owned = protobuf_c_message_unpack(type, NULL, any->value.len, data);
        ctx->src = NULL;
    }
    int rc = payload != NULL ? add_payload(ctx, obj, payload) : add_opaque_payload(obj, &any->value);
    ctx->src = src;
    if (owned != NULL)
        protobuf_c_message_free_unpacked(owned, NULL);
    return rc;
}

static json_t *any_json(pj_ctx_t *ctx, const ProtobufCMessage *msg)
{
    const Google__Protobuf__Any *any = (const Google__Protobuf__Any *)msg;
    json_t *obj = json_object();
    if (obj == NULL || ((any->type_url == NULL || any->type_url[0] == '\0') && any->value.len == 0))
        return obj; /* the empty Any prints as {} */
    if (set_key(obj, "@type", string_json(any->type_url)) != 0 || add_any_payload(ctx, obj, any) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static wkt_fn wkt_printer(const ProtobufCMessageDescriptor *desc)
{
    static const struct {
        const ProtobufCMessageDescriptor *desc;
        wkt_fn fn;
    } table[] = {
        {&google__protobuf__duration__descriptor, duration_json},
        {&google__protobuf__timestamp__descriptor, timestamp_json},
        {&google__protobuf__double_value__descriptor, wrapper_json},
        {&google__protobuf__float_value__descriptor, wrapper_json},
        {&google__protobuf__int64_value__descriptor, wrapper_json},
        {&google__protobuf__uint64_value__descriptor, wrapper_json},
        {&google__protobuf__int32_value__descriptor, wrapper_json},
        {&google__protobuf__uint32_value__descriptor, wrapper_json},
        {&google__protobuf__bool_value__descriptor, wrapper_json},
        {&google__protobuf__string_value__descriptor, wrapper_json},
        {&google__protobuf__bytes_value__descriptor, wrapper_json},
        {&google__protobuf__struct__descriptor, struct_json},
        {&google__protobuf__value__descriptor, value_kind_json},
        {&google__protobuf__list_value__descriptor, struct_json},
        {&google__protobuf__empty__descriptor, empty_json},
        {&google__protobuf__any__descriptor, any_json},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].desc == desc)
            return table[i].fn;
    return NULL;
}

json_t *fd_pb_to_json_value(const ProtobufCMessage *msg, const fd_cfg_source_t *src)
{
    pj_ctx_t ctx = {.src = src, .depth = 0};
    return msg != NULL ? message_json(&ctx, msg) : json_null();
}

/* ---- text: written here rather than by json_dumps, whose fixed 17-digit reals would print
 * 0.1 as 0.10000000000000001 where protobuf (and so Envoy) prints 0.1 */

typedef struct pj_buf {
    char *data;
    size_t len, cap;
    int failed;
} pj_buf_t;

static void buf_put(pj_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len <= n && cap < SIZE_MAX / 2)
            cap *= 2;
        char *data = cap - b->len > n ? realloc(b->data, cap) : NULL;
        if (data == NULL) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(pj_buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* The code point at p to write as \uXXXX, or -1 to copy the byte: control characters, which
 * JSON requires escaped, and also DEL, C1 controls and U+FFFE/U+FFFF, which JSON allows raw
 * but YAML does not, so that the text loads back through the YAML loader. */
static long escaped_code_point(const unsigned char *p, size_t n, size_t *len)
{
    *len = 1;
    if (p[0] < 0x20 || p[0] == 0x7f)
        return p[0];
    if (n >= 2 && p[0] == 0xC2 && p[1] <= 0x9F) {
        *len = 2;
        return p[1];
    }
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] >= 0xBE) {
        *len = 3;
        return 0xFFC0 | (p[2] & 0x3F);
    }
    return -1;
}

static void write_escape(pj_buf_t *b, long cp)
{
    char esc[8];
    const char *named = cp == '"'    ? "\\\""
                        : cp == '\\' ? "\\\\"
                        : cp == '\n' ? "\\n"
                        : cp == '\r' ? "\\r"
                        : cp == '\t' ? "\\t"
                        : cp == '\b' ? "\\b"
                        : cp == '\f' ? "\\f"
                                     : NULL;
    if (named == NULL)
        snprintf(esc, sizeof(esc), "\\u%04lx", (unsigned long)cp & 0xFFFF);
    buf_puts(b, named != NULL ? named : esc);
}

/* s is valid UTF-8 here (see string_json), so multi-byte characters are copied as they are. */
static void write_string(pj_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, len;
    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i += len) {
        long cp = escaped_code_point(p + i, n - i, &len);
        if (cp < 0 && p[i] != '"' && p[i] != '\\')
            continue;
        buf_put(b, s + run, i - run);
        run = i + len;
        write_escape(b, cp < 0 ? p[i] : cp);
    }
    buf_put(b, s + run, n - run);
    buf_puts(b, "\"");
}

static void write_newline(pj_buf_t *b, int indent, unsigned level)
{
    static const char spaces[] = "                                ";
    if (indent == 0)
        return;
    buf_puts(b, "\n");
    for (size_t n = (size_t)indent * level; n > 0;) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        buf_put(b, spaces, k);
        n -= k;
    }
}

static void write_json(pj_buf_t *b, const json_t *v, int indent, unsigned level);

static void write_object(pj_buf_t *b, json_t *obj, int indent, unsigned level)
{
    if (json_object_size(obj) == 0) {
        buf_puts(b, "{}");
        return;
    }
    int first = 1;
    buf_puts(b, "{");
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        buf_puts(b, first ? "" : ",");
        first = 0;
        write_newline(b, indent, level + 1);
        write_string(b, key, strlen(key));
        buf_puts(b, indent ? ": " : ":");
        write_json(b, json_object_iter_value(it), indent, level + 1);
    }
    write_newline(b, indent, level);
    buf_puts(b, "}");
}

static void write_array(pj_buf_t *b, const json_t *arr, int indent, unsigned level)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        buf_puts(b, "[]");
        return;
    }
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? "," : "");
        write_newline(b, indent, level + 1);
        write_json(b, json_array_get(arr, i), indent, level + 1);
    }
    write_newline(b, indent, level);
    buf_puts(b, "]");
}

static void write_json(pj_buf_t *b, const json_t *v, int indent, unsigned level)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: write_object(b, (json_t *)v, indent, level); return;
    case JSON_ARRAY: write_array(b, v, indent, level); return;
    case JSON_STRING: write_string(b, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_puts(b, num);
        return;
    case JSON_REAL:
        format_double(json_real_value(v), num, sizeof(num));
        buf_puts(b, num);
        return;
    default: buf_puts(b, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null"); return;
    }
}

char *fd_pb_to_json(const ProtobufCMessage *msg, const fd_cfg_source_t *src, int pretty)
{
    json_t *j = fd_pb_to_json_value(msg, src);
    pj_buf_t b = {0};
    if (j == NULL)
        return NULL;
    write_json(&b, j, pretty ? 2 : 0, 0);
    json_decref(j);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
