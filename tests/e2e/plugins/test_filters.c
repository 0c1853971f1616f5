/* Filters that make the chain's behaviour visible to the e2e tests (plugins.test.mjs):
 *   test.Tag   {name, log?}   appends its name to x-chain (request) and x-chain-response
 *              (response); answers 403 when x-deny names it; logs each stream when log is set.
 *              Per route: {name} replaces the name for requests on that route (or vhost).
 *   test.Pause {ms, phase}    pauses on the request headers, the response headers or the
 *              first piece of the response body for ms, then resumes (or, on the request,
 *              answers 429 when x-pause-reply is set); logs when a stream ends while paused.
 * Built only against filters/fd_filter.h, as a user's plugin is. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/fd_filter.h"

/* ---- shared helpers ---- */

static json_t *parse_config(const fd_filter_config_input_t *input, char *error, size_t error_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(input->json, input->json_len, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(error, error_size, "the config is not a JSON object: %s", root == NULL ? jerr.text : "");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Sets name to its current value with ",item" appended (or to item when absent). */
static void append_to_header(fd_filter_stream_t *s, fd_filter_headers_kind_t kind, const char *name, const char *item)
{
    fd_filter_string_t current;
    char buf[512];
    int len = fd_filter_header_get(s, kind, name, 0, &current)
                  ? snprintf(buf, sizeof(buf), "%.*s,%s", (int)current.len, current.base, item)
                  : snprintf(buf, sizeof(buf), "%s", item);
    fd_filter_header_set(s, kind, name, buf, (size_t)len);
}

static int header_equals(fd_filter_stream_t *s, const char *name, const char *value)
{
    fd_filter_string_t v;
    return fd_filter_header_get(s, FD_FILTER_REQUEST_HEADERS, name, 0, &v) && v.len == strlen(value) &&
           memcmp(v.base, value, v.len) == 0;
}

/* ---- test.Tag ---- */

typedef struct tag_config {
    char name[64];
    int log;
} tag_config_t;

static void *tag_create(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                        size_t error_size)
{
    (void)api;
    json_t *root = parse_config(input, error, error_size);
    if (root == NULL)
        return NULL;
    const char *name = json_string_value(json_object_get(root, "name"));
    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(((tag_config_t *)0)->name)) {
        snprintf(error, error_size, "'name' is required: a string of 1 to 63 characters");
        json_decref(root);
        return NULL;
    }
    tag_config_t *config = calloc(1, sizeof(*config));
    snprintf(config->name, sizeof(config->name), "%s", name);
    config->log = json_is_true(json_object_get(root, "log"));
    json_decref(root);
    return config;
}

/* The route's (or virtual host's) config, when it has one, names the filter there. */
static const tag_config_t *tag_config_of(fd_filter_stream_t *s, void *cfg)
{
    const tag_config_t *route = fd_filter_route_config(s);
    return route != NULL ? route : cfg;
}

static fd_filter_status_t tag_request(fd_filter_stream_t *s, void *cfg, void *state)
{
    const tag_config_t *config = tag_config_of(s, cfg);
    (void)state;
    append_to_header(s, FD_FILTER_REQUEST_HEADERS, "x-chain", config->name);
    char body_bytes[32];
    int n = snprintf(body_bytes, sizeof(body_bytes), "%zu", fd_filter_attribute(s, FD_FILTER_REQUEST_BODY).len);
    fd_filter_header_set(s, FD_FILTER_REQUEST_HEADERS, "x-body-bytes", body_bytes, (size_t)n);
    if (header_equals(s, "x-deny", config->name)) {
        char body[128];
        int len = snprintf(body, sizeof(body), "denied by %s\n", config->name);
        fd_filter_send_local_reply(s, 403, body, (size_t)len);
        return FD_FILTER_STOP;
    }
    if (header_equals(s, "x-try-framing", config->name)) { /* both refused by the proxy, and logged */
        fd_filter_header_set(s, FD_FILTER_REQUEST_HEADERS, "content-length", "0", 1);
        fd_filter_header_set(s, FD_FILTER_REQUEST_HEADERS, "x-injected", "a\r\nx-evil: 1", 13);
    }
    if (header_equals(s, "x-deny-but-continue", config->name)) {
        fd_filter_send_local_reply(s, 401, "", 0);
        return FD_FILTER_CONTINUE; /* wrong, but the chain must stop anyway */
    }
    return FD_FILTER_CONTINUE;
}

static fd_filter_status_t tag_response(fd_filter_stream_t *s, void *cfg, void *state)
{
    const tag_config_t *config = tag_config_of(s, cfg);
    (void)state;
    append_to_header(s, FD_FILTER_RESPONSE_HEADERS, "x-chain-response", config->name);
    char status[16];
    int n = snprintf(status, sizeof(status), "%d", fd_filter_response_status(s));
    fd_filter_header_set(s, FD_FILTER_RESPONSE_HEADERS, "x-status-seen", status, (size_t)n);
    return FD_FILTER_CONTINUE;
}

static void tag_log(fd_filter_stream_t *s, void *cfg, void *state)
{
    tag_config_t *config = cfg;
    (void)state;
    if (!config->log)
        return;
    fd_filter_string_t path = fd_filter_attribute(s, FD_FILTER_PATH);
    fd_filter_string_t route = fd_filter_attribute(s, FD_FILTER_ROUTE_NAME);
    fd_filter_string_t remote = fd_filter_attribute(s, FD_FILTER_REMOTE_ADDRESS);
    char line[512];
    snprintf(line, sizeof(line), "tag-log path=%.*s status=%d route=%.*s remote=%.*s", (int)path.len, path.base,
             fd_filter_response_status(s), (int)route.len, route.base, (int)remote.len, remote.base);
    fd_filter_log(s, FD_FILTER_LOG_INFO, line);
}

static const fd_filter_descriptor_t tag_filter = {
    .abi_version = FD_FILTER_ABI_VERSION,
    .struct_size = sizeof(fd_filter_descriptor_t),
    .name = "test.tag",
    .type_url = "type.googleapis.com/test.Tag",
    .create_config = tag_create,
    .destroy_config = free,
    .create_route_config = tag_create,
    .destroy_route_config = free,
    .on_request_headers = tag_request,
    .on_response_headers = tag_response,
    .on_log = tag_log,
};

/* ---- test.Pause ---- */

typedef enum pause_phase { PAUSE_REQUEST, PAUSE_RESPONSE, PAUSE_BODY } pause_phase_t;

typedef struct pause_config {
    unsigned ms;
    pause_phase_t phase;
} pause_config_t;

typedef struct pause_state {
    fd_filter_timer_t *timer; /* while paused */
    int body_paused;
    size_t body_bytes;
    int reply;       /* answer instead of resuming */
    int on_response; /* the pause is on the response: say so in a header */
} pause_state_t;

static void *pause_create(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                          size_t error_size)
{
    (void)api;
    json_t *root = parse_config(input, error, error_size);
    if (root == NULL)
        return NULL;
    json_t *ms = json_object_get(root, "ms");
    const char *phase = json_string_value(json_object_get(root, "phase"));
    pause_config_t config = {0};
    /* a Struct carries numbers as doubles */
    if (!json_is_number(ms) || json_number_value(ms) < 0 || json_number_value(ms) > 60000) {
        snprintf(error, error_size, "'ms' must be a number of milliseconds from 0 to 60000");
        json_decref(root);
        return NULL;
    }
    config.ms = (unsigned)json_number_value(ms);
    if (phase == NULL || strcmp(phase, "request") == 0)
        config.phase = PAUSE_REQUEST;
    else if (strcmp(phase, "response") == 0)
        config.phase = PAUSE_RESPONSE;
    else if (strcmp(phase, "body") == 0)
        config.phase = PAUSE_BODY;
    else {
        snprintf(error, error_size, "'phase' must be request, response or body, not '%s'", phase);
        json_decref(root);
        return NULL;
    }
    json_decref(root);
    pause_config_t *out = malloc(sizeof(*out));
    *out = config;
    return out;
}

static void pause_done(fd_filter_stream_t *s, void *arg)
{
    pause_state_t *state = arg;
    state->timer = NULL;
    if (state->reply) {
        static const char body[] = "paused, then refused\n";
        fd_filter_send_local_reply(s, 429, body, sizeof(body) - 1);
        return;
    }
    if (state->on_response)
        fd_filter_header_set(s, FD_FILTER_RESPONSE_HEADERS, "x-response-paused", "1", 1);
    fd_filter_resume(s);
}

static fd_filter_status_t pause_now(fd_filter_stream_t *s, pause_config_t *config, pause_state_t *state)
{
    state->timer = fd_filter_timer_start(s, config->ms, pause_done, state);
    return FD_FILTER_STOP;
}

static fd_filter_status_t pause_request(fd_filter_stream_t *s, void *cfg, void *st)
{
    pause_config_t *config = cfg;
    pause_state_t *state = st;
    if (config->phase != PAUSE_REQUEST)
        return FD_FILTER_CONTINUE;
    fd_filter_header_set(s, FD_FILTER_REQUEST_HEADERS, "x-paused", "1", 1);
    if (header_equals(s, "x-resume-inline", "1")) {
        fd_filter_resume(s); /* before returning STOP: the chain just goes on */
        return FD_FILTER_STOP;
    }
    state->reply = header_equals(s, "x-pause-reply", "1");
    return pause_now(s, config, state);
}

static fd_filter_status_t pause_response(fd_filter_stream_t *s, void *cfg, void *st)
{
    pause_config_t *config = cfg;
    pause_state_t *state = st;
    state->on_response = 1;
    return config->phase == PAUSE_RESPONSE ? pause_now(s, config, state) : FD_FILTER_CONTINUE;
}

static fd_filter_status_t pause_body(fd_filter_stream_t *s, void *cfg, void *st, fd_filter_string_t piece,
                                     int end_of_stream)
{
    pause_config_t *config = cfg;
    pause_state_t *state = st;
    (void)end_of_stream;
    state->body_bytes += piece.len;
    if (config->phase != PAUSE_BODY || state->body_paused)
        return FD_FILTER_CONTINUE;
    state->body_paused = 1;
    return pause_now(s, config, state);
}

static void pause_destroy(fd_filter_stream_t *s, void *cfg, void *st)
{
    pause_state_t *state = st;
    (void)cfg;
    if (state->timer != NULL) {
        fd_filter_timer_cancel(s, state->timer);
        state->timer = NULL;
        fd_filter_log(s, FD_FILTER_LOG_WARNING, "pause-destroyed-while-paused");
    }
}

static void pause_log(fd_filter_stream_t *s, void *cfg, void *st)
{
    pause_config_t *config = cfg;
    pause_state_t *state = st;
    if (config->phase != PAUSE_BODY)
        return;
    char line[64];
    snprintf(line, sizeof(line), "pause-body-bytes=%zu", state->body_bytes);
    fd_filter_log(s, FD_FILTER_LOG_INFO, line);
}

static const fd_filter_descriptor_t pause_filter = {
    .abi_version = FD_FILTER_ABI_VERSION,
    .struct_size = sizeof(fd_filter_descriptor_t),
    .name = "test.pause",
    .type_url = "type.googleapis.com/test.Pause",
    .create_config = pause_create,
    .destroy_config = free,
    .state_size = sizeof(pause_state_t),
    .on_request_headers = pause_request,
    .on_response_headers = pause_response,
    .on_response_body = pause_body,
    .on_destroy = pause_destroy,
    .on_log = pause_log,
};

FD_FILTER_PLUGIN(&tag_filter, &pause_filter);
