/* Tests of the generic YAML/JSON to protobuf loader (proxy/config/yaml_loader.h) and of
 * bootstrap loading (proxy/config/bootstrap_load.h), on Envoy v3 snippets: every value
 * kind is decoded and checked, and every error kind is checked by its full text
 * ("<source>:<line>:<column>: <field path>: <message>"). Each test releases everything
 * it loads (the fixture's teardown does it even when an assertion fails), so the
 * suite is clean under ASan/LSan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/core/v3/socket_option.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/data/accesslog/v3/accesslog.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/type/v3/range.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "proxy/config/bootstrap_load.h"
#include "proxy/config/yaml_loader.h"
#include "proxy/config/yaml_loader_int.h"

typedef Envoy__Config__Bootstrap__V3__Bootstrap Bootstrap;
typedef Envoy__Config__Cluster__V3__Cluster Cluster;
typedef Envoy__Config__Listener__V3__Listener Listener;
typedef Envoy__Config__Route__V3__RouteConfiguration RouteConfiguration;
typedef Envoy__Config__Route__V3__Route Route;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager Hcm;
typedef Envoy__Extensions__Filters__Http__Router__V3__Router Router;
typedef Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions HttpProtocolOptions;
typedef Envoy__Config__Core__V3__SocketOption SocketOption;
typedef Envoy__Config__Core__V3__SocketAddress SocketAddress;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;
typedef Envoy__Data__Accesslog__V3__HTTPAccessLogEntry AccessLogEntry;
typedef Envoy__Type__V3__Int32Range Int32Range;
typedef Google__Protobuf__Any Any;
typedef Google__Protobuf__Struct Struct;
typedef Google__Protobuf__Value Value;

#define BOOTSTRAP (&envoy__config__bootstrap__v3__bootstrap__descriptor)
#define CLUSTER (&envoy__config__cluster__v3__cluster__descriptor)
#define LISTENER (&envoy__config__listener__v3__listener__descriptor)
#define ROUTE_CONFIGURATION (&envoy__config__route__v3__route_configuration__descriptor)
#define RUNTIME (&envoy__config__bootstrap__v3__runtime__descriptor)
#define ACCESS_LOG_ENTRY (&envoy__data__accesslog__v3__httpaccess_log_entry__descriptor)
#define INT32_RANGE (&envoy__type__v3__int32_range__descriptor)

#define HCM_TYPE "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define ROUTER_TYPE "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#define HPO_TYPE "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

/* ---- fixture: everything a test loads is released by teardown ---- */

#define MAX_LOADS 16
#define MAX_FILES 4

typedef struct fixture {
    fd_cfg_source_t src[MAX_LOADS];
    ProtobufCMessage *msg[MAX_LOADS];
    size_t loads;
    fd_cfg_errors_t errs;
    char *joined;
    fd_bootstrap_t boot;
    char dir[512];
    char *files[MAX_FILES];
    size_t n_files;
} fixture_t;

static fixture_t *fx;

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    *state = fx;
    return fx == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < f->loads; i++) {
        if (f->msg[i] != NULL)
            protobuf_c_message_free_unpacked(f->msg[i], NULL);
        fd_cfg_source_dispose(&f->src[i]);
    }
    fd_bootstrap_dispose(&f->boot);
    fd_cfg_errors_clear(&f->errs);
    free(f->joined);
    for (size_t i = 0; i < f->n_files; i++) {
        unlink(f->files[i]);
        free(f->files[i]);
    }
    if (f->dir[0] != '\0')
        rmdir(f->dir);
    free(f);
    fx = NULL;
    return 0;
}

/* Loads text under a source name; the message and the source are released by teardown. */
static ProtobufCMessage *load_named(const char *name, const char *text, const ProtobufCMessageDescriptor *desc)
{
    assert_true(fx->loads < MAX_LOADS);
    fd_cfg_source_t *src = &fx->src[fx->loads];
    fd_cfg_source_init(src, name);
    ProtobufCMessage *msg = fd_yaml_load_message(text, strlen(text), desc, src, &fx->errs);
    fx->msg[fx->loads++] = msg;
    return msg;
}

static fd_cfg_source_t *last_source(void)
{
    return &fx->src[fx->loads - 1];
}

/* All errors so far, one a line (owned by the fixture). */
static const char *errors(void)
{
    free(fx->joined);
    fx->joined = fd_cfg_errors_join(&fx->errs);
    return fx->joined;
}

static void *load_ok(const char *text, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = load_named("envoy.yaml", text, desc);
    assert_string_equal(errors(), "");
    assert_non_null(msg);
    assert_ptr_equal(msg->descriptor, desc);
    return msg;
}

/* Loading must fail with exactly these errors, one a line and in this order (so the
 * count is checked too); they are then cleared. */
static void load_fails(const char *text, const ProtobufCMessageDescriptor *desc, const char *expected)
{
    ProtobufCMessage *msg = load_named("envoy.yaml", text, desc);
    assert_string_equal(errors(), expected);
    size_t lines = 1;
    for (const char *p = expected; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(fx->errs.count, lines);
    assert_int_equal(fx->errs.dropped, 0);
    assert_null(msg);
    fd_cfg_errors_clear(&fx->errs);
}

static void assert_mark(const void *addr, unsigned line, unsigned column)
{
    fd_cfg_mark_t mark = fd_cfg_source_mark(last_source(), addr);
    assert_int_equal(mark.line, line);
    assert_int_equal(mark.column, column);
}

static void assert_duration(const Google__Protobuf__Duration *d, int64_t seconds, int32_t nanos)
{
    assert_non_null(d);
    assert_int_equal(d->seconds, seconds);
    assert_int_equal(d->nanos, nanos);
}

static void assert_bytes(ProtobufCBinaryData b, const char *expected, size_t len)
{
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, expected, len);
}

static const Value *struct_get(const Struct *s, const char *key)
{
    assert_non_null(s);
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i]->key, key) == 0)
            return s->fields[i]->value;
    fail_msg("no key '%s' in the Struct", key);
    return NULL;
}

static const Struct *filter_metadata(const Envoy__Config__Core__V3__Metadata *md, const char *filter)
{
    assert_non_null(md);
    for (size_t i = 0; i < md->n_filter_metadata; i++)
        if (strcmp(md->filter_metadata[i]->key, filter) == 0)
            return md->filter_metadata[i]->value;
    fail_msg("no filter_metadata for '%s'", filter);
    return NULL;
}

static void assert_number(const Value *v, double expected)
{
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    assert_true(v->number_value == expected);
}

static void assert_string_value(const Value *v, const char *expected)
{
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
    assert_string_equal(v->string_value, expected);
}

static const SocketAddress *socket_address_of(const Envoy__Config__Core__V3__Address *a)
{
    assert_non_null(a);
    assert_int_equal(a->address_case, ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS);
    return a->socket_address;
}

/* The message the loader decoded for an Any, checked against the packed Any.value. */
static const ProtobufCMessage *any_payload(const Any *any, const char *type_url, const ProtobufCMessageDescriptor *desc)
{
    assert_non_null(any);
    assert_string_equal(any->type_url, type_url);
    const ProtobufCMessage *decoded = fd_cfg_source_any_decoded(last_source(), any);
    assert_non_null(decoded);
    assert_ptr_equal(decoded->descriptor, desc);
    size_t len = protobuf_c_message_get_packed_size(decoded);
    uint8_t *packed = malloc(len + 1);
    assert_non_null(packed);
    protobuf_c_message_pack(decoded, packed);
    assert_int_equal(any->value.len, len);
    int same = len == 0 || memcmp(any->value.data, packed, len) == 0;
    free(packed);
    assert_true(same);
    return decoded;
}

/* ---- a realistic cluster: every common kind in one document ---- */

static const char CLUSTER_YAML[] = "name: backend\n"                                                   /* 1 */
                                   "type: STRICT_DNS\n"                                                /* 2 */
                                   "connect_timeout: 0.25s\n"                                          /* 3 */
                                   "lb_policy: LEAST_REQUEST\n"                                        /* 4 */
                                   "dns_lookup_family: v4_only\n"                                      /* 5 */
                                   "respect_dns_ttl: true\n"                                           /* 6 */
                                   "per_connection_buffer_limit_bytes: 32768\n"                        /* 7 */
                                   "wait_for_warm_on_init: false\n"                                    /* 8 */
                                   "lrs_report_endpoint_metrics: [cpu_utilization, mem_utilization]\n" /* 9 */
                                   "load_assignment:\n"                                                /* 10 */
                                   "  cluster_name: backend\n"                                         /* 11 */
                                   "  endpoints:\n"                                                    /* 12 */
                                   "  - priority: 1\n"                                                 /* 13 */
                                   "    lb_endpoints:\n"                                               /* 14 */
                                   "    - endpoint:\n"                                                 /* 15 */
                                   "        address:\n"                                                /* 16 */
                                   "          socket_address: {address: backend-1.internal, port_value: 8080}\n"
                                   "    - endpoint:\n"
                                   "        address:\n"
                                   "          socket_address: {address: backend-2.internal, port_value: 70000}\n"
                                   "      load_balancing_weight: 3\n";

static void test_cluster_values(void **state)
{
    (void)state;
    Cluster *c = load_ok(CLUSTER_YAML, CLUSTER);
    assert_string_equal(c->name, "backend");
    assert_int_equal(c->cluster_discovery_type_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS);
    assert_duration(c->connect_timeout, 0, 250000000);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST);
    assert_int_equal(c->dns_lookup_family, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DNS_LOOKUP_FAMILY__V4_ONLY);
    assert_true(c->respect_dns_ttl);
    assert_non_null(c->per_connection_buffer_limit_bytes);
    assert_int_equal(c->per_connection_buffer_limit_bytes->value, 32768);
    assert_non_null(c->wait_for_warm_on_init); /* a wrapper set to false is set, not absent */
    assert_false(c->wait_for_warm_on_init->value);
    assert_int_equal(c->n_lrs_report_endpoint_metrics, 2);
    assert_string_equal(c->lrs_report_endpoint_metrics[0], "cpu_utilization");
    assert_string_equal(c->lrs_report_endpoint_metrics[1], "mem_utilization");
    assert_null(c->eds_cluster_config);
    assert_int_equal(c->lb_config_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG__NOT_SET);

    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *la = c->load_assignment;
    assert_non_null(la);
    assert_string_equal(la->cluster_name, "backend");
    assert_int_equal(la->n_endpoints, 1);
    assert_int_equal(la->endpoints[0]->priority, 1);
    assert_int_equal(la->endpoints[0]->n_lb_endpoints, 2);
    LbEndpoint *e0 = la->endpoints[0]->lb_endpoints[0], *e1 = la->endpoints[0]->lb_endpoints[1];
    assert_int_equal(e0->host_identifier_case, ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT);
    const SocketAddress *a0 = socket_address_of(e0->endpoint->address);
    assert_string_equal(a0->address, "backend-1.internal");
    assert_int_equal(a0->port_specifier_case, ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE);
    assert_int_equal(a0->port_value, 8080);
    assert_null(e0->load_balancing_weight);
    /* port_value is a uint32: 70000 is the translator's business, not the loader's */
    assert_int_equal(socket_address_of(e1->endpoint->address)->port_value, 70000);
    assert_int_equal(e1->load_balancing_weight->value, 3);

    /* positions: a message at its node, a field at its key, a list item at the item */
    assert_mark(c, 1, 1);
    assert_mark(&c->name, 1, 1);
    assert_mark(&c->connect_timeout, 3, 1);
    assert_mark(c->connect_timeout, 3, 18);
    assert_mark(&c->lb_policy, 4, 1);
    assert_mark(&c->lrs_report_endpoint_metrics, 9, 1);
    assert_mark(&c->lrs_report_endpoint_metrics[1], 9, 48);
    assert_mark(la, 11, 3);
    assert_mark(e1, 18, 7);
    assert_mark(&a0->port_value, 17, 57);
    assert_mark(&e1->load_balancing_weight, 21, 7);
    fd_cfg_mark_t unknown = fd_cfg_source_mark(last_source(), &c->alt_stat_name);
    assert_int_equal(unknown.line, 0);
}

/* ---- integers: every width, in and out of range ---- */

static void test_int32(void **state)
{
    (void)state;
    Int32Range *r = load_ok("start: -2147483648\nend: 2147483647\n", INT32_RANGE);
    assert_int_equal(r->start, INT32_MIN);
    assert_int_equal(r->end, INT32_MAX);
    r = load_ok("start: '-5'\nend: +7\n", INT32_RANGE); /* quoted numbers, as in JSON's int64 */
    assert_int_equal(r->start, -5);
    assert_int_equal(r->end, 7);
    load_fails("start: 2147483648\nend: -2147483649\n", INT32_RANGE,
               "envoy.yaml:1:8: start: value 2147483648 is out of range [-2147483648, 2147483647]\n"
               "envoy.yaml:2:6: end: value -2147483649 is out of range [-2147483648, 2147483647]");
    load_fails("start: 1.5\nend: ten\n", INT32_RANGE,
               "envoy.yaml:1:8: start: expected an integer, got '1.5'\n"
               "envoy.yaml:2:6: end: expected an integer, got 'ten'");
}

static const char ADMIN_PORT_YAML[] = "admin:\n"
                                      "  address:\n"
                                      "    socket_address: {address: 0.0.0.0, port_value: %s}\n";

static void admin_port(char *buf, size_t size, const char *port)
{
    snprintf(buf, size, ADMIN_PORT_YAML, port);
}

static void test_uint32(void **state)
{
    (void)state;
    char yaml[256];
    admin_port(yaml, sizeof(yaml), "4294967295");
    Bootstrap *b = load_ok(yaml, BOOTSTRAP);
    assert_int_equal(socket_address_of(b->admin->address)->port_value, UINT32_MAX);
    admin_port(yaml, sizeof(yaml), "4294967296");
    load_fails(yaml, BOOTSTRAP,
               "envoy.yaml:3:52: admin.address.socket_address.port_value: value 4294967296 is out of range [0, "
               "4294967295]");
    admin_port(yaml, sizeof(yaml), "-1");
    load_fails(yaml, BOOTSTRAP,
               "envoy.yaml:3:52: admin.address.socket_address.port_value: value -1 is out of range [0, 4294967295]");
    admin_port(yaml, sizeof(yaml), "80x");
    load_fails(yaml, BOOTSTRAP,
               "envoy.yaml:3:52: admin.address.socket_address.port_value: expected a non-negative integer, got '80x'");
}

static const char SOCKET_OPTIONS_YAML[] =
    "admin:\n"
    "  socket_options:\n"
    "  - description: SO_KEEPALIVE\n"
    "    level: 1\n"
    "    name: 9\n"
    "    int_value: 1\n"
    "    state: STATE_LISTENING\n"
    "  - {level: -9223372036854775808, name: \"9223372036854775807\", int_value: -1}\n";

static void test_int64(void **state)
{
    (void)state;
    Bootstrap *b = load_ok(SOCKET_OPTIONS_YAML, BOOTSTRAP);
    assert_int_equal(b->admin->n_socket_options, 2);
    SocketOption *o0 = b->admin->socket_options[0], *o1 = b->admin->socket_options[1];
    assert_string_equal(o0->description, "SO_KEEPALIVE");
    assert_int_equal(o0->level, 1);
    assert_int_equal(o0->name, 9);
    assert_int_equal(o0->value_case, ENVOY__CONFIG__CORE__V3__SOCKET_OPTION__VALUE_INT_VALUE);
    assert_int_equal(o0->int_value, 1);
    assert_int_equal(o0->state, ENVOY__CONFIG__CORE__V3__SOCKET_OPTION__SOCKET_STATE__STATE_LISTENING);
    assert_true(o1->level == INT64_MIN);
    assert_true(o1->name == INT64_MAX);
    assert_true(o1->int_value == -1);
    load_fails("admin:\n  socket_options:\n  - {level: 9223372036854775808, name: -9223372036854775809}\n", BOOTSTRAP,
               "envoy.yaml:3:13: admin.socket_options[0].level: value 9223372036854775808 is out of range "
               "[-9223372036854775808, 9223372036854775807]\n"
               "envoy.yaml:3:40: admin.socket_options[0].name: value -9223372036854775809 is out of range "
               "[-9223372036854775808, 9223372036854775807]");
}

static void test_uint64(void **state)
{
    (void)state;
    Bootstrap *b = load_ok("memory_allocator_manager:\n  bytes_to_release: 18446744073709551615\n"
                           "  memory_release_interval: 10s\n",
                           BOOTSTRAP);
    assert_true(b->memory_allocator_manager->bytes_to_release == UINT64_MAX);
    assert_duration(b->memory_allocator_manager->memory_release_interval, 10, 0);
    load_fails("memory_allocator_manager:\n  bytes_to_release: 18446744073709551616\n", BOOTSTRAP,
               "envoy.yaml:2:21: memory_allocator_manager.bytes_to_release: value 18446744073709551616 is out of "
               "range [0, 18446744073709551615]");
    load_fails("memory_allocator_manager: {bytes_to_release: -5}\n", BOOTSTRAP,
               "envoy.yaml:1:46: memory_allocator_manager.bytes_to_release: value -5 is out of range [0, "
               "18446744073709551615]");
}

/* ---- floating point, bool, string, bytes, enums ---- */

static void test_double_and_float(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: c\n"
                         "preconnect_policy: {per_upstream_preconnect_ratio: 1.5, predictive_preconnect_ratio: 2e1}\n"
                         "common_lb_config: {healthy_panic_threshold: {value: 25.5}}\n"
                         "least_request_lb_config:\n"
                         "  active_request_bias: {default_value: -0.125, runtime_key: upstream.bias}\n"
                         "metadata:\n"
                         "  typed_filter_metadata:\n"
                         "    com.acme.weight: {'@type': type.googleapis.com/google.protobuf.FloatValue, value: 0.5}\n",
                         CLUSTER);
    assert_true(c->preconnect_policy->per_upstream_preconnect_ratio->value == 1.5);
    assert_true(c->preconnect_policy->predictive_preconnect_ratio->value == 20.0);
    assert_true(c->common_lb_config->healthy_panic_threshold->value == 25.5);
    assert_int_equal(c->lb_config_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_LEAST_REQUEST_LB_CONFIG);
    assert_true(c->least_request_lb_config->active_request_bias->default_value == -0.125);
    assert_int_equal(c->metadata->n_typed_filter_metadata, 1);
    const Google__Protobuf__FloatValue *f = (const Google__Protobuf__FloatValue *)any_payload(
        c->metadata->typed_filter_metadata[0]->value, "type.googleapis.com/google.protobuf.FloatValue",
        &google__protobuf__float_value__descriptor);
    assert_true(f->value == 0.5f);

    load_fails("common_lb_config: {healthy_panic_threshold: {value: half}}\n"
               "preconnect_policy: {per_upstream_preconnect_ratio: 1e999}\n"
               "metadata:\n"
               "  typed_filter_metadata:\n"
               "    com.acme.weight: {'@type': type.googleapis.com/google.protobuf.FloatValue, value: 1e39}\n",
               CLUSTER,
               "envoy.yaml:1:53: common_lb_config.healthy_panic_threshold.value: expected a number, got 'half'\n"
               "envoy.yaml:2:52: preconnect_policy.per_upstream_preconnect_ratio: value 1e999 is out of range for a "
               "double\n"
               "envoy.yaml:5:87: metadata.typed_filter_metadata[\"com.acme.weight\"]: value 1e39 is out of range for a "
               "float");
}

static void test_bool(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: c\nrespect_dns_ttl: TRUE\nclose_connections_on_host_health_failure: True\n"
                         "ignore_health_on_host_removal: false\n",
                         CLUSTER);
    assert_true(c->respect_dns_ttl);
    assert_true(c->close_connections_on_host_health_failure);
    assert_false(c->ignore_health_on_host_removal);
    load_fails("name: c\nrespect_dns_ttl: 1\nwait_for_warm_on_init: maybe\n", CLUSTER,
               "envoy.yaml:2:18: respect_dns_ttl: expected true or false, got '1'\n"
               "envoy.yaml:3:24: wait_for_warm_on_init: expected true or false, got 'maybe'");
}

static void test_string(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: 8080\n"
                         "alt_stat_name: \"quoted: \\\"x\\\" \\u00e9\"\n"
                         "eds_cluster_config:\n"
                         "  service_name: |\n"
                         "    two\n"
                         "    lines\n"
                         "lrs_report_endpoint_metrics: ['null', '', true]\n",
                         CLUSTER);
    assert_string_equal(c->name, "8080");
    assert_string_equal(c->alt_stat_name, "quoted: \"x\" \xc3\xa9");
    assert_string_equal(c->eds_cluster_config->service_name, "two\nlines\n");
    assert_int_equal(c->n_lrs_report_endpoint_metrics, 3);
    assert_string_equal(c->lrs_report_endpoint_metrics[0], "null");
    assert_string_equal(c->lrs_report_endpoint_metrics[1], "");
    assert_string_equal(c->lrs_report_endpoint_metrics[2], "true");
    load_fails("name: {first: a}\nalt_stat_name: [a, b]\n", CLUSTER,
               "envoy.yaml:1:7: name: expected a scalar value, got a mapping\n"
               "envoy.yaml:2:16: alt_stat_name: expected a scalar value, got a list");
}

static void test_bytes_base64(void **state)
{
    (void)state;
    Bootstrap *b = load_ok("admin:\n"
                           "  socket_options:\n"
                           "  - {level: 1, name: 25, buf_value: aGVsbG8/Pz4+}\n" /* standard alphabet */
                           "  - {level: 1, name: 25, buf_value: aGVsbG8_Pz4-}\n" /* URL-safe alphabet */
                           "  - {level: 1, name: 25, buf_value: aGk}\n"          /* unpadded */
                           "  - {level: 1, name: 25, buf_value: aGk=}\n"         /* padded */
                           "  - {level: 1, name: 25, buf_value: aGVsbG8}\n"      /* unpadded, 2 missing */
                           "  - {level: 1, name: 25, buf_value: ''}\n"           /* empty */
                           "  - {level: 1, name: 25, buf_value: \"+/+/\"}\n",
                           BOOTSTRAP);
    SocketOption **o = b->admin->socket_options;
    assert_int_equal(b->admin->n_socket_options, 7);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(o[i]->value_case, ENVOY__CONFIG__CORE__V3__SOCKET_OPTION__VALUE_BUF_VALUE);
    assert_bytes(o[0]->buf_value, "hello?\?>>", 9);
    assert_bytes(o[1]->buf_value, "hello?\?>>", 9);
    assert_bytes(o[2]->buf_value, "hi", 2);
    assert_bytes(o[3]->buf_value, "hi", 2);
    assert_bytes(o[4]->buf_value, "hello", 5);
    assert_int_equal(o[5]->buf_value.len, 0);
    assert_bytes(o[6]->buf_value, "\xfb\xff\xbf", 3);

    RouteConfiguration *rc = load_ok("name: local\n"
                                     "request_headers_to_add:\n"
                                     "- header: {key: x-bin, raw_value: AAEC/w==}\n",
                                     ROUTE_CONFIGURATION);
    assert_bytes(rc->request_headers_to_add[0]->header->raw_value, "\x00\x01\x02\xff", 4);

    load_fails("admin:\n"
               "  socket_options:\n"
               "  - {level: 1, name: 25, buf_value: a}\n"
               "  - {level: 1, name: 25, buf_value: aGk*}\n"
               "  - {level: 1, name: 25, buf_value: aGk==}\n"
               "  - {level: 1, name: 25, buf_value: YQ==YQ==}\n"
               "  - {level: 1, name: 25, buf_value: 'aG k='}\n",
               BOOTSTRAP,
               "envoy.yaml:3:37: admin.socket_options[0].buf_value: expected base64 bytes, got 'a'\n"
               "envoy.yaml:4:37: admin.socket_options[1].buf_value: expected base64 bytes, got 'aGk*'\n"
               "envoy.yaml:5:37: admin.socket_options[2].buf_value: expected base64 bytes, got 'aGk=='\n"
               "envoy.yaml:6:37: admin.socket_options[3].buf_value: expected base64 bytes, got 'YQ==YQ=='\n"
               "envoy.yaml:7:37: admin.socket_options[4].buf_value: expected base64 bytes, got 'aG k='");
}

#define LB_POLICIES                                                                                                    \
    "ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG"

static void test_enums(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: c\ntype: strict_dns\nlb_policy: Maglev\ndns_lookup_family: 2\n", CLUSTER);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__MAGLEV);
    assert_int_equal(c->dns_lookup_family, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DNS_LOOKUP_FAMILY__V6_ONLY);
    c = load_ok("name: c\ntype: EDS\nlb_policy: \"6\"\n", CLUSTER);
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__CLUSTER_PROVIDED);
    load_fails("name: c\n"
               "lb_policy: round_robbin\n"
               "dns_lookup_family: 9\n"
               "type: {name: STATIC}\n"
               "common_lb_config: {}\n",
               CLUSTER,
               "envoy.yaml:2:12: lb_policy: unknown value 'round_robbin' for enum "
               "envoy.config.cluster.v3.Cluster.LbPolicy (expected one of: " LB_POLICIES ")\n"
               "envoy.yaml:3:20: dns_lookup_family: unknown value '9' for enum "
               "envoy.config.cluster.v3.Cluster.DnsLookupFamily (expected one of: AUTO, V4_ONLY, V6_ONLY, "
               "V4_PREFERRED, ALL)\n"
               "envoy.yaml:4:7: type: expected a scalar value, got a mapping");
    /* 4 is reserved (the removed ORIGINAL_DST_LB): not a value of the enum */
    load_fails("lb_policy: 4\n", CLUSTER,
               "envoy.yaml:1:12: lb_policy: unknown value '4' for enum envoy.config.cluster.v3.Cluster.LbPolicy "
               "(expected one of: " LB_POLICIES ")");
}

/* ---- repeated fields and shape mismatches ---- */

static void test_repeated(void **state)
{
    (void)state;
    Bootstrap *b = load_ok("node_context_params: [id, cluster]\n"
                           "static_resources:\n"
                           "  clusters:\n"
                           "  - name: a\n"
                           "  - name: b\n"
                           "    lrs_report_endpoint_metrics: []\n"
                           "  - {name: c}\n"
                           "  listeners: []\n",
                           BOOTSTRAP);
    assert_int_equal(b->n_node_context_params, 2);
    assert_string_equal(b->node_context_params[0], "id");
    assert_string_equal(b->node_context_params[1], "cluster");
    assert_int_equal(b->static_resources->n_clusters, 3);
    assert_string_equal(b->static_resources->clusters[0]->name, "a");
    assert_string_equal(b->static_resources->clusters[1]->name, "b");
    assert_int_equal(b->static_resources->clusters[1]->n_lrs_report_endpoint_metrics, 0);
    assert_string_equal(b->static_resources->clusters[2]->name, "c");
    assert_int_equal(b->static_resources->n_listeners, 0);
    assert_mark(b->static_resources->clusters[1], 5, 5);

    load_fails("node_context_params: id\n" /* scalar where a list is expected */
               "static_resources:\n"
               "  clusters: {name: a}\n" /* mapping where a list is expected */
               "  listeners:\n"
               "  - name: l\n"
               "  - just-a-name\n"               /* scalar where a message is expected */
               "  - address: [socket_address]\n" /* list where a message is expected */
               "admin: []\n",
               BOOTSTRAP,
               "envoy.yaml:1:22: node_context_params: expected a list, got a scalar\n"
               "envoy.yaml:3:13: static_resources.clusters: expected a list, got a mapping\n"
               "envoy.yaml:6:5: static_resources.listeners[1]: expected a mapping for "
               "envoy.config.listener.v3.Listener, got a scalar\n"
               "envoy.yaml:7:14: static_resources.listeners[2].address: expected a mapping for "
               "envoy.config.core.v3.Address, got a list\n"
               "envoy.yaml:8:8: admin: expected a mapping for envoy.config.bootstrap.v3.Admin, got a list");
}

/* ---- maps ---- */

static const char MAP_CLUSTER_YAML[] = "name: backend\n"
                                       "typed_extension_protocol_options:\n"
                                       "  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
                                       "    '@type': " HPO_TYPE "\n"
                                       "    explicit_http_config:\n"
                                       "      http2_protocol_options: {}\n"
                                       "metadata:\n"
                                       "  filter_metadata:\n"
                                       "    envoy.lb: {canary: true, version: v1.2}\n"
                                       "    com.acme: {}\n";

static void test_maps(void **state)
{
    (void)state;
    Cluster *c = load_ok(MAP_CLUSTER_YAML, CLUSTER);
    assert_int_equal(c->n_typed_extension_protocol_options, 1);
    Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry *e = c->typed_extension_protocol_options[0];
    assert_string_equal(e->key, "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    const HttpProtocolOptions *hpo = (const HttpProtocolOptions *)any_payload(
        e->value, HPO_TYPE, &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
    assert_int_equal(
        hpo->upstream_protocol_options_case,
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG);
    assert_non_null(hpo->explicit_http_config->http2_protocol_options);
    assert_mark(e, 4, 5);

    assert_int_equal(c->metadata->n_filter_metadata, 2);
    const Struct *lb = filter_metadata(c->metadata, "envoy.lb");
    assert_int_equal(lb->n_fields, 2);
    assert_true(struct_get(lb, "canary")->bool_value);
    assert_string_value(struct_get(lb, "version"), "v1.2");
    assert_int_equal(filter_metadata(c->metadata, "com.acme")->n_fields, 0);

    Bootstrap *b = load_ok("certificate_provider_instances:\n"
                           "  local: {name: envoy.certificate_providers.local}\n",
                           BOOTSTRAP);
    assert_int_equal(b->n_certificate_provider_instances, 1);
    assert_string_equal(b->certificate_provider_instances[0]->key, "local");
    assert_string_equal(b->certificate_provider_instances[0]->value->name, "envoy.certificate_providers.local");

    load_fails("name: backend\n"
               "typed_extension_protocol_options:\n"
               "- envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n"
               "metadata:\n"
               "  filter_metadata:\n"
               "    envoy.lb: {canary: true}\n"
               "    envoy.lb: {canary: false}\n"
               "    [a, b]: {}\n"
               "    com.acme: [1, 2]\n",
               CLUSTER,
               "envoy.yaml:3:1: typed_extension_protocol_options: expected a mapping (a map), got a list\n"
               "envoy.yaml:7:5: metadata.filter_metadata: key 'envoy.lb' is given twice\n"
               "envoy.yaml:8:5: metadata.filter_metadata: expected a scalar map key, got a list\n"
               "envoy.yaml:9:15: metadata.filter_metadata[\"com.acme\"]: expected a mapping for "
               "google.protobuf.Struct, got a list");
}

/* ---- oneof ---- */

static const char ROUTES_YAML[] = "name: local_route\n"
                                  "virtual_hosts:\n"
                                  "- name: backend\n"
                                  "  domains: ['*']\n"
                                  "  routes:\n"
                                  "  - match: {prefix: /api, case_sensitive: false}\n"
                                  "    route: {cluster: api, timeout: 15s}\n"
                                  "  - match: {path: ~, safe_regex: {regex: '^/v[0-9]+/'}}\n"
                                  "    redirect: {https_redirect: true}\n";

static void test_oneof(void **state)
{
    (void)state;
    RouteConfiguration *rc = load_ok(ROUTES_YAML, ROUTE_CONFIGURATION);
    Envoy__Config__Route__V3__VirtualHost *vh = rc->virtual_hosts[0];
    assert_int_equal(vh->n_domains, 1);
    assert_string_equal(vh->domains[0], "*");
    Route *r0 = vh->routes[0], *r1 = vh->routes[1];
    assert_int_equal(r0->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX);
    assert_string_equal(r0->match->prefix, "/api");
    assert_false(r0->match->case_sensitive->value);
    assert_int_equal(r0->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE);
    assert_int_equal(r0->route->cluster_specifier_case,
                     ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER);
    assert_string_equal(r0->route->cluster, "api");
    assert_duration(r0->route->timeout, 15, 0);
    /* a null member leaves the oneof free for another member */
    assert_int_equal(r1->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX);
    assert_string_equal(r1->match->safe_regex->regex, "^/v[0-9]+/");
    assert_int_equal(r1->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT);

    load_fails("virtual_hosts:\n"
               "- name: backend\n"
               "  domains: ['*']\n"
               "  routes:\n"
               "  - match: {prefix: /, path: /index.html}\n"
               "    route: {cluster: web}\n"
               "    direct_response: {status: 200}\n",
               ROUTE_CONFIGURATION,
               "envoy.yaml:5:24: virtual_hosts[0].routes[0].match.path: 'prefix' and 'path' are alternatives "
               "(oneof): set only one\n"
               "envoy.yaml:7:5: virtual_hosts[0].routes[0].direct_response: 'route' and 'direct_response' are "
               "alternatives (oneof): set only one");
}

/* ---- Any ---- */

static const char LISTENER_YAML[] = "name: http\n"                                              /* 1 */
                                    "address:\n"                                                /* 2 */
                                    "  socket_address: {address: 0.0.0.0, port_value: 10000}\n" /* 3 */
                                    "filter_chains:\n"                                          /* 4 */
                                    "- filters:\n"                                              /* 5 */
                                    "  - name: envoy.filters.network.http_connection_manager\n" /* 6 */
                                    "    typed_config:\n"                                       /* 7 */
                                    "      '@type': " HCM_TYPE "\n"                             /* 8 */
                                    "      stat_prefix: ingress_http\n"                         /* 9 */
                                    "      codec_type: AUTO\n"                                  /* 10 */
                                    "      route_config:\n"                                     /* 11 */
                                    "        name: local_route\n"                               /* 12 */
                                    "        virtual_hosts:\n"                                  /* 13 */
                                    "        - name: backend\n"                                 /* 14 */
                                    "          domains: ['*']\n"                                /* 15 */
                                    "          routes:\n"                                       /* 16 */
                                    "          - match: {prefix: /}\n"                          /* 17 */
                                    "            route: {cluster: backend}\n"                   /* 18 */
                                    "      http_filters:\n"                                     /* 19 */
                                    "      - name: envoy.filters.http.router\n"                 /* 20 */
                                    "        typed_config:\n"                                   /* 21 */
                                    "          '@type': " ROUTER_TYPE "\n"                      /* 22 */
                                    "          suppress_envoy_headers: true\n";                 /* 23 */

static void test_any_typed_config(void **state)
{
    (void)state;
    Listener *l = load_ok(LISTENER_YAML, LISTENER);
    assert_string_equal(l->name, "http");
    Envoy__Config__Listener__V3__Filter *f = l->filter_chains[0]->filters[0];
    assert_string_equal(f->name, "envoy.filters.network.http_connection_manager");
    assert_int_equal(f->config_type_case, ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG);
    const Hcm *hcm = (const Hcm *)any_payload(
        f->typed_config, HCM_TYPE,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
    assert_string_equal(hcm->stat_prefix, "ingress_http");
    assert_int_equal(
        hcm->route_specifier_case,
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG);
    assert_string_equal(hcm->route_config->virtual_hosts[0]->routes[0]->route->cluster, "backend");
    assert_int_equal(hcm->n_http_filters, 1);
    const Router *router =
        (const Router *)any_payload(hcm->http_filters[0]->typed_config, ROUTER_TYPE,
                                    &envoy__extensions__filters__http__router__v3__router__descriptor);
    assert_true(router->suppress_envoy_headers);
    /* the decoded messages keep their positions for the translator's errors */
    assert_mark(hcm, 8, 7);
    assert_mark(&hcm->stat_prefix, 9, 7);
    assert_mark(hcm->route_config->virtual_hosts[0]->routes[0], 17, 13);

    /* any prefix up to the last '/' names the type */
    RouteConfiguration *rc = load_ok("name: r\n"
                                     "typed_per_filter_config:\n"
                                     "  envoy.filters.http.router:\n"
                                     "    '@type': example.com/envoy.extensions.filters.http.router.v3.Router\n",
                                     ROUTE_CONFIGURATION);
    assert_int_equal(rc->n_typed_per_filter_config, 1);
    any_payload(rc->typed_per_filter_config[0]->value, "example.com/envoy.extensions.filters.http.router.v3.Router",
                &envoy__extensions__filters__http__router__v3__router__descriptor);

    /* {} is an empty Any (Envoy then goes by the extension's name): nothing is decoded */
    Bootstrap *b =
        load_ok("bootstrap_extensions:\n- name: envoy.bootstrap.internal_listener\n  typed_config: {}\n", BOOTSTRAP);
    Any *empty = b->bootstrap_extensions[0]->typed_config;
    assert_non_null(empty);
    assert_string_equal(empty->type_url, "");
    assert_int_equal(empty->value.len, 0);
    assert_null(fd_cfg_source_any_decoded(last_source(), empty));
}

static void test_any_errors(void **state)
{
    (void)state;
    load_fails(
        "name: http\n"
        "filter_chains:\n"
        "- filters:\n"
        "  - name: envoy.filters.network.nope\n"
        "    typed_config:\n"
        "      '@type': type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope\n"
        "  - name: envoy.filters.network.http_connection_manager\n"
        "    typed_config:\n"
        "      stat_prefix: ingress_http\n"
        "  - name: envoy.filters.network.http_connection_manager\n"
        "    typed_config: " HCM_TYPE "\n"
        "  - name: envoy.filters.network.http_connection_manager\n"
        "    typed_config:\n"
        "      '@type': " HCM_TYPE "\n"
        "      stat_prefx: ingress_http\n"
        "      codec_type: HTTP4\n"
        "  - name: no-slash\n"
        "    typed_config: {'@type': envoy.extensions.filters.http.router.v3.Router}\n"
        "  - name: list-type\n"
        "    typed_config: {'@type': [a]}\n",
        LISTENER,
        "envoy.yaml:6:16: filter_chains[0].filters[0].typed_config: 'envoy.filters.network.nope' is not "
        "supported by frontdesk: it has no extension of type "
        "'type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope'\n"
        "envoy.yaml:8:5: filter_chains[0].filters[1].typed_config: missing '@type' (an Any must name the message "
        "it holds)\n"
        "envoy.yaml:11:19: filter_chains[0].filters[2].typed_config: expected a mapping with '@type' for "
        "google.protobuf.Any, got a scalar\n"
        "envoy.yaml:15:7: filter_chains[0].filters[3].typed_config: unknown field 'stat_prefx' (did you mean "
        "'stat_prefix'?)\n"
        "envoy.yaml:16:19: filter_chains[0].filters[3].typed_config.codec_type: unknown value 'HTTP4' for enum "
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType (expected "
        "one of: AUTO, HTTP1, HTTP2, HTTP3)\n"
        "envoy.yaml:18:29: filter_chains[0].filters[4].typed_config: 'no-slash' is not supported by frontdesk: "
        "it has no extension of type 'envoy.extensions.filters.http.router.v3.Router'\n"
        "envoy.yaml:20:29: filter_chains[0].filters[5].typed_config: expected a type URL, got a list");
    /* in a map keyed by extension name, the key names the extension */
    load_fails(
        "name: r\n"
        "typed_per_filter_config:\n"
        "  envoy.filters.http.nope: {'@type': type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope}\n",
        ROUTE_CONFIGURATION,
        "envoy.yaml:3:38: typed_per_filter_config[\"envoy.filters.http.nope\"]: 'envoy.filters.http.nope' is not "
        "supported by frontdesk: it has no extension of type "
        "'type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope'");
    /* an Any with no 'name' beside it is reported by its type alone */
    load_fails("virtual_hosts:\n"
               "- name: backend\n"
               "  domains: ['*']\n"
               "  routes:\n"
               "  - match: {prefix: /}\n"
               "    route:\n"
               "      cluster: backend\n"
               "      retry_policy_typed_config: {'@type': type.googleapis.com/envoy.config.route.v3.Nope}\n",
               ROUTE_CONFIGURATION,
               "envoy.yaml:8:44: virtual_hosts[0].routes[0].route.retry_policy_typed_config: unknown '@type' "
               "'type.googleapis.com/envoy.config.route.v3.Nope': frontdesk does not support this message type");
}

#define WKT(name) "'@type': type.googleapis.com/google.protobuf." name

static void test_any_holding_well_known_types(void **state)
{
    (void)state;
    Cluster *c = load_ok(
        "name: c\n"
        "metadata:\n"
        "  typed_filter_metadata:\n"
        "    timeout: {" WKT(
            "Duration") ", value: 1.5s}\n"
                        "    labels: {" WKT(
                            "Struct") ", value: {team: edge}}\n"
                                      "    list: {" WKT(
                                          "ListValue") ", value: [1, two]}\n"
                                                       "    value: {" WKT(
                                                           "Value") ", value: 3}\n"
                                                                    "    marker: {" WKT(
                                                                        "Empty") ", value: {}}\n"
                                                                                 "    tag: {" WKT(
                                                                                     "StringValue") ", value: "
                                                                                                    "blue}\n"
                                                                                                    "    blob: "
                                                                                                    "{" WKT(
                                                                                                        "BytesValu"
                                                                                                        "e") ", "
                                                                                                             "value"
                                                                                                             ": "
                                                                                                             "aGk=}"
                                                                                                             "\n"
                                                                                                             "    "
                                                                                                             "big: "
                                                                                                             "{" WKT(
                                                                                                                 "I"
                                                                                                                 "n"
                                                                                                                 "t"
                                                                                                                 "6"
                                                                                                                 "4"
                                                                                                                 "V"
                                                                                                                 "a"
                                                                                                                 "l"
                                                                                                                 "u"
                                                                                                                 "e") ", value: '-9000000000'}\n"
                                                                                                                      "    when: {" WKT(
                                                                                                                          "Timestamp") ", value: '1970-01-01T00:00:01Z'}\n",
        CLUSTER);
    Envoy__Config__Core__V3__Metadata__TypedFilterMetadataEntry **t = c->metadata->typed_filter_metadata;
    assert_int_equal(c->metadata->n_typed_filter_metadata, 9);
    assert_duration((const Google__Protobuf__Duration *)any_payload(t[0]->value,
                                                                    "type.googleapis.com/google.protobuf.Duration",
                                                                    &google__protobuf__duration__descriptor),
                    1, 500000000);
    const Struct *s = (const Struct *)any_payload(t[1]->value, "type.googleapis.com/google.protobuf.Struct",
                                                  &google__protobuf__struct__descriptor);
    assert_string_value(struct_get(s, "team"), "edge");
    const Google__Protobuf__ListValue *lv = (const Google__Protobuf__ListValue *)any_payload(
        t[2]->value, "type.googleapis.com/google.protobuf.ListValue", &google__protobuf__list_value__descriptor);
    assert_int_equal(lv->n_values, 2);
    assert_number(lv->values[0], 1);
    assert_string_value(lv->values[1], "two");
    assert_number((const Value *)any_payload(t[3]->value, "type.googleapis.com/google.protobuf.Value",
                                             &google__protobuf__value__descriptor),
                  3);
    any_payload(t[4]->value, "type.googleapis.com/google.protobuf.Empty", &google__protobuf__empty__descriptor);
    assert_int_equal(t[4]->value->value.len, 0);
    assert_string_equal(((const Google__Protobuf__StringValue *)any_payload(
                             t[5]->value, "type.googleapis.com/google.protobuf.StringValue",
                             &google__protobuf__string_value__descriptor))
                            ->value,
                        "blue");
    assert_bytes(((const Google__Protobuf__BytesValue *)any_payload(t[6]->value,
                                                                    "type.googleapis.com/google.protobuf.BytesValue",
                                                                    &google__protobuf__bytes_value__descriptor))
                     ->value,
                 "hi", 2);
    assert_true(((const Google__Protobuf__Int64Value *)any_payload(t[7]->value,
                                                                   "type.googleapis.com/google.protobuf.Int64Value",
                                                                   &google__protobuf__int64_value__descriptor))
                    ->value == -9000000000LL);
    const Google__Protobuf__Timestamp *ts = (const Google__Protobuf__Timestamp *)any_payload(
        t[8]->value, "type.googleapis.com/google.protobuf.Timestamp", &google__protobuf__timestamp__descriptor);
    assert_int_equal(ts->seconds, 1);

    load_fails(
        "name: c\n"
        "metadata:\n"
        "  typed_filter_metadata:\n"
        "    timeout: {" WKT(
            "Duration") ", seconds: 5}\n"
                        "    marker: {" WKT(
                            "Empty") ", value: {a: 1}}\n"
                                     "    typo: {" WKT("UInt32Value") ", value: 5, vaule: 6}\n"
                                                                      "    bad: {" WKT("UInt32Value") ", value: -5}\n",
        CLUSTER,
        "envoy.yaml:4:70: metadata.typed_filter_metadata[\"timeout\"]: unknown field 'seconds' in an Any "
        "holding google.protobuf.Duration (it takes only '@type' and 'value')\n"
        "envoy.yaml:5:73: metadata.typed_filter_metadata[\"marker\"]: expected an empty mapping {} for "
        "google.protobuf.Empty\n"
        "envoy.yaml:6:80: metadata.typed_filter_metadata[\"typo\"]: unknown field 'vaule' in an Any holding "
        "google.protobuf.UInt32Value (it takes only '@type' and 'value')\n"
        "envoy.yaml:7:76: metadata.typed_filter_metadata[\"bad\"]: value -5 is out of range [0, 4294967295]");
    load_fails("name: c\n"
               "metadata:\n"
               "  typed_filter_metadata:\n"
               "    timeout: {" WKT("Duration") "}\n",
               CLUSTER,
               "envoy.yaml:4:14: metadata.typed_filter_metadata[\"timeout\"]: an Any holding google.protobuf.Duration "
               "needs a 'value' field");
}

/* ---- Duration and Timestamp ---- */

static void test_durations(void **state)
{
    (void)state;
    Bootstrap *b = load_ok("stats_flush_interval: 5s\n"
                           "watchdogs:\n"
                           "  main_thread_watchdog:\n"
                           "    miss_timeout: 0.25s\n"
                           "    megamiss_timeout: 1.000000001s\n"
                           "    kill_timeout: 0s\n"
                           "    multikill_timeout: -1.5s\n"
                           "    max_kill_timeout_jitter: 315576000000.999999999s\n",
                           BOOTSTRAP);
    assert_duration(b->stats_flush_interval, 5, 0);
    Envoy__Config__Bootstrap__V3__Watchdog *w = b->watchdogs->main_thread_watchdog;
    assert_duration(w->miss_timeout, 0, 250000000);
    assert_duration(w->megamiss_timeout, 1, 1);
    assert_duration(w->kill_timeout, 0, 0);
    assert_duration(w->multikill_timeout, -1, -500000000);
    assert_duration(w->max_kill_timeout_jitter, 315576000000LL, 999999999);

#define BAD_DURATION(line, col, field, text)                                                                           \
    "envoy.yaml:" #line ":" #col ": watchdogs.main_thread_watchdog." field ": invalid duration '" text                 \
    "' (expected seconds with an 's' suffix, such as \"5s\" or \"0.25s\")"
    load_fails(
        "watchdogs:\n"
        "  main_thread_watchdog:\n"
        "    miss_timeout: 5\n"
        "    megamiss_timeout: 5m\n"
        "    kill_timeout: 1.s\n"
        "    multikill_timeout: {seconds: 5}\n"
        "    max_kill_timeout_jitter: 1.0000000001s\n",
        BOOTSTRAP,
        BAD_DURATION(3, 19, "miss_timeout", "5") "\n" BAD_DURATION(4, 23, "megamiss_timeout", "5m") "\n" BAD_DURATION(
            5, 19, "kill_timeout", "1.s") "\n"
                                          "envoy.yaml:6:24: watchdogs.main_thread_watchdog.multikill_timeout: expected "
                                          "a duration such as \"5s\" or "
                                          "\"0.25s\", got a mapping\n" BAD_DURATION(7, 30, "max_kill_timeout_jitter",
                                                                                    "1.0000000001s"));
    load_fails("watchdogs:\n"
               "  main_thread_watchdog:\n"
               "    miss_timeout: 315576000001s\n"
               "    kill_timeout: ' 5s'\n"
               "    megamiss_timeout: .5s\n",
               BOOTSTRAP,
               BAD_DURATION(3, 19, "miss_timeout", "315576000001s") "\n" BAD_DURATION(
                   4, 19, "kill_timeout", " 5s") "\n" BAD_DURATION(5, 23, "megamiss_timeout", ".5s"));
#undef BAD_DURATION
}

static void test_timestamps(void **state)
{
    (void)state;
    AccessLogEntry *e = load_ok("common_properties:\n"
                                "  sample_rate: 0.5\n"
                                "  start_time: 2026-11-28T11:42:18Z\n"
                                "  time_to_last_rx_byte: 0.001s\n"
                                "protocol_version: http11\n"
                                "request: {request_method: POST, request_body_bytes: 1024}\n",
                                ACCESS_LOG_ENTRY);
    assert_true(e->common_properties->sample_rate == 0.5);
    assert_int_equal(e->common_properties->start_time->seconds, 1795866138);
    assert_int_equal(e->common_properties->start_time->nanos, 0);
    assert_duration(e->common_properties->time_to_last_rx_byte, 0, 1000000);
    assert_int_equal(e->protocol_version, ENVOY__DATA__ACCESSLOG__V3__HTTPACCESS_LOG_ENTRY__HTTPVERSION__HTTP11);
    assert_int_equal(e->request->request_method, ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__POST);
    assert_int_equal(e->request->request_body_bytes, 1024);

    e = load_ok("common_properties: {start_time: '2026-11-28T12:42:18.5+01:00'}\n", ACCESS_LOG_ENTRY);
    assert_int_equal(e->common_properties->start_time->seconds, 1795866138);
    assert_int_equal(e->common_properties->start_time->nanos, 500000000);

#define BAD_TIMESTAMP(col, text)                                                                                       \
    "envoy.yaml:1:" #col ": common_properties.start_time: invalid timestamp '" text                                    \
    "' (expected RFC 3339, such as \"2026-01-31T12:00:00Z\")"
    load_fails("common_properties: {start_time: '2026-11-28 11:42:18Z'}\n", ACCESS_LOG_ENTRY,
               BAD_TIMESTAMP(33, "2026-11-28 11:42:18Z"));
    load_fails("common_properties: {start_time: '2026-11-28T11:42:18'}\n", ACCESS_LOG_ENTRY,
               BAD_TIMESTAMP(33, "2026-11-28T11:42:18"));
    load_fails("common_properties: {start_time: '2026-11-28T11:42:18+ab:cd'}\n", ACCESS_LOG_ENTRY,
               BAD_TIMESTAMP(33, "2026-11-28T11:42:18+ab:cd"));
    load_fails("common_properties: {start_time: [2026]}\n", ACCESS_LOG_ENTRY,
               "envoy.yaml:1:33: common_properties.start_time: expected an RFC 3339 timestamp, got a list");
#undef BAD_TIMESTAMP
}

static void test_parse_timestamp_directly(void **state)
{
    (void)state;
    int64_t s = -1;
    int32_t n = -1;
    assert_int_equal(fd_yaml_parse_timestamp("2026-01-31T12:00:00Z", &s, &n), 0);
    assert_int_equal(s, 1769860800);
    assert_int_equal(n, 0);
    assert_int_equal(fd_yaml_parse_timestamp("2026-01-31T12:00:00.123456789z", &s, &n), 0);
    assert_int_equal(s, 1769860800);
    assert_int_equal(n, 123456789);
    assert_int_equal(fd_yaml_parse_timestamp("2026-01-31T12:00:00.1-02:30", &s, &n), 0);
    assert_int_equal(s, 1769860800 + 9000);
    assert_int_equal(n, 100000000);
    assert_int_equal(fd_yaml_parse_timestamp("1970-01-01T00:00:00Z", &s, &n), 0);
    assert_int_equal(s, 0);
    const char *bad[] = {"",
                         "2026-01-31",
                         "2026-01-31T12:00:00",
                         "2026-01-31T12:00:00.Z",
                         "2026-01-31T12:00:00.1234567890Z",
                         "2026-01-31T12:00:00+0100",
                         "2026-01-31T12:00:00+24:00",
                         "2026-01-31T12:00:00+01:60",
                         "2026-01-31T12:00:00Zjunk",
                         " 2026-01-31T12:00:00Z",
                         "2026-13-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (fd_yaml_parse_timestamp(bad[i], &s, &n) == 0)
            fail_msg("'%s' was accepted as a timestamp", bad[i]);

    int64_t ds;
    int32_t dn;
    assert_int_equal(fd_yaml_parse_duration("+2s", &ds, &dn), 0);
    assert_int_equal(ds, 2);
    assert_int_equal(fd_yaml_parse_duration("-0.000000001s", &ds, &dn), 0);
    assert_int_equal(ds, 0);
    assert_int_equal(dn, -1);
    assert_int_equal(fd_yaml_parse_duration("-315576000001s", &ds, &dn), -1);
    assert_int_equal(fd_yaml_parse_duration("99999999999999999999s", &ds, &dn), -1);
    assert_int_equal(fd_yaml_parse_duration("5S", &ds, &dn), -1);
    assert_int_equal(fd_yaml_parse_duration("5s ", &ds, &dn), -1);
}

/* ---- wrappers, Struct/Value/ListValue ---- */

static void test_wrappers(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: c\n"
                         "per_connection_buffer_limit_bytes: 0\n"
                         "ring_hash_lb_config: {minimum_ring_size: 18446744073709551615, hash_function: 1}\n"
                         "preconnect_policy: {per_upstream_preconnect_ratio: 3}\n"
                         "wait_for_warm_on_init: ~\n",
                         CLUSTER);
    assert_non_null(c->per_connection_buffer_limit_bytes);
    assert_int_equal(c->per_connection_buffer_limit_bytes->value, 0);
    assert_int_equal(c->lb_config_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG);
    assert_true(c->ring_hash_lb_config->minimum_ring_size->value == UINT64_MAX);
    assert_null(c->ring_hash_lb_config->maximum_ring_size);
    assert_int_equal(c->ring_hash_lb_config->hash_function,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__RING_HASH_LB_CONFIG__HASH_FUNCTION__MURMUR_HASH_2);
    assert_true(c->preconnect_policy->per_upstream_preconnect_ratio->value == 3.0);
    assert_null(c->wait_for_warm_on_init);
    load_fails("name: c\n"
               "per_connection_buffer_limit_bytes: {value: 5}\n"
               "ring_hash_lb_config: {minimum_ring_size: -1}\n"
               "wait_for_warm_on_init: [true]\n",
               CLUSTER,
               "envoy.yaml:2:36: per_connection_buffer_limit_bytes: expected a scalar value, got a mapping\n"
               "envoy.yaml:3:42: ring_hash_lb_config.minimum_ring_size: value -1 is out of range [0, "
               "18446744073709551615]\n"
               "envoy.yaml:4:24: wait_for_warm_on_init: expected a scalar value, got a list");
}

static const char STRUCT_YAML[] = "node:\n"
                                  "  id: edge-1\n"
                                  "  metadata:\n"
                                  "    region: us-east-1\n"
                                  "    weight: 12.5\n"
                                  "    shards: 3\n"
                                  "    canary: false\n"
                                  "    owner: ~\n"
                                  "    version: '2'\n"
                                  "    ratio: inf\n"
                                  "    tags: [a, 1, true, null, [x], {k: v}]\n"
                                  "    limits: {rps: 100, burst: {max: 5}}\n"
                                  "    empty_map: {}\n"
                                  "    empty_list: []\n"
                                  "application_log_config:\n"
                                  "  log_format:\n"
                                  "    json_format: {level: '%l', message: '%v'}\n";

static void test_struct_value_list(void **state)
{
    (void)state;
    Bootstrap *b = load_ok(STRUCT_YAML, BOOTSTRAP);
    const Struct *md = b->node->metadata;
    assert_int_equal(md->n_fields, 11);
    assert_string_value(struct_get(md, "region"), "us-east-1");
    assert_number(struct_get(md, "weight"), 12.5);
    assert_number(struct_get(md, "shards"), 3);
    const Value *v = struct_get(md, "canary");
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
    assert_false(v->bool_value);
    v = struct_get(md, "owner");
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
    assert_string_value(struct_get(md, "version"), "2"); /* quoted: a string, not a number */
    assert_string_value(struct_get(md, "ratio"), "inf"); /* a word, not a number */

    v = struct_get(md, "tags");
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    Value **items = v->list_value->values;
    assert_int_equal(v->list_value->n_values, 6);
    assert_string_value(items[0], "a");
    assert_number(items[1], 1);
    assert_int_equal(items[2]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
    assert_true(items[2]->bool_value);
    assert_int_equal(items[3]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
    assert_int_equal(items[4]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    assert_string_value(items[4]->list_value->values[0], "x");
    assert_int_equal(items[5]->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
    assert_string_value(struct_get(items[5]->struct_value, "k"), "v");

    v = struct_get(md, "limits");
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
    assert_number(struct_get(v->struct_value, "rps"), 100);
    assert_number(struct_get(struct_get(v->struct_value, "burst")->struct_value, "max"), 5);
    assert_int_equal(struct_get(md, "empty_map")->struct_value->n_fields, 0);
    assert_int_equal(struct_get(md, "empty_list")->list_value->n_values, 0);

    Envoy__Config__Bootstrap__V3__Bootstrap__ApplicationLogConfig__LogFormat *lf =
        b->application_log_config->log_format;
    assert_int_equal(
        lf->log_format_case,
        ENVOY__CONFIG__BOOTSTRAP__V3__BOOTSTRAP__APPLICATION_LOG_CONFIG__LOG_FORMAT__LOG_FORMAT_JSON_FORMAT);
    assert_string_value(struct_get(lf->json_format, "level"), "%l");

    load_fails("node:\n"
               "  metadata: [a, b]\n"
               "layered_runtime:\n"
               "  layers:\n"
               "  - name: static\n"
               "    static_layer:\n"
               "      re2.max_program_size.error_level: 200\n"
               "      re2.max_program_size.error_level: 300\n"
               "      ? {a: 1}\n"
               "      : x\n",
               BOOTSTRAP,
               "envoy.yaml:2:13: node.metadata: expected a mapping for google.protobuf.Struct, got a list\n"
               "envoy.yaml:8:7: layered_runtime.layers[0].static_layer: key 're2.max_program_size.error_level' is "
               "given twice\n"
               "envoy.yaml:9:9: layered_runtime.layers[0].static_layer: expected a scalar map key, got a mapping");
}

static void test_runtime_reserved_name(void **state)
{
    (void)state;
    /* Runtime.base is declared as base_ (protobuf-c's own member is called base) */
    Envoy__Config__Bootstrap__V3__Runtime *r =
        load_ok("symlink_root: /srv/runtime/current\nbase: {health_check.min_interval: 5}\n", RUNTIME);
    assert_string_equal(r->symlink_root, "/srv/runtime/current");
    assert_number(struct_get(r->base_, "health_check.min_interval"), 5);
}

/* ---- key spelling: camelCase, unknown fields, duplicates ---- */

static void test_camel_case_keys(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: backend\n"
                         "connectTimeout: 2s\n"
                         "lbPolicy: RING_HASH\n"
                         "respectDnsTtl: true\n"
                         "perConnectionBufferLimitBytes: 1024\n"
                         "loadAssignment:\n"
                         "  clusterName: backend\n"
                         "  endpoints:\n"
                         "  - lbEndpoints:\n"
                         "    - endpoint: {address: {socketAddress: {address: 10.0.0.1, portValue: 80}}}\n",
                         CLUSTER);
    assert_duration(c->connect_timeout, 2, 0);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH);
    assert_true(c->respect_dns_ttl);
    assert_int_equal(c->per_connection_buffer_limit_bytes->value, 1024);
    assert_string_equal(c->load_assignment->cluster_name, "backend");
    const SocketAddress *sa = socket_address_of(c->load_assignment->endpoints[0]->lb_endpoints[0]->endpoint->address);
    assert_string_equal(sa->address, "10.0.0.1");
    assert_int_equal(sa->port_value, 80);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    load_fails("name: backend\n"
               "conect_timeout: 1s\n"
               "lbPolicyy: RANDOM\n"
               "load_assignment:\n"
               "  cluster_name: backend\n"
               "  endpoints:\n"
               "  - lb_endpoint:\n"
               "    - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}\n"
               "hosts: [{socket_address: {address: 10.0.0.1, port_value: 80}}]\n"
               "frobnicate: true\n",
               CLUSTER,
               "envoy.yaml:2:1: unknown field 'conect_timeout' (did you mean 'connect_timeout'?)\n"
               "envoy.yaml:3:1: unknown field 'lbPolicyy' (did you mean 'lb_policy'?)\n"
               "envoy.yaml:7:5: load_assignment.endpoints[0]: unknown field 'lb_endpoint' (did you mean "
               "'lb_endpoints'?)\n"
               "envoy.yaml:9:1: unknown field 'hosts' in envoy.config.cluster.v3.Cluster\n"
               "envoy.yaml:10:1: unknown field 'frobnicate' in envoy.config.cluster.v3.Cluster");
    load_fails("[name]: backend\n", CLUSTER, "envoy.yaml:1:1: expected a field name, got a list");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    load_fails("name: backend\n"
               "connect_timeout: 1s\n"
               "name: backend-2\n"
               "connectTimeout: 2s\n"
               "load_assignment:\n"
               "  cluster_name: a\n"
               "  clusterName: b\n",
               CLUSTER,
               "envoy.yaml:3:1: field 'name' is given twice\n"
               "envoy.yaml:4:1: field 'connect_timeout' is given twice\n"
               "envoy.yaml:7:3: load_assignment: field 'cluster_name' is given twice");
}

/* ---- anchors, aliases, merge keys ---- */

/* Bootstrap has no free-form keys for anchors to live in, so they sit in node.metadata. */
static const char MERGE_YAML[] = "node:\n"                                   /* 1 */
                                 "  metadata:\n"                             /* 2 */
                                 "    defaults: &defaults\n"                 /* 3 */
                                 "      connect_timeout: 1s\n"               /* 4 */
                                 "      type: STRICT_DNS\n"                  /* 5 */
                                 "      lb_policy: ROUND_ROBIN\n"            /* 6 */
                                 "    http2: &http2\n"                       /* 7 */
                                 "      lb_policy: LEAST_REQUEST\n"          /* 8 */
                                 "      typed_extension_protocol_options:\n" /* 9 */
                                 "        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
                                 "          '@type': " HPO_TYPE "\n"                              /* 11 */
                                 "          explicit_http_config: {http2_protocol_options: {}}\n" /* 12 */
                                 "static_resources:\n"                                            /* 13 */
                                 "  clusters:\n"                                                  /* 14 */
                                 "  - &web\n"                                                     /* 15 */
                                 "    <<: *defaults\n"                                            /* 16 */
                                 "    name: web\n"                                                /* 17 */
                                 "    connect_timeout: 3s\n"                                      /* 18 */
                                 "  - <<: [*http2, *defaults]\n"                                  /* 19 */
                                 "    name: grpc\n"                                               /* 20 */
                                 "  - *web\n";                                                    /* 21 */

static void test_anchors_and_merge_keys(void **state)
{
    (void)state;
    Bootstrap *b = load_ok(MERGE_YAML, BOOTSTRAP);
    Cluster **c = b->static_resources->clusters;
    assert_int_equal(b->static_resources->n_clusters, 3);
    /* << with a mapping: own keys win */
    assert_string_equal(c[0]->name, "web");
    assert_duration(c[0]->connect_timeout, 3, 0);
    assert_int_equal(c[0]->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS);
    assert_int_equal(c[0]->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN);
    /* << with a list of mappings: the earlier mapping wins over the later */
    assert_string_equal(c[1]->name, "grpc");
    assert_int_equal(c[1]->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST);
    assert_duration(c[1]->connect_timeout, 1, 0);
    assert_int_equal(c[1]->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS);
    assert_int_equal(c[1]->n_typed_extension_protocol_options, 1);
    any_payload(c[1]->typed_extension_protocol_options[0]->value, HPO_TYPE,
                &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
    /* an alias is a full copy, decoded again into its own message */
    assert_ptr_not_equal(c[2], c[0]);
    assert_string_equal(c[2]->name, "web");
    assert_duration(c[2]->connect_timeout, 3, 0);
    /* the anchored metadata itself is an ordinary Struct */
    assert_string_value(struct_get(struct_get(b->node->metadata, "defaults")->struct_value, "type"), "STRICT_DNS");

    /* merge keys inside a Struct merge too (own keys first) */
    b = load_ok("node:\n"
                "  metadata:\n"
                "    base: &base {team: edge, tier: 1}\n"
                "    derived: {<<: *base, tier: 2}\n",
                BOOTSTRAP);
    const Struct *derived = struct_get(b->node->metadata, "derived")->struct_value;
    assert_int_equal(derived->n_fields, 2);
    assert_number(struct_get(derived, "tier"), 2);
    assert_string_value(struct_get(derived, "team"), "edge");

    load_fails("static_resources:\n"
               "  clusters:\n"
               "  - <<: not-a-mapping\n"
               "    name: a\n"
               "  - <<: [{name: b}, [c]]\n"
               "  - name: *undefined_is_not_reached\n",
               BOOTSTRAP, "envoy.yaml:6:11: YAML syntax error: found undefined alias");
    load_fails("static_resources:\n"
               "  clusters:\n"
               "  - <<: not-a-mapping\n"
               "    name: a\n"
               "  - <<: [{name: b}, [c], 5]\n",
               BOOTSTRAP,
               "envoy.yaml:3:9: static_resources.clusters[0]: merge key '<<' takes a mapping or a list of mappings, "
               "got a scalar\n"
               "envoy.yaml:5:21: static_resources.clusters[1]: merge key '<<' takes mappings, got a list\n"
               "envoy.yaml:5:26: static_resources.clusters[1]: merge key '<<' takes mappings, got a scalar");
}

static char *billion_laughs(void)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len,
                            "node:\n  metadata:\n    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++) {
        len += (size_t)snprintf(s + len, cap - len, "    l%d: &l%d [", i, i);
        for (int j = 0; j < 9; j++)
            len += (size_t)snprintf(s + len, cap - len, "%s*l%d", j ? ", " : "", i - 1);
        len += (size_t)snprintf(s + len, cap - len, "]\n");
    }
    assert_true(len < cap);
    return s;
}

static void test_alias_bomb(void **state)
{
    (void)state;
    char *yaml = billion_laughs(); /* 9^10 leaves if expanded */
    ProtobufCMessage *msg = load_named("envoy.yaml", yaml, BOOTSTRAP);
    free(yaml);
    assert_null(msg);
    assert_int_equal(fx->errs.count, 1);
    assert_string_equal(errors(), "envoy.yaml:3:29: node.metadata[\"l6\"][2][1][8][7][4][6][3]: document too large "
                                  "after expanding aliases (over 2000000 nodes)");

    /* the same through merge keys */
    fd_cfg_errors_clear(&fx->errs);
    size_t cap = 8192, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len, "node:\n  metadata:\n    m0: &m0 {a: 1}\n");
    for (int i = 1; i < 24; i++) {
        len += (size_t)snprintf(s + len, cap - len, "    m%d: &m%d {<<: [", i, i);
        for (int j = 0; j < 4; j++)
            len += (size_t)snprintf(s + len, cap - len, "%s*m%d", j ? ", " : "", i - 1);
        len += (size_t)snprintf(s + len, cap - len, "]}\n");
    }
    assert_true(len < cap);
    msg = load_named("envoy.yaml", s, BOOTSTRAP);
    free(s);
    assert_null(msg);
    assert_int_equal(fx->errs.count, 1);
    assert_non_null(strstr(errors(), "document too large after expanding aliases (over 2000000 nodes)"));
}

static void test_depth_limit(void **state)
{
    (void)state;
    char yaml[512], expected[1024];
    int depth = 70;
    int n = snprintf(yaml, sizeof(yaml), "node:\n  metadata:\n    deep: ");
    for (int i = 0; i < depth; i++)
        yaml[n++] = '[';
    for (int i = 0; i < depth; i++)
        yaml[n++] = ']';
    yaml[n++] = '\n';
    yaml[n] = '\0';
    /* Bootstrap(1) node(2) metadata(3), then deep's Value(4) and one more Value per nested list:
     * entering a 65th level fails, at the 61st nested list */
    n = snprintf(expected, sizeof(expected), "envoy.yaml:3:%d: node.metadata[\"deep\"]", 11 + 61);
    for (int i = 0; i < 61; i++)
        n += snprintf(expected + n, sizeof(expected) - (size_t)n, "[0]");
    snprintf(expected + n, sizeof(expected) - (size_t)n, ": nesting deeper than 64 levels");
    load_fails(yaml, BOOTSTRAP, expected);
}

/* ---- input forms: JSON, syntax errors, empty documents, nulls ---- */

static const char CLUSTER_JSON[] =
    "{\n"
    "  \"name\": \"backend\",\n"
    "  \"type\": \"EDS\",\n"
    "  \"connectTimeout\": \"0.5s\",\n"
    "  \"edsClusterConfig\": {\"edsConfig\": {\"ads\": {}}, \"serviceName\": \"svc\\/a\"},\n"
    "  \"respect_dns_ttl\": true,\n"
    "  \"metadata\": {\"filterMetadata\": {\"envoy.lb\": {\"n\": 1.5e2, \"z\": null}}},\n"
    "  \"lrsReportEndpointMetrics\": [\"a\",\"b\"]\n"
    "}\n";

static void test_json_input(void **state)
{
    (void)state;
    Cluster *c = load_ok(CLUSTER_JSON, CLUSTER);
    assert_string_equal(c->name, "backend");
    assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_duration(c->connect_timeout, 0, 500000000);
    assert_non_null(c->eds_cluster_config->eds_config);
    assert_string_equal(c->eds_cluster_config->service_name, "svc/a");
    assert_true(c->respect_dns_ttl);
    const Struct *lb = filter_metadata(c->metadata, "envoy.lb");
    assert_number(struct_get(lb, "n"), 150);
    assert_int_equal(struct_get(lb, "z")->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);
    assert_int_equal(c->n_lrs_report_endpoint_metrics, 2);
    assert_mark(&c->connect_timeout, 4, 3);

    fd_cfg_source_t *src = &fx->src[fx->loads];
    ProtobufCMessage *msg =
        load_named("cds.json", "{\"name\": \"a\",\n \"type\": \"DNS\", \"lb_policy\": 1.5}", CLUSTER);
    assert_null(msg);
    assert_string_equal(src->name, "cds.json");
    assert_string_equal(
        errors(), "cds.json:2:10: type: unknown value 'DNS' for enum envoy.config.cluster.v3.Cluster.DiscoveryType "
                  "(expected one of: STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)\n"
                  "cds.json:2:30: lb_policy: unknown value '1.5' for enum envoy.config.cluster.v3.Cluster.LbPolicy "
                  "(expected one of: " LB_POLICIES ")");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    load_fails("name: backend\n  type: EDS\n", CLUSTER,
               "envoy.yaml:2:7: YAML syntax error: mapping values are not allowed in this context");
    load_fails("name: backend\nlrs_report_endpoint_metrics: [a, b\n", CLUSTER,
               "envoy.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence "
               "(begun at line 2, column 30)");
    load_fails("name: backend\n\ttype: EDS\n", CLUSTER,
               "envoy.yaml:2:1: YAML syntax error: found a tab character that violates indentation while scanning a "
               "plain scalar");
    load_fails("{\"name\": \"backend\",, \"type\": \"EDS\"}", CLUSTER,
               "envoy.yaml:1:20: YAML syntax error: did not find expected node content while parsing a flow node");
    load_fails("name: 'unterminated\n", CLUSTER,
               "envoy.yaml:2:1: YAML syntax error: found unexpected end of stream while scanning a quoted scalar "
               "(begun at line 1, column 7)");
}

static void test_empty_documents(void **state)
{
    (void)state;
    const char *empty[] = {"", "# only a comment\n", "---\n", "~\n", "null\n", "\n\n"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        load_fails(empty[i], BOOTSTRAP, "envoy.yaml: the document is empty");
    load_fails("- name: a\n", BOOTSTRAP,
               "envoy.yaml:1:1: expected a mapping for envoy.config.bootstrap.v3.Bootstrap, got a list");
    load_fails("just text\n", BOOTSTRAP,
               "envoy.yaml:1:1: expected a mapping for envoy.config.bootstrap.v3.Bootstrap, got a scalar");
    /* an empty mapping is a valid, empty message */
    Bootstrap *b = load_ok("{}\n", BOOTSTRAP);
    assert_null(b->node);
    assert_null(b->static_resources);
}

static void test_document_shape_limits(void **state)
{
    (void)state;
    load_fails("node: {id: a}\n---\nnode: {id: b}\n", BOOTSTRAP,
               "envoy.yaml:3:1: a second YAML document begins here; a configuration is one document");
    /* a trailing document marker with nothing after it is fine */
    Bootstrap *b = load_ok("node: {id: a}\n---\n", BOOTSTRAP);
    assert_string_equal(b->node->id, "a");
    char deep[400];
    memset(deep, '[', 200);
    deep[200] = '\0';
    assert_null(load_named("envoy.yaml", deep, BOOTSTRAP));
    assert_non_null(strstr(errors(), "nested deeper than 130 levels"));
    fd_cfg_errors_clear(&fx->errs);
    /* a recursive anchor ends at once with its own message, not after the node budget */
    assert_null(load_named("envoy.yaml", "node: {metadata: &a {x: [*a]}}\n", BOOTSTRAP));
    assert_non_null(strstr(errors(), "recursive anchor"));
    fd_cfg_errors_clear(&fx->errs);
}

static void test_lenient_forms_refused(void **state)
{
    (void)state;
    /* strtoull skips blanks and wraps a '-': a quoted " -1" must not become 2^64-1 */
    load_fails("name: a\nper_connection_buffer_limit_bytes: \" -1\"\n", CLUSTER,
               "envoy.yaml:2:36: per_connection_buffer_limit_bytes: expected a non-negative integer, got ' -1'");
    /* an enum number beyond int32 is not truncated into a valid value */
    load_fails(
        "name: a\nlb_policy: 4294967297\n", CLUSTER,
        "envoy.yaml:2:12: lb_policy: unknown value '4294967297' for enum envoy.config.cluster.v3.Cluster.LbPolicy "
        "(expected one of: ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, "
        "LOAD_BALANCING_POLICY_CONFIG)");
    int64_t secs;
    int32_t nanos;
    assert_int_equal(fd_yaml_parse_timestamp("2026-1-5T1:2:3Z", &secs, &nanos), -1);
    assert_int_equal(fd_yaml_parse_timestamp("2026-11-28T23:59:60Z", &secs, &nanos), -1);
    assert_int_equal(fd_yaml_parse_timestamp("2026-11-28T23:59:59Z", &secs, &nanos), 0);
}

static void test_null_values(void **state)
{
    (void)state;
    Cluster *c = load_ok("name: backend\n"
                         "alt_stat_name: null\n"
                         "connect_timeout: ~\n"
                         "lb_policy:\n"
                         "load_assignment: Null\n"
                         "lrs_report_endpoint_metrics: NULL\n"
                         "type: ~\n"
                         "respect_dns_ttl: ~\n"
                         "per_connection_buffer_limit_bytes:\n"
                         "eds_cluster_config: {service_name: 'null'}\n",
                         CLUSTER);
    assert_string_equal(c->name, "backend");
    assert_string_equal(c->alt_stat_name, "");
    assert_null(c->connect_timeout);
    assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN);
    assert_null(c->load_assignment);
    assert_int_equal(c->n_lrs_report_endpoint_metrics, 0);
    assert_int_equal(c->cluster_discovery_type_case,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE__NOT_SET);
    assert_false(c->respect_dns_ttl);
    assert_null(c->per_connection_buffer_limit_bytes);
    assert_string_equal(c->eds_cluster_config->service_name, "null"); /* quoted: the word itself */
    fd_cfg_mark_t none = fd_cfg_source_mark(last_source(), &c->connect_timeout);
    assert_int_equal(none.line, 0);
}

/* ---- several errors in one run, and the bound ---- */

static void test_multiple_errors_in_order(void **state)
{
    (void)state;
    /* six independent mistakes, all reported (load_fails counts them), in document order */
    load_fails("static_resources:\n"
               "  clusters:\n"
               "  - name: a\n"
               "    connect_timeout: 5\n"
               "    lb_policy: FASTEST\n"
               "  - name: b\n"
               "    load_assignment:\n"
               "      cluster_name: b\n"
               "      endpoints:\n"
               "      - lb_endpoints:\n"
               "        - endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: -80}}}\n"
               "admin:\n"
               "  address: {pipe: {path: /tmp/admin.sock, mode: 0o644}}\n"
               "stats_flush_interval: soon\n"
               "unknown_top_level: 1\n",
               BOOTSTRAP,
               "envoy.yaml:4:22: static_resources.clusters[0].connect_timeout: invalid duration '5' (expected seconds "
               "with an 's' suffix, such as \"5s\" or \"0.25s\")\n"
               "envoy.yaml:5:16: static_resources.clusters[0].lb_policy: unknown value 'FASTEST' for enum "
               "envoy.config.cluster.v3.Cluster.LbPolicy (expected one of: " LB_POLICIES ")\n"
               "envoy.yaml:11:80: static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint."
               "address.socket_address.port_value: value -80 is out of range [0, 4294967295]\n"
               "envoy.yaml:13:49: admin.address.pipe.mode: expected a non-negative integer, got '0o644'\n"
               "envoy.yaml:14:23: stats_flush_interval: invalid duration 'soon' (expected seconds with an 's' suffix, "
               "such as \"5s\" or \"0.25s\")\n"
               "envoy.yaml:15:1: unknown field 'unknown_top_level' in envoy.config.bootstrap.v3.Bootstrap");
    /* a clean document after a failed one: errors do not leak from one load to the next */
    Cluster *c = load_ok("name: ok\n", CLUSTER);
    assert_string_equal(c->name, "ok");
}

static void test_error_bound(void **state)
{
    (void)state;
    enum { LISTS = FD_CFG_ERRORS_MAX + 6 };
    size_t cap = 16 * LISTS + 64;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    size_t len = (size_t)snprintf(yaml, cap, "node_context_params:\n");
    for (int i = 0; i < LISTS; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "- [x%d]\n", i);
    assert_true(len < cap);
    ProtobufCMessage *msg = load_named("envoy.yaml", yaml, BOOTSTRAP);
    free(yaml);
    assert_null(msg);
    assert_int_equal(fx->errs.count, FD_CFG_ERRORS_MAX);
    assert_int_equal(fx->errs.dropped, 6);
    assert_string_equal(fx->errs.items[0],
                        "envoy.yaml:2:3: node_context_params[0]: expected a scalar value, got a list");
    assert_string_equal(fx->errs.items[FD_CFG_ERRORS_MAX - 1],
                        "envoy.yaml:65:3: node_context_params[63]: expected a scalar value, got a list");
    const char *joined = errors();
    const char *tail = "envoy.yaml:65:3: node_context_params[63]: expected a scalar value, got a list\n"
                       "... and 6 more errors";
    assert_true(strlen(joined) > strlen(tail));
    assert_string_equal(joined + strlen(joined) - strlen(tail), tail);
    size_t lines = 1;
    for (const char *p = joined; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, FD_CFG_ERRORS_MAX + 1);

    /* errors from several loads share the list and its bound */
    fd_cfg_errors_t errs = {0};
    for (int i = 0; i < FD_CFG_ERRORS_MAX + 1; i++)
        fd_cfg_errors_add(&errs, i % 2 ? "a.yaml" : NULL, (fd_cfg_mark_t){0, 0}, i % 3 ? "x" : NULL, "e%d", i);
    assert_int_equal(errs.count, FD_CFG_ERRORS_MAX);
    assert_int_equal(errs.dropped, 1);
    assert_string_equal(errs.items[0], "e0");
    assert_string_equal(errs.items[1], "a.yaml: x: e1");
    assert_string_equal(errs.items[3], "a.yaml: e3");
    fd_cfg_errors_clear(&errs);
    assert_int_equal(errs.count, 0);
    assert_int_equal(errs.dropped, 0);
    char *none = fd_cfg_errors_join(&errs);
    assert_string_equal(none, "");
    free(none);
}

/* ---- the bootstrap: -c FILE and --config-yaml ---- */

static const char *write_file(const char *name, const void *data, size_t len)
{
    if (fx->dir[0] == '\0') {
        const char *tmp = getenv("TEST_TMPDIR");
        snprintf(fx->dir, sizeof(fx->dir), "%s/yaml_loader_test.XXXXXX", tmp != NULL ? tmp : "/tmp");
        assert_non_null(mkdtemp(fx->dir));
    }
    assert_true(fx->n_files < MAX_FILES);
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", fx->dir, name) > 0);
    fx->files[fx->n_files++] = path;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int boot_load(const char *path, const char *config_yaml)
{
    fd_bootstrap_dispose(&fx->boot);
    return fd_bootstrap_load(&fx->boot, path, config_yaml, &fx->errs);
}

static const char BOOT_YAML[] = "node:\n"
                                "  id: edge-1\n"
                                "  metadata: {zone: a}\n"
                                "flags_path: /etc/envoy/flags\n"
                                "admin:\n"
                                "  address:\n"
                                "    socket_address: {address: 127.0.0.1, port_value: 9901}\n"
                                "cluster_manager: {local_cluster_name: web}\n"
                                "stats_flush_interval: 5s\n"
                                "static_resources:\n"
                                "  clusters:\n"
                                "  - name: web\n"
                                "    connect_timeout: 1s\n"
                                "    type: STRICT_DNS\n";

static const char OVERRIDE_YAML[] = "flags_path: /run/envoy/flags\n"
                                    "enable_dispatcher_stats: true\n"
                                    "admin: {profile_path: /tmp/envoy.prof}\n"
                                    "cluster_manager:\n"
                                    "  outlier_detection: {event_log_path: /var/log/envoy/outliers.log}\n"
                                    "stats_flush_interval: 10s\n"
                                    "static_resources:\n"
                                    "  clusters:\n"
                                    "  - name: api\n"
                                    "    connect_timeout: 2s\n";

static void test_bootstrap_file_and_override(void **state)
{
    (void)state;
    const char *path = write_file("envoy.yaml", BOOT_YAML, strlen(BOOT_YAML));
    assert_int_equal(boot_load(path, NULL), 0);
    assert_string_equal(errors(), "");
    Bootstrap *b = fx->boot.config;
    assert_string_equal(b->node->id, "edge-1");
    assert_string_equal(fx->boot.source.name, path);
    assert_int_equal(fd_cfg_source_mark(&fx->boot.source, b->node).line, 2);

    /* --config-yaml merges over -c as protobuf's MergeFrom */
    assert_int_equal(boot_load(path, OVERRIDE_YAML), 0);
    assert_string_equal(errors(), "");
    b = fx->boot.config;
    assert_string_equal(b->flags_path, "/run/envoy/flags"); /* scalar overwritten */
    assert_true(b->enable_dispatcher_stats);                /* scalar added */
    assert_duration(b->stats_flush_interval, 10, 0);        /* message-typed value overwritten */
    assert_string_equal(b->node->id, "edge-1");             /* messages only in -c are kept */
    assert_string_value(struct_get(b->node->metadata, "zone"), "a");
    /* nested messages merge: the file's fields stay, the override's are added */
    assert_string_equal(b->cluster_manager->local_cluster_name, "web");
    assert_string_equal(b->cluster_manager->outlier_detection->event_log_path, "/var/log/envoy/outliers.log");
    assert_string_equal(b->admin->profile_path, "/tmp/envoy.prof");
    const SocketAddress *sa = socket_address_of(b->admin->address);
    assert_string_equal(sa->address, "127.0.0.1");
    assert_int_equal(sa->port_value, 9901);
    /* lists append */
    assert_int_equal(b->static_resources->n_clusters, 2);
    assert_string_equal(b->static_resources->clusters[0]->name, "web");
    assert_duration(b->static_resources->clusters[0]->connect_timeout, 1, 0);
    assert_int_equal(b->static_resources->clusters[0]->type,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS);
    assert_string_equal(b->static_resources->clusters[1]->name, "api");
    assert_duration(b->static_resources->clusters[1]->connect_timeout, 2, 0);
    /* the merged message is reported by path only, under the file's name */
    assert_string_equal(fx->boot.source.name, path);
    assert_int_equal(fd_cfg_source_mark(&fx->boot.source, b->node).line, 0);

    /* --config-yaml alone */
    assert_int_equal(boot_load(NULL, OVERRIDE_YAML), 0);
    assert_string_equal(fx->boot.config->flags_path, "/run/envoy/flags");
    assert_string_equal(fx->boot.source.name, "--config-yaml");
    assert_int_equal(fd_cfg_source_mark(&fx->boot.source, fx->boot.config->static_resources->clusters[0]).line, 9);
}

/* Envoy's MergeFrom: a sub-message present in both inputs merges (even when a oneof in
 * it is set in neither), a oneof member set in both merges, a different member replaces.
 * protobuf-c's merge-on-unpack got the first two wrong; proxy/config/pb_merge.c does not. */
static void test_bootstrap_override_merges_oneofs(void **state)
{
    (void)state;
    const char *path = write_file("envoy.yaml", BOOT_YAML, strlen(BOOT_YAML));
    assert_int_equal(boot_load(path, "node: {cluster: edge}\n"), 0);
    assert_string_equal(errors(), "");
    assert_string_equal(fx->boot.config->node->id, "edge-1");
    assert_string_equal(fx->boot.config->node->cluster, "edge");

    assert_int_equal(boot_load(path, "admin: {address: {socket_address: {port_value: 9902}}}\n"), 0);
    const SocketAddress *sa = socket_address_of(fx->boot.config->admin->address);
    assert_string_equal(sa->address, "127.0.0.1");
    assert_int_equal(sa->port_value, 9902);

    /* a different member of the oneof replaces the file's */
    assert_int_equal(boot_load(path, "admin: {address: {pipe: {path: /run/envoy/admin.sock}}}\n"), 0);
    assert_int_equal(fx->boot.config->admin->address->address_case, ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE);
    assert_string_equal(fx->boot.config->admin->address->pipe->path, "/run/envoy/admin.sock");
}

static void test_bootstrap_errors(void **state)
{
    (void)state;
    const char *path = write_file("envoy.yaml", BOOT_YAML, strlen(BOOT_YAML));
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/missing.yaml", fx->dir);
    assert_int_equal(boot_load(missing, NULL), -1);
    assert_null(fx->boot.config);
    char expected[1400];
    snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", missing);
    assert_string_equal(errors(), expected);
    fd_cfg_errors_clear(&fx->errs);

    /* errors from both inputs, each under its own name */
    assert_int_equal(boot_load(missing, "admin: {address: 5}\n"), -1);
    snprintf(expected, sizeof(expected),
             "%s: cannot open: No such file or directory\n"
             "--config-yaml:1:18: admin.address: expected a mapping for envoy.config.core.v3.Address, got a scalar",
             missing);
    assert_string_equal(errors(), expected);
    fd_cfg_errors_clear(&fx->errs);

    assert_int_equal(boot_load(path, "stats_flush_interval: 5\n"), -1);
    assert_null(fx->boot.config);
    assert_string_equal(errors(), "--config-yaml:1:23: stats_flush_interval: invalid duration '5' (expected seconds "
                                  "with an 's' suffix, such as \"5s\" or \"0.25s\")");
    fd_cfg_errors_clear(&fx->errs);

    const char *bad = write_file("bad.yaml", "node: {id: [x]}\n", 16);
    assert_int_equal(boot_load(bad, NULL), -1);
    snprintf(expected, sizeof(expected), "%s:1:12: node.id: expected a scalar value, got a list", bad);
    assert_string_equal(errors(), expected);
    fd_cfg_errors_clear(&fx->errs);

    assert_int_equal(boot_load(fx->dir, NULL), -1);
    snprintf(expected, sizeof(expected), "%s: cannot read: Is a directory", fx->dir);
    assert_string_equal(errors(), expected);
    fd_cfg_errors_clear(&fx->errs);
}

static void test_bootstrap_json_and_binary(void **state)
{
    (void)state;
    const char json[] = "{\n"
                        "  \"node\": {\"id\": \"edge-json\"},\n"
                        "  \"staticResources\": {\"clusters\": [{\"name\": \"web\", \"connectTimeout\": \"1s\"}]}\n"
                        "}\n";
    const char *path = write_file("envoy.json", json, strlen(json));
    assert_int_equal(boot_load(path, NULL), 0);
    assert_string_equal(errors(), "");
    assert_string_equal(fx->boot.config->node->id, "edge-json");
    assert_duration(fx->boot.config->static_resources->clusters[0]->connect_timeout, 1, 0);

    const char bad_json[] = "{\"node\": {\"id\": \"edge\"},\n \"admin\": {\"adress\": {}}}\n";
    const char *bad_path = write_file("bad.json", bad_json, strlen(bad_json));
    assert_int_equal(boot_load(bad_path, NULL), -1);
    char expected[1200];
    snprintf(expected, sizeof(expected), "%s:2:12: admin: unknown field 'adress' (did you mean 'address'?)", bad_path);
    assert_string_equal(errors(), expected);
    fd_cfg_errors_clear(&fx->errs);

    /* binary protobuf, by extension: the packed form of the JSON bootstrap */
    assert_int_equal(boot_load(path, NULL), 0);
    size_t len = protobuf_c_message_get_packed_size(&fx->boot.config->base);
    uint8_t *packed = malloc(len);
    assert_non_null(packed);
    protobuf_c_message_pack(&fx->boot.config->base, packed);
    const char *pb = write_file("envoy.pb", packed, len);
    free(packed);
    assert_int_equal(boot_load(pb, "cluster_manager: {local_cluster_name: web}\n"), 0);
    assert_string_equal(errors(), "");
    assert_string_equal(fx->boot.config->node->id, "edge-json");
    assert_string_equal(fx->boot.config->cluster_manager->local_cluster_name, "web");
    assert_string_equal(fx->boot.config->static_resources->clusters[0]->name, "web");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_cluster_values),
        T(test_int32),
        T(test_uint32),
        T(test_int64),
        T(test_uint64),
        T(test_double_and_float),
        T(test_bool),
        T(test_string),
        T(test_bytes_base64),
        T(test_enums),
        T(test_repeated),
        T(test_maps),
        T(test_oneof),
        T(test_any_typed_config),
        T(test_any_errors),
        T(test_any_holding_well_known_types),
        T(test_durations),
        T(test_timestamps),
        T(test_parse_timestamp_directly),
        T(test_wrappers),
        T(test_struct_value_list),
        T(test_runtime_reserved_name),
        T(test_camel_case_keys),
        T(test_unknown_fields),
        T(test_duplicate_keys),
        T(test_anchors_and_merge_keys),
        T(test_alias_bomb),
        T(test_depth_limit),
        T(test_json_input),
        T(test_syntax_errors),
        T(test_empty_documents),
        T(test_document_shape_limits),
        T(test_lenient_forms_refused),
        T(test_null_values),
        T(test_multiple_errors_in_order),
        T(test_error_bound),
        T(test_bootstrap_file_and_override),
        T(test_bootstrap_override_merges_oneofs),
        T(test_bootstrap_errors),
        T(test_bootstrap_json_and_binary),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
