/* Unit tests of the ADS protocol state (xds/ads_state.c): what each DiscoveryRequest carries
 * (node on the first request of a stream, versions, nonces, names, error_detail), ACK and
 * NACK bookkeeping, verdicts given late or on an earlier stream, and response checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xds/ads_client.h"
#include "xds/ads_state.h"

typedef Envoy__Service__Discovery__V3__DiscoveryRequest request_t;
typedef Envoy__Service__Discovery__V3__DiscoveryResponse response_t;

static fd_ads_state_t *new_state(int every)
{
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = "node-1";
    node.cluster = "edge";
    fd_ads_state_t *st = fd_ads_state_new(&node, every);
    assert_non_null(st);
    return st;
}

/* The request the state would send now for type_url, decoded (free with free_request). */
static request_t *request(fd_ads_state_t *st, const char *type_url)
{
    uint8_t *data;
    size_t len;
    assert_int_equal(fd_ads_state_request(st, type_url, &data, &len), 0);
    request_t *req = envoy__service__discovery__v3__discovery_request__unpack(NULL, len, data);
    free(data);
    assert_non_null(req);
    return req;
}

static void free_request(request_t *req)
{
    envoy__service__discovery__v3__discovery_request__free_unpacked(req, NULL);
}

/* A response of type_url whose resources all have resource_type. */
typedef struct fake_response {
    response_t resp;
    Google__Protobuf__Any any[2];
    Google__Protobuf__Any *anys[2];
} fake_response_t;

static void make_response(fake_response_t *f, const char *type_url, const char *resource_type, const char *version,
                          const char *nonce)
{
    *f = (fake_response_t){.resp = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT};
    f->resp.type_url = (char *)type_url;
    f->resp.version_info = (char *)version;
    f->resp.nonce = (char *)nonce;
    for (int i = 0; i < 2; i++) {
        f->any[i] = (Google__Protobuf__Any)GOOGLE__PROTOBUF__ANY__INIT;
        f->any[i].type_url = (char *)resource_type;
        f->anys[i] = &f->any[i];
    }
    f->resp.resources = f->anys;
    f->resp.n_resources = 2;
}

static void deliver(fd_ads_state_t *st, const char *type_url, const char *version, const char *nonce)
{
    fake_response_t f;
    char why[256];
    make_response(&f, type_url, type_url, version, nonce);
    assert_int_equal(fd_ads_state_on_response(st, &f.resp, why, sizeof(why)), FD_ADS_CHECK_DELIVER);
}

static void test_node_only_in_the_first_request_of_a_stream(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0), 1);
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_LISTENER, NULL, 0), 1);
    request_t *first = request(st, FD_ADS_TYPE_CLUSTER);
    assert_non_null(first->node);
    assert_string_equal(first->node->id, "node-1");
    assert_string_equal(first->node->cluster, "edge");
    assert_string_equal(first->node->user_agent_name, "frontdesk");
    assert_string_equal(first->type_url, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(first->version_info, "");
    assert_string_equal(first->response_nonce, "");
    assert_int_equal(first->n_resource_names, 0);
    assert_null(first->error_detail);
    request_t *second = request(st, FD_ADS_TYPE_LISTENER);
    assert_null(second->node);
    fd_ads_state_new_stream(st);
    request_t *again = request(st, FD_ADS_TYPE_LISTENER);
    assert_non_null(again->node);
    free_request(first);
    free_request(second);
    free_request(again);
    fd_ads_state_free(st);
}

static void test_node_in_every_request_when_asked(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(1);
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    request_t *a = request(st, FD_ADS_TYPE_CLUSTER), *b = request(st, FD_ADS_TYPE_CLUSTER);
    assert_non_null(a->node);
    assert_non_null(b->node);
    free_request(a);
    free_request(b);
    fd_ads_state_free(st);
}

static void test_user_agent_name_is_kept_when_given(void **unused)
{
    (void)unused;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.user_agent_name = "my-gateway";
    fd_ads_state_t *st = fd_ads_state_new(&node, 0), *none = fd_ads_state_new(NULL, 0);
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    fd_ads_state_subscribe(none, FD_ADS_TYPE_CLUSTER, NULL, 0);
    request_t *a = request(st, FD_ADS_TYPE_CLUSTER), *b = request(none, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(a->node->user_agent_name, "my-gateway");
    assert_string_equal(b->node->user_agent_name, "frontdesk");
    free_request(a);
    free_request(b);
    fd_ads_state_free(st);
    fd_ads_state_free(none);
}

static void test_names_sorted_unique_and_sent_only_when_changed(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    const char *names[] = {"r2", "r1", "r2"}, *same[] = {"r1", "r2"}, *other[] = {"r3"};
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, names, 3), 1);
    request_t *req = request(st, FD_ADS_TYPE_ROUTE);
    assert_int_equal(req->n_resource_names, 2);
    assert_string_equal(req->resource_names[0], "r1");
    assert_string_equal(req->resource_names[1], "r2");
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, same, 2), 0);
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, other, 1), 1);
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, NULL, 0), 1);
    assert_int_equal(fd_ads_state_type_count(st), 1);
    assert_string_equal(fd_ads_state_type_url(st, 0), FD_ADS_TYPE_ROUTE);
    assert_null(fd_ads_state_type_url(st, 1));
    free_request(req);
    fd_ads_state_free(st);
}

static void test_ack_carries_version_nonce_and_names(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    const char *names[] = {"a"};
    fd_ads_state_subscribe(st, FD_ADS_TYPE_ENDPOINT, names, 1);
    free_request(request(st, FD_ADS_TYPE_ENDPOINT));
    deliver(st, FD_ADS_TYPE_ENDPOINT, "v1", "n1");
    assert_string_equal(fd_ads_state_version(st, FD_ADS_TYPE_ENDPOINT), "");
    assert_int_equal(fd_ads_state_ack(st, FD_ADS_TYPE_ENDPOINT, "v1", "n1"), 1);
    assert_string_equal(fd_ads_state_version(st, FD_ADS_TYPE_ENDPOINT), "v1");
    request_t *ack = request(st, FD_ADS_TYPE_ENDPOINT);
    assert_string_equal(ack->version_info, "v1");
    assert_string_equal(ack->response_nonce, "n1");
    assert_int_equal(ack->n_resource_names, 1);
    assert_string_equal(ack->resource_names[0], "a");
    assert_null(ack->error_detail);
    assert_null(ack->node);
    free_request(ack);
    fd_ads_state_free(st);
}

static void test_nack_keeps_the_version_and_sends_error_detail_once(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    deliver(st, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    fd_ads_state_ack(st, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    deliver(st, FD_ADS_TYPE_CLUSTER, "v2", "n2");
    assert_int_equal(fd_ads_state_nack(st, FD_ADS_TYPE_CLUSTER, "n2", "cluster 'x': bad"), 1);
    assert_string_equal(fd_ads_state_version(st, FD_ADS_TYPE_CLUSTER), "v1");
    request_t *nack = request(st, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(nack->version_info, "v1");
    assert_string_equal(nack->response_nonce, "n2");
    assert_non_null(nack->error_detail);
    assert_int_equal(nack->error_detail->code, 13);
    assert_string_equal(nack->error_detail->message, "cluster 'x': bad");
    request_t *next = request(st, FD_ADS_TYPE_CLUSTER);
    assert_null(next->error_detail);
    assert_string_equal(next->response_nonce, "n2");
    free_request(nack);
    free_request(next);
    fd_ads_state_free(st);
}

static void test_nack_message_truncated_as_envoy_on_a_utf8_boundary(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    char *long_message = malloc(FD_ADS_ERROR_MAX + 100);
    memset(long_message, 'x', FD_ADS_ERROR_MAX + 99);
    long_message[FD_ADS_ERROR_MAX + 99] = '\0';
    memcpy(long_message + FD_ADS_ERROR_MAX - 1, "\xc3\xa9", 2); /* é across the cut */
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    deliver(st, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    fd_ads_state_nack(st, FD_ADS_TYPE_CLUSTER, "n1", long_message);
    request_t *nack = request(st, FD_ADS_TYPE_CLUSTER);
    const char *msg = nack->error_detail->message;
    assert_int_equal(strlen(msg), FD_ADS_ERROR_MAX - 1 + strlen("...(truncated)"));
    assert_string_equal(msg + FD_ADS_ERROR_MAX - 1, "...(truncated)");
    free_request(nack);
    free(long_message);
    fd_ads_state_free(st);
}

static void test_late_verdicts_and_verdicts_from_an_earlier_stream(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    const char *names[] = {"r1"}, *more[] = {"r1", "r2"};
    fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, names, 1);
    deliver(st, FD_ADS_TYPE_ROUTE, "v1", "n1");
    /* a name change while a verdict is pending rides on the verdict's request */
    assert_int_equal(fd_ads_state_subscribe(st, FD_ADS_TYPE_ROUTE, more, 2), 0);
    assert_int_equal(fd_ads_state_ack(st, FD_ADS_TYPE_ROUTE, "v1", "n1"), 1);
    request_t *ack = request(st, FD_ADS_TYPE_ROUTE);
    assert_int_equal(ack->n_resource_names, 2);
    free_request(ack);
    /* a verdict for a nonce never delivered, or answered already, sends nothing */
    assert_int_equal(fd_ads_state_nack(st, FD_ADS_TYPE_ROUTE, "n1", "again"), 0);
    assert_int_equal(fd_ads_state_ack(st, "type.googleapis.com/unknown", "v", "n"), 0);
    /* the stream fails while v2 awaits its verdict: the ACK records the version, sends nothing */
    deliver(st, FD_ADS_TYPE_ROUTE, "v2", "n2");
    fd_ads_state_new_stream(st);
    assert_int_equal(fd_ads_state_ack(st, FD_ADS_TYPE_ROUTE, "v2", "n2"), 0);
    request_t *resub = request(st, FD_ADS_TYPE_ROUTE);
    assert_string_equal(resub->version_info, "v2");
    assert_string_equal(resub->response_nonce, "");
    assert_non_null(resub->node);
    free_request(resub);
    fd_ads_state_free(st);
}

static void test_resubscription_forgets_nonce_and_pending_nack(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    deliver(st, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    fd_ads_state_ack(st, FD_ADS_TYPE_CLUSTER, "v1", "n1");
    deliver(st, FD_ADS_TYPE_CLUSTER, "v2", "n2");
    fd_ads_state_nack(st, FD_ADS_TYPE_CLUSTER, "n2", "bad");
    fd_ads_state_new_stream(st); /* the NACK never went out */
    request_t *resub = request(st, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(resub->version_info, "v1");
    assert_string_equal(resub->response_nonce, "");
    assert_null(resub->error_detail);
    free_request(resub);
    fd_ads_state_free(st);
}

static void test_response_checks(void **unused)
{
    (void)unused;
    fd_ads_state_t *st = new_state(0);
    fake_response_t f;
    char why[512];
    fd_ads_state_subscribe(st, FD_ADS_TYPE_CLUSTER, NULL, 0);
    make_response(&f, FD_ADS_TYPE_ENDPOINT, FD_ADS_TYPE_ENDPOINT, "e1", "n0");
    assert_int_equal(fd_ads_state_on_response(st, &f.resp, why, sizeof(why)), FD_ADS_CHECK_IGNORE);
    make_response(&f, FD_ADS_TYPE_CLUSTER, FD_ADS_RESOURCE_WRAPPER_TYPE_URL, "v1", "n1");
    assert_int_equal(fd_ads_state_on_response(st, &f.resp, why, sizeof(why)), FD_ADS_CHECK_DELIVER);
    make_response(&f, FD_ADS_TYPE_CLUSTER, FD_ADS_TYPE_LISTENER, "v2", "n2");
    assert_int_equal(fd_ads_state_on_response(st, &f.resp, why, sizeof(why)), FD_ADS_CHECK_REJECT);
    assert_string_equal(why, FD_ADS_TYPE_LISTENER " does not match the message-wide type URL " FD_ADS_TYPE_CLUSTER
                                                  " in DiscoveryResponse (version 'v2')");
    request_t *nack = request(st, FD_ADS_TYPE_CLUSTER);
    assert_string_equal(nack->response_nonce, "n2");
    assert_string_equal(nack->version_info, "");
    assert_string_equal(nack->error_detail->message, why);
    free_request(nack);
    uint8_t *data;
    size_t len;
    assert_int_equal(fd_ads_state_request(st, FD_ADS_TYPE_ROUTE, &data, &len), -1);
    assert_null(fd_ads_state_version(st, FD_ADS_TYPE_ROUTE));
    fd_ads_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_only_in_the_first_request_of_a_stream),
        cmocka_unit_test(test_node_in_every_request_when_asked),
        cmocka_unit_test(test_user_agent_name_is_kept_when_given),
        cmocka_unit_test(test_names_sorted_unique_and_sent_only_when_changed),
        cmocka_unit_test(test_ack_carries_version_nonce_and_names),
        cmocka_unit_test(test_nack_keeps_the_version_and_sends_error_detail_once),
        cmocka_unit_test(test_nack_message_truncated_as_envoy_on_a_utf8_boundary),
        cmocka_unit_test(test_late_verdicts_and_verdicts_from_an_earlier_stream),
        cmocka_unit_test(test_resubscription_forgets_nonce_and_pending_nack),
        cmocka_unit_test(test_response_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
