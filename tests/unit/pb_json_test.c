/* Tests for pb_json: Envoy config loaded from YAML prints back as protobuf's canonical JSON
 * (field-number order, defaults left out, well-known types by their own mapping), and that
 * JSON loads back into the same message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "proxy/config/pb_json.h"
#include "proxy/config/yaml_loader.h"

#define BOOTSTRAP (&envoy__config__bootstrap__v3__bootstrap__descriptor)
#define CLUSTER (&envoy__config__cluster__v3__cluster__descriptor)

static ProtobufCMessage *load(const char *text, const ProtobufCMessageDescriptor *desc, fd_cfg_source_t *src)
{
    fd_cfg_errors_t errs = {0};
    ProtobufCMessage *msg = fd_yaml_load_message(text, strlen(text), desc, src, &errs);
    if (msg == NULL) {
        char *joined = fd_cfg_errors_join(&errs);
        print_error("load failed:\n%s\n", joined);
        free(joined);
    }
    fd_cfg_errors_clear(&errs);
    assert_non_null(msg);
    return msg;
}

static void assert_msg_json(const ProtobufCMessage *msg, const fd_cfg_source_t *src, const char *expected)
{
    char *json = fd_pb_to_json(msg, src, 0);
    assert_non_null(json);
    assert_string_equal(json, expected);
    free(json);
}

/* Loads yaml as desc and checks the compact JSON, with the loader's Anys and without. */
static void assert_json(const char *yaml, const ProtobufCMessageDescriptor *desc, const char *expected)
{
    fd_cfg_source_t src;
    fd_cfg_source_init(&src, "test.yaml");
    ProtobufCMessage *msg = load(yaml, desc, &src);
    assert_msg_json(msg, &src, expected);
    assert_msg_json(msg, NULL, expected);
    protobuf_c_message_free_unpacked(msg, NULL);
    fd_cfg_source_dispose(&src);
}

static void test_scalars_and_enums(void **state)
{
    (void)state;
    assert_json("name: backend\n"
                "type: STRICT_DNS\n"
                "lb_policy: least_request\n"
                "dns_lookup_family: V4_ONLY\n"
                "respect_dns_ttl: true\n"
                "ignore_health_on_host_removal: false\n"
                "alt_stat_name: ''\n"
                "protocol_selection: USE_CONFIGURED_PROTOCOL\n",
                CLUSTER,
                "{\"name\":\"backend\",\"type\":\"STRICT_DNS\",\"lb_policy\":\"LEAST_REQUEST\","
                "\"dns_lookup_family\":\"V4_ONLY\",\"respect_dns_ttl\":true}");
}

/* A oneof member prints even at its default; an enum number with no name prints as a number. */
static void test_oneof_default_and_unknown_enum(void **state)
{
    (void)state;
    fd_cfg_source_t src;
    fd_cfg_source_init(&src, "test.yaml");
    Envoy__Config__Cluster__V3__Cluster *c =
        (Envoy__Config__Cluster__V3__Cluster *)load("name: a\ntype: STATIC\nlb_policy: ROUND_ROBIN\n", CLUSTER, &src);
    assert_msg_json(&c->base, &src, "{\"name\":\"a\",\"type\":\"STATIC\"}");
    c->lb_policy = 42;
    assert_msg_json(&c->base, &src, "{\"name\":\"a\",\"type\":\"STATIC\",\"lb_policy\":42}");
    protobuf_c_message_free_unpacked(&c->base, NULL);
    fd_cfg_source_dispose(&src);

    assert_json("stats_flush_on_admin: false\n"
                "application_log_config: {log_format: {text_format: ''}}\n",
                BOOTSTRAP,
                "{\"stats_flush_on_admin\":false,\"application_log_config\":{\"log_format\":{\"text_format\":\"\"}}}");
    assert_json("name: r\nring_hash_lb_config: {}\n", CLUSTER, "{\"name\":\"r\",\"ring_hash_lb_config\":{}}");
}

static void test_int64_as_string_and_bytes(void **state)
{
    (void)state;
    assert_json("admin:\n"
                "  socket_options:\n"
                "  - description: keepalive\n"
                "    level: 1\n"
                "    name: 9\n"
                "    int_value: 1\n"
                "    state: STATE_LISTENING\n"
                "  - level: -3\n"
                "    name: 4294967296\n"
                "    buf_value: aGVsbG8=\n"
                "  - buf_value: AAEC/w\n"
                "memory_allocator_manager:\n"
                "  bytes_to_release: 18446744073709551615\n",
                BOOTSTRAP,
                "{\"admin\":{\"socket_options\":["
                "{\"description\":\"keepalive\",\"level\":\"1\",\"name\":\"9\",\"int_value\":\"1\","
                "\"state\":\"STATE_LISTENING\"},"
                "{\"level\":\"-3\",\"name\":\"4294967296\",\"buf_value\":\"aGVsbG8=\"},"
                "{\"buf_value\":\"AAEC/w==\"}]},"
                "\"memory_allocator_manager\":{\"bytes_to_release\":\"18446744073709551615\"}}");
}

static void test_durations(void **state)
{
    (void)state;
    assert_json("name: d\n"
                "connect_timeout: 5s\n"
                "dns_refresh_rate: 0.25s\n"
                "cleanup_interval: 1.000001s\n"
                "common_lb_config: {update_merge_window: 0.000000001s}\n",
                CLUSTER,
                "{\"name\":\"d\",\"connect_timeout\":\"5s\",\"dns_refresh_rate\":\"0.250s\","
                "\"cleanup_interval\":\"1.000001s\",\"common_lb_config\":{\"update_merge_window\":\"0.000000001s\"}}");
    assert_json("name: z\nconnect_timeout: 0s\ndns_refresh_rate: -1.5s\n", CLUSTER,
                "{\"name\":\"z\",\"connect_timeout\":\"0s\",\"dns_refresh_rate\":\"-1.500s\"}");

    /* No string form for mixed signs or out of range: the fields show what is there. */
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = 1;
    d.nanos = -5;
    assert_msg_json(&d.base, NULL, "{\"seconds\":\"1\",\"nanos\":-5}");
    d.seconds = -315576000000;
    d.nanos = -999999999;
    assert_msg_json(&d.base, NULL, "\"-315576000000.999999999s\"");
}

static void test_timestamps(void **state)
{
    (void)state;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = 1769860800;
    assert_msg_json(&t.base, NULL, "\"2026-01-31T12:00:00Z\"");
    t.nanos = 500000000;
    assert_msg_json(&t.base, NULL, "\"2026-01-31T12:00:00.500Z\"");
    t.seconds = -62135596800;
    t.nanos = 1;
    assert_msg_json(&t.base, NULL, "\"0001-01-01T00:00:00.000000001Z\"");
    t.nanos = -1;
    assert_msg_json(&t.base, NULL, "{\"seconds\":\"-62135596800\",\"nanos\":-1}");
    assert_json("2026-01-31T13:00:00.25+01:00", &google__protobuf__timestamp__descriptor,
                "\"2026-01-31T12:00:00.250Z\"");
}

static void test_wrappers_and_doubles(void **state)
{
    (void)state;
    assert_json("name: w\n"
                "per_connection_buffer_limit_bytes: 32768\n"
                "wait_for_warm_on_init: false\n"
                "preconnect_policy: {per_upstream_preconnect_ratio: 1.5, predictive_preconnect_ratio: 0.1}\n",
                CLUSTER,
                "{\"name\":\"w\",\"per_connection_buffer_limit_bytes\":32768,"
                "\"preconnect_policy\":{\"per_upstream_preconnect_ratio\":1.5,\"predictive_preconnect_ratio\":0.1},"
                "\"wait_for_warm_on_init\":false}");
    assert_json("stats_server_version_override: 12\n", BOOTSTRAP, "{\"stats_server_version_override\":\"12\"}");

    Google__Protobuf__FloatValue f = GOOGLE__PROTOBUF__FLOAT_VALUE__INIT;
    f.value = 0.1f;
    assert_msg_json(&f.base, NULL, "0.1");
    Google__Protobuf__DoubleValue d = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
    assert_msg_json(&d.base, NULL, "0");
    d.value = 1e300;
    assert_msg_json(&d.base, NULL, "1e+300");
    d.value = 0.30000000000000004;
    assert_msg_json(&d.base, NULL, "0.30000000000000004");
    d.value = NAN;
    assert_msg_json(&d.base, NULL, "\"NaN\"");
    d.value = -INFINITY;
    assert_msg_json(&d.base, NULL, "\"-Infinity\"");
}

static void test_repeated_and_nested(void **state)
{
    (void)state;
    assert_json("node_context_params: [cluster, id]\n"
                "static_resources:\n"
                "  clusters:\n"
                "  - name: a\n"
                "  - name: b\n"
                "    load_assignment:\n"
                "      cluster_name: b\n"
                "      endpoints:\n"
                "      - lb_endpoints:\n"
                "        - endpoint:\n"
                "            address:\n"
                "              socket_address: {address: 10.0.0.1, port_value: 8080}\n",
                BOOTSTRAP,
                "{\"static_resources\":{\"clusters\":[{\"name\":\"a\"},{\"name\":\"b\",\"load_assignment\":"
                "{\"cluster_name\":\"b\",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":{\"address\":"
                "{\"socket_address\":{\"address\":\"10.0.0.1\",\"port_value\":8080}}}}]}]}}]},"
                "\"node_context_params\":[\"cluster\",\"id\"]}");
}

static void test_maps_and_struct(void **state)
{
    (void)state;
    assert_json("name: m\n"
                "metadata:\n"
                "  filter_metadata:\n"
                "    envoy.lb:\n"
                "      canary: true\n"
                "      weight: 3\n"
                "      ratio: 0.5\n"
                "      tags: [x, null, \"7\"]\n"
                "      nested: {k: v}\n"
                "      none: null\n"
                "    b: {}\n",
                CLUSTER,
                "{\"name\":\"m\",\"metadata\":{\"filter_metadata\":{\"envoy.lb\":{\"canary\":true,\"weight\":3,"
                "\"ratio\":0.5,\"tags\":[\"x\",null,\"7\"],\"nested\":{\"k\":\"v\"},\"none\":null},\"b\":{}}}}");
    assert_json("node:\n"
                "  id: n1\n"
                "  metadata: {role: edge}\n"
                "  dynamic_parameters:\n"
                "    envoy.config.cluster.v3.Cluster: {params: {region: eu, zone: '1'}}\n",
                BOOTSTRAP,
                "{\"node\":{\"id\":\"n1\",\"metadata\":{\"role\":\"edge\"},\"dynamic_parameters\":"
                "{\"envoy.config.cluster.v3.Cluster\":{\"params\":{\"region\":\"eu\",\"zone\":\"1\"}}}}}");
}

static const char listener_yaml[] =
    "static_resources:\n"
    "  listeners:\n"
    "  - name: l\n"
    "    address:\n"
    "      socket_address: {address: 0.0.0.0, port_value: 10000}\n"
    "    filter_chains:\n"
    "    - filters:\n"
    "      - name: envoy.filters.network.http_connection_manager\n"
    "        typed_config:\n"
    "          '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager\n"
    "          stat_prefix: ingress\n"
    "          codec_type: HTTP2\n"
    "          route_config: {name: local}\n"
    "          http_filters:\n"
    "          - name: envoy.filters.http.router\n"
    "            typed_config:\n"
    "              '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n";

static const char listener_json[] =
    "{\"static_resources\":{\"listeners\":[{\"name\":\"l\",\"address\":{\"socket_address\":"
    "{\"address\":\"0.0.0.0\",\"port_value\":10000}},\"filter_chains\":[{\"filters\":[{\"name\":"
    "\"envoy.filters.network.http_connection_manager\",\"typed_config\":{\"@type\":"
    "\"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\","
    "\"codec_type\":\"HTTP2\",\"stat_prefix\":\"ingress\",\"route_config\":{\"name\":\"local\"},"
    "\"http_filters\":[{\"name\":\"envoy.filters.http.router\",\"typed_config\":{\"@type\":"
    "\"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\"}}]}}]}]}]}}";

/* With the loader's source the decoded Anys print; without it, and after a pack and unpack
 * (no decoded Anys anywhere), Any.value is decoded here, to the same text. */
static void test_any_typed_config(void **state)
{
    (void)state;
    fd_cfg_source_t src;
    fd_cfg_source_init(&src, "test.yaml");
    ProtobufCMessage *msg = load(listener_yaml, BOOTSTRAP, &src);
    assert_msg_json(msg, &src, listener_json);
    assert_msg_json(msg, NULL, listener_json);

    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *bytes = malloc(len);
    assert_non_null(bytes);
    protobuf_c_message_pack(msg, bytes);
    ProtobufCMessage *copy = protobuf_c_message_unpack(BOOTSTRAP, NULL, len, bytes);
    assert_non_null(copy);
    assert_msg_json(copy, NULL, listener_json);
    protobuf_c_message_free_unpacked(copy, NULL);
    free(bytes);
    protobuf_c_message_free_unpacked(msg, NULL);
    fd_cfg_source_dispose(&src);
}

static void test_any_well_known_and_opaque(void **state)
{
    (void)state;
    assert_json("name: x\n"
                "typed_extension_protocol_options:\n"
                "  dur: {'@type': type.googleapis.com/google.protobuf.Duration, value: 1.5s}\n"
                "  st: {'@type': type.googleapis.com/google.protobuf.Struct, value: {a: 1}}\n",
                CLUSTER,
                "{\"name\":\"x\",\"typed_extension_protocol_options\":{"
                "\"dur\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"1.500s\"},"
                "\"st\":{\"@type\":\"type.googleapis.com/google.protobuf.Struct\",\"value\":{\"a\":1}}}}");

    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    assert_msg_json(&any.base, NULL, "{}");
    any.type_url = "type.googleapis.com/foo.Bar";
    any.value.data = (uint8_t *)"\x01\x02\x03";
    any.value.len = 3;
    assert_msg_json(&any.base, NULL, "{\"@type\":\"type.googleapis.com/foo.Bar\",\"value_base64\":\"AQID\"}");
    any.value.len = 0;
    assert_msg_json(&any.base, NULL, "{\"@type\":\"type.googleapis.com/foo.Bar\"}");
    any.type_url = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    any.value.data = (uint8_t *)"\xff\xff";
    any.value.len = 2;
    assert_msg_json(&any.base, NULL,
                    "{\"@type\":\"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\"value_base64\":\"//8=\"}");
}

/* Protobuf-c names Runtime's "base" field base_; JSON keeps the proto's name. */
static void test_base_field_name(void **state)
{
    (void)state;
    assert_json("symlink_root: /srv/runtime\nbase: {health_check: {min_interval: 5}}\n",
                &envoy__config__bootstrap__v3__runtime__descriptor,
                "{\"symlink_root\":\"/srv/runtime\",\"base\":{\"health_check\":{\"min_interval\":5}}}");
}

static void test_pretty(void **state)
{
    (void)state;
    fd_cfg_source_t src;
    fd_cfg_source_init(&src, "test.yaml");
    ProtobufCMessage *msg = load("name: p\nconnect_timeout: 5s\nlrs_report_endpoint_metrics: [a]\n"
                                 "metadata: {filter_metadata: {e: {}}}\n",
                                 CLUSTER, &src);
    char *json = fd_pb_to_json(msg, &src, 1);
    assert_non_null(json);
    assert_string_equal(json, "{\n"
                              "  \"name\": \"p\",\n"
                              "  \"connect_timeout\": \"5s\",\n"
                              "  \"metadata\": {\n"
                              "    \"filter_metadata\": {\n"
                              "      \"e\": {}\n"
                              "    }\n"
                              "  },\n"
                              "  \"lrs_report_endpoint_metrics\": [\n"
                              "    \"a\"\n"
                              "  ]\n"
                              "}");
    free(json);
    json_t *value = fd_pb_to_json_value(msg, &src);
    assert_non_null(value);
    assert_string_equal(json_string_value(json_object_get(value, "connect_timeout")), "5s");
    json_decref(value);
    protobuf_c_message_free_unpacked(msg, NULL);
    fd_cfg_source_dispose(&src);
}

/* JSON text must be UTF-8 whatever protobuf-c unpacked, and escapes must survive. */
static void test_string_escaping_and_utf8(void **state)
{
    (void)state;
    Envoy__Config__Cluster__V3__Cluster c = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.name = "q\"b\\s\n\x01 caf\xc3\xa9 \xff\xc3 \xed\xa0\x80 \x7f \xc2\x85 \xef\xbf\xbf";
    char *json = fd_pb_to_json(&c.base, NULL, 0);
    assert_non_null(json);
    /* DEL, C1 controls and U+FFFF are valid JSON raw, but YAML (the loader) rejects them. */
    assert_string_equal(json, "{\"name\":\"q\\\"b\\\\s\\n\\u0001 caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd "
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \\u007f \\u0085 \\uffff\"}");
    /* Both a JSON parser and the YAML loader read the text back to the same string. */
    json_error_t err;
    json_t *back = json_loads(json, 0, &err);
    assert_non_null(back);
    fd_cfg_source_t src;
    fd_cfg_source_init(&src, "test.json");
    Envoy__Config__Cluster__V3__Cluster *loaded = (Envoy__Config__Cluster__V3__Cluster *)load(json, CLUSTER, &src);
    assert_string_equal(loaded->name, json_string_value(json_object_get(back, "name")));
    protobuf_c_message_free_unpacked(&loaded->base, NULL);
    fd_cfg_source_dispose(&src);
    json_decref(back);
    free(json);
}

/* Appends one length-delimited field around inner: (number, len, inner). */
static size_t wrap_field(uint8_t *buf, size_t inner_len, unsigned number)
{
    uint8_t head[12];
    size_t h = 0;
    head[h++] = (uint8_t)(number << 3 | 2);
    for (size_t n = inner_len;; n >>= 7) {
        head[h++] = (uint8_t)((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
        if (n < 0x80)
            break;
    }
    memmove(buf + h, buf, inner_len);
    memcpy(buf, head, h);
    return h + inner_len;
}

/* Value -> list_value (6) -> ListValue.values (1) -> Value ..., levels pairs deep. */
static size_t nested_value_bytes(uint8_t *buf, unsigned levels)
{
    size_t len = 0;
    for (unsigned i = 0; i < levels; i++)
        len = wrap_field(buf, wrap_field(buf, len, 6), 1);
    return wrap_field(buf, len, 6);
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    enum { DEEP = 5000 };
    uint8_t *buf = calloc(DEEP * 8 + 64, 1);
    assert_non_null(buf);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "type.googleapis.com/google.protobuf.Value";
    any.value.data = buf;

    any.value.len = nested_value_bytes(buf, 1);
    assert_msg_json(&any.base, NULL, "{\"@type\":\"type.googleapis.com/google.protobuf.Value\",\"value\":[[]]}");

    /* Too deep to unpack safely: kept as bytes. */
    any.value.len = nested_value_bytes(buf, DEEP);
    char *json = fd_pb_to_json(&any.base, NULL, 0);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"value_base64\":\""));
    free(json);

    free(buf);
}

/* A chain of Value -> ListValue -> Value ... built in memory: the printer stops at 100 levels
 * (50 Values and 50 lists) and prints null in place of the rest. */
static void test_print_depth_is_bounded(void **state)
{
    (void)state;
    enum { N = 300 };
    Google__Protobuf__Value *values = calloc(N, sizeof(*values)), **slots = calloc(N, sizeof(*slots));
    Google__Protobuf__ListValue *lists = calloc(N, sizeof(*lists));
    assert_true(values != NULL && slots != NULL && lists != NULL);
    for (size_t i = 0; i < N; i++) {
        google__protobuf__value__init(&values[i]);
        google__protobuf__list_value__init(&lists[i]);
        values[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
        values[i].list_value = &lists[i];
        if (i + 1 < N) {
            slots[i] = &values[i + 1];
            lists[i].n_values = 1;
            lists[i].values = &slots[i];
        }
    }
    char expected[128] = "", *json = fd_pb_to_json(&values[0].base, NULL, 0);
    memset(expected, '[', 50);
    strcat(expected, "null");
    memset(expected + strlen(expected), ']', 50);
    assert_non_null(json);
    assert_string_equal(json, expected);
    free(json);
    free(values);
    free(slots);
    free(lists);
}

static const char round_trip_yaml[] =
    "node:\n"
    "  id: n1\n"
    "  metadata: {role: edge, weight: 2.5, tags: [a, 1, true, null, {x: y}]}\n"
    "  dynamic_parameters: {k: {params: {a: b}}}\n"
    "admin:\n"
    "  socket_options: [{level: -1, name: 2, buf_value: AAEC, state: STATE_BOUND}]\n"
    "stats_server_version_override: 7\n"
    "stats_flush_on_admin: false\n"
    "static_resources:\n"
    "  clusters:\n"
    "  - name: c\n"
    "    type: STATIC\n"
    "    connect_timeout: 0.25s\n"
    "    per_connection_buffer_limit_bytes: 0\n"
    "    preconnect_policy: {per_upstream_preconnect_ratio: 0.1}\n"
    "    metadata: {filter_metadata: {envoy.lb: {canary: true, s: \"say \\\"hi\\\"\\n\"}}}\n"
    "    typed_extension_protocol_options:\n"
    "      d: {'@type': type.googleapis.com/google.protobuf.Duration, value: 2s}\n"
    "    load_assignment:\n"
    "      cluster_name: c\n"
    "      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, "
    "port_value: 80}}}}]}]\n";

static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *bytes = malloc(*len ? *len : 1);
    assert_non_null(bytes);
    protobuf_c_message_pack(msg, bytes);
    return bytes;
}

static void round_trip(const char *yaml, int pretty)
{
    fd_cfg_source_t src1, src2;
    fd_cfg_source_init(&src1, "test.yaml");
    fd_cfg_source_init(&src2, "test.json");
    ProtobufCMessage *msg1 = load(yaml, BOOTSTRAP, &src1);
    char *json = fd_pb_to_json(msg1, &src1, pretty);
    assert_non_null(json);
    ProtobufCMessage *msg2 = load(json, BOOTSTRAP, &src2);
    size_t len1, len2;
    uint8_t *bytes1 = pack(msg1, &len1), *bytes2 = pack(msg2, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(bytes1, bytes2, len1);
    char *json2 = fd_pb_to_json(msg2, &src2, pretty);
    assert_non_null(json2);
    assert_string_equal(json, json2);
    free(json2);
    free(bytes1);
    free(bytes2);
    free(json);
    protobuf_c_message_free_unpacked(msg1, NULL);
    protobuf_c_message_free_unpacked(msg2, NULL);
    fd_cfg_source_dispose(&src1);
    fd_cfg_source_dispose(&src2);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip(round_trip_yaml, 1);
    round_trip(round_trip_yaml, 0);
    round_trip(listener_yaml, 1);
    round_trip(listener_yaml, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_enums),
        cmocka_unit_test(test_oneof_default_and_unknown_enum),
        cmocka_unit_test(test_int64_as_string_and_bytes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_wrappers_and_doubles),
        cmocka_unit_test(test_repeated_and_nested),
        cmocka_unit_test(test_maps_and_struct),
        cmocka_unit_test(test_any_typed_config),
        cmocka_unit_test(test_any_well_known_and_opaque),
        cmocka_unit_test(test_base_field_name),
        cmocka_unit_test(test_pretty),
        cmocka_unit_test(test_string_escaping_and_utf8),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_print_depth_is_bounded),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
