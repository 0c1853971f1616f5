/* The HTTP filter chain of one stream: request hooks in http_filters order, then the
 * router; response hooks in reverse order on every response (local replies too); any hook
 * may pause and resume later. filter_chain.c runs it, filter_api.c is what filters call. */
#ifndef FD_FILTER_CHAIN_H
#define FD_FILTER_CHAIN_H

#include <h2o.h>

#include "filters/fd_filter.h"
#include "proxy/config/config.h"
#include "proxy/util/loop_timers.h"

typedef enum fd_filter_phase {
    FD_FILTER_PHASE_REQUEST,  /* request hooks running or paused */
    FD_FILTER_PHASE_ROUTED,   /* the router (or the stream's own answer) has the request */
    FD_FILTER_PHASE_RESPONSE, /* response hooks running or paused */
    FD_FILTER_PHASE_ENDED,
} fd_filter_phase_t;

/* Where the request was routed (any may be NULL): for the route's name and per-route configs. */
typedef struct fd_filter_chain_route {
    const fd_route_table_t *table;
    const fd_virtual_host_t *vhost;
    const fd_route_t *route;
} fd_filter_chain_route_t;

/* Called once every request hook has continued: the stream routes the request. */
typedef void (*fd_filter_chain_routed_cb)(void *data);

typedef struct fd_filter_chain_stream {
    fd_filter_stream_t super; /* the ABI's handle: its api comes first */
    h2o_req_t *req;
    const fd_http_filter_config_t *filters; /* the HCM's, less the router */
    size_t n_filters;
    void **states;
    fd_filter_chain_route_t route; /* chosen before the filters run */
    fd_loop_timers_t *timers;
    h2o_linklist_t armed_timers;
    fd_filter_chain_routed_cb on_routed;
    void *routed_data;
    fd_filter_phase_t phase;
    size_t current;       /* the filter whose hook or timer runs, for log lines */
    size_t next_request;  /* the next filter to see the request headers */
    size_t next_response; /* response hooks run from n_filters - 1 down: how many are left */
    int paused;           /* a hook returned FD_FILTER_STOP and has not resumed */
    int in_hook;          /* resume() from inside a hook just lets that hook continue */
    int resume_requested;
    int replied;               /* a filter sent a local reply */
    int headers_done;          /* every response headers hook has continued */
    int bypass;                /* a pause outlived stream_idle_timeout: the response goes on without hooks */
    uint64_t pause_timeout_ms; /* the HCM's stream_idle_timeout; 0: none */
    fd_loop_timer_t pause_timer;
    struct fd_filter_chain_ostream *ostream; /* watches the response body, holds it while paused */
} fd_filter_chain_stream_t;

/* Sets up the chain for req (memory from its pool); the chain's response hooks see every
 * response from here on. Returns NULL when http has no filter but the router. */
fd_filter_chain_stream_t *fd_filter_chain_begin(h2o_req_t *req, const fd_http_manager_t *http, fd_loop_timers_t *timers,
                                                fd_filter_chain_route_t route, fd_filter_chain_routed_cb on_routed,
                                                void *data);
/* Runs the request hooks; on_routed follows unless a filter stops or answers. */
void fd_filter_chain_run(fd_filter_chain_stream_t *stream);
/* The stream is over (its pool is going): timers stop, then on_destroy and on_log. */
void fd_filter_chain_end(fd_filter_chain_stream_t *stream);

/* For filter_api.c: continue after a pause; answer the request locally. */
void fd_filter_chain_resume(fd_filter_chain_stream_t *stream);
int fd_filter_chain_local_reply(fd_filter_chain_stream_t *stream, int status, const char *body, size_t len);

/* Cancels the stream's timers (filter_api.c). */
void fd_filter_chain_stop_timers(fd_filter_chain_stream_t *stream);

/* The functions filters call (filter_api.c). */
const fd_filter_api_t *fd_filter_api(void);

#endif
