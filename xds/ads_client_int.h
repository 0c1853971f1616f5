/* Internals shared by ads_client.c (the thread, the command queue, wake-ups, start and stop)
 * and ads_stream.c (the gRPC call of one ADS stream). Not for use outside xds/. */
#ifndef FD_ADS_CLIENT_INT_H
#define FD_ADS_CLIENT_INT_H

#include <pthread.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "xds/ads_backoff.h"
#include "xds/ads_client.h"
#include "xds/ads_state.h"

/* What a completion-queue tag is: each tag points at one of these, embedded in its owner. */
typedef enum fd_ads_tag {
    FD_ADS_TAG_START,  /* send initial metadata + receive the server's */
    FD_ADS_TAG_STATUS, /* the call ended */
    FD_ADS_TAG_RECV,   /* a DiscoveryResponse (or the end of the stream) */
    FD_ADS_TAG_SEND,   /* a DiscoveryRequest went out */
    FD_ADS_TAG_WAKE,   /* another thread queued a command */
} fd_ads_tag_t;

/* A packed DiscoveryRequest waiting for the send in flight to finish. */
typedef struct fd_ads_out {
    struct fd_ads_out *next;
    grpc_byte_buffer *buf;
} fd_ads_out_t;

/* One stream (one gRPC call); all zero when there is none. */
typedef struct fd_ads_stream {
    grpc_call *call;
    int ops;       /* batches started and not yet completed */
    int closed;    /* RECV_STATUS_ON_CLIENT completed */
    int cancelled; /* grpc_call_cancel() done */
    int up;        /* the server answered (headers or a message) */
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *send_buf; /* in flight */
    fd_ads_out_t *out_head, *out_tail;
    fd_ads_tag_t start_tag, status_tag, recv_tag, send_tag;
} fd_ads_stream_t;

/* The wake-up call in flight on the lame channel (call NULL: none). */
typedef struct fd_ads_wake {
    grpc_call *call;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing_md;
    fd_ads_tag_t tag;
} fd_ads_wake_t;

typedef enum fd_ads_cmd_kind { FD_ADS_CMD_SUBSCRIBE, FD_ADS_CMD_ACK, FD_ADS_CMD_NACK } fd_ads_cmd_kind_t;

/* A request from another thread; strings are the command's own copies. */
typedef struct fd_ads_cmd {
    struct fd_ads_cmd *next;
    fd_ads_cmd_kind_t kind;
    char *type_url;
    char **names;
    size_t n_names;
    char *version; /* ACK */
    char *nonce;   /* ACK, NACK */
    char *message; /* NACK */
} fd_ads_cmd_t;

struct fd_ads_client {
    fd_ads_options_t opts; /* target, method and node point at nothing: see below and state */
    char *target;
    char *method;
    grpc_completion_queue *cq;
    grpc_channel *lame; /* fails every call at once: wake-ups (ads_client.c) */

    pthread_t thread;
    pthread_mutex_t mu; /* guards cmds, stopping and wake */
    fd_ads_cmd_t *cmds, *cmds_tail;
    int stopping;
    fd_ads_wake_t wake;

    /* The client thread's alone from here. */
    grpc_channel *channel; /* NULL: made before the next stream */
    fd_ads_state_t *state;
    fd_ads_stream_t stream;
    fd_ads_backoff_t backoff;
    gpr_timespec retry_at; /* GPR_CLOCK_MONOTONIC; when no stream, open one then */
    uint64_t rng;
    int stop_seen;
};

/* ads_stream.c */

/* Opens the stream and sends every subscription; -1 (retry later) when gRPC refused. */
int fd_ads_stream_open(fd_ads_client_t *c);

/* Queues the current DiscoveryRequest of type_url if the stream can still send. */
void fd_ads_stream_send(fd_ads_client_t *c, const char *type_url);

/* A completion of one of the stream's batches. */
void fd_ads_stream_on_event(fd_ads_client_t *c, fd_ads_tag_t *tag, int success);

/* Cancels the stream; its completions still arrive, then it closes as any failed stream. */
void fd_ads_stream_cancel(fd_ads_client_t *c);

/* A pseudo-random number for the backoff's jitter (xorshift64*). */
uint64_t fd_ads_random(fd_ads_client_t *c);

#endif
