/* Running the filter chain of one stream; see filter_chain.h. The response side is an h2o
 * prefilter: it sees every response as it starts, whoever answers, and its output stream
 * holds what the generator sends while a response hook is paused (the generator is not
 * told to proceed meanwhile, so its buffers stay valid). */
#include "proxy/http/filter_chain.h"

#include <stdio.h>
#include <string.h>

#include "proxy/router/upstream_request.h"

typedef struct fd_filter_chain_ostream {
    h2o_ostream_t super;
    fd_filter_chain_stream_t *stream;
    h2o_iovec_t *held; /* the send being worked on by the body hooks */
    size_t n_held;
    h2o_send_state_t held_state;
    int holding;
    size_t piece;     /* the piece of held the body hooks are at */
    size_t next_body; /* body hooks left on that piece, counting down */
} fd_filter_chain_ostream_t;

typedef struct chain_prefilter {
    h2o_req_prefilter_t super;
    fd_filter_chain_stream_t *stream;
} chain_prefilter_t;

static void *state_of(fd_filter_chain_stream_t *s, size_t i)
{
    return s->states[i];
}

static void on_pause_timeout(fd_loop_timer_t *timer);

/* Returns 1 when the chain goes on past this hook, 0 when it stopped (paused or answered). */
static int after_hook(fd_filter_chain_stream_t *s, fd_filter_status_t status)
{
    s->in_hook = 0;
    if (s->phase == FD_FILTER_PHASE_ENDED)
        return 0;
    if (status == FD_FILTER_STOP && !s->resume_requested) {
        s->paused = 1;
        /* as Envoy's stream_idle_timeout: a filter cannot hold a stream forever */
        if (s->pause_timeout_ms != 0 && !s->replied)
            fd_loop_timer_start(s->timers, &s->pause_timer, s->pause_timeout_ms, on_pause_timeout);
        return 0;
    }
    return 1;
}

/* What a nested run of hooks (a local reply's response hooks, inside a request hook) must
 * give back to the hook it runs within. */
typedef struct hook_frame {
    size_t current;
    int in_hook, resume_requested;
} hook_frame_t;

static hook_frame_t save_frame(const fd_filter_chain_stream_t *s)
{
    return (hook_frame_t){s->current, s->in_hook, s->resume_requested};
}

static void restore_frame(fd_filter_chain_stream_t *s, hook_frame_t f)
{
    s->current = f.current;
    s->in_hook = f.in_hook;
    s->resume_requested = f.resume_requested;
}

static void before_hook(fd_filter_chain_stream_t *s, size_t i)
{
    s->current = i;
    s->in_hook = 1;
    s->resume_requested = 0;
}

static void run_request(fd_filter_chain_stream_t *s)
{
    while (s->next_request < s->n_filters) {
        size_t i = s->next_request++;
        const fd_filter_descriptor_t *f = s->filters[i].filter;
        if (f->on_request_headers == NULL)
            continue;
        before_hook(s, i);
        fd_filter_status_t status = f->on_request_headers(&s->super, s->filters[i].config, state_of(s, i));
        int go_on = after_hook(s, status);
        if (s->replied || s->phase != FD_FILTER_PHASE_REQUEST)
            return; /* a local reply ended the request side, whatever the hook returned */
        if (!go_on)
            return;
    }
    s->phase = FD_FILTER_PHASE_ROUTED;
    s->on_routed(s->routed_data);
}

void fd_filter_chain_run(fd_filter_chain_stream_t *s)
{
    run_request(s);
}

/* Returns 1 once every response headers hook has continued. */
static int run_response_headers(fd_filter_chain_stream_t *s)
{
    while (s->next_response > 0 && !s->bypass) {
        size_t i = --s->next_response;
        const fd_filter_descriptor_t *f = s->filters[i].filter;
        if (f->on_response_headers == NULL)
            continue;
        before_hook(s, i);
        if (!after_hook(s, f->on_response_headers(&s->super, s->filters[i].config, state_of(s, i))))
            return 0;
    }
    s->headers_done = 1;
    return 1;
}

static size_t pieces_of(const fd_filter_chain_ostream_t *o)
{
    /* a final send with no data still tells the body hooks that the body ended */
    return o->n_held != 0 ? o->n_held : o->held_state == H2O_SEND_STATE_FINAL;
}

/* Runs the body hooks over what is held, then passes it on; stops where a hook pauses. */
static void flush_held(fd_filter_chain_ostream_t *o)
{
    fd_filter_chain_stream_t *s = o->stream;
    if (!o->holding || s->paused || !s->headers_done)
        return;
    size_t pieces = o->held_state == H2O_SEND_STATE_ERROR || s->bypass ? 0 : pieces_of(o);
    for (; o->piece < pieces; o->piece++, o->next_body = s->n_filters) {
        int end_of_stream = o->held_state == H2O_SEND_STATE_FINAL && o->piece + 1 >= pieces;
        fd_filter_string_t piece = {"", 0};
        if (o->n_held != 0)
            piece = (fd_filter_string_t){o->held[o->piece].base, o->held[o->piece].len};
        while (o->next_body > 0) {
            size_t i = --o->next_body;
            const fd_filter_descriptor_t *f = s->filters[i].filter;
            if (f->on_response_body == NULL)
                continue;
            before_hook(s, i);
            if (!after_hook(s,
                            f->on_response_body(&s->super, s->filters[i].config, state_of(s, i), piece, end_of_stream)))
                return;
        }
    }
    o->holding = 0;
    h2o_ostream_send_next(&o->super, s->req, o->held, o->n_held, o->held_state);
}

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    fd_filter_chain_ostream_t *o = (fd_filter_chain_ostream_t *)self;
    /* the array may live on the sender's stack; the bytes stay until the generator proceeds */
    o->held = n != 0 ? h2o_mem_alloc_pool(&req->pool, n * sizeof(*bufs)) : NULL;
    if (n != 0)
        memcpy(o->held, bufs, n * sizeof(*bufs));
    o->n_held = n;
    o->held_state = state;
    o->holding = 1;
    o->piece = 0;
    o->next_body = o->stream->n_filters;
    hook_frame_t frame = save_frame(o->stream);
    flush_held(o);
    restore_frame(o->stream, frame);
}

static int has_body_hooks(const fd_filter_chain_stream_t *s)
{
    for (size_t i = 0; i < s->n_filters; i++)
        if (s->filters[i].filter->on_response_body != NULL)
            return 1;
    return 0;
}

static void on_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    fd_filter_chain_stream_t *s = ((chain_prefilter_t *)self)->stream;
    if (s->phase != FD_FILTER_PHASE_ENDED) {
        hook_frame_t frame = save_frame(s);
        s->phase = FD_FILTER_PHASE_RESPONSE;
        s->next_response = s->n_filters;
        run_response_headers(s);
        restore_frame(s, frame);
        if (s->phase != FD_FILTER_PHASE_ENDED && (s->paused || has_body_hooks(s))) {
            fd_filter_chain_ostream_t *o = (fd_filter_chain_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
            o->super.do_send = on_send;
            o->stream = s;
            o->holding = 0;
            s->ostream = o;
            slot = &o->super.next;
        }
    }
    h2o_setup_next_prefilter(self, req, slot);
}

void fd_filter_chain_resume(fd_filter_chain_stream_t *s)
{
    if (s->in_hook) {
        s->resume_requested = 1;
        return;
    }
    if (!s->paused || s->phase == FD_FILTER_PHASE_ENDED)
        return;
    s->paused = 0;
    fd_loop_timer_cancel(s->timers, &s->pause_timer);
    if (s->phase == FD_FILTER_PHASE_REQUEST) {
        run_request(s);
    } else if (s->phase == FD_FILTER_PHASE_RESPONSE) {
        if (!s->headers_done && !run_response_headers(s))
            return;
        if (s->ostream != NULL)
            flush_held(s->ostream);
    }
}

static void on_pause_timeout(fd_loop_timer_t *timer)
{
    fd_filter_chain_stream_t *s = H2O_STRUCT_FROM_MEMBER(fd_filter_chain_stream_t, pause_timer, timer);
    const fd_http_filter_config_t *f = &s->filters[s->current];
    fprintf(stderr, "frontdesk: filter '%.*s' (%s) held its stream past stream_idle_timeout (%llu ms)\n",
            (int)f->name.len, f->name.base, f->filter->name, (unsigned long long)s->pause_timeout_ms);
    if (s->phase == FD_FILTER_PHASE_REQUEST) {
        static const char body[] = "stream timeout";
        s->paused = 0;
        fd_filter_chain_local_reply(s, 408, body, sizeof(body) - 1); /* Envoy's answer */
        return;
    }
    /* the response has started: it goes on to the client, past the remaining hooks */
    s->bypass = 1;
    s->paused = 0;
    s->headers_done = 1;
    if (s->ostream != NULL)
        flush_held(s->ostream);
}

int fd_filter_chain_local_reply(fd_filter_chain_stream_t *s, int status, const char *body, size_t len)
{
    if (s->phase != FD_FILTER_PHASE_REQUEST || s->replied || status < 200 || status > 599)
        return -1;
    s->replied = 1;
    s->paused = 0;
    h2o_req_t *req = s->req;
    req->res.status = status;
    req->res.reason = fd_router_reason_phrase(status);
    if (len != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
    s->phase = FD_FILTER_PHASE_ROUTED; /* the response hooks take over from here */
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
    return 0;
}

fd_filter_chain_stream_t *fd_filter_chain_begin(h2o_req_t *req, const fd_http_manager_t *http, fd_loop_timers_t *timers,
                                                fd_filter_chain_route_t route, fd_filter_chain_routed_cb on_routed,
                                                void *data)
{
    size_t n = http->n_filters - 1; /* the router is last, and is the stream's own */
    if (n == 0)
        return NULL;
    fd_filter_chain_stream_t *s = h2o_mem_alloc_pool(&req->pool, sizeof(*s) + n * sizeof(void *));
    *s = (fd_filter_chain_stream_t){.super = {fd_filter_api()},
                                    .req = req,
                                    .filters = http->filters,
                                    .n_filters = n,
                                    .states = (void **)(s + 1),
                                    .route = route,
                                    .timers = timers,
                                    .on_routed = on_routed,
                                    .routed_data = data,
                                    .pause_timeout_ms = http->stream_idle_timeout_ms};
    h2o_linklist_init_anchor(&s->armed_timers);
    for (size_t i = 0; i < n; i++) {
        size_t size = http->filters[i].filter->state_size;
        s->states[i] = size != 0 ? h2o_mem_alloc_pool(&req->pool, size) : NULL;
        if (size != 0)
            memset(s->states[i], 0, size);
    }
    if (http->filters_see_responses) {
        chain_prefilter_t *pf = (chain_prefilter_t *)h2o_add_prefilter(req, sizeof(*pf));
        pf->super.on_setup_ostream = on_setup_ostream;
        pf->stream = s;
    }
    return s;
}

void fd_filter_chain_end(fd_filter_chain_stream_t *s)
{
    s->phase = FD_FILTER_PHASE_ENDED; /* a late resume or reply from a callback does nothing */
    fd_filter_chain_stop_timers(s);
    fd_loop_timer_cancel(s->timers, &s->pause_timer);
    for (size_t i = 0; i < s->n_filters; i++) {
        const fd_filter_descriptor_t *f = s->filters[i].filter;
        s->current = i;
        if (f->on_destroy != NULL)
            f->on_destroy(&s->super, s->filters[i].config, state_of(s, i));
    }
    for (size_t i = 0; i < s->n_filters; i++) {
        const fd_filter_descriptor_t *f = s->filters[i].filter;
        s->current = i;
        if (f->on_log != NULL)
            f->on_log(&s->super, s->filters[i].config, state_of(s, i));
    }
}
