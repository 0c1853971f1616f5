/* The ADS client's thread and its thread-safe entry points (see ads_client.h): other threads
 * queue commands under a mutex and wake the thread out of grpc_completion_queue_next; the
 * thread runs the commands against the protocol state and the stream (ads_stream.c), opens
 * the stream when something is subscribed and the backoff allows, and on stop cancels it and
 * drains the queue. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xds/ads_client_int.h"

/* --- commands from other threads ---------------------------------------------------------- */

static void free_cmd(fd_ads_cmd_t *cmd)
{
    for (size_t i = 0; i < cmd->n_names; i++)
        free(cmd->names[i]);
    free(cmd->names);
    free(cmd->type_url);
    free(cmd->version);
    free(cmd->nonce);
    free(cmd->message);
    free(cmd);
}

/* A copy of s (NULL stays NULL); sets *failed when out of memory. */
static char *dup_or_fail(const char *s, int *failed)
{
    char *copy = s != NULL ? strdup(s) : NULL;
    if (s != NULL && copy == NULL)
        *failed = 1;
    return copy;
}

static fd_ads_cmd_t *new_cmd(fd_ads_cmd_kind_t kind, const char *type_url, const char *version, const char *nonce,
                             const char *message)
{
    fd_ads_cmd_t *cmd = calloc(1, sizeof(*cmd));
    int failed = 0;
    if (cmd == NULL)
        return NULL;
    cmd->kind = kind;
    cmd->type_url = dup_or_fail(type_url, &failed);
    cmd->version = dup_or_fail(version, &failed);
    cmd->nonce = dup_or_fail(nonce, &failed);
    cmd->message = dup_or_fail(message, &failed);
    if (failed) {
        free_cmd(cmd);
        return NULL;
    }
    return cmd;
}

/* Wakes the client thread out of grpc_completion_queue_next. gRPC core's C API has no alarm
 * or user event to post, but a call on a lame channel fails at once and its completion is
 * one. At most one is in flight; the thread takes the commands after it completed. */
static void wake_locked(fd_ads_client_t *c)
{
    fd_ads_wake_t *w = &c->wake;
    if (w->call != NULL)
        return;
    w->call = grpc_channel_create_call(c->lame, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       grpc_slice_from_static_string("/frontdesk.xds.Wake/Wake"), NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&w->trailing_md);
    w->details = grpc_empty_slice();
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_RECV_STATUS_ON_CLIENT}};
    ops[1].data.recv_status_on_client.trailing_metadata = &w->trailing_md;
    ops[1].data.recv_status_on_client.status = &w->status;
    ops[1].data.recv_status_on_client.status_details = &w->details;
    grpc_call_error err = grpc_call_start_batch(w->call, ops, 2, &w->tag, NULL);
    if (err != GRPC_CALL_OK) {
        fprintf(stderr, "frontdesk: ads: wake-up: %s\n", grpc_call_error_to_string(err));
        abort(); /* a bug here, not a runtime condition */
    }
}

static void wake_done(fd_ads_client_t *c)
{
    fd_ads_wake_t *w = &c->wake;
    pthread_mutex_lock(&c->mu);
    grpc_call_unref(w->call);
    grpc_metadata_array_destroy(&w->trailing_md);
    grpc_slice_unref(w->details);
    w->call = NULL;
    pthread_mutex_unlock(&c->mu);
}

/* Queues cmd (taking it) and wakes the thread; -1 (cmd freed) when stopping or cmd is NULL. */
static int post(fd_ads_client_t *c, fd_ads_cmd_t *cmd)
{
    if (cmd == NULL)
        return -1;
    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        free_cmd(cmd);
        return -1;
    }
    if (c->cmds_tail != NULL)
        c->cmds_tail->next = cmd;
    else
        c->cmds = cmd;
    c->cmds_tail = cmd;
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int fd_ads_client_subscribe(fd_ads_client_t *c, const char *type_url, const char *const *names, size_t n)
{
    fd_ads_cmd_t *cmd = new_cmd(FD_ADS_CMD_SUBSCRIBE, type_url, NULL, NULL, NULL);
    if (cmd != NULL && n > 0 && (cmd->names = calloc(n, sizeof(char *))) == NULL) {
        free_cmd(cmd);
        return -1;
    }
    for (size_t i = 0; cmd != NULL && i < n; i++, cmd->n_names++) {
        if ((cmd->names[i] = strdup(names[i])) == NULL) {
            free_cmd(cmd);
            return -1;
        }
    }
    return post(c, cmd);
}

int fd_ads_client_ack(fd_ads_client_t *c, const char *type_url, const char *version_info, const char *nonce)
{
    return post(c, new_cmd(FD_ADS_CMD_ACK, type_url, version_info ? version_info : "", nonce ? nonce : "", NULL));
}

int fd_ads_client_nack(fd_ads_client_t *c, const char *type_url, const char *nonce, const char *error_detail)
{
    return post(c, new_cmd(FD_ADS_CMD_NACK, type_url, NULL, nonce ? nonce : "", error_detail ? error_detail : ""));
}

/* --- the client thread -------------------------------------------------------------------- */

uint64_t fd_ads_random(fd_ads_client_t *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ULL;
}

/* Runs one command; 1 when a request must go out for its type, -1 when out of memory. */
static int run_cmd(fd_ads_client_t *c, const fd_ads_cmd_t *cmd)
{
    switch (cmd->kind) {
    case FD_ADS_CMD_SUBSCRIBE:
        return fd_ads_state_subscribe(c->state, cmd->type_url, (const char *const *)cmd->names, cmd->n_names);
    case FD_ADS_CMD_ACK: return fd_ads_state_ack(c->state, cmd->type_url, cmd->version, cmd->nonce);
    case FD_ADS_CMD_NACK: return fd_ads_state_nack(c->state, cmd->type_url, cmd->nonce, cmd->message);
    }
    return 0;
}

/* Takes the queued commands (and notices stop) and runs them in order. */
static void run_cmds(fd_ads_client_t *c)
{
    pthread_mutex_lock(&c->mu);
    fd_ads_cmd_t *cmd = c->cmds;
    c->cmds = c->cmds_tail = NULL;
    c->stop_seen = c->stopping;
    pthread_mutex_unlock(&c->mu);
    while (cmd != NULL) {
        fd_ads_cmd_t *next = cmd->next;
        int rc = c->stop_seen ? 0 : run_cmd(c, cmd);
        if (rc > 0)
            fd_ads_stream_send(c, cmd->type_url);
        else if (rc < 0)
            fd_ads_stream_cancel(c); /* out of memory: resubscribe on a new stream */
        free_cmd(cmd);
        cmd = next;
    }
    if (c->stop_seen)
        fd_ads_stream_cancel(c);
}

/* Opens a stream when none is open, something is subscribed and the backoff has passed. */
static void maybe_open(fd_ads_client_t *c)
{
    if (c->stream.call != NULL || c->stop_seen || fd_ads_state_type_count(c->state) == 0)
        return;
    if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), c->retry_at) < 0)
        return;
    if (fd_ads_stream_open(c) != 0) {
        fprintf(stderr, "frontdesk: ads: cannot open a stream to %s\n", c->target);
        uint64_t wait_ms = fd_ads_backoff_next(&c->backoff, fd_ads_random(c));
        c->retry_at = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis((int64_t)wait_ms, GPR_TIMESPAN));
    }
}

static gpr_timespec next_deadline(const fd_ads_client_t *c)
{
    if (c->stream.call != NULL || c->stop_seen || fd_ads_state_type_count(c->state) == 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return c->retry_at;
}

static void dispatch(fd_ads_client_t *c, grpc_event ev)
{
    fd_ads_tag_t *tag = ev.tag;
    if (*tag == FD_ADS_TAG_WAKE)
        wake_done(c);
    else
        fd_ads_stream_on_event(c, tag, ev.success);
}

/* After the loop: no stream is left; a wake-up may still be in flight. */
static void drain(fd_ads_client_t *c)
{
    grpc_completion_queue_shutdown(c->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            dispatch(c, ev);
    }
}

static void *client_main(void *arg)
{
    fd_ads_client_t *c = arg;
    for (;;) {
        run_cmds(c);
        if (c->stop_seen && c->stream.call == NULL)
            break;
        maybe_open(c);
        grpc_event ev = grpc_completion_queue_next(c->cq, next_deadline(c), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            dispatch(c, ev);
    }
    drain(c);
    return NULL;
}

/* --- start and stop ----------------------------------------------------------------------- */

static void destroy(fd_ads_client_t *c)
{
    while (c->cmds != NULL) {
        fd_ads_cmd_t *next = c->cmds->next;
        free_cmd(c->cmds);
        c->cmds = next;
    }
    if (c->channel != NULL)
        grpc_channel_destroy(c->channel);
    if (c->lame != NULL)
        grpc_channel_destroy(c->lame);
    if (c->cq != NULL)
        grpc_completion_queue_destroy(c->cq);
    fd_ads_state_free(c->state);
    pthread_mutex_destroy(&c->mu);
    free(c->target);
    free(c->method);
    free(c);
    grpc_shutdown();
}

static fd_ads_client_t *create(const fd_ads_options_t *opts)
{
    fd_ads_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    grpc_init();
    pthread_mutex_init(&c->mu, NULL);
    c->opts = *opts;
    c->opts.target = c->opts.method = NULL;
    c->opts.node = NULL;
    c->wake.tag = FD_ADS_TAG_WAKE;
    c->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9e3779b97f4a7c15ULL;
    fd_ads_backoff_init(&c->backoff, opts->backoff_base_ms, opts->backoff_max_ms);
    c->retry_at = gpr_inf_past(GPR_CLOCK_MONOTONIC);
    c->target = strdup(opts->target);
    c->method = strdup(opts->method != NULL ? opts->method : FD_ADS_METHOD_ADS);
    c->state = fd_ads_state_new(opts->node, opts->node_on_every_request);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    c->lame = grpc_lame_client_channel_create(NULL, GRPC_STATUS_UNAVAILABLE, "frontdesk ADS client wake-up");
    if (c->target == NULL || c->method == NULL || c->state == NULL || c->cq == NULL || c->lame == NULL) {
        destroy(c);
        return NULL;
    }
    return c;
}

fd_ads_client_t *fd_ads_client_start(const fd_ads_options_t *opts)
{
    if (opts == NULL || opts->target == NULL || opts->target[0] == '\0' || opts->on_response == NULL) {
        fprintf(stderr, "frontdesk: ads: a target and an on_response callback are required\n");
        return NULL;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the main thread's, gRPC's threads too */
    fd_ads_client_t *c = create(opts);
    int rc = c != NULL ? pthread_create(&c->thread, NULL, client_main, c) : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        fprintf(stderr, "frontdesk: ads: cannot start the client for %s\n", opts->target);
        if (c != NULL)
            destroy(c);
        return NULL;
    }
    return c;
}

void fd_ads_client_stop(fd_ads_client_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    destroy(c);
}
