/* Renders the admin's stats list as Envoy does: "name: value" lines, {"stats": [...]}
 * JSON, or the Prometheus text format with Envoy's metric and tag names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "proxy/admin/admin_stats.h"
#include "proxy/util/text_buffer.h"

/* Envoy's tag extraction for the response-code-class stats: upstream_rq_2xx becomes
 * upstream_rq_xx{envoy_response_code_class="2"}. */
static int code_class(const char *stat, char *base, size_t size)
{
    size_t n = strlen(stat);
    if (n < 4 || strcmp(stat + n - 2, "xx") != 0 || stat[n - 3] < '1' || stat[n - 3] > '5' || stat[n - 4] != '_')
        return 0;
    snprintf(base, size, "%.*sxx", (int)(n - 3), stat);
    return stat[n - 3] - '0';
}

static void prometheus_name(const fd_admin_stat_t *s, char *name, size_t size, int *klass)
{
    char base[64];
    *klass = code_class(s->stat, base, sizeof(base));
    snprintf(name, size, "envoy_%s_%s", s->scope, *klass ? base : s->stat);
}

static void prometheus_labels(fd_text_buffer_t *o, const fd_admin_stat_t *s, int klass)
{
    const char *tag = strcmp(s->scope, "cluster") == 0 ? "envoy_cluster_name"
                      : strcmp(s->scope, "http") == 0  ? "envoy_http_conn_manager_prefix"
                                                       : NULL;
    if (tag == NULL && !klass)
        return;
    fd_text_buffer_printf(o, "{");
    if (klass)
        fd_text_buffer_printf(o, "envoy_response_code_class=\"%d\"%s", klass, tag ? "," : "");
    if (tag != NULL) {
        fd_text_buffer_printf(o, "%s=\"", tag);
        for (const char *c = s->scope_name; *c; c++) /* label values escape \, " and newline */
            fd_text_buffer_printf(o, *c == '\\' ? "\\\\" : *c == '"' ? "\\\"" : *c == '\n' ? "\\n" : "%c", *c);
        fd_text_buffer_printf(o, "\"");
    }
    fd_text_buffer_printf(o, "}");
}

static int by_metric(const void *pa, const void *pb)
{
    const fd_admin_stat_t *a = *(const fd_admin_stat_t *const *)pa, *b = *(const fd_admin_stat_t *const *)pb;
    char na[128], nb[128];
    int ka, kb;
    prometheus_name(a, na, sizeof(na), &ka);
    prometheus_name(b, nb, sizeof(nb), &kb);
    int cmp = strcmp(na, nb);
    return cmp != 0 ? cmp : strcmp(a->name, b->name);
}

/* One "# TYPE" line per metric, then every labelled sample of it. */
static void render_prometheus(fd_text_buffer_t *o, const fd_admin_stat_t **items, size_t n)
{
    qsort(items, n, sizeof(*items), by_metric);
    char last[128] = "";
    for (size_t i = 0; i < n; i++) {
        char name[128];
        int klass;
        prometheus_name(items[i], name, sizeof(name), &klass);
        if (strcmp(name, last) != 0) {
            fd_text_buffer_printf(o, "# TYPE %s %s\n", name, items[i]->kind == FD_STAT_COUNTER ? "counter" : "gauge");
            snprintf(last, sizeof(last), "%s", name);
        }
        fd_text_buffer_printf(o, "%s", name);
        prometheus_labels(o, items[i], klass);
        fd_text_buffer_printf(o, " %llu\n", (unsigned long long)items[i]->value);
    }
}

static void render_text_or_json(fd_text_buffer_t *o, const fd_admin_stat_t **items, size_t n, int json)
{
    if (json)
        fd_text_buffer_printf(o, "{\"stats\":[");
    for (size_t i = 0; i < n; i++) {
        if (json)
            fd_text_buffer_printf(o, "%s{\"name\":\"%s\",\"value\":%llu}", i ? "," : "", items[i]->name,
                                  (unsigned long long)items[i]->value);
        else
            fd_text_buffer_printf(o, "%s: %llu\n", items[i]->name, (unsigned long long)items[i]->value);
    }
    if (json)
        fd_text_buffer_printf(o, "]}\n");
}

char *fd_admin_stats_render(const fd_admin_stats_t *stats, fd_admin_stats_format_t format, const char *filter,
                            int used_only, char *err, size_t err_len)
{
    pcre2_code *re = NULL;
    if (filter != NULL) {
        int code;
        PCRE2_SIZE offset;
        if ((re = pcre2_compile((PCRE2_SPTR)filter, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL)) == NULL) {
            PCRE2_UCHAR message[128];
            pcre2_get_error_message(code, message, sizeof(message));
            snprintf(err, err_len, "invalid filter regex '%s': %s at offset %zu", filter, (char *)message,
                     (size_t)offset);
            return NULL;
        }
    }
    const fd_admin_stat_t **items = calloc(stats->count + 1, sizeof(*items));
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < stats->count; i++) {
        const fd_admin_stat_t *s = &stats->items[i];
        if ((used_only && s->value == 0) ||
            (re && pcre2_match(re, (PCRE2_SPTR)s->name, strlen(s->name), 0, 0, md, NULL) < 0))
            continue;
        items[n++] = s;
    }
    if (items == NULL)
        abort();
    fd_text_buffer_t o;
    fd_text_buffer_init(&o);
    if (format == FD_STATS_PROMETHEUS)
        render_prometheus(&o, items, n);
    else
        render_text_or_json(&o, items, n, format == FD_STATS_JSON);
    free(items);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return o.data;
}
