/* What a filter may call (fd_filter_api_t): headers, request attributes, local replies,
 * resume, stream memory, timers and log lines, over the stream of filter_chain.c. */
#include <stdio.h>
#include <string.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/http/filter_chain.h"

typedef struct fd_filter_timer {
    fd_loop_timer_t timer;
    h2o_linklist_t link; /* in the stream's armed_timers */
    fd_filter_chain_stream_t *stream;
    size_t filter; /* whose timer: the filter that ran when it was started */
    fd_filter_timer_cb cb;
    void *arg;
} filter_timer_t;

static fd_filter_chain_stream_t *chain_of(fd_filter_stream_t *s)
{
    return (fd_filter_chain_stream_t *)s;
}

static h2o_headers_t *headers_of(fd_filter_stream_t *s, fd_filter_headers_kind_t kind)
{
    h2o_req_t *req = chain_of(s)->req;
    return kind == FD_FILTER_RESPONSE_HEADERS ? &req->res.headers : &req->headers;
}

static int api_header_get(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                          size_t index, fd_filter_string_t *value)
{
    const h2o_headers_t *headers = headers_of(s, kind);
    for (size_t i = 0; i < headers->size; i++) {
        const h2o_header_t *h = &headers->entries[i];
        /* h2o keeps header names in lower case */
        if (h2o_lcstris(name, name_len, h->name->base, h->name->len) && index-- == 0) {
            *value = (fd_filter_string_t){h->value.base, h->value.len};
            return 1;
        }
    }
    return 0;
}

static void api_log(fd_filter_stream_t *stream, fd_filter_log_level_t level, const char *message);

/* Framing and connection headers are the codecs' alone: a filter setting them could split or
 * merge messages on the wire; so could a name that is not a token or a value with CR or LF. */
static int header_allowed(fd_filter_stream_t *s, const char *name, size_t name_len, const char *value, size_t value_len)
{
    static const char *const reserved[] = {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade",
                                           "te",         "trailer",        "proxy-connection",  "host"};
    int ok = name_len != 0;
    for (size_t i = 0; ok && i < name_len; i++)
        ok = name[i] > 0x20 && name[i] < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", name[i]) == NULL;
    for (size_t i = 0; ok && i < sizeof(reserved) / sizeof(reserved[0]); i++)
        ok = !h2o_lcstris(name, name_len, reserved[i], strlen(reserved[i]));
    for (size_t i = 0; ok && value != NULL && i < value_len; i++)
        ok = (unsigned char)value[i] >= 0x20 ? value[i] != 0x7f : value[i] == '\t';
    if (!ok) {
        char line[200];
        snprintf(line, sizeof(line), "refused to set header '%.*s': a framing header, or not a valid name or value",
                 (int)(name_len < 64 ? name_len : 64), name);
        api_log(s, FD_FILTER_LOG_WARNING, line);
    }
    return ok;
}

/* h2o keeps pointers to the name and value: both are copied into the request's pool. */
static void api_header_add(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    h2o_req_t *req = chain_of(s)->req;
    if (!header_allowed(s, name, name_len, value, value_len))
        return;
    char *lower = h2o_mem_alloc_pool(&req->pool, name_len + 1);
    for (size_t i = 0; i < name_len; i++)
        lower[i] = (char)h2o_tolower(name[i]);
    lower[name_len] = '\0';
    h2o_iovec_t copy = h2o_strdup(&req->pool, value, value_len);
    const h2o_token_t *token = h2o_lookup_token(lower, name_len);
    if (token != NULL)
        h2o_add_header(&req->pool, headers_of(s, kind), token, NULL, copy.base, copy.len);
    else
        h2o_add_header_by_str(&req->pool, headers_of(s, kind), lower, name_len, 0, NULL, copy.base, copy.len);
}

static size_t api_header_remove(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len)
{
    h2o_headers_t *headers = headers_of(s, kind);
    size_t removed = 0;
    for (size_t i = 0; i < headers->size;) {
        if (h2o_lcstris(name, name_len, headers->entries[i].name->base, headers->entries[i].name->len)) {
            h2o_delete_header(headers, (ssize_t)i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

static void api_header_set(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    if (!header_allowed(s, name, name_len, value, value_len))
        return;
    api_header_remove(s, kind, name, name_len);
    api_header_add(s, kind, name, name_len, value, value_len);
}

static fd_filter_string_t string_of(h2o_iovec_t v)
{
    return (fd_filter_string_t){v.base != NULL ? v.base : "", v.base != NULL ? v.len : 0};
}

static fd_filter_string_t remote_address(fd_filter_chain_stream_t *s)
{
    struct sockaddr_storage ss;
    h2o_req_t *req = s->req;
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return (fd_filter_string_t){"", 0};
    char *text = h2o_mem_alloc_pool(&req->pool, 64);
    size_t len = fd_access_log_format_address((struct sockaddr *)&ss, text, 64);
    return (fd_filter_string_t){text, len};
}

static fd_filter_string_t api_attribute(fd_filter_stream_t *stream, fd_filter_attribute_t attribute)
{
    fd_filter_chain_stream_t *s = chain_of(stream);
    h2o_req_t *req = s->req;
    switch (attribute) {
    case FD_FILTER_METHOD: return string_of(req->method);
    case FD_FILTER_PATH: return string_of(req->path);
    case FD_FILTER_AUTHORITY: return string_of(req->authority);
    case FD_FILTER_SCHEME: return string_of(req->scheme->name);
    case FD_FILTER_REMOTE_ADDRESS: return remote_address(s);
    case FD_FILTER_ROUTE_NAME:
        return s->route.route != NULL && s->route.route->name.len != 0
                   ? (fd_filter_string_t){s->route.route->name.base, s->route.route->name.len}
                   : (fd_filter_string_t){"", 0};
    case FD_FILTER_REQUEST_BODY: return string_of(req->entity);
    }
    return (fd_filter_string_t){"", 0};
}

static int api_response_status(fd_filter_stream_t *stream)
{
    fd_filter_chain_stream_t *s = chain_of(stream);
    return s->phase >= FD_FILTER_PHASE_RESPONSE ? s->req->res.status : 0;
}

static int api_send_local_reply(fd_filter_stream_t *s, int status, const char *body, size_t body_len)
{
    return fd_filter_chain_local_reply(chain_of(s), status, body, body_len);
}

static void api_resume(fd_filter_stream_t *s)
{
    fd_filter_chain_resume(chain_of(s));
}

static void *api_alloc(fd_filter_stream_t *s, size_t size)
{
    return h2o_mem_alloc_pool(&chain_of(s)->req->pool, size);
}

static void on_timer(fd_loop_timer_t *t)
{
    filter_timer_t *timer = H2O_STRUCT_FROM_MEMBER(filter_timer_t, timer, t);
    fd_filter_chain_stream_t *s = timer->stream;
    h2o_linklist_unlink(&timer->link);
    s->current = timer->filter;
    timer->cb(&s->super, timer->arg);
}

static fd_filter_timer_t *api_timer_start(fd_filter_stream_t *stream, uint64_t ms, fd_filter_timer_cb cb, void *arg)
{
    fd_filter_chain_stream_t *s = chain_of(stream);
    if (s->phase == FD_FILTER_PHASE_ENDED || cb == NULL)
        return NULL;
    filter_timer_t *timer = h2o_mem_alloc_pool(&s->req->pool, sizeof(*timer));
    *timer = (filter_timer_t){.stream = s, .filter = s->current, .cb = cb, .arg = arg};
    h2o_linklist_insert(&s->armed_timers, &timer->link);
    fd_loop_timer_start(s->timers, &timer->timer, ms, on_timer);
    return (fd_filter_timer_t *)timer;
}

static void api_timer_cancel(fd_filter_stream_t *stream, fd_filter_timer_t *handle)
{
    filter_timer_t *timer = (filter_timer_t *)handle;
    if (timer == NULL || !fd_loop_timer_is_armed(&timer->timer))
        return;
    fd_loop_timer_cancel(chain_of(stream)->timers, &timer->timer);
    h2o_linklist_unlink(&timer->link);
}

void fd_filter_chain_stop_timers(fd_filter_chain_stream_t *s)
{
    while (!h2o_linklist_is_empty(&s->armed_timers)) {
        filter_timer_t *timer = H2O_STRUCT_FROM_MEMBER(filter_timer_t, link, s->armed_timers.next);
        fd_loop_timer_cancel(s->timers, &timer->timer);
        h2o_linklist_unlink(&timer->link);
    }
}

static const void *find_route_config(const fd_filter_route_configs_t *configs, fd_string_t name)
{
    for (size_t i = 0; i < configs->n; i++)
        if (configs->entries[i].filter_name.len == name.len &&
            memcmp(configs->entries[i].filter_name.base, name.base, name.len) == 0)
            return configs->entries[i].config;
    return NULL;
}

static const void *api_route_config(fd_filter_stream_t *stream)
{
    fd_filter_chain_stream_t *s = chain_of(stream);
    fd_string_t name = s->filters[s->current].name;
    const void *config = s->route.route != NULL ? find_route_config(&s->route.route->filter_configs, name) : NULL;
    if (config == NULL && s->route.vhost != NULL)
        config = find_route_config(&s->route.vhost->filter_configs, name);
    if (config == NULL && s->route.table != NULL)
        config = find_route_config(&s->route.table->filter_configs, name);
    return config;
}

static void api_log(fd_filter_stream_t *stream, fd_filter_log_level_t level, const char *message)
{
    static const char *names[] = {"", "debug", "info", "warning", "error"};
    if (level < FD_FILTER_LOG_INFO || level > FD_FILTER_LOG_ERROR)
        return;
    if (stream != NULL) {
        fd_filter_chain_stream_t *s = chain_of(stream);
        const fd_http_filter_config_t *f = &s->filters[s->current];
        fprintf(stderr, "frontdesk: [%s] filter '%.*s' (%s): %s\n", names[level], (int)f->name.len, f->name.base,
                f->filter->name, message);
    } else {
        fprintf(stderr, "frontdesk: [%s] %s\n", names[level], message);
    }
}

static const fd_filter_api_t api = {
    .abi_version = FD_FILTER_ABI_VERSION,
    .struct_size = sizeof(fd_filter_api_t),
    .header_get = api_header_get,
    .header_add = api_header_add,
    .header_set = api_header_set,
    .header_remove = api_header_remove,
    .attribute = api_attribute,
    .response_status = api_response_status,
    .send_local_reply = api_send_local_reply,
    .resume = api_resume,
    .alloc = api_alloc,
    .timer_start = api_timer_start,
    .timer_cancel = api_timer_cancel,
    .route_config = api_route_config,
    .log = api_log,
};

const fd_filter_api_t *fd_filter_api(void)
{
    return &api;
}
