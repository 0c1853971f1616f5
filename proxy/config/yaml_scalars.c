/* Scalar conversions for the YAML loader: integers with range checks, floats, bools,
 * strings, base64 bytes, enums by name (any case, as Envoy accepts) or number, and
 * the textual forms of Duration and Timestamp. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proxy/config/yaml_loader_int.h"

static int is_hex(const char *text)
{
    const char *p = text[0] == '-' || text[0] == '+' ? text + 1 : text;
    return p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && p[2] != '\0' && p[2] != '-' && p[2] != '+';
}

static int parse_signed(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, int64_t min, int64_t max,
                        int64_t *out)
{
    if (isspace((unsigned char)text[0])) { /* strtoll would skip it; a number is written without */
        fd_yaml_error(ld, node, "expected an integer, got '%s'", text);
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, is_hex(text) ? 16 : 10); /* yaml-cpp, and so Envoy, reads 0x10 as 16 */
    if (end == text || *end != '\0') {
        fd_yaml_error(ld, node, "expected an integer, got '%s'", text);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        fd_yaml_error(ld, node, "value %s is out of range [%lld, %lld]", text, (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_unsigned(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, uint64_t max, uint64_t *out)
{
    if (isspace((unsigned char)text[0])) { /* strtoull would skip it, and then wrap a '-' around */
        fd_yaml_error(ld, node, "expected a non-negative integer, got '%s'", text);
        return -1;
    }
    char *end;
    errno = 0;
    const char *digits = text[0] == '+' ? text + 1 : text;
    unsigned long long v = strtoull(digits, &end, is_hex(digits) ? 16 : 10);
    if (digits[0] == '-' && end != digits) {
        fd_yaml_error(ld, node, "value %s is out of range [0, %llu]", text, (unsigned long long)max);
        return -1;
    }
    if (end == digits || *end != '\0') {
        fd_yaml_error(ld, node, "expected a non-negative integer, got '%s'", text);
        return -1;
    }
    if (errno == ERANGE || v > max) {
        fd_yaml_error(ld, node, "value %s is out of range [0, %llu]", text, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0') {
        fd_yaml_error(ld, node, "expected a number, got '%s'", text);
        return -1;
    }
    if (errno == ERANGE && isinf(v)) {
        fd_yaml_error(ld, node, "value %s is out of range for a double", text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, protobuf_c_boolean *out)
{
    /* YAML 1.1's yes/no/on/off too: Envoy's YAML reader (yaml-cpp) accepts them. */
    static const char *const truthy[] = {"true", "yes", "on", "y"}, *const falsy[] = {"false", "no", "off", "n"};
    int value = -1;
    for (size_t i = 0; i < 4 && value < 0; i++)
        value = strcasecmp(text, truthy[i]) == 0 ? 1 : strcasecmp(text, falsy[i]) == 0 ? 0 : -1;
    if (value >= 0) {
        *out = (protobuf_c_boolean)value;
    } else {
        fd_yaml_error(ld, node, "expected true or false, got '%s'", text);
        return -1;
    }
    return 0;
}

/* The length of the base64 data before its '=' padding, or -1 when text is not base64:
 * a character outside both alphabets, more padding than the last group needs, or a
 * final group of one character (which cannot hold a whole byte). */
static long base64_data_length(const char *text)
{
    size_t len = strlen(text),
           data = strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_");
    size_t pad = strspn(text + data, "=");
    if (data + pad != len || data % 4 == 1 || pad > (4 - data % 4) % 4)
        return -1;
    return (long)data;
}

/* Standard or URL-safe base64, padding optional, as protobuf's JSON mapping accepts. */
static int parse_bytes(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, ProtobufCBinaryData *out)
{
    long data_len = base64_data_length(text);
    if (data_len < 0) {
        fd_yaml_error(ld, node, "expected base64 bytes, got '%.40s'", text);
        return -1;
    }
    size_t len = (size_t)data_len, padded = (len + 3) / 4 * 4;
    char *norm = malloc(padded + 1);
    unsigned char *data = malloc(padded / 4 * 3 + 1);
    if (norm == NULL || data == NULL)
        abort();
    for (size_t i = 0; i < len; i++)
        norm[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    for (size_t i = len; i < padded; i++)
        norm[i] = '=';
    norm[padded] = '\0';
    int n = padded ? EVP_DecodeBlock(data, (unsigned char *)norm, (int)padded) : 0;
    free(norm);
    if (n < 0) {
        fd_yaml_error(ld, node, "expected base64 bytes, got '%.40s'", text);
        free(data);
        return -1;
    }
    out->len = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    out->data = data;
    return 0;
}

static int parse_enum(fd_yaml_loader_t *ld, yaml_node_t *node, const char *text, const ProtobufCEnumDescriptor *desc,
                      int *out)
{
    for (unsigned i = 0; i < desc->n_values; i++) {
        if (strcasecmp(desc->values[i].name, text) == 0) {
            *out = desc->values[i].value;
            return 0;
        }
    }
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    /* protobuf's JSON parser would take any int32 here; a number without a name in a file a
     * person wrote is a mistake, so it is refused with the names there are */
    if (end != text && *end == '\0' && !isspace((unsigned char)text[0]) && errno == 0 && v >= INT32_MIN &&
        v <= INT32_MAX && protobuf_c_enum_descriptor_get_value(desc, (int)v) != NULL) {
        *out = (int)v;
        return 0;
    }
    char names[512] = "";
    for (unsigned i = 0; i < desc->n_values && strlen(names) < sizeof(names) - 64; i++) {
        strcat(names, i ? ", " : "");
        strcat(names, desc->values[i].name);
    }
    fd_yaml_error(ld, node, "unknown value '%s' for enum %s (expected one of: %s)", text, desc->name, names);
    return -1;
}

int fd_yaml_scalar_to_field(fd_yaml_loader_t *ld, yaml_node_t *node, const ProtobufCFieldDescriptor *field, void *dst)
{
    const char *text = fd_yaml_expect_scalar(ld, node, "a scalar value");
    int64_t s;
    uint64_t u;
    double d;
    if (text == NULL)
        return -1;
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (parse_signed(ld, node, text, INT32_MIN, INT32_MAX, &s) != 0)
            return -1;
        *(int32_t *)dst = (int32_t)s;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (parse_signed(ld, node, text, INT64_MIN, INT64_MAX, &s) != 0)
            return -1;
        *(int64_t *)dst = s;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (parse_unsigned(ld, node, text, UINT32_MAX, &u) != 0)
            return -1;
        *(uint32_t *)dst = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (parse_unsigned(ld, node, text, UINT64_MAX, &u) != 0)
            return -1;
        *(uint64_t *)dst = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (parse_double(ld, node, text, &d) != 0)
            return -1;
        if (isfinite(d) && fabs(d) > FLT_MAX) {
            fd_yaml_error(ld, node, "value %s is out of range for a float", text);
            return -1;
        }
        *(float *)dst = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (parse_double(ld, node, text, &d) != 0)
            return -1;
        *(double *)dst = d;
        return 0;
    case PROTOBUF_C_TYPE_BOOL: return parse_bool(ld, node, text, dst);
    case PROTOBUF_C_TYPE_ENUM: return parse_enum(ld, node, text, field->descriptor, dst);
    case PROTOBUF_C_TYPE_STRING: *(char **)dst = fd_yaml_strdup(text); return 0;
    case PROTOBUF_C_TYPE_BYTES: return parse_bytes(ld, node, text, dst);
    default: fd_yaml_error(ld, node, "field type %d is not a scalar", (int)field->type); return -1;
    }
}

/* "1.5s", "-0.25s", "300s": seconds with up to nine fractional digits and an 's'. */
int fd_yaml_parse_duration(const char *text, int64_t *seconds, int32_t *nanos)
{
    const char *p = text;
    int negative = 0;
    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    if (*p < '0' || *p > '9')
        return -1;
    int64_t secs = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (secs > 315576000000 / 10)
            return -1;
        secs = secs * 10 + (*p - '0');
    }
    int32_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 9)
                frac = frac * 10 + (*p - '0');
            else
                return -1;
        if (digits == 0)
            return -1;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (strcmp(p, "s") != 0 || secs > 315576000000)
        return -1;
    *seconds = negative ? -secs : secs;
    *nanos = negative ? -frac : frac;
    return 0;
}

/* RFC 3339: "2026-11-28T11:42:18Z", "2026-11-28T11:42:18.5+01:00". */
int fd_yaml_parse_timestamp(const char *text, int64_t *seconds, int32_t *nanos)
{
    /* RFC 3339's fixed layout "YYYY-MM-DDTHH:MM:SS", checked before strptime, which is lenient */
    static const char layout[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof(layout) - 1; i++)
        if (layout[i] == 'd' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != layout[i])
            return -1;
    struct tm tm = {0};
    const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL || p != text + sizeof(layout) - 1 || tm.tm_sec > 59)
        return -1;
    int32_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
            frac = frac * 10 + (*p - '0');
        if (digits == 0 || (*p >= '0' && *p <= '9'))
            return -1;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && strspn(p + 1, "0123456789") == 2 &&
               strspn(p + 4, "0123456789") == 2) {
        int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
        if (h > 23 || m > 59)
            return -1;
        offset = (p[0] == '-' ? -1 : 1) * (int64_t)(h * 3600 + m * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *seconds = (int64_t)timegm(&tm) - offset;
    *nanos = frac;
    return 0;
}
