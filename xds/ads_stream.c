/* One ADS stream as a gRPC core call, driven by the client thread's completion queue: the
 * call is opened with a send-initial-metadata batch, a status batch and a receive batch;
 * DiscoveryRequests go out one send batch at a time from a queue; each received
 * DiscoveryResponse is checked, handed to on_response and answered. When the status has
 * arrived and every batch has completed, the call is released and a reconnect scheduled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include "xds/ads_client_int.h"

/* Room for a consumer's NACK message; it is cut to FD_ADS_ERROR_MAX bytes when sent. */
#define FD_ADS_WHY_MAX (2 * FD_ADS_ERROR_MAX)

static int writable(const fd_ads_stream_t *s)
{
    return s->call != NULL && !s->closed && !s->cancelled;
}

/* A batch that core refuses is a bug in this file, not a runtime condition. */
static void start_batch(fd_ads_stream_t *s, const grpc_op *ops, size_t n, fd_ads_tag_t *tag)
{
    grpc_call_error err = grpc_call_start_batch(s->call, ops, n, tag, NULL);
    if (err != GRPC_CALL_OK) {
        fprintf(stderr, "frontdesk: ads: grpc_call_start_batch: %s\n", grpc_call_error_to_string(err));
        abort();
    }
    s->ops++;
}

/* gRPC's limit on a received message: -1 is none. */
static int receive_limit(uint32_t max_response_bytes)
{
    if (max_response_bytes == 0)
        return -1;
    return max_response_bytes > INT32_MAX ? INT32_MAX : (int)max_response_bytes;
}

static grpc_channel *create_channel(fd_ads_client_t *c)
{
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = receive_limit(c->opts.max_response_bytes)},
    };
    grpc_channel_args channel_args = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *channel = grpc_channel_create(c->target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    return channel;
}

static void start_receive(fd_ads_stream_t *s)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &s->recv_buf;
    start_batch(s, &op, 1, &s->recv_tag);
}

static void start_call(fd_ads_stream_t *s)
{
    grpc_op start[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_RECV_INITIAL_METADATA}};
    start[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    start_batch(s, start, 2, &s->start_tag);
    grpc_op status = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    status.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    status.data.recv_status_on_client.status = &s->status;
    status.data.recv_status_on_client.status_details = &s->details;
    start_batch(s, &status, 1, &s->status_tag);
    start_receive(s);
}

int fd_ads_stream_open(fd_ads_client_t *c)
{
    if (c->channel == NULL && (c->channel = create_channel(c)) == NULL)
        return -1;
    fd_ads_stream_t *s = &c->stream;
    grpc_slice method = grpc_slice_from_static_string(c->method); /* outlives the call */
    *s = (fd_ads_stream_t){.start_tag = FD_ADS_TAG_START,
                           .status_tag = FD_ADS_TAG_STATUS,
                           .recv_tag = FD_ADS_TAG_RECV,
                           .send_tag = FD_ADS_TAG_SEND};
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, method, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (s->call == NULL)
        return -1;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    start_call(s);
    for (size_t i = 0; i < fd_ads_state_type_count(c->state); i++) {
        const char *type_url = fd_ads_state_type_url(c->state, i);
        /* a type of named resources that names none any more (EDS after its last cluster went)
         * is not asked for on a new stream: an empty first request would be the wildcard */
        if (fd_ads_state_type_names(c->state, i) == 0 && strcmp(type_url, FD_ADS_TYPE_CLUSTER) != 0 &&
            strcmp(type_url, FD_ADS_TYPE_LISTENER) != 0)
            continue;
        fd_ads_stream_send(c, type_url);
    }
    return 0;
}

static void pump(fd_ads_stream_t *s)
{
    if (s->send_buf != NULL || s->out_head == NULL || !writable(s))
        return;
    fd_ads_out_t *out = s->out_head;
    if ((s->out_head = out->next) == NULL)
        s->out_tail = NULL;
    s->send_buf = out->buf;
    free(out);
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = s->send_buf;
    start_batch(s, &op, 1, &s->send_tag);
}

/* Out of memory mid-protocol: a request would be lost, so start over on a new stream. */
static void fail_stream(fd_ads_client_t *c, const char *what)
{
    fprintf(stderr, "frontdesk: ads: %s; restarting the stream\n", what);
    fd_ads_stream_cancel(c);
}

void fd_ads_stream_send(fd_ads_client_t *c, const char *type_url)
{
    fd_ads_stream_t *s = &c->stream;
    uint8_t *data;
    size_t len;
    if (!writable(s))
        return; /* the next stream sends every subscription */
    fd_ads_out_t *out = malloc(sizeof(*out));
    if (out == NULL || fd_ads_state_request(c->state, type_url, &data, &len) != 0) {
        free(out);
        fail_stream(c, "out of memory");
        return;
    }
    grpc_slice slice = grpc_slice_new(data, len, free);
    *out = (fd_ads_out_t){.buf = grpc_raw_byte_buffer_create(&slice, 1)};
    grpc_slice_unref(slice);
    if (s->out_tail != NULL)
        s->out_tail->next = out;
    else
        s->out_head = out;
    s->out_tail = out;
    pump(s);
}

void fd_ads_stream_cancel(fd_ads_client_t *c)
{
    fd_ads_stream_t *s = &c->stream;
    if (s->call != NULL && !s->cancelled) {
        s->cancelled = 1;
        grpc_call_cancel(s->call, NULL);
    }
}

/* The consumer's verdict on a delivered response, recorded and sent. */
static void answer(fd_ads_client_t *c, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, int verdict,
                   const char *why)
{
    int rc = 0;
    if (verdict == FD_ADS_ACK)
        rc = fd_ads_state_ack(c->state, resp->type_url, resp->version_info, resp->nonce);
    else if (verdict == FD_ADS_NACK)
        rc = fd_ads_state_nack(c->state, resp->type_url, resp->nonce, why[0] ? why : "rejected");
    if (rc < 0)
        fail_stream(c, "out of memory");
    else if (rc > 0)
        fd_ads_stream_send(c, resp->type_url);
}

static void handle_response(fd_ads_client_t *c, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp)
{
    char why[FD_ADS_WHY_MAX] = "";
    switch (fd_ads_state_on_response(c->state, resp, why, sizeof(why))) {
    case FD_ADS_CHECK_IGNORE:
        fprintf(stderr, "frontdesk: ads: ignoring the message for type URL %s as it has no current subscribers\n",
                resp->type_url);
        return;
    case FD_ADS_CHECK_REJECT:
        fprintf(stderr, "frontdesk: ads: rejecting %s version '%s': %s\n", resp->type_url, resp->version_info, why);
        fd_ads_stream_send(c, resp->type_url);
        return;
    case FD_ADS_CHECK_DELIVER: break;
    }
    int verdict = c->opts.on_response(c->opts.ctx, resp, why, sizeof(why));
    why[sizeof(why) - 1] = '\0';
    answer(c, resp, verdict, why);
}

/* The received message as one DiscoveryResponse, or NULL when it does not decode. */
static Envoy__Service__Discovery__V3__DiscoveryResponse *decode(grpc_byte_buffer *buf)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buf))
        return NULL;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg = protobuf_c_message_unpack(&envoy__service__discovery__v3__discovery_response__descriptor,
                                                      NULL, GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    return (Envoy__Service__Discovery__V3__DiscoveryResponse *)msg;
}

/* The server answered: report the stream up (once). */
static void mark_up(fd_ads_client_t *c)
{
    if (c->stream.up)
        return;
    c->stream.up = 1;
    if (c->opts.on_stream != NULL)
        c->opts.on_stream(c->opts.ctx, 1, 0, "");
}

static void on_receive(fd_ads_client_t *c, int success)
{
    fd_ads_stream_t *s = &c->stream;
    grpc_byte_buffer *buf = s->recv_buf;
    s->recv_buf = NULL;
    if (!success || buf == NULL)
        return; /* the stream is ending: its status follows */
    Envoy__Service__Discovery__V3__DiscoveryResponse *resp = decode(buf);
    grpc_byte_buffer_destroy(buf);
    if (resp == NULL) {
        fail_stream(c, "a DiscoveryResponse does not decode");
        return;
    }
    mark_up(c);
    fd_ads_backoff_reset(&c->backoff); /* as Envoy: a message proves the stream works */
    if (!s->cancelled)
        handle_response(c, resp);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (writable(s))
        start_receive(s);
}

static void free_out(fd_ads_stream_t *s)
{
    while (s->out_head != NULL) {
        fd_ads_out_t *out = s->out_head;
        s->out_head = out->next;
        grpc_byte_buffer_destroy(out->buf);
        free(out);
    }
    s->out_tail = NULL;
}

static void report_close(fd_ads_client_t *c, fd_ads_stream_t *s)
{
    char *details = grpc_slice_to_c_string(s->details);
    if (c->opts.on_stream != NULL)
        c->opts.on_stream(c->opts.ctx, 0, (int)s->status, details);
    else if (!c->stop_seen)
        fprintf(stderr, "frontdesk: ads: StreamAggregatedResources gRPC config stream to %s closed: %d, %s\n",
                c->target, (int)s->status, details);
    gpr_free(details);
}

/* Every batch has completed after the status: release the call, schedule the next one. */
static void close_stream(fd_ads_client_t *c)
{
    fd_ads_stream_t *s = &c->stream;
    report_close(c, s);
    if (!s->up) {
        /* never connected: a fresh channel makes the next attempt a fresh connection instead of
         * failing at once while the old channel sits in TRANSIENT_FAILURE (sticky in 1.51) */
        grpc_channel_destroy(c->channel);
        c->channel = NULL;
    }
    grpc_call_unref(s->call);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    free_out(s);
    *s = (fd_ads_stream_t){0};
    fd_ads_state_new_stream(c->state);
    uint64_t wait_ms = fd_ads_backoff_next(&c->backoff, fd_ads_random(c));
    c->retry_at = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis((int64_t)wait_ms, GPR_TIMESPAN));
}

void fd_ads_stream_on_event(fd_ads_client_t *c, fd_ads_tag_t *tag, int success)
{
    fd_ads_stream_t *s = &c->stream;
    s->ops--;
    switch (*tag) {
    case FD_ADS_TAG_START:
        if (success && !s->closed)
            mark_up(c);
        break;
    case FD_ADS_TAG_STATUS: s->closed = 1; break;
    case FD_ADS_TAG_RECV: on_receive(c, success); break;
    case FD_ADS_TAG_SEND:
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
        if (success)
            pump(s);
        break;
    case FD_ADS_TAG_WAKE: break;
    }
    if (s->closed && s->ops == 0)
        close_stream(c);
}
