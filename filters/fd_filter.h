/* frontdesk's HTTP filter ABI: the whole contract between the proxy and an HTTP filter,
 * built in or compiled into a plugin (.so, loaded with --plugin). Plain C, no other header;
 * a plugin built against one ABI version is refused by a proxy of another. */
#ifndef FD_FILTER_H
#define FD_FILTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised when a change would break a compiled plugin. Within a version, members are only
 * ever appended: to fd_filter_api_t (a plugin may check api->struct_size before calling a
 * newer one) and to fd_filter_descriptor_t (a proxy reads what struct_size covers, the rest
 * as NULL). */
#define FD_FILTER_ABI_VERSION 1

typedef struct fd_filter_api fd_filter_api_t;
/* One HTTP request and its response as the filters see it. Valid from the first hook to the
 * return of on_destroy; its first member is the api, which the inline functions below use. */
typedef struct fd_filter_stream fd_filter_stream_t;
typedef struct fd_filter_timer fd_filter_timer_t;

typedef struct fd_filter_string {
    const char *base;
    size_t len;
} fd_filter_string_t;

/* What a hook tells the chain. */
typedef enum fd_filter_status {
    FD_FILTER_CONTINUE = 0, /* go on to the next filter */
    /* Stop here: the filter has sent a local reply, or will call fd_filter_resume (or send a
     * local reply) later, from a timer or another callback of the same stream. */
    FD_FILTER_STOP = 1,
} fd_filter_status_t;

typedef enum fd_filter_headers_kind {
    FD_FILTER_REQUEST_HEADERS = 0,
    FD_FILTER_RESPONSE_HEADERS = 1,
} fd_filter_headers_kind_t;

/* Parts of the request that are not headers. */
typedef enum fd_filter_attribute {
    FD_FILTER_METHOD = 0,
    FD_FILTER_PATH = 1,      /* with the query string */
    FD_FILTER_AUTHORITY = 2, /* Host or :authority */
    FD_FILTER_SCHEME = 3,
    FD_FILTER_REMOTE_ADDRESS = 4, /* "ip:port" of the client */
    FD_FILTER_ROUTE_NAME = 5,     /* the matched route's name; empty when none */
    FD_FILTER_REQUEST_BODY = 6,   /* the whole request body (frontdesk buffers it) */
} fd_filter_attribute_t;

typedef enum fd_filter_log_level {
    FD_FILTER_LOG_DEBUG = 1,
    FD_FILTER_LOG_INFO = 2,
    FD_FILTER_LOG_WARNING = 3,
    FD_FILTER_LOG_ERROR = 4,
} fd_filter_log_level_t;

/* The config a filter is given once per http_filters entry, on the main thread. */
typedef struct fd_filter_config_input {
    const char *filter_name; /* the http_filters entry's name */
    const char *type_url;    /* the config's type, as in the TypedStruct */
    const char *json;        /* the TypedStruct's value as JSON ("{}" when absent), NUL-terminated */
    size_t json_len;
    const void *message; /* built-in Envoy filters: the decoded protobuf-c message; plugins: NULL */
} fd_filter_config_input_t;

typedef void (*fd_filter_timer_cb)(fd_filter_stream_t *stream, void *arg);

/* A filter. Hooks left NULL are skipped. Every hook of a stream runs on that stream's
 * worker thread; config is what create_config returned, state the stream's zeroed
 * state_size bytes. */
typedef struct fd_filter_descriptor {
    uint32_t abi_version; /* FD_FILTER_ABI_VERSION */
    uint32_t struct_size; /* sizeof(fd_filter_descriptor_t) */
    const char *name;     /* for messages: "acme.add_header" */
    const char *type_url; /* the config type it takes: "type.googleapis.com/acme.AddHeader" */
    /* Checks and compiles the config; returns it, or NULL with a message in error. Called on
     * the main thread; the result is shared read-only by every worker. */
    void *(*create_config)(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                           size_t error_size);
    void (*destroy_config)(void *config);
    /* The same for a typed_per_filter_config entry of a route or virtual host (keyed by the
     * filter's http_filters name); NULL when the filter takes none. Configs of route
     * configurations from RDS are destroyed on the worker thread that used them last. */
    void *(*create_route_config)(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                                 size_t error_size);
    void (*destroy_route_config)(void *route_config);
    size_t state_size;
    /* Request headers, in http_filters order; the body (if any) is then readable whole. */
    fd_filter_status_t (*on_request_headers)(fd_filter_stream_t *stream, void *config, void *state);
    /* Response headers, in reverse order: local replies and upstream responses alike. */
    fd_filter_status_t (*on_response_headers)(fd_filter_stream_t *stream, void *config, void *state);
    /* Response body pieces, in reverse order, as they stream; end_of_stream on the last. */
    fd_filter_status_t (*on_response_body)(fd_filter_stream_t *stream, void *config, void *state,
                                           fd_filter_string_t piece, int end_of_stream);
    /* The stream ends (answered, reset or the client gone): cancel what is pending. Always called. */
    void (*on_destroy)(fd_filter_stream_t *stream, void *config, void *state);
    /* After on_destroy, with the final status: for the filter's own logging and counting. */
    void (*on_log)(fd_filter_stream_t *stream, void *config, void *state);
} fd_filter_descriptor_t;

/* What a plugin exports, under the symbol name FD_FILTER_PLUGIN_SYMBOL. */
typedef struct fd_filter_plugin {
    uint32_t abi_version;                         /* FD_FILTER_ABI_VERSION */
    const fd_filter_descriptor_t *const *filters; /* NULL-terminated */
} fd_filter_plugin_t;

#define FD_FILTER_PLUGIN_SYMBOL "fd_filter_plugin"
#define FD_FILTER_PLUGIN(...)                                                                                          \
    __attribute__((visibility("default"))) const fd_filter_plugin_t fd_filter_plugin = {                               \
        FD_FILTER_ABI_VERSION, (const fd_filter_descriptor_t *const[]){__VA_ARGS__, NULL}}

/* What the proxy offers a filter. Call through the inline functions below. */
struct fd_filter_api {
    uint32_t abi_version;
    uint32_t struct_size;
    /* The index-th value (0 first) of a header, by lower-case name; 0 when absent. */
    int (*header_get)(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                      size_t index, fd_filter_string_t *value);
    void (*header_add)(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                       const char *value, size_t value_len);
    /* Replaces every value of the header with one (adds it when absent). */
    void (*header_set)(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len,
                       const char *value, size_t value_len);
    /* Returns how many were removed. */
    size_t (*header_remove)(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, size_t name_len);
    fd_filter_string_t (*attribute)(fd_filter_stream_t *s, fd_filter_attribute_t attribute);
    int (*response_status)(fd_filter_stream_t *s); /* 0 before the response starts */
    /* Answers the request (a text/plain body when not empty) from a request hook or while
     * paused on one; the router never runs. Returns -1 (nothing sent) once the request has
     * gone to the router or the response has started, or for a status outside 200..599. */
    int (*send_local_reply)(fd_filter_stream_t *s, int status, const char *body, size_t body_len);
    /* Continues the chain after the filter that returned FD_FILTER_STOP. */
    void (*resume)(fd_filter_stream_t *s);
    /* Memory that lives as long as the stream. */
    void *(*alloc)(fd_filter_stream_t *s, size_t size);
    /* A one-shot timer on the stream's worker; cancelled by itself when the stream ends. */
    fd_filter_timer_t *(*timer_start)(fd_filter_stream_t *s, uint64_t ms, fd_filter_timer_cb cb, void *arg);
    void (*timer_cancel)(fd_filter_stream_t *s, fd_filter_timer_t *timer);
    /* The calling filter's per-route config for this request: its route's, else its virtual
     * host's, else its route configuration's; NULL when none has one. */
    const void *(*route_config)(fd_filter_stream_t *s);
    /* Writes a line to frontdesk's log (stderr), naming the filter; s may be NULL (config
     * time). Debug lines are dropped. */
    void (*log)(fd_filter_stream_t *s, fd_filter_log_level_t level, const char *message);
};

struct fd_filter_stream {
    const fd_filter_api_t *api;
};

/* strlen, without <string.h>: this header includes nothing a plugin might not want. */
static inline size_t fd_filter_name_len(const char *name)
{
    size_t len = 0;
    while (name[len] != '\0')
        len++;
    return len;
}

static inline int fd_filter_header_get(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name,
                                       size_t index, fd_filter_string_t *value)
{
    return s->api->header_get(s, kind, name, fd_filter_name_len(name), index, value);
}

static inline void fd_filter_header_add(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name,
                                        const char *value, size_t value_len)
{
    s->api->header_add(s, kind, name, fd_filter_name_len(name), value, value_len);
}

static inline void fd_filter_header_set(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name,
                                        const char *value, size_t value_len)
{
    s->api->header_set(s, kind, name, fd_filter_name_len(name), value, value_len);
}

static inline size_t fd_filter_header_remove(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name)
{
    return s->api->header_remove(s, kind, name, fd_filter_name_len(name));
}

static inline fd_filter_string_t fd_filter_attribute(fd_filter_stream_t *s, fd_filter_attribute_t attribute)
{
    return s->api->attribute(s, attribute);
}

static inline int fd_filter_response_status(fd_filter_stream_t *s)
{
    return s->api->response_status(s);
}

static inline int fd_filter_send_local_reply(fd_filter_stream_t *s, int status, const char *body, size_t body_len)
{
    return s->api->send_local_reply(s, status, body, body_len);
}

static inline void fd_filter_resume(fd_filter_stream_t *s)
{
    s->api->resume(s);
}

static inline void *fd_filter_alloc(fd_filter_stream_t *s, size_t size)
{
    return s->api->alloc(s, size);
}

static inline fd_filter_timer_t *fd_filter_timer_start(fd_filter_stream_t *s, uint64_t ms, fd_filter_timer_cb cb,
                                                       void *arg)
{
    return s->api->timer_start(s, ms, cb, arg);
}

static inline void fd_filter_timer_cancel(fd_filter_stream_t *s, fd_filter_timer_t *timer)
{
    s->api->timer_cancel(s, timer);
}

static inline const void *fd_filter_route_config(fd_filter_stream_t *s)
{
    return s->api->route_config(s);
}

static inline void fd_filter_log(fd_filter_stream_t *s, fd_filter_log_level_t level, const char *message)
{
    s->api->log(s, level, message);
}

#ifdef __cplusplus
}
#endif

#endif
