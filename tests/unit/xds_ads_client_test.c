/* Unit tests of the ADS client (xds/ads_client.c, ads_stream.c) against a control server
 * written with gRPC core's C server API in this file: the first request, an ACK, a deferred
 * NACK from another thread, reconnection after the server ends the stream, and start/stop
 * with no server, no subscription or an open stream (leak-free under ASan/LSan). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "xds/ads_client.h"

typedef Envoy__Service__Discovery__V3__DiscoveryRequest request_t;

/* --- the control server (test thread only) ------------------------------------------------- */

typedef struct server {
    grpc_server *server;
    grpc_completion_queue *cq;
    int port;
    grpc_call *call; /* the current ADS stream */
    grpc_call_details details;
    grpc_metadata_array md;
} server_t;

static gpr_timespec in_seconds(int s)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(s, GPR_TIMESPAN));
}

/* Waits (5 s at most) for tag's completion; returns its success. */
static int wait_tag(server_t *s, void *tag)
{
    grpc_event ev = grpc_completion_queue_next(s->cq, in_seconds(5), NULL);
    assert_int_equal(ev.type, GRPC_OP_COMPLETE);
    assert_ptr_equal(ev.tag, tag);
    return ev.success;
}

static void server_start(server_t *s)
{
    *s = (server_t){.cq = grpc_completion_queue_create_for_next(NULL)};
    s->server = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->server, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    assert_true(s->port > 0);
    grpc_server_start(s->server);
}

static void server_accept(server_t *s)
{
    grpc_call_details_init(&s->details);
    grpc_metadata_array_init(&s->md);
    assert_int_equal(grpc_server_request_call(s->server, &s->call, &s->details, &s->md, s->cq, s->cq, s), GRPC_CALL_OK);
    assert_true(wait_tag(s, s));
    char *method = grpc_slice_to_c_string(s->details.method);
    assert_string_equal(method, "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources");
    gpr_free(method);
    grpc_op op = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    assert_int_equal(grpc_call_start_batch(s->call, &op, 1, &op, NULL), GRPC_CALL_OK);
    assert_true(wait_tag(s, &op));
}

static request_t *server_read(server_t *s)
{
    grpc_byte_buffer *buf = NULL;
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &buf};
    assert_int_equal(grpc_call_start_batch(s->call, &op, 1, &op, NULL), GRPC_CALL_OK);
    assert_true(wait_tag(s, &op));
    assert_non_null(buf);
    grpc_byte_buffer_reader reader;
    assert_true(grpc_byte_buffer_reader_init(&reader, buf));
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    request_t *req = envoy__service__discovery__v3__discovery_request__unpack(NULL, GRPC_SLICE_LENGTH(slice),
                                                                              GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(buf);
    assert_non_null(req);
    return req;
}

static void server_send(server_t *s, const char *type_url, const char *version, const char *nonce)
{
    Envoy__Service__Discovery__V3__DiscoveryResponse resp = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT, *anys[] = {&any};
    any.type_url = (char *)type_url;
    resp.type_url = (char *)type_url;
    resp.version_info = (char *)version;
    resp.nonce = (char *)nonce;
    resp.resources = anys;
    resp.n_resources = 1;
    uint8_t data[512];
    size_t len = protobuf_c_message_pack(&resp.base, data);
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = buf};
    assert_int_equal(grpc_call_start_batch(s->call, &op, 1, &op, NULL), GRPC_CALL_OK);
    assert_true(wait_tag(s, &op));
    grpc_byte_buffer_destroy(buf);
}

/* Ends the current stream with status code. */
static void server_end(server_t *s, grpc_status_code code)
{
    int cancelled = 0;
    grpc_slice details = grpc_slice_from_static_string("going away");
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_STATUS_FROM_SERVER}, {.op = GRPC_OP_RECV_CLOSE_ON_SERVER}};
    ops[0].data.send_status_from_server.status = code;
    ops[0].data.send_status_from_server.status_details = &details;
    ops[1].data.recv_close_on_server.cancelled = &cancelled;
    assert_int_equal(grpc_call_start_batch(s->call, ops, 2, ops, NULL), GRPC_CALL_OK);
    assert_true(wait_tag(s, ops));
    grpc_call_unref(s->call);
    grpc_call_details_destroy(&s->details);
    grpc_metadata_array_destroy(&s->md);
    s->call = NULL;
}

static void server_stop(server_t *s)
{
    if (s->call != NULL)
        server_end(s, GRPC_STATUS_UNAVAILABLE);
    grpc_server_shutdown_and_notify(s->server, s->cq, s);
    grpc_server_cancel_all_calls(s->server);
    assert_true(wait_tag(s, s));
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, in_seconds(5), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
}

/* --- the consumer (callbacks on the client thread) ---------------------------------------- */

typedef struct consumer {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int responses, ups, downs, last_status;
    int defer;        /* FD_ADS_PENDING, and remember version and nonce */
    int nack_from_cb; /* FD_ADS_NACK with a message */
    char version[64], nonce[64];
} consumer_t;

static int on_response(void *ctx, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *error_detail,
                       size_t error_len)
{
    consumer_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->responses++;
    snprintf(c->version, sizeof(c->version), "%s", resp->version_info);
    snprintf(c->nonce, sizeof(c->nonce), "%s", resp->nonce);
    pthread_cond_broadcast(&c->cond);
    int verdict = c->defer ? FD_ADS_PENDING : c->nack_from_cb ? FD_ADS_NACK : FD_ADS_ACK;
    pthread_mutex_unlock(&c->mu);
    if (verdict == FD_ADS_NACK)
        snprintf(error_detail, error_len, "unit test rejects %s", resp->version_info);
    return verdict;
}

static void on_stream(void *ctx, int connected, int grpc_status, const char *message)
{
    consumer_t *c = ctx;
    (void)message;
    pthread_mutex_lock(&c->mu);
    if (connected)
        c->ups++;
    else
        c->downs++;
    c->last_status = grpc_status;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/* Waits (5 s at most) until *counter reaches n. */
static void wait_count(consumer_t *c, const int *counter, int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&c->mu);
    while (*counter < n && pthread_cond_timedwait(&c->cond, &c->mu, &deadline) == 0) {
    }
    int reached = *counter >= n;
    pthread_mutex_unlock(&c->mu);
    assert_true(reached);
}

static void set_mode(consumer_t *c, int defer, int nack_from_cb)
{
    pthread_mutex_lock(&c->mu);
    c->defer = defer;
    c->nack_from_cb = nack_from_cb;
    pthread_mutex_unlock(&c->mu);
}

static fd_ads_client_t *start_client(consumer_t *c, int port)
{
    static Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    char target[64];
    node.id = "unit";
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    fd_ads_options_t opts = {.target = target,
                             .node = &node,
                             .backoff_base_ms = 50,
                             .backoff_max_ms = 100,
                             .on_response = on_response,
                             .on_stream = on_stream,
                             .ctx = c};
    fd_ads_client_t *client = fd_ads_client_start(&opts);
    assert_non_null(client);
    return client;
}

static void done(consumer_t *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_start_needs_a_target_and_a_callback(void **unused)
{
    (void)unused;
    fd_ads_options_t opts = {.target = "127.0.0.1:1"};
    assert_null(fd_ads_client_start(&opts));
    opts = (fd_ads_options_t){.on_response = on_response};
    assert_null(fd_ads_client_start(&opts));
    assert_null(fd_ads_client_start(NULL));
    fd_ads_client_stop(NULL);
}

static void test_stop_without_subscription_or_server(void **unused)
{
    (void)unused;
    consumer_t c = {0};
    fd_ads_client_t *client = start_client(&c, 1); /* port 1: nothing listens */
    fd_ads_client_stop(client);
    assert_int_equal(c.downs, 0);
    done(&c);
    client = start_client(&c, 1);
    assert_int_equal(fd_ads_client_subscribe(client, FD_ADS_TYPE_CLUSTER, NULL, 0), 0);
    wait_count(&c, &c.downs, 2); /* fails, backs off, fails again */
    assert_int_equal(c.last_status, GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(c.ups, 0);
    assert_int_equal(fd_ads_client_ack(client, FD_ADS_TYPE_CLUSTER, "v", "n"), 0); /* nothing to answer */
    fd_ads_client_stop(client);
    done(&c);
}

static void test_request_ack_nack_and_reconnect(void **unused)
{
    (void)unused;
    grpc_init();
    server_t s;
    consumer_t c = {0};
    server_start(&s);
    fd_ads_client_t *client = start_client(&c, s.port);
    const char *names[] = {"r1"};
    fd_ads_client_subscribe(client, FD_ADS_TYPE_CLUSTER, NULL, 0);
    server_accept(&s);
    request_t *req = server_read(&s);
    assert_string_equal(req->type_url, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(req->node->id, "unit");
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);

    server_send(&s, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    req = server_read(&s);
    assert_string_equal(req->version_info, "v1");
    assert_string_equal(req->response_nonce, "n1");
    assert_null(req->node);
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);
    wait_count(&c, &c.ups, 1);

    /* a deferred NACK, given from this thread */
    set_mode(&c, 1, 0);
    server_send(&s, FD_ADS_TYPE_CLUSTER, "v2", "n2");
    wait_count(&c, &c.responses, 2);
    assert_int_equal(fd_ads_client_nack(client, FD_ADS_TYPE_CLUSTER, c.nonce, "late no"), 0);
    req = server_read(&s);
    assert_string_equal(req->version_info, "v1");
    assert_string_equal(req->response_nonce, "n2");
    assert_int_equal(req->error_detail->code, 13);
    assert_string_equal(req->error_detail->message, "late no");
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);

    /* a subscription from this thread, then the server ends the stream */
    fd_ads_client_subscribe(client, FD_ADS_TYPE_ROUTE, names, 1);
    req = server_read(&s);
    assert_string_equal(req->type_url, FD_ADS_TYPE_ROUTE);
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);
    server_end(&s, GRPC_STATUS_UNAVAILABLE);
    wait_count(&c, &c.downs, 1);
    server_accept(&s);
    request_t *cds = server_read(&s), *rds = server_read(&s);
    assert_string_equal(cds->version_info, "v1");
    assert_string_equal(cds->response_nonce, "");
    assert_non_null(cds->node);
    assert_string_equal(rds->type_url, FD_ADS_TYPE_ROUTE);
    assert_int_equal(rds->n_resource_names, 1);
    assert_null(rds->node);
    envoy__service__discovery__v3__discovery_request__free_unpacked(cds, NULL);
    envoy__service__discovery__v3__discovery_request__free_unpacked(rds, NULL);

    /* stop with the stream open; the synchronous NACK path first */
    set_mode(&c, 0, 1);
    server_send(&s, FD_ADS_TYPE_CLUSTER, "v3", "n3");
    req = server_read(&s);
    assert_string_equal(req->error_detail->message, "unit test rejects v3");
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);
    fd_ads_client_stop(client);
    server_stop(&s);
    done(&c);
    grpc_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_needs_a_target_and_a_callback),
        cmocka_unit_test(test_stop_without_subscription_or_server),
        cmocka_unit_test(test_request_ack_nack_and_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
