/* Virtual host and route matching with Envoy's semantics (see route_match.h). Literal route
 * paths (prefix, exact, path_separated_prefix) are found by hashing every prefix of the
 * request path in one pass; domains by hashing the authority, its suffixes and its prefixes
 * the same way. Only routes no index holds (regexes) are scanned, and only up to the best
 * literal match, so first-match-wins costs what a linear scan would spend on them alone. */
#include "proxy/router/route_match.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_ROUTE SIZE_MAX

/* ---- bytes and hashing ---- */

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Envoy's case-insensitive matching (absl's *IgnoreCase) folds ASCII only. */
static int bytes_equal(const char *a, const char *b, size_t len, int fold)
{
    if (len == 0)
        return 1;
    if (!fold)
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* FNV-1a, fed a byte at a time: the hash of every prefix of a string (or, fed backwards,
 * of every suffix) comes out of one pass over it. */
#define HASH_SEED UINT64_C(14695981039346656037)

static uint64_t hash_byte(uint64_t h, unsigned char c)
{
    return (h ^ c) * UINT64_C(1099511628211);
}

static uint64_t hash_string(const char *s, size_t len, int fold, int backwards)
{
    uint64_t h = HASH_SEED;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[backwards ? len - 1 - i : i];
        h = hash_byte(h, fold ? ascii_lower(c) : c);
    }
    return h;
}

static void *alloc_zeroed(h2o_mem_pool_t *pool, size_t size)
{
    void *p = h2o_mem_alloc_pool(pool, size);
    memset(p, 0, size);
    return p;
}

/* ---- an open-addressing table of strings, from the config pool ---- */

typedef struct slot {
    const char *key; /* points into the config; compared with the table's folding */
    size_t len;
    void *value;
} slot_t;

/* Probes read the tags first: a small array that stays in cache, so a length with no key
 * (most of those a path walk probes) costs no miss on the slots. */
typedef struct strtab {
    uint32_t *tags; /* per slot: 0 free, else the hash's high half with the low bit set */
    slot_t *slots;  /* NULL when the table holds nothing */
    size_t mask;
    uint8_t *has_len; /* has_len[n]: some key is n bytes long (n <= max_len) */
    size_t max_len;
    int fold; /* keys and lookups compare ASCII case-insensitively */
} strtab_t;

static void strtab_init(strtab_t *t, size_t n_keys, size_t max_len, int fold, h2o_mem_pool_t *pool)
{
    memset(t, 0, sizeof(*t));
    t->fold = fold;
    if (n_keys == 0)
        return;
    size_t cap = 8;
    while (cap < n_keys * 2) /* at most half full: probes stay short */
        cap *= 2;
    t->tags = alloc_zeroed(pool, cap * sizeof(*t->tags));
    t->slots = alloc_zeroed(pool, cap * sizeof(*t->slots));
    t->mask = cap - 1;
    t->has_len = alloc_zeroed(pool, max_len + 1);
    t->max_len = max_len;
}

static uint32_t hash_tag(uint64_t hash)
{
    return (uint32_t)(hash >> 32) | 1;
}

/* The index of the slot holding s, or of the free slot where it belongs. */
static size_t strtab_index(const strtab_t *t, uint64_t hash, const char *s, size_t len)
{
    uint32_t tag = hash_tag(hash);
    for (size_t i = (size_t)(hash ^ (hash >> 32)) & t->mask;; i = (i + 1) & t->mask) {
        if (t->tags[i] == 0)
            return i;
        if (t->tags[i] == tag && t->slots[i].len == len && bytes_equal(t->slots[i].key, s, len, t->fold))
            return i;
    }
}

static void *strtab_find(const strtab_t *t, uint64_t hash, const char *s, size_t len)
{
    if (t->slots == NULL || len > t->max_len || !t->has_len[len])
        return NULL;
    return t->slots[strtab_index(t, hash, s, len)].value;
}

/* The value cell of key, claimed for it if new (its value still NULL then). */
static void **strtab_cell(strtab_t *t, const char *key, size_t len, int backwards)
{
    uint64_t hash = hash_string(key, len, t->fold, backwards);
    size_t i = strtab_index(t, hash, key, len);
    if (t->tags[i] == 0) {
        t->tags[i] = hash_tag(hash);
        t->slots[i].key = key;
        t->slots[i].len = len;
        t->has_len[len] = 1;
    }
    return &t->slots[i].value;
}

/* ---- domains ---- */

struct fd_domain_index {
    strtab_t exact, suffix, prefix; /* suffix keys are hashed last byte first */
    const fd_virtual_host_t *any;
};

static strtab_t *domain_table(struct fd_domain_index *ix, fd_domain_kind_t kind)
{
    return kind == FD_DOMAIN_EXACT ? &ix->exact : kind == FD_DOMAIN_SUFFIX ? &ix->suffix : &ix->prefix;
}

static struct fd_domain_index *build_domain_index(const fd_route_table_t *table, h2o_mem_pool_t *pool)
{
    struct fd_domain_index *ix = alloc_zeroed(pool, sizeof(*ix));
    size_t count[FD_DOMAIN_ANY] = {0}, max_len[FD_DOMAIN_ANY] = {0};
    for (size_t i = 0; i < table->n_domains; i++) {
        const fd_domain_t *d = &table->domains[i];
        if (d->kind == FD_DOMAIN_ANY)
            continue;
        count[d->kind]++;
        if (d->value.len > max_len[d->kind])
            max_len[d->kind] = d->value.len;
    }
    for (int k = FD_DOMAIN_EXACT; k < FD_DOMAIN_ANY; k++)
        strtab_init(domain_table(ix, (fd_domain_kind_t)k), count[k], max_len[k], 1, pool);
    /* The translator rejects duplicates; should one slip through, the first one wins, as
     * in the sorted array a linear scan would read. */
    for (size_t i = 0; i < table->n_domains; i++) {
        const fd_domain_t *d = &table->domains[i];
        if (d->kind == FD_DOMAIN_ANY) {
            if (ix->any == NULL)
                ix->any = d->vhost;
            continue;
        }
        void **cell = strtab_cell(domain_table(ix, d->kind), d->value.base, d->value.len, d->kind == FD_DOMAIN_SUFFIX);
        if (*cell == NULL)
            *cell = d->vhost;
    }
    return ix;
}

static const fd_virtual_host_t *find_exact(const strtab_t *t, const char *host, size_t len)
{
    if (t->slots == NULL || len > t->max_len)
        return NULL;
    return strtab_find(t, hash_string(host, len, 1, 0), host, len);
}

/* The longest wildcard shorter than the host (a wildcard never matches the empty string),
 * probing every candidate length in one pass over the host: from its end for suffixes,
 * from its start for prefixes. */
static const fd_virtual_host_t *find_wildcard(const strtab_t *t, const char *host, size_t len, int suffix)
{
    const fd_virtual_host_t *found = NULL;
    if (t->slots == NULL || len == 0)
        return NULL;
    size_t limit = len - 1 < t->max_len ? len - 1 : t->max_len;
    uint64_t h = HASH_SEED;
    for (size_t n = 1; n <= limit; n++) {
        const char *start = suffix ? host + len - n : host;
        h = hash_byte(h, ascii_lower((unsigned char)(suffix ? *start : host[n - 1])));
        const fd_virtual_host_t *vh = strtab_find(t, h, start, n);
        if (vh != NULL)
            found = vh;
    }
    return found;
}

static int domain_matches(const fd_domain_t *d, const char *host, size_t len)
{
    const fd_string_t *v = &d->value;
    switch (d->kind) {
    case FD_DOMAIN_EXACT: return len == v->len && bytes_equal(host, v->base, len, 1);
    case FD_DOMAIN_SUFFIX: return len > v->len && bytes_equal(host + len - v->len, v->base, v->len, 1);
    case FD_DOMAIN_PREFIX: return len > v->len && bytes_equal(host, v->base, v->len, 1);
    case FD_DOMAIN_ANY: return 1;
    }
    return 0;
}

/* Without an index: the domains are sorted in precedence order, so the first match wins. */
static const fd_virtual_host_t *find_vhost_linear(const fd_route_table_t *table, const char *host, size_t len)
{
    for (size_t i = 0; i < table->n_domains; i++)
        if (domain_matches(&table->domains[i], host, len))
            return table->domains[i].vhost;
    return NULL;
}

const fd_virtual_host_t *fd_route_find_vhost(const fd_route_table_t *table, h2o_iovec_t authority)
{
    const char *host = authority.base != NULL ? authority.base : "";
    size_t len = authority.base != NULL ? authority.len : 0;
    const struct fd_domain_index *ix = table->index;
    if (ix == NULL)
        return find_vhost_linear(table, host, len);
    const fd_virtual_host_t *vh;
    if ((vh = find_exact(&ix->exact, host, len)) != NULL || (vh = find_wildcard(&ix->suffix, host, len, 1)) != NULL ||
        (vh = find_wildcard(&ix->prefix, host, len, 0)) != NULL)
        return vh;
    return ix->any;
}

/* ---- what a lookup carries ---- */

/* PCRE2 matches into match data; it is carved from an arena on the lookup's stack so that
 * matching allocates nothing (the JIT needs no more; the interpreter's frame vector, 20 KiB,
 * falls back to malloc and is freed with the match data). */
#define REGEX_ARENA 512 /* PCRE2 10.42 asks for 136 bytes */

typedef struct regex_scratch {
    union {
        max_align_t align;
        unsigned char bytes[REGEX_ARENA];
    } arena;
    size_t used;
    pcre2_general_context *gcontext;
    pcre2_match_data *match_data;
} regex_scratch_t;

typedef struct match_ctx {
    const fd_virtual_host_t *vhost;
    const fd_route_request_t *req;
    const char *path; /* up to the query or fragment: what path matchers see */
    size_t path_len;
    const char *query; /* after the first '?'; NULL without one */
    size_t query_len;
    regex_scratch_t regex;
} match_ctx_t;

static void ctx_init(match_ctx_t *ctx, const fd_virtual_host_t *vhost, const fd_route_request_t *req)
{
    ctx->vhost = vhost;
    ctx->req = req;
    ctx->path = req->path.base != NULL ? req->path.base : "";
    size_t len = req->path.base != NULL ? req->path.len : 0, cut = 0;
    while (cut < len && ctx->path[cut] != '?' && ctx->path[cut] != '#')
        cut++;
    ctx->path_len = cut;
    /* Envoy parses the query from the first '?' to the end, fragment or not. */
    const char *q = memchr(ctx->path, '?', len);
    ctx->query = q != NULL ? q + 1 : NULL;
    ctx->query_len = q != NULL ? len - (size_t)(q + 1 - ctx->path) : 0;
    ctx->regex.used = 0;
    ctx->regex.gcontext = NULL;
    ctx->regex.match_data = NULL;
}

static void *arena_malloc(PCRE2_SIZE size, void *data)
{
    regex_scratch_t *s = data;
    size_t rounded = (size + 15) & ~(size_t)15;
    if (rounded <= REGEX_ARENA - s->used) {
        void *p = s->arena.bytes + s->used;
        s->used += rounded;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *p, void *data)
{
    regex_scratch_t *s = data;
    uintptr_t a = (uintptr_t)p, start = (uintptr_t)s->arena.bytes;
    if (a < start || a >= start + REGEX_ARENA)
        free(p);
}

static void ctx_dispose(match_ctx_t *ctx)
{
    if (ctx->regex.match_data != NULL)
        pcre2_match_data_free(ctx->regex.match_data);
    if (ctx->regex.gcontext != NULL)
        pcre2_general_context_free(ctx->regex.gcontext);
}

/* The regexes are compiled anchored at both ends (FD_TR_REGEX_FULL_MATCH), so any match is a
 * full match. Subjects that are not valid UTF-8 do not match (PCRE2 refuses them). */
static int regex_full_match(const pcre2_code *re, const char *s, size_t len, regex_scratch_t *scratch)
{
    if (re == NULL)
        return 0;
    if (scratch->match_data == NULL) {
        if (scratch->gcontext == NULL)
            scratch->gcontext = pcre2_general_context_create(arena_malloc, arena_free, scratch);
        if (scratch->gcontext != NULL)
            scratch->match_data = pcre2_match_data_create(1, scratch->gcontext);
        if (scratch->match_data == NULL)
            return 0;
    }
    return pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, scratch->match_data, NULL) >= 0;
}

/* ---- string, header and query parameter matchers ---- */

static int contains(const char *s, size_t len, const char *v, size_t n, int fold)
{
    if (n == 0)
        return 1;
    if (!fold)
        return memmem(s, len, v, n) != NULL;
    for (size_t i = 0; i + n <= len; i++)
        if (bytes_equal(s + i, v, n, 1))
            return 1;
    return 0;
}

static int string_matches(const fd_string_match_t *sm, const char *s, size_t len, match_ctx_t *ctx)
{
    const char *v = sm->value.base;
    size_t n = sm->value.len;
    switch (sm->kind) {
    case FD_STRING_MATCH_EXACT: return len == n && bytes_equal(s, v, n, sm->ignore_case);
    case FD_STRING_MATCH_PREFIX: return len >= n && bytes_equal(s, v, n, sm->ignore_case);
    case FD_STRING_MATCH_SUFFIX: return len >= n && bytes_equal(s + len - n, v, n, sm->ignore_case);
    case FD_STRING_MATCH_CONTAINS: return contains(s, len, v, n, sm->ignore_case);
    case FD_STRING_MATCH_REGEX: return regex_full_match(sm->regex, s, len, &ctx->regex);
    }
    return 0;
}

/* absl::SimpleAtoi, which Envoy's range_match uses: optional ASCII whitespace around an
 * optional sign and base-10 digits; out of int64 range is no number. */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    while (len != 0 && (*s == ' ' || (*s >= '\t' && *s <= '\r')))
        s++, len--;
    while (len != 0 && (s[len - 1] == ' ' || (s[len - 1] >= '\t' && s[len - 1] <= '\r')))
        len--;
    int negative = len != 0 && *s == '-';
    if (len != 0 && (*s == '-' || *s == '+'))
        s++, len--;
    if (len == 0)
        return 0;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned digit = (unsigned)(s[i] - '0');
        if (n > (limit - digit) / 10)
            return 0;
        n = n * 10 + digit;
    }
    *out = !negative ? (int64_t)n : n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
    return 1;
}

/* A header's value as Envoy's matchers see it: repeated headers joined with ','. */
#define JOIN_STACK 512

typedef struct header_value {
    const char *base;
    size_t len;
    char *heap; /* the join, when it outgrew stack */
    char stack[JOIN_STACK];
} header_value_t;

/* h2o keeps the request line apart from the headers; matchers name it by pseudo-header. */
static int pseudo_header(const fd_route_request_t *req, const fd_string_t *name, header_value_t *v)
{
    static const struct {
        const char *name;
        size_t offset;
    } pseudo[] = {
        {":authority", offsetof(fd_route_request_t, authority)},
        {":path", offsetof(fd_route_request_t, path)},
        {":method", offsetof(fd_route_request_t, method)},
        {":scheme", offsetof(fd_route_request_t, scheme)},
    };
    for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++) {
        if (strlen(pseudo[i].name) != name->len || memcmp(pseudo[i].name, name->base, name->len) != 0)
            continue;
        const h2o_iovec_t *iov = (const h2o_iovec_t *)((const char *)req + pseudo[i].offset);
        v->base = iov->base;
        v->len = iov->len;
        return iov->base != NULL;
    }
    return 0;
}

static int header_is(const h2o_header_t *h, const fd_string_t *name)
{
    return h->name->len == name->len && memcmp(h->name->base, name->base, name->len) == 0;
}

static void join_values(const h2o_headers_t *headers, const fd_string_t *name, size_t total, header_value_t *v)
{
    char *buf = total <= sizeof(v->stack) ? v->stack : (v->heap = h2o_mem_alloc(total));
    size_t at = 0;
    for (size_t i = 0; i < headers->size; i++) {
        const h2o_header_t *h = &headers->entries[i];
        if (!header_is(h, name))
            continue;
        if (at != 0)
            buf[at++] = ',';
        if (h->value.len != 0)
            memcpy(buf + at, h->value.base, h->value.len);
        at += h->value.len;
    }
    v->base = buf;
    v->len = at;
}

/* 1 when the request has the header (its value in v), 0 when not. */
static int header_lookup(const fd_route_request_t *req, const fd_string_t *name, header_value_t *v)
{
    if (name->len != 0 && name->base[0] == ':')
        return pseudo_header(req, name, v);
    size_t count = 0, total = 0;
    for (size_t i = 0; req->headers != NULL && i < req->headers->size; i++) {
        const h2o_header_t *h = &req->headers->entries[i];
        if (!header_is(h, name))
            continue;
        if (count++ == 0) {
            v->base = h->value.base;
            v->len = h->value.len;
        }
        total += h->value.len + 1;
    }
    if (count > 1)
        join_values(req->headers, name, total - 1, v);
    return count != 0;
}

static int header_value_matches(const fd_header_match_t *hm, const char *s, size_t len, match_ctx_t *ctx)
{
    int64_t n;
    switch (hm->kind) {
    case FD_HEADER_MATCH_STRING: return string_matches(&hm->string, s, len, ctx);
    case FD_HEADER_MATCH_PRESENT: return hm->present;
    case FD_HEADER_MATCH_RANGE: return parse_int64(s, len, &n) && n >= hm->range_start && n < hm->range_end;
    }
    return 0;
}

/* Envoy's HeaderUtility::matchHeaders. A missing header (unless treated as empty) matches
 * only a presence test asking for its absence, or an inverted one asking for its presence:
 * an inverted value matcher does not match a missing header. */
static int header_matches(const fd_header_match_t *hm, match_ctx_t *ctx)
{
    header_value_t v;
    v.heap = NULL;
    if (!header_lookup(ctx->req, &hm->name, &v)) {
        if (!hm->treat_missing_as_empty)
            return hm->kind == FD_HEADER_MATCH_PRESENT && !hm->present == !hm->invert;
        v.base = "";
        v.len = 0;
    }
    int match = header_value_matches(hm, v.base != NULL ? v.base : "", v.len, ctx);
    free(v.heap);
    return match != !!hm->invert;
}

/* The first value of a query parameter, undecoded, "" for one without '=': Envoy splits the
 * query at '&' and keeps a name's first occurrence. */
static int query_value(const match_ctx_t *ctx, const fd_string_t *name, const char **value, size_t *value_len)
{
    if (ctx->query == NULL)
        return 0;
    const char *p = ctx->query, *end = ctx->query + ctx->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (amp == NULL)
            amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *name_end = eq != NULL ? eq : amp;
        if ((size_t)(name_end - p) == name->len && bytes_equal(p, name->base, name->len, 0)) {
            *value = eq != NULL ? eq + 1 : "";
            *value_len = eq != NULL ? (size_t)(amp - eq - 1) : 0;
            return 1;
        }
        p = amp + 1;
    }
    return 0;
}

static int query_matches(const fd_query_match_t *qm, match_ctx_t *ctx)
{
    const char *value;
    size_t len;
    if (!query_value(ctx, &qm->name, &value, &len))
        return 0;
    return qm->present_only || string_matches(&qm->string, value, len, ctx);
}

/* Everything but the path: headers, then query parameters, all of which must match. */
static int conditions_match(const fd_route_match_t *m, match_ctx_t *ctx)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!header_matches(&m->headers[i], ctx))
            return 0;
    for (size_t i = 0; i < m->n_query; i++)
        if (!query_matches(&m->query[i], ctx))
            return 0;
    return 1;
}

static int path_matches(const fd_route_match_t *m, match_ctx_t *ctx)
{
    const char *p = ctx->path;
    size_t len = ctx->path_len, n = m->path.len;
    int fold = !m->case_sensitive;
    switch (m->kind) {
    case FD_PATH_MATCH_PREFIX: return len >= n && bytes_equal(p, m->path.base, n, fold);
    case FD_PATH_MATCH_EXACT: return len == n && bytes_equal(p, m->path.base, n, fold);
    case FD_PATH_MATCH_SEPARATED_PREFIX:
        return len >= n && bytes_equal(p, m->path.base, n, fold) && (len == n || p[n] == '/');
    case FD_PATH_MATCH_REGEX: return regex_full_match(m->regex, p, len, &ctx->regex);
    }
    return 0;
}

/* ---- routes ---- */

typedef struct id_list {
    uint32_t *ids; /* route indices, ascending */
    size_t n;
} id_list_t;

/* The routes whose literal path is one key, by the way they use it. */
typedef struct path_entry {
    id_list_t prefix, exact, separated;
} path_entry_t;

struct fd_route_index {
    strtab_t literal[2]; /* [0]: case-sensitive paths; [1]: case-insensitive ones */
    id_list_t scanned;   /* routes no index can hold (regexes), matched in full */
};

static int is_literal(const fd_route_match_t *m)
{
    return m->kind != FD_PATH_MATCH_REGEX;
}

static id_list_t *entry_list(path_entry_t *e, fd_path_match_kind_t kind)
{
    return kind == FD_PATH_MATCH_PREFIX ? &e->prefix : kind == FD_PATH_MATCH_EXACT ? &e->exact : &e->separated;
}

static path_entry_t *route_entry(struct fd_route_index *ix, const fd_route_match_t *m, h2o_mem_pool_t *pool)
{
    void **cell = strtab_cell(&ix->literal[!m->case_sensitive], m->path.base, m->path.len, 0);
    if (*cell == NULL)
        *cell = alloc_zeroed(pool, sizeof(path_entry_t));
    return *cell;
}

/* Counted first, then filled, so every list is one exact allocation in route order. */
static void allocate_lists(strtab_t *t, h2o_mem_pool_t *pool)
{
    for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        path_entry_t *e = t->slots[i].value;
        if (e == NULL)
            continue;
        id_list_t *lists[] = {&e->prefix, &e->exact, &e->separated};
        for (size_t k = 0; k < 3; k++) {
            lists[k]->ids = h2o_mem_alloc_pool(pool, (lists[k]->n + 1) * sizeof(uint32_t));
            lists[k]->n = 0;
        }
    }
}

static struct fd_route_index *build_route_index(const fd_virtual_host_t *vh, h2o_mem_pool_t *pool)
{
    struct fd_route_index *ix = alloc_zeroed(pool, sizeof(*ix));
    size_t count[2] = {0}, max_len[2] = {0};
    for (size_t i = 0; i < vh->n_routes; i++) {
        const fd_route_match_t *m = &vh->routes[i].match;
        if (!is_literal(m)) {
            ix->scanned.n++;
            continue;
        }
        count[!m->case_sensitive]++;
        if (m->path.len > max_len[!m->case_sensitive])
            max_len[!m->case_sensitive] = m->path.len;
    }
    for (int t = 0; t < 2; t++)
        strtab_init(&ix->literal[t], count[t], max_len[t], t, pool);
    ix->scanned.ids = h2o_mem_alloc_pool(pool, (ix->scanned.n + 1) * sizeof(uint32_t));
    ix->scanned.n = 0;
    for (size_t i = 0; i < vh->n_routes; i++) {
        const fd_route_match_t *m = &vh->routes[i].match;
        if (is_literal(m))
            entry_list(route_entry(ix, m, pool), m->kind)->n++;
    }
    allocate_lists(&ix->literal[0], pool);
    allocate_lists(&ix->literal[1], pool);
    for (size_t i = 0; i < vh->n_routes; i++) {
        const fd_route_match_t *m = &vh->routes[i].match;
        id_list_t *list = is_literal(m) ? entry_list(route_entry(ix, m, pool), m->kind) : &ix->scanned;
        list->ids[list->n++] = (uint32_t)i;
    }
    return ix;
}

int fd_route_index_build(fd_route_table_t *table, h2o_mem_pool_t *pool)
{
    for (size_t i = 0; i < table->n_vhosts; i++)
        if (table->vhosts[i].n_routes >= UINT32_MAX)
            return -1;
    for (size_t i = 0; i < table->n_vhosts; i++)
        table->vhosts[i].index = build_route_index(&table->vhosts[i], pool);
    table->index = build_domain_index(table, pool);
    return 0;
}

/* Candidate lists, merged in route order. A lookup gathers a few (one per kind per literal
 * path that prefixes the request's); when more arrive than fit, those gathered are merged
 * first, bounded by the best route found so far, which gives the same answer. */
#define MERGE_LISTS 32

typedef struct candidates {
    id_list_t lists[MERGE_LISTS];
    size_t n;
    size_t best; /* lowest index of a route known to match; NO_ROUTE when none */
} candidates_t;

static void merge(candidates_t *c, match_ctx_t *ctx)
{
    for (;;) {
        size_t pick = MERGE_LISTS, lowest = c->best;
        for (size_t i = 0; i < c->n; i++)
            if (c->lists[i].n != 0 && c->lists[i].ids[0] < lowest)
                lowest = c->lists[i].ids[0], pick = i;
        if (pick == MERGE_LISTS)
            break;
        c->lists[pick].ids++, c->lists[pick].n--;
        /* A route sits in one list only: every other head is above lowest. */
        if (conditions_match(&ctx->vhost->routes[lowest].match, ctx)) {
            c->best = lowest;
            break;
        }
    }
    c->n = 0;
}

static void add_candidates(candidates_t *c, const id_list_t *list, match_ctx_t *ctx)
{
    if (list->n == 0 || list->ids[0] >= c->best)
        return;
    if (c->n == MERGE_LISTS)
        merge(c, ctx);
    c->lists[c->n++] = *list;
}

/* The routes whose literal path is the request path's first k bytes. */
static void collect_entry(candidates_t *c, const path_entry_t *e, size_t k, match_ctx_t *ctx)
{
    add_candidates(c, &e->prefix, ctx);
    if (k == ctx->path_len)
        add_candidates(c, &e->exact, ctx);
    if (k == ctx->path_len || ctx->path[k] == '/')
        add_candidates(c, &e->separated, ctx);
}

static void collect_literal(candidates_t *c, const strtab_t *t, match_ctx_t *ctx)
{
    if (t->slots == NULL)
        return;
    size_t limit = ctx->path_len < t->max_len ? ctx->path_len : t->max_len;
    uint64_t h = HASH_SEED;
    for (size_t k = 0;; k++) {
        const path_entry_t *e = strtab_find(t, h, ctx->path, k);
        if (e != NULL)
            collect_entry(c, e, k, ctx);
        if (k == limit)
            break;
        unsigned char byte = (unsigned char)ctx->path[k];
        h = hash_byte(h, t->fold ? ascii_lower(byte) : byte);
    }
}

/* Routes that no index holds, in order, up to the best literal match. */
static void scan(candidates_t *c, const id_list_t *list, match_ctx_t *ctx)
{
    for (size_t i = 0; i < list->n && list->ids[i] < c->best; i++) {
        const fd_route_match_t *m = &ctx->vhost->routes[list->ids[i]].match;
        if (path_matches(m, ctx) && conditions_match(m, ctx)) {
            c->best = list->ids[i];
            return;
        }
    }
}

static size_t find_indexed(const struct fd_route_index *ix, match_ctx_t *ctx)
{
    candidates_t c;
    c.n = 0;
    c.best = NO_ROUTE;
    collect_literal(&c, &ix->literal[0], ctx);
    collect_literal(&c, &ix->literal[1], ctx);
    merge(&c, ctx);
    scan(&c, &ix->scanned, ctx);
    return c.best;
}

static size_t find_linear(match_ctx_t *ctx)
{
    for (size_t i = 0; i < ctx->vhost->n_routes; i++) {
        const fd_route_match_t *m = &ctx->vhost->routes[i].match;
        if (path_matches(m, ctx) && conditions_match(m, ctx))
            return i;
    }
    return NO_ROUTE;
}

const fd_route_t *fd_route_find(const fd_virtual_host_t *vhost, const fd_route_request_t *req)
{
    match_ctx_t ctx;
    ctx_init(&ctx, vhost, req);
    size_t found = vhost->index != NULL ? find_indexed(vhost->index, &ctx) : find_linear(&ctx);
    ctx_dispose(&ctx);
    return found == NO_ROUTE ? NULL : &vhost->routes[found];
}
