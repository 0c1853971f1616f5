/* Envoy access-log formats: a format string or JSON dictionary is compiled once, at config time,
 * into literal and command-operator segments; rendering a record walks them into the caller's
 * buffer and allocates nothing. Behaviour follows Envoy's substitution_formatter.cc. */
#include <arpa/inet.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/accesslog/access_log.h"

#define TIME_FORMAT_MAX 128 /* bounds what strftime can produce into the render's scratch */
#define SCRATCH_SIZE 4096

typedef enum op {
    OP_LITERAL,
    OP_START_TIME,
    OP_REQ,
    OP_RESP,
    OP_PROTOCOL,
    OP_RESPONSE_CODE,
    OP_RESPONSE_FLAGS,
    OP_BYTES_RECEIVED,
    OP_BYTES_SENT,
    OP_DURATION,
    OP_UPSTREAM_HOST,
    OP_UPSTREAM_CLUSTER,
    OP_ROUTE_NAME,
    OP_DOWNSTREAM_REMOTE_ADDRESS,
    OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
    OP_DOWNSTREAM_LOCAL_ADDRESS,
    OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT,
    OP_REQUESTED_SERVER_NAME,
    OP_HOSTNAME,
} op_t;

typedef enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED } arg_rule_t;

static const struct op_desc {
    const char *name;
    op_t op;
    arg_rule_t arg;
    int max_len; /* accepts ":Z" */
    int numeric; /* a JSON number in typed JSON when alone in a value */
} op_descs[] = {
    {"START_TIME", OP_START_TIME, ARG_OPTIONAL, 0, 0},
    {"REQ", OP_REQ, ARG_REQUIRED, 1, 0},
    {"RESP", OP_RESP, ARG_REQUIRED, 1, 0},
    {"PROTOCOL", OP_PROTOCOL, ARG_NONE, 0, 0},
    {"RESPONSE_CODE", OP_RESPONSE_CODE, ARG_NONE, 0, 1},
    {"RESPONSE_FLAGS", OP_RESPONSE_FLAGS, ARG_NONE, 0, 0},
    {"BYTES_RECEIVED", OP_BYTES_RECEIVED, ARG_NONE, 0, 1},
    {"BYTES_SENT", OP_BYTES_SENT, ARG_NONE, 0, 1},
    {"DURATION", OP_DURATION, ARG_NONE, 0, 1},
    {"UPSTREAM_HOST", OP_UPSTREAM_HOST, ARG_NONE, 0, 0},
    {"UPSTREAM_CLUSTER", OP_UPSTREAM_CLUSTER, ARG_NONE, 0, 0},
    {"ROUTE_NAME", OP_ROUTE_NAME, ARG_NONE, 0, 0},
    {"DOWNSTREAM_REMOTE_ADDRESS", OP_DOWNSTREAM_REMOTE_ADDRESS, ARG_NONE, 0, 0},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, ARG_NONE, 0, 0},
    {"DOWNSTREAM_LOCAL_ADDRESS", OP_DOWNSTREAM_LOCAL_ADDRESS, ARG_NONE, 0, 0},
    {"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT, ARG_NONE, 0, 0},
    {"REQUESTED_SERVER_NAME", OP_REQUESTED_SERVER_NAME, ARG_NONE, 0, 0},
    {"HOSTNAME", OP_HOSTNAME, ARG_NONE, 0, 0},
};

/* Where a REQ/RESP header name is answered from: the record's own fields for pseudo-headers and
 * the headers the proxy may have rewritten, h2o's header lists for everything else. */
typedef enum hdr_src {
    H_GENERIC,
    H_METHOD,
    H_PATH,
    H_SCHEME,
    H_AUTHORITY,
    H_USER_AGENT,
    H_FORWARDED_FOR,
    H_REQUEST_ID,
    H_STATUS,
    H_SERVICE_TIME,
} hdr_src_t;

typedef struct hdr_ref {
    hdr_src_t src;
    const char *name; /* lower-cased */
    size_t len;
} hdr_ref_t;

typedef enum time_piece_kind { TP_STRFTIME, TP_FRACTION, TP_EPOCH } time_piece_kind_t;

typedef struct time_piece {
    time_piece_kind_t kind;
    const char *text; /* TP_STRFTIME: NUL-terminated strftime format */
    int width;        /* TP_FRACTION: digits of the nanoseconds */
} time_piece_t;

typedef struct segment {
    op_t op;
    const char *text; /* OP_LITERAL and OP_HOSTNAME (NULL: gethostname failed) */
    size_t len;
    hdr_ref_t hdr[2]; /* OP_REQ / OP_RESP: main and alternative */
    size_t n_hdr;
    size_t max_len;     /* SIZE_MAX: no ":Z" */
    time_piece_t *time; /* OP_START_TIME: NULL is Envoy's default layout */
    size_t n_time;
} segment_t;

typedef struct json_field {
    const char *key_json; /* the key, quoted and escaped */
    size_t key_len;
    size_t first, count; /* its segments */
    int typed_number;    /* typed JSON and the value is exactly one numeric operator */
    int typed_null;      /* typed JSON and the value is exactly one operator: absent is null */
} json_field_t;

typedef enum format_kind { FORMAT_TEXT, FORMAT_JSON_STRINGS, FORMAT_JSON_TYPED } format_kind_t;

typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block_t;

struct fd_access_log_format {
    format_kind_t kind;
    segment_t *segs;
    size_t n_segs, cap_segs;
    json_field_t *fields;
    size_t n_fields;
    arena_block_t *arena; /* everything segments point to */
};

/* ---- compile-time memory ---- */

static void *arena_alloc(fd_access_log_format_t *f, size_t size)
{
    arena_block_t *b = malloc(sizeof(*b) + size + 1);
    if (b == NULL)
        return NULL;
    b->next = f->arena;
    f->arena = b;
    return b->data;
}

static char *arena_strndup(fd_access_log_format_t *f, const char *s, size_t len)
{
    char *p = arena_alloc(f, len + 1);
    if (p != NULL) {
        if (len > 0) /* s may be NULL then */
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static segment_t *add_segment(fd_access_log_format_t *f, op_t op)
{
    if (f->n_segs == f->cap_segs) {
        size_t cap = f->cap_segs ? f->cap_segs * 2 : 16;
        segment_t *segs = realloc(f->segs, cap * sizeof(*segs));
        if (segs == NULL)
            return NULL;
        f->segs = segs;
        f->cap_segs = cap;
    }
    segment_t *s = &f->segs[f->n_segs++];
    memset(s, 0, sizeof(*s));
    s->op = op;
    s->max_len = SIZE_MAX;
    return s;
}

void fd_access_log_format_free(fd_access_log_format_t *f)
{
    if (f == NULL)
        return;
    while (f->arena != NULL) {
        arena_block_t *next = f->arena->next;
        free(f->arena);
        f->arena = next;
    }
    free(f->segs);
    free(f->fields);
    free(f);
}

/* ---- parsing ---- */

typedef struct parser {
    fd_access_log_format_t *f;
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
} parser_t;

__attribute__((format(printf, 2, 3))) static int fail(parser_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->errlen > 0)
        vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return 0;
}

static int out_of_memory(parser_t *p)
{
    return fail(p, "out of memory");
}

static int add_literal(parser_t *p, const char *s, size_t len)
{
    if (len == 0)
        return 1;
    segment_t *seg = add_segment(p->f, OP_LITERAL);
    if (seg == NULL)
        return out_of_memory(p);
    seg->text = s;
    seg->len = len;
    return 1;
}

static const struct op_desc *find_op(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(op_descs) / sizeof(op_descs[0]); i++)
        if (strlen(op_descs[i].name) == len && memcmp(op_descs[i].name, name, len) == 0)
            return &op_descs[i];
    return NULL;
}

static hdr_src_t header_source(op_t op, const char *name)
{
    static const struct {
        op_t op;
        const char *name;
        hdr_src_t src;
    } known[] = {
        {OP_REQ, ":method", H_METHOD},
        {OP_REQ, ":path", H_PATH},
        {OP_REQ, ":scheme", H_SCHEME},
        {OP_REQ, ":authority", H_AUTHORITY},
        {OP_REQ, "host", H_AUTHORITY}, /* Envoy keeps HTTP/1.1's Host as :authority */
        {OP_REQ, "user-agent", H_USER_AGENT},
        {OP_REQ, "x-forwarded-for", H_FORWARDED_FOR},
        {OP_REQ, "x-request-id", H_REQUEST_ID},
        {OP_RESP, ":status", H_STATUS},
        {OP_RESP, "x-envoy-upstream-service-time", H_SERVICE_TIME},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].op == op && strcmp(known[i].name, name) == 0)
            return known[i].src;
    return H_GENERIC;
}

static int parse_header_name(parser_t *p, segment_t *seg, const char *s, size_t len, size_t pos)
{
    if (len == 0)
        return fail(p, "empty header name in command operator at position %zu", pos);
    if (memchr(s, '\n', len) != NULL || memchr(s, '\r', len) != NULL || memchr(s, '\0', len) != NULL)
        return fail(p, "header name in command operator at position %zu contains a newline", pos);
    char *name = arena_strndup(p->f, s, len);
    if (name == NULL)
        return out_of_memory(p);
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');
    hdr_ref_t *h = &seg->hdr[seg->n_hdr++];
    h->name = name;
    h->len = len;
    h->src = header_source(seg->op, name);
    return 1;
}

/* REQ(X?Y) / RESP(X?Y): a header and at most one alternative. */
static int parse_headers(parser_t *p, segment_t *seg, const char *arg, size_t len, size_t pos)
{
    const char *q = memchr(arg, '?', len);
    if (q == NULL)
        return parse_header_name(p, seg, arg, len, pos);
    if (memchr(q + 1, '?', len - (size_t)(q + 1 - arg)) != NULL)
        return fail(p, "more than one alternative header in command operator at position %zu", pos);
    return parse_header_name(p, seg, arg, (size_t)(q - arg), pos) &&
           parse_header_name(p, seg, q + 1, len - (size_t)(q + 1 - arg), pos);
}

typedef struct time_builder {
    parser_t *p;
    segment_t *seg;
    time_piece_t pieces[TIME_FORMAT_MAX];
    char text[TIME_FORMAT_MAX * 2];
    size_t text_len;
} time_builder_t;

static int time_flush(time_builder_t *b)
{
    if (b->text_len == 0)
        return 1;
    char *s = arena_strndup(b->p->f, b->text, b->text_len);
    if (s == NULL)
        return out_of_memory(b->p);
    b->pieces[b->seg->n_time++] = (time_piece_t){.kind = TP_STRFTIME, .text = s};
    b->text_len = 0;
    return 1;
}

static int time_special(time_builder_t *b, time_piece_kind_t kind, int width)
{
    if (!time_flush(b))
        return 0;
    b->pieces[b->seg->n_time++] = (time_piece_t){.kind = kind, .width = width};
    return 1;
}

static void time_text(time_builder_t *b, const char *s, size_t len)
{
    memcpy(b->text + b->text_len, s, len);
    b->text_len += len;
}

/* Envoy's extensions to strftime: %s (seconds since the epoch), %f and %1f..%9f (fractions of
 * the second, 9 digits by default); and %Z is "UTC", as absl prints it (Envoy formats in UTC). */
static int time_conversion(time_builder_t *b, const char *arg, size_t len, size_t *i, size_t pos)
{
    char c = *i + 1 < len ? arg[*i + 1] : '%';
    if (c >= '1' && c <= '9' && *i + 2 < len && arg[*i + 2] == 'f') {
        *i += 3;
        return time_special(b, TP_FRACTION, c - '0');
    }
    *i += 2;
    switch (c) {
    case 'f': return time_special(b, TP_FRACTION, 9);
    case 's': return time_special(b, TP_EPOCH, 0);
    case 'Z': time_text(b, "UTC", 3); return 1;
    case 'n': return fail(b->p, "START_TIME format at position %zu contains a newline (%%n)", pos);
    default: time_text(b, (char[]){'%', c}, 2); return 1;
    }
}

static int parse_time_format(parser_t *p, segment_t *seg, const char *arg, size_t len, size_t pos)
{
    if (len == 0)
        return 1;
    if (len > TIME_FORMAT_MAX)
        return fail(p, "START_TIME format at position %zu is longer than %d characters", pos, TIME_FORMAT_MAX);
    if (memchr(arg, '\n', len) != NULL || memchr(arg, '\0', len) != NULL)
        return fail(p, "START_TIME format at position %zu contains a newline", pos);
    time_builder_t b = {.p = p, .seg = seg};
    for (size_t i = 0; i < len;) {
        if (arg[i] != '%') {
            time_text(&b, &arg[i++], 1);
        } else if (!time_conversion(&b, arg, len, &i, pos)) {
            return 0;
        }
    }
    if (!time_flush(&b))
        return 0;
    seg->time = arena_alloc(p->f, seg->n_time * sizeof(time_piece_t));
    if (seg->time == NULL)
        return out_of_memory(p);
    memcpy(seg->time, b.pieces, seg->n_time * sizeof(time_piece_t));
    return 1;
}

static int set_hostname(parser_t *p, segment_t *seg)
{
    char name[HOST_NAME_MAX + 1];
    if (gethostname(name, sizeof(name)) != 0)
        return 1; /* absent, as in Envoy */
    name[HOST_NAME_MAX] = '\0';
    seg->len = strlen(name);
    seg->text = arena_strndup(p->f, name, seg->len);
    return seg->text != NULL || out_of_memory(p);
}

typedef struct op_token {
    const char *name, *arg;
    size_t name_len, arg_len, pos;
    int has_arg, has_max;
    size_t max_len;
} op_token_t;

static int check_args(parser_t *p, const struct op_desc *d, const op_token_t *t)
{
    int n = (int)t->name_len;
    if (d->arg == ARG_REQUIRED && !t->has_arg)
        return fail(p, "command operator '%%%.*s%%' at position %zu needs a header name: %.*s(X?Y):Z", n, t->name,
                    t->pos, n, t->name);
    if (d->arg == ARG_NONE && t->has_arg)
        return fail(p, "command operator '%.*s' at position %zu takes no parameters", n, t->name, t->pos);
    if (!d->max_len && t->has_max)
        return fail(p, "command operator '%.*s' at position %zu takes no maximum length", n, t->name, t->pos);
    return 1;
}

static int add_operator(parser_t *p, const op_token_t *t)
{
    const struct op_desc *d = find_op(t->name, t->name_len);
    if (d == NULL)
        return fail(p, "unknown command operator '%%%.*s%%' at position %zu", (int)t->name_len, t->name, t->pos);
    if (!check_args(p, d, t))
        return 0;
    segment_t *seg = add_segment(p->f, d->op);
    if (seg == NULL)
        return out_of_memory(p);
    if (t->has_max)
        seg->max_len = t->max_len;
    switch (d->op) {
    case OP_REQ:
    case OP_RESP: return parse_headers(p, seg, t->arg, t->arg_len, t->pos);
    case OP_START_TIME: return parse_time_format(p, seg, t->arg, t->arg_len, t->pos);
    case OP_HOSTNAME: return set_hostname(p, seg);
    default: return 1;
    }
}

static int is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* ":Z" after an operator: a decimal maximum length. */
static int parse_max_len(parser_t *p, op_token_t *t, size_t *i)
{
    size_t start = ++*i;
    uint64_t v = 0;
    while (*i < p->len && p->text[*i] >= '0' && p->text[*i] <= '9') {
        v = v * 10 + (uint64_t)(p->text[(*i)++] - '0');
        if (v > UINT32_MAX)
            return fail(p, "maximum length of command operator at position %zu is too large", t->pos);
    }
    if (*i == start)
        return fail(p, "':' after command operator at position %zu must be followed by a length", t->pos);
    t->has_max = 1;
    t->max_len = (size_t)v;
    return 1;
}

/* One "%NAME(arg):Z%" starting at the '%' at *i; Envoy's grammar is
 * %[A-Z0-9_]+(\([^)]*\))?(:[0-9]+)?% and so is this one. */
static int parse_operator(parser_t *p, size_t *i)
{
    op_token_t t = {.pos = *i, .name = p->text + *i + 1};
    size_t j = *i + 1;
    while (j < p->len && is_name_char(p->text[j]))
        j++;
    t.name_len = j - *i - 1;
    if (t.name_len == 0)
        return fail(p, "'%%' at position %zu does not start a command operator (write %%%% for a literal '%%')", t.pos);
    if (j < p->len && p->text[j] == '(') {
        const char *close = memchr(p->text + j, ')', p->len - j);
        if (close == NULL)
            return fail(p, "command operator '%.*s' at position %zu has no closing ')'", (int)t.name_len, t.name,
                        t.pos);
        t.has_arg = 1;
        t.arg = p->text + j + 1;
        t.arg_len = (size_t)(close - t.arg);
        j = (size_t)(close - p->text) + 1;
    }
    if (j < p->len && p->text[j] == ':' && !parse_max_len(p, &t, &j))
        return 0;
    if (j >= p->len || p->text[j] != '%')
        return fail(p, "command operator '%.*s' at position %zu is not closed by '%%'", (int)t.name_len, t.name, t.pos);
    *i = j + 1;
    return add_operator(p, &t);
}

static int parse(parser_t *p)
{
    size_t i = 0, lit = 0;
    while (i < p->len) {
        if (p->text[i] != '%') {
            i++;
            continue;
        }
        if (!add_literal(p, p->text + lit, i - lit))
            return 0;
        if (i + 1 < p->len && p->text[i + 1] == '%') {
            if (!add_literal(p, p->text + i + 1, 1)) /* "%%" is one literal '%' */
                return 0;
            i += 2;
        } else if (!parse_operator(p, &i)) {
            return 0;
        }
        lit = i;
    }
    return add_literal(p, p->text + lit, i - lit);
}

static int parse_copy(parser_t *p, const char *text, size_t len)
{
    p->text = arena_strndup(p->f, text, len);
    p->len = len;
    return p->text != NULL ? parse(p) : out_of_memory(p);
}

fd_access_log_format_t *fd_access_log_format_compile(const char *text, size_t len, char *err, size_t errlen)
{
    fd_access_log_format_t *f = calloc(1, sizeof(*f));
    parser_t p = {.f = f, .err = err, .errlen = errlen};
    if (f == NULL) {
        out_of_memory(&p);
        return NULL;
    }
    f->kind = FORMAT_TEXT;
    if (!parse_copy(&p, text, len)) {
        fd_access_log_format_free(f);
        return NULL;
    }
    return f;
}

/* ---- JSON dictionaries ---- */

static int compare_fields(const void *a, const void *b)
{
    const fd_access_log_json_field_t *x = *(const fd_access_log_json_field_t *const *)a;
    const fd_access_log_json_field_t *y = *(const fd_access_log_json_field_t *const *)b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = n > 0 ? memcmp(x->key.base, y->key.base, n) : 0;
    return c != 0 ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* The key, quoted and escaped once here by jansson, so rendering only copies it. */
static int compile_key(parser_t *p, json_field_t *out, h2o_iovec_t key)
{
    json_t *s = json_stringn(key.base != NULL ? key.base : "", key.len);
    char *quoted = s != NULL ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    json_decref(s);
    if (quoted == NULL)
        return fail(p, "json_format key '%.*s' is not valid UTF-8", (int)key.len, key.base);
    out->key_len = strlen(quoted);
    out->key_json = arena_strndup(p->f, quoted, out->key_len);
    free(quoted);
    return out->key_json != NULL || out_of_memory(p);
}

static int compile_field(parser_t *p, const fd_access_log_json_field_t *in, json_field_t *out)
{
    if (!compile_key(p, out, in->key))
        return 0;
    out->first = p->f->n_segs;
    if (!parse_copy(p, in->format.base, in->format.len))
        return 0;
    out->count = p->f->n_segs - out->first;
    if (p->f->kind == FORMAT_JSON_TYPED && out->count == 1 && p->f->segs[out->first].op != OP_LITERAL) {
        op_t op = p->f->segs[out->first].op;
        out->typed_null = 1;
        for (size_t i = 0; i < sizeof(op_descs) / sizeof(op_descs[0]); i++)
            if (op_descs[i].op == op)
                out->typed_number = op_descs[i].numeric;
    }
    return 1;
}

/* Prefixes the error with the key it belongs to. */
static void prefix_error(parser_t *p, h2o_iovec_t key)
{
    if (p->errlen == 0)
        return;
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", p->err);
    snprintf(p->err, p->errlen, "'%.*s': %s", (int)key.len, key.base, msg);
}

static int compile_fields(parser_t *p, const fd_access_log_json_field_t **sorted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && compare_fields(&sorted[i - 1], &sorted[i]) == 0)
            return fail(p, "json_format has the key '%.*s' twice", (int)sorted[i]->key.len, sorted[i]->key.base);
        if (!compile_field(p, sorted[i], &p->f->fields[i])) {
            prefix_error(p, sorted[i]->key);
            return 0;
        }
        p->f->n_fields++;
    }
    return 1;
}

/* Envoy writes a format dictionary's properties sorted by key (JsonFormatOptions says they always
 * are), so the order they were configured in does not matter. */
fd_access_log_format_t *fd_access_log_format_compile_json(const fd_access_log_json_field_t *fields, size_t n,
                                                          fd_access_log_json_kind_t kind, char *err, size_t errlen)
{
    fd_access_log_format_t *f = calloc(1, sizeof(*f));
    const fd_access_log_json_field_t **sorted = calloc(n + 1, sizeof(*sorted));
    parser_t p = {.f = f, .err = err, .errlen = errlen};
    int ok = f != NULL && sorted != NULL && (f->fields = calloc(n + 1, sizeof(*f->fields))) != NULL;
    if (ok) {
        f->kind = kind == FD_ACCESS_LOG_JSON_TYPED ? FORMAT_JSON_TYPED : FORMAT_JSON_STRINGS;
        for (size_t i = 0; i < n; i++)
            sorted[i] = &fields[i];
        qsort(sorted, n, sizeof(*sorted), compare_fields);
        ok = compile_fields(&p, sorted, n);
    } else {
        out_of_memory(&p);
    }
    free(sorted);
    if (!ok) {
        fd_access_log_format_free(f);
        return NULL;
    }
    return f;
}

/* ---- rendering ---- */

typedef struct out {
    char *p;
    size_t len, cap; /* len counts everything, cap what fits */
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len < o->cap)
        memcpy(o->p + o->len, s, n <= o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(out_t *o, uint64_t v)
{
    char buf[24];
    size_t i = sizeof(buf);
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(o, buf + i, sizeof(buf) - i);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xf4 || s[0] < 0xc2)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) || (s[0] == 0xf0 && s[1] < 0x90) ||
        (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return len;
}

static const char *short_escape(unsigned char c)
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return NULL;
    }
}

/* JSON string content. A header may carry bytes that are not UTF-8; each such byte becomes the
 * code point of the same value (\u00XX), so the line always stays valid JSON. */
static void put_json_escaped(out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t seq = c < 0x80 ? 1 : utf8_len((const unsigned char *)s + i, n - i);
        if (seq != 0 && c >= 0x20 && c != '"' && c != '\\') {
            i += seq;
            continue;
        }
        put(o, s + run, i - run);
        const char *esc = short_escape(c);
        if (esc != NULL)
            put_str(o, esc);
        else
            put(o, (char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
        run = ++i;
    }
    put(o, s + run, n - run);
}

typedef enum value_kind { V_ABSENT, V_STRING, V_NUMBER } value_kind_t;

typedef struct value {
    value_kind_t kind;
    const char *s;
    size_t len;
    uint64_t n;
} value_t;

static value_t string_or_absent(h2o_iovec_t v)
{
    if (v.base == NULL)
        return (value_t){.kind = V_ABSENT};
    return (value_t){.kind = V_STRING, .s = v.base, .len = v.len};
}

/* Stream-info strings: Envoy renders an empty one as absent. */
static value_t field(h2o_iovec_t v)
{
    return v.len == 0 ? (value_t){.kind = V_ABSENT} : string_or_absent(v);
}

static value_t number(uint64_t n)
{
    return (value_t){.kind = V_NUMBER, .n = n};
}

static value_t find_header(const h2o_headers_t *headers, const hdr_ref_t *h)
{
    if (headers == NULL)
        return (value_t){.kind = V_ABSENT};
    for (size_t i = 0; i < headers->size; i++) {
        const h2o_header_t *e = &headers->entries[i];
        if (e->name->len == h->len && strncasecmp(e->name->base, h->name, h->len) == 0)
            return (value_t){.kind = V_STRING, .s = e->value.base, .len = e->value.len};
    }
    return (value_t){.kind = V_ABSENT};
}

/* A number where a header would be (:status, the service time): a string, as headers are. */
static value_t digits(char *scratch, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(scratch, tmp + i, sizeof(tmp) - i);
    return (value_t){.kind = V_STRING, .s = scratch, .len = sizeof(tmp) - i};
}

static value_t record_or_header(h2o_iovec_t v, const h2o_headers_t *headers, const hdr_ref_t *h)
{
    return v.base != NULL ? string_or_absent(v) : find_header(headers, h);
}

static value_t request_header(const fd_access_log_record_t *r, const hdr_ref_t *h)
{
    switch (h->src) {
    case H_METHOD: return string_or_absent(r->method);
    case H_PATH: return string_or_absent(r->path);
    case H_SCHEME: return string_or_absent(r->scheme);
    case H_AUTHORITY: return string_or_absent(r->authority);
    case H_USER_AGENT: return record_or_header(r->user_agent, r->request_headers, h);
    case H_FORWARDED_FOR: return record_or_header(r->x_forwarded_for, r->request_headers, h);
    case H_REQUEST_ID: return record_or_header(r->x_request_id, r->request_headers, h);
    default: return find_header(r->request_headers, h);
    }
}

static value_t response_header(const fd_access_log_record_t *r, const hdr_ref_t *h, char *scratch)
{
    if (h->src == H_STATUS)
        return r->response_code > 0 ? digits(scratch, (uint64_t)r->response_code) : (value_t){.kind = V_ABSENT};
    value_t v = find_header(r->response_headers, h);
    if (v.kind == V_ABSENT && h->src == H_SERVICE_TIME && r->upstream_service_time_ms >= 0)
        return digits(scratch, (uint64_t)r->upstream_service_time_ms);
    return v;
}

/* REQ(X?Y):Z — X, else Y, cut to Z bytes. */
static value_t header_value(const segment_t *seg, const fd_access_log_record_t *r, char *scratch)
{
    value_t v = {.kind = V_ABSENT};
    for (size_t i = 0; i < seg->n_hdr && v.kind == V_ABSENT; i++)
        v = seg->op == OP_REQ ? request_header(r, &seg->hdr[i]) : response_header(r, &seg->hdr[i], scratch);
    if (v.kind == V_STRING && v.len > seg->max_len)
        v.len = seg->max_len;
    return v;
}

/* "10.0.0.1:80" -> "10.0.0.1", "[::1]:80" -> "::1"; anything else (a unix path) unchanged. */
static value_t without_port(h2o_iovec_t addr)
{
    value_t v = field(addr);
    if (v.kind != V_STRING)
        return v;
    if (v.s[0] == '[') {
        const char *close = memchr(v.s, ']', v.len);
        if (close != NULL)
            return (value_t){.kind = V_STRING, .s = v.s + 1, .len = (size_t)(close - v.s - 1)};
        return v;
    }
    const char *colon = memrchr(v.s, ':', v.len);
    if (colon != NULL && memchr(v.s, ':', v.len) == colon)
        v.len = (size_t)(colon - v.s);
    return v;
}

/* Envoy's default START_TIME, 2026-11-28T11:42:18.123Z (milliseconds truncated), cached per
 * second and thread as Envoy does. */
static size_t default_time(const struct timespec *ts, char *buf)
{
    static _Thread_local struct {
        time_t sec;
        char text[32];
        size_t len;
    } cache = {.sec = -1};
    if (cache.sec != ts->tv_sec) {
        struct tm tm;
        gmtime_r(&ts->tv_sec, &tm);
        cache.len = strftime(cache.text, sizeof(cache.text), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        cache.sec = ts->tv_sec;
    }
    memcpy(buf, cache.text, cache.len);
    long ms = ts->tv_nsec / 1000000;
    buf[cache.len - 4] = (char)('0' + ms / 100);
    buf[cache.len - 3] = (char)('0' + ms / 10 % 10);
    buf[cache.len - 2] = (char)('0' + ms % 10);
    return cache.len;
}

static size_t custom_time(const segment_t *seg, const struct timespec *ts, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char nanos[24];
    snprintf(nanos, sizeof(nanos), "%09lu", (unsigned long)ts->tv_nsec % 1000000000UL);
    size_t len = 0;
    for (size_t i = 0; i < seg->n_time; i++) {
        const time_piece_t *tp = &seg->time[i];
        size_t room = cap - len;
        if (tp->kind == TP_STRFTIME) {
            len += strftime(buf + len, room, tp->text, &tm); /* 0 when it does not fit */
        } else if (tp->kind == TP_FRACTION && room > (size_t)tp->width) {
            memcpy(buf + len, nanos, (size_t)tp->width);
            len += (size_t)tp->width;
        } else if (tp->kind == TP_EPOCH) {
            int n = snprintf(buf + len, room, "%lld", (long long)ts->tv_sec);
            len += n > 0 && (size_t)n < room ? (size_t)n : 0;
        }
    }
    return len;
}

static value_t start_time(const segment_t *seg, const fd_access_log_record_t *r, char *scratch)
{
    size_t len = seg->time == NULL ? default_time(&r->start_time, scratch)
                                   : custom_time(seg, &r->start_time, scratch, SCRATCH_SIZE);
    return (value_t){.kind = V_STRING, .s = scratch, .len = len};
}

static value_t stream_info_value(const segment_t *seg, const fd_access_log_record_t *r)
{
    switch (seg->op) {
    /* Envoy documents "-" for an unknown protocol, a string even in typed JSON; same for flags */
    case OP_PROTOCOL: return field(r->protocol.len ? r->protocol : h2o_iovec_init(H2O_STRLIT("-")));
    case OP_RESPONSE_CODE: return number(r->response_code > 0 ? (uint64_t)r->response_code : 0);
    case OP_RESPONSE_FLAGS: return field(r->response_flags.len ? r->response_flags : h2o_iovec_init(H2O_STRLIT("-")));
    case OP_BYTES_RECEIVED: return number(r->bytes_received);
    case OP_BYTES_SENT: return number(r->bytes_sent);
    case OP_DURATION: return r->duration_ms >= 0 ? number((uint64_t)r->duration_ms) : (value_t){.kind = V_ABSENT};
    case OP_UPSTREAM_HOST: return field(r->upstream_host);
    case OP_UPSTREAM_CLUSTER: return field(r->upstream_cluster);
    case OP_ROUTE_NAME: return field(r->route_name);
    case OP_DOWNSTREAM_REMOTE_ADDRESS: return field(r->downstream_remote_address);
    case OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: return without_port(r->downstream_remote_address);
    case OP_DOWNSTREAM_LOCAL_ADDRESS: return field(r->downstream_local_address);
    case OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: return without_port(r->downstream_local_address);
    case OP_REQUESTED_SERVER_NAME: return field(r->requested_server_name);
    default: return (value_t){.kind = V_ABSENT};
    }
}

static value_t evaluate(const segment_t *seg, const fd_access_log_record_t *r, char *scratch)
{
    switch (seg->op) {
    case OP_LITERAL: return (value_t){.kind = V_STRING, .s = seg->text, .len = seg->len};
    case OP_HOSTNAME: return seg->text != NULL ? field(h2o_iovec_init(seg->text, seg->len)) : (value_t){0};
    case OP_START_TIME: return start_time(seg, r, scratch);
    case OP_REQ:
    case OP_RESP: return header_value(seg, r, scratch);
    default: return stream_info_value(seg, r);
    }
}

/* One value as text or as the inside of a JSON string: absent is "-", as in Envoy. */
static void put_value(out_t *o, value_t v, int json)
{
    if (v.kind == V_NUMBER)
        put_u64(o, v.n);
    else if (v.kind == V_ABSENT)
        put(o, "-", 1);
    else if (json)
        put_json_escaped(o, v.s, v.len);
    else
        put(o, v.s, v.len);
}

static void render_segments(out_t *o, const segment_t *segs, size_t n, const fd_access_log_record_t *r, int json)
{
    char scratch[SCRATCH_SIZE];
    for (size_t i = 0; i < n; i++)
        put_value(o, evaluate(&segs[i], r, scratch), json);
}

/* Typed JSON: a value that is exactly one operator keeps its type, and absent is null. */
static void render_typed(out_t *o, const json_field_t *field, const segment_t *seg, const fd_access_log_record_t *r)
{
    char scratch[SCRATCH_SIZE];
    value_t v = evaluate(seg, r, scratch);
    if (v.kind == V_ABSENT) {
        put(o, "null", 4);
    } else if (v.kind == V_NUMBER && field->typed_number) {
        put_u64(o, v.n);
    } else {
        put(o, "\"", 1);
        put_value(o, v, 1);
        put(o, "\"", 1);
    }
}

static void render_json(out_t *o, const fd_access_log_format_t *f, const fd_access_log_record_t *r)
{
    put(o, "{", 1);
    for (size_t i = 0; i < f->n_fields; i++) {
        const json_field_t *field = &f->fields[i];
        if (i > 0)
            put(o, ",", 1);
        put(o, field->key_json, field->key_len);
        put(o, ":", 1);
        if (field->typed_null) {
            render_typed(o, field, &f->segs[field->first], r);
        } else {
            put(o, "\"", 1);
            render_segments(o, f->segs + field->first, field->count, r, 1);
            put(o, "\"", 1);
        }
    }
    put(o, "}\n", 2);
}

size_t fd_access_log_render(const fd_access_log_format_t *f, const fd_access_log_record_t *r, char *out, size_t cap)
{
    out_t o = {.p = out, .cap = cap};
    if (f->kind == FORMAT_TEXT)
        render_segments(&o, f->segs, f->n_segs, r, 0);
    else
        render_json(&o, f, r);
    return o.len;
}

/* ---- helpers for the proxy ---- */

h2o_iovec_t fd_access_log_protocol(int version)
{
    switch (version) {
    case 0x100: return h2o_iovec_init(H2O_STRLIT("HTTP/1.0"));
    case 0x101: return h2o_iovec_init(H2O_STRLIT("HTTP/1.1"));
    case 0x200: return h2o_iovec_init(H2O_STRLIT("HTTP/2"));
    case 0x300: return h2o_iovec_init(H2O_STRLIT("HTTP/3"));
    default: return h2o_iovec_init(NULL, 0);
    }
}

size_t fd_access_log_format_address(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    int n = -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)) != NULL)
            n = snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) != NULL)
            n = snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
