/* Tests of Envoy's access logs (proxy/accesslog/access_log.h): formats rendered byte for byte as
 * Envoy renders them, JSON lines parsed back with jansson, compile errors, and the writer end to end
 * on real files and a FIFO nobody reads, with real worker threads and the real logger thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/accesslog/access_log.h"

#define IOV(s) ((h2o_iovec_t){H2O_STRLIT(s)})

/* ---- records ---- */

typedef struct headers {
    h2o_iovec_t names[8];
    h2o_header_t entries[8];
    h2o_headers_t list;
} headers_t;

static void add_header(headers_t *h, const char *name, const char *value)
{
    size_t i = h->list.size++;
    h->names[i] = h2o_iovec_init(name, strlen(name));
    h->entries[i] = (h2o_header_t){.name = &h->names[i], .value = h2o_iovec_init(value, strlen(value))};
    h->list.entries = h->entries;
    h->list.capacity = 8;
}

static headers_t req_headers, resp_headers;

/* 2026-11-28T11:42:18.123456789Z, a request proxied to a backend. */
static fd_access_log_record_t full_record(void)
{
    memset(&req_headers, 0, sizeof(req_headers));
    memset(&resp_headers, 0, sizeof(resp_headers));
    add_header(&req_headers, "user-agent", "curl/8.5.0");
    add_header(&req_headers, "x-forwarded-for", "10.0.0.1");
    add_header(&req_headers, "x-request-id", "2f1c9a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b");
    add_header(&req_headers, "x-empty", "");
    add_header(&req_headers, "x-long", "0123456789abcdef");
    add_header(&resp_headers, "content-type", "application/json");
    add_header(&resp_headers, "x-envoy-upstream-service-time", "12");
    return (fd_access_log_record_t){
        .start_time = {1795866138, 123456789},
        .method = IOV("GET"),
        .path = IOV("/api/v1/users?id=7"),
        .scheme = IOV("https"),
        .authority = IOV("api.example.com"),
        .protocol = IOV("HTTP/1.1"),
        .response_code = 200,
        .bytes_received = 42,
        .bytes_sent = 1234,
        .duration_ms = 15,
        .upstream_service_time_ms = 11,
        .upstream_host = IOV("10.1.2.3:8080"),
        .upstream_cluster = IOV("backend"),
        .route_name = IOV("users_route"),
        .downstream_remote_address = IOV("192.0.2.10:51234"),
        .downstream_local_address = IOV("[2001:db8::1]:443"),
        .requested_server_name = IOV("api.example.com"),
        .request_headers = &req_headers.list,
        .response_headers = &resp_headers.list,
    };
}

/* Nothing known: no response, no upstream, no headers. */
static fd_access_log_record_t empty_record(void)
{
    return (fd_access_log_record_t){.duration_ms = -1, .upstream_service_time_ms = -1};
}

/* ---- rendering helpers ---- */

static char line[8192];

static const char *render_with(fd_access_log_format_t *f, const fd_access_log_record_t *rec)
{
    size_t n = fd_access_log_render(f, rec, line, sizeof(line) - 1);
    assert_true(n < sizeof(line));
    line[n] = '\0';
    return line;
}

static const char *render(const char *format, const fd_access_log_record_t *rec)
{
    char err[256] = "";
    fd_access_log_format_t *f = fd_access_log_format_compile(format, strlen(format), err, sizeof(err));
    if (f == NULL)
        fail_msg("compiling '%s': %s", format, err);
    render_with(f, rec);
    fd_access_log_format_free(f);
    return line;
}

static void expect(const char *format, const fd_access_log_record_t *rec, const char *want)
{
    const char *got = render(format, rec);
    if (strcmp(got, want) != 0)
        fail_msg("format '%s': got '%s', want '%s'", format, got, want);
}

static void expect_error(const char *format, const char *want)
{
    char err[256] = "";
    fd_access_log_format_t *f = fd_access_log_format_compile(format, strlen(format), err, sizeof(err));
    if (f != NULL) {
        fd_access_log_format_free(f);
        fail_msg("format '%s' compiled, want error '%s'", format, want);
    }
    if (strcmp(err, want) != 0)
        fail_msg("format '%s': error '%s', want '%s'", format, err, want);
}

/* ---- the default format ---- */

static void test_default_format_text(void **state)
{
    (void)state;
    /* byte for byte Envoy's SubstitutionFormatUtils::DEFAULT_FORMAT */
    assert_string_equal(FD_ACCESS_LOG_DEFAULT_FORMAT,
                        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
                        "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
                        "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
                        "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n");
}

static void test_default_format_rendered(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    expect(FD_ACCESS_LOG_DEFAULT_FORMAT, &rec,
           "[2026-11-28T11:42:18.123Z] \"GET /api/v1/users?id=7 HTTP/1.1\" 200 - 42 1234 15 12 \"10.0.0.1\" "
           "\"curl/8.5.0\" \"2f1c9a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b\" \"api.example.com\" \"10.1.2.3:8080\"\n");

    /* a rewritten path logs the original; flags and HTTP/2 as the proxy reports them */
    add_header(&req_headers, "x-envoy-original-path", "/users?id=7");
    rec.protocol = IOV("HTTP/2");
    rec.response_code = 503;
    rec.response_flags = IOV("UF,URX");
    expect(FD_ACCESS_LOG_DEFAULT_FORMAT, &rec,
           "[2026-11-28T11:42:18.123Z] \"GET /users?id=7 HTTP/2\" 503 UF,URX 42 1234 15 12 \"10.0.0.1\" "
           "\"curl/8.5.0\" \"2f1c9a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b\" \"api.example.com\" \"10.1.2.3:8080\"\n");
}

static void test_default_format_missing_values(void **state)
{
    (void)state;
    fd_access_log_record_t rec = empty_record();
    expect(FD_ACCESS_LOG_DEFAULT_FORMAT, &rec,
           "[1970-01-01T00:00:00.000Z] \"- - -\" 0 - 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\"\n");
    /* a local reply: no upstream, so no service time and no upstream host */
    rec = full_record();
    rec.upstream_host = h2o_iovec_init(NULL, 0);
    rec.upstream_service_time_ms = -1;
    resp_headers.list.size = 1;
    rec.response_code = 404;
    rec.response_flags = IOV("NR");
    expect(FD_ACCESS_LOG_DEFAULT_FORMAT, &rec,
           "[2026-11-28T11:42:18.123Z] \"GET /api/v1/users?id=7 HTTP/1.1\" 404 NR 42 1234 15 - \"10.0.0.1\" "
           "\"curl/8.5.0\" \"2f1c9a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b\" \"api.example.com\" \"-\"\n");
}

/* ---- every operator ---- */

static void test_every_operator(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    char host[HOST_NAME_MAX + 1];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    static const char *const cases[][2] = {
        {"%START_TIME%", "2026-11-28T11:42:18.123Z"},
        {"%REQ(:METHOD)% %REQ(:PATH)% %REQ(:SCHEME)%", "GET /api/v1/users?id=7 https"},
        {"%REQ(:AUTHORITY)% %REQ(HOST)% %REQ(:authority)%", "api.example.com api.example.com api.example.com"},
        {"%REQ(USER-AGENT)% %REQ(user-agent)% %REQ(X-Forwarded-For)%", "curl/8.5.0 curl/8.5.0 10.0.0.1"},
        {"%REQ(X-REQUEST-ID)%", "2f1c9a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"},
        {"%RESP(CONTENT-TYPE)% %RESP(:STATUS)%", "application/json 200"},
        {"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "12"},
        {"%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS%", "HTTP/1.1 200 -"},
        {"%BYTES_RECEIVED% %BYTES_SENT% %DURATION%", "42 1234 15"},
        {"%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %ROUTE_NAME%", "10.1.2.3:8080 backend users_route"},
        {"%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "192.0.2.10:51234 192.0.2.10"},
        {"%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "[2001:db8::1]:443 2001:db8::1"},
        {"%REQUESTED_SERVER_NAME%", "api.example.com"},
        {"100%% of %RESPONSE_CODE%%%", "100% of 200%"},
        {"%%REQ(:PATH)%%", "%REQ(:PATH)%"},
        {"no operators at all", "no operators at all"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(cases[i][0], &rec, cases[i][1]);
    expect("%HOSTNAME%", &rec, host);
}

/* The record's own values win over the headers as received (the proxy may have appended to
 * x-forwarded-for or generated the request id); the header is the fallback. */
static void test_record_values_over_headers(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    rec.x_forwarded_for = IOV("10.0.0.1,192.0.2.10");
    rec.x_request_id = IOV("generated-id");
    rec.user_agent = IOV("");
    expect("%REQ(X-FORWARDED-FOR)% %REQ(X-REQUEST-ID)% [%REQ(USER-AGENT)%]", &rec,
           "10.0.0.1,192.0.2.10 generated-id []");
    /* no x-envoy-upstream-service-time header: the record's value answers */
    resp_headers.list.size = 1;
    expect("%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", &rec, "11");
    rec.upstream_service_time_ms = -1;
    expect("%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", &rec, "-");
}

static void test_missing_values(void **state)
{
    (void)state;
    fd_access_log_record_t rec = empty_record();
    static const char *const cases[][2] = {
        {"%REQ(:METHOD)% %REQ(:PATH)% %REQ(:SCHEME)% %REQ(:AUTHORITY)%", "- - - -"},
        {"%REQ(USER-AGENT)% %REQ(X-ANYTHING)% %RESP(CONTENT-TYPE)% %RESP(:STATUS)%", "- - - -"},
        {"%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %DURATION%", "- 0 - -"},
        {"%BYTES_RECEIVED% %BYTES_SENT%", "0 0"},
        {"%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %ROUTE_NAME% %REQUESTED_SERVER_NAME%", "- - - -"},
        {"%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "- -"},
        {"%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "- -"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(cases[i][0], &rec, cases[i][1]);
    /* Envoy: an empty stream-info string is "-", a header present with an empty value is empty */
    rec = full_record();
    rec.upstream_cluster = IOV("");
    rec.route_name = IOV("");
    rec.requested_server_name = IOV("");
    rec.response_flags = IOV("");
    expect("%UPSTREAM_CLUSTER% %ROUTE_NAME% %REQUESTED_SERVER_NAME% %RESPONSE_FLAGS% [%REQ(X-EMPTY)%]", &rec,
           "- - - - []");
}

/* ---- START_TIME ---- */

static void test_start_time_formats(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    static const char *const cases[][2] = {
        {"%START_TIME()%", "2026-11-28T11:42:18.123Z"},
        {"%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%", "2026/11/28T11:42:18+0000 1795866138"},
        {"%START_TIME(%s.%3f)%", "1795866138.123"},
        {"%START_TIME(%s.%6f)%", "1795866138.123456"},
        {"%START_TIME(%s.%9f)%", "1795866138.123456789"},
        {"%START_TIME(%f)%", "123456789"},
        {"%START_TIME(%1f|%2f|%4f|%5f|%7f|%8f)%", "1|12|1234|12345|1234567|12345678"},
        {"%START_TIME(%H:%M:%S.%3f %Z)%", "11:42:18.123 UTC"},
        {"%START_TIME(%d %b %Y)%", "28 Nov 2026"},
        {"%START_TIME(100%% at %s)%", "100% at 1795866138"},
        {"%START_TIME(%%f)%", "%f"},
        {"[%START_TIME(%s)%] %START_TIME(%3f)%", "[1795866138] 123"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(cases[i][0], &rec, cases[i][1]);
    /* milliseconds are truncated, not rounded, and the per-second cache follows the clock */
    rec.start_time = (struct timespec){1795866138, 999999999};
    expect("%START_TIME%", &rec, "2026-11-28T11:42:18.999Z");
    rec.start_time = (struct timespec){1795866139, 7000000};
    expect("%START_TIME%", &rec, "2026-11-28T11:42:19.007Z");
    rec.start_time = (struct timespec){1795866139, 5};
    expect("%START_TIME(%s.%9f)%", &rec, "1795866139.000000005");
}

/* ---- REQ / RESP ---- */

static void test_req_fallback_and_truncation(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    static const char *const cases[][2] = {
        {"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "/api/v1/users?id=7"},
        {"%REQ(X-MISSING?USER-AGENT)%", "curl/8.5.0"},
        {"%REQ(USER-AGENT?X-REQUEST-ID)%", "curl/8.5.0"},
        {"%REQ(X-MISSING?X-ALSO-MISSING)%", "-"},
        {"%REQ(X-LONG):5%", "01234"},
        {"%REQ(X-LONG):0%", ""},
        {"%REQ(X-LONG):100%", "0123456789abcdef"},
        {"%REQ(X-MISSING?X-LONG):3%", "012"},
        {"%REQ(:PATH):4%", "/api"},
        {"%REQ(X-MISSING):3%", "-"},
        {"%RESP(X-MISSING?CONTENT-TYPE):11%", "application"},
        {"%RESP(Content-Type)%", "application/json"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(cases[i][0], &rec, cases[i][1]);
    /* the first of repeated headers, as Envoy does */
    add_header(&req_headers, "x-twice", "first");
    add_header(&req_headers, "x-twice", "second");
    expect("%REQ(X-TWICE)%", &rec, "first");
}

/* ---- errors ---- */

static void test_compile_errors(void **state)
{
    (void)state;
    expect_error("%FOO%", "unknown command operator '%FOO%' at position 0");
    expect_error("abc %REQ(:PATH)% %BAR(x):3%", "unknown command operator '%BAR%' at position 17");
    expect_error("%START_TIMEX%", "unknown command operator '%START_TIMEX%' at position 0");
    expect_error("100%", "'%' at position 3 does not start a command operator (write %% for a literal '%')");
    expect_error("%req(:path)%", "'%' at position 0 does not start a command operator (write %% for a literal '%')");
    expect_error("x %REQ% y", "command operator '%REQ%' at position 2 needs a header name: REQ(X?Y):Z");
    expect_error("%PROTOCOL(x)%", "command operator 'PROTOCOL' at position 0 takes no parameters");
    expect_error("%DURATION:3%", "command operator 'DURATION' at position 0 takes no maximum length");
    expect_error("%REQ(:PATH", "command operator 'REQ' at position 0 has no closing ')'");
    expect_error("%REQ(:PATH)", "command operator 'REQ' at position 0 is not closed by '%'");
    expect_error("%REQ(:PATH) %", "command operator 'REQ' at position 0 is not closed by '%'");
    expect_error("%REQ(A?B?C)%", "more than one alternative header in command operator at position 0");
    expect_error("%REQ()%", "empty header name in command operator at position 0");
    expect_error("%REQ(A?)%", "empty header name in command operator at position 0");
    expect_error("%REQ(A):x%", "':' after command operator at position 0 must be followed by a length");
    expect_error("%REQ(A):99999999999%", "maximum length of command operator at position 0 is too large");
    expect_error("%START_TIME(%Y%n)%", "START_TIME format at position 0 contains a newline (%n)");

    fd_access_log_json_field_t fields[] = {{IOV("status"), IOV("%RESPONSE_CODE%")}, {IOV("bad"), IOV("x%NOPE%")}};
    char err[256];
    assert_null(fd_access_log_format_compile_json(fields, 2, FD_ACCESS_LOG_JSON_TYPED, err, sizeof(err)));
    assert_string_equal(err, "'bad': unknown command operator '%NOPE%' at position 1");
    fd_access_log_json_field_t twice[] = {{IOV("a"), IOV("1")}, {IOV("a"), IOV("2")}};
    assert_null(fd_access_log_format_compile_json(twice, 2, FD_ACCESS_LOG_JSON_STRINGS, err, sizeof(err)));
    assert_string_equal(err, "json_format has the key 'a' twice");
}

/* snprintf's contract: the full length comes back, only cap bytes are written. */
static void test_render_into_small_buffer(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    char err[256];
    fd_access_log_format_t *f = fd_access_log_format_compile(H2O_STRLIT("%REQ(:PATH)% %RESPONSE_CODE%"), err, 256);
    assert_non_null(f);
    char small[8] = "########";
    assert_int_equal(fd_access_log_render(f, &rec, small, 5), strlen("/api/v1/users?id=7 200"));
    assert_memory_equal(small, "/api/###", 8);
    assert_int_equal(fd_access_log_render(f, &rec, NULL, 0), strlen("/api/v1/users?id=7 200"));
    fd_access_log_format_free(f);
}

/* ---- JSON ---- */

static fd_access_log_json_field_t json_fields[] = {
    {{H2O_STRLIT("status")}, {H2O_STRLIT("%RESPONSE_CODE%")}},
    {{H2O_STRLIT("duration")}, {H2O_STRLIT("%DURATION%")}},
    {{H2O_STRLIT("bytes_sent")}, {H2O_STRLIT("%BYTES_SENT%")}},
    {{H2O_STRLIT("path")}, {H2O_STRLIT("%REQ(:PATH)%")}},
    {{H2O_STRLIT("missing")}, {H2O_STRLIT("%REQ(X-NOPE)%")}},
    {{H2O_STRLIT("mixed")}, {H2O_STRLIT("%DURATION%ms")}},
    {{H2O_STRLIT("protocol")}, {H2O_STRLIT("%PROTOCOL%")}},
    {{H2O_STRLIT("literal")}, {H2O_STRLIT("plain")}},
    {{H2O_STRLIT("empty")}, {H2O_STRLIT("")}},
    {{H2O_STRLIT("time")}, {H2O_STRLIT("%START_TIME(%s)%")}},
    {{H2O_STRLIT("flags")}, {H2O_STRLIT("%RESPONSE_FLAGS%")}},
    {{H2O_STRLIT("weird \"key\"")}, {H2O_STRLIT("%REQ(X-WEIRD)%")}},
};
#define N_JSON (sizeof(json_fields) / sizeof(json_fields[0]))

static json_t *render_json(fd_access_log_json_kind_t kind, const fd_access_log_record_t *rec)
{
    char err[256];
    fd_access_log_format_t *f = fd_access_log_format_compile_json(json_fields, N_JSON, kind, err, sizeof(err));
    if (f == NULL)
        fail_msg("%s", err);
    render_with(f, rec);
    fd_access_log_format_free(f);
    size_t len = strlen(line);
    assert_true(len > 2 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1);
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr);
    if (obj == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, line);
    return obj;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void expect_json_string(json_t *obj, const char *key, const char *want)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("'%s': want the string '%s' in %s", key, want, line);
}

static void expect_json_integer(json_t *obj, const char *key, json_int_t want)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("'%s': want the number %lld in %s", key, (long long)want, line);
}

static void expect_json_null(json_t *obj, const char *key)
{
    if (!json_is_null(json_object_get(obj, key)))
        fail_msg("'%s': want null in %s", key, line);
}

static const char weird[] = "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xff!";

static void test_json_strings(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    add_header(&req_headers, "x-weird", weird);
    json_t *obj = render_json(FD_ACCESS_LOG_JSON_STRINGS, &rec);
    /* Envoy sorts the keys; every value is a string */
    assert_true(starts_with(line, "{\"bytes_sent\":\"1234\",\"duration\":\"15\",\"empty\":\"\",\"flags\":\"-\","));
    expect_json_string(obj, "status", "200");
    expect_json_string(obj, "duration", "15");
    expect_json_string(obj, "path", "/api/v1/users?id=7");
    expect_json_string(obj, "missing", "-");
    expect_json_string(obj, "mixed", "15ms");
    expect_json_string(obj, "protocol", "HTTP/1.1");
    expect_json_string(obj, "literal", "plain");
    expect_json_string(obj, "empty", "");
    expect_json_string(obj, "time", "1795866138");
    /* escaped, valid UTF-8 kept, the byte that is not UTF-8 became U+00FF */
    expect_json_string(obj, "weird \"key\"", "say \"hi\"\\\n\t\x01 caf\xc3\xa9 \xc3\xbf!");
    assert_int_equal(json_object_size(obj), N_JSON);
    json_decref(obj);

    rec = empty_record();
    obj = render_json(FD_ACCESS_LOG_JSON_STRINGS, &rec);
    expect_json_string(obj, "duration", "-");
    expect_json_string(obj, "path", "-");
    expect_json_string(obj, "mixed", "-ms");
    expect_json_string(obj, "status", "0");
    json_decref(obj);
}

static void test_json_typed(void **state)
{
    (void)state;
    fd_access_log_record_t rec = full_record();
    add_header(&req_headers, "x-weird", weird);
    json_t *obj = render_json(FD_ACCESS_LOG_JSON_TYPED, &rec);
    assert_true(starts_with(line, "{\"bytes_sent\":1234,\"duration\":15,\"empty\":\"\",\"flags\":\"-\","));
    expect_json_integer(obj, "status", 200);
    expect_json_integer(obj, "duration", 15);
    expect_json_integer(obj, "bytes_sent", 1234);
    expect_json_string(obj, "path", "/api/v1/users?id=7");
    expect_json_null(obj, "missing");
    expect_json_string(obj, "mixed", "15ms"); /* more than the operator: a string */
    expect_json_string(obj, "literal", "plain");
    expect_json_string(obj, "empty", "");
    expect_json_string(obj, "time", "1795866138"); /* START_TIME is always a string */
    expect_json_string(obj, "flags", "-");
    json_decref(obj);

    rec = empty_record();
    obj = render_json(FD_ACCESS_LOG_JSON_TYPED, &rec);
    expect_json_null(obj, "duration");
    expect_json_null(obj, "path");
    expect_json_null(obj, "weird \"key\"");
    expect_json_string(obj, "mixed", "-ms");
    expect_json_integer(obj, "status", 0);
    expect_json_string(obj, "protocol", "-"); /* documented: "-" even in typed JSON */
    json_decref(obj);
}

/* ---- helpers for the proxy ---- */

static void test_protocol_and_address(void **state)
{
    (void)state;
    assert_true(h2o_memis(fd_access_log_protocol(0x101).base, 8, H2O_STRLIT("HTTP/1.1")));
    assert_true(h2o_memis(fd_access_log_protocol(0x100).base, 8, H2O_STRLIT("HTTP/1.0")));
    assert_true(h2o_memis(fd_access_log_protocol(0x200).base, 6, H2O_STRLIT("HTTP/2")));
    assert_null(fd_access_log_protocol(0x99).base);

    char buf[64];
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr = {htonl(0x0a010203)}};
    assert_int_equal(fd_access_log_format_address((struct sockaddr *)&in, buf, sizeof(buf)), 13);
    assert_string_equal(buf, "10.1.2.3:8080");
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    in6.sin6_addr.s6_addr[15] = 1;
    assert_int_equal(fd_access_log_format_address((struct sockaddr *)&in6, buf, sizeof(buf)), 9);
    assert_string_equal(buf, "[::1]:443");
    assert_int_equal(fd_access_log_format_address((struct sockaddr *)&in6, buf, 5), 0);
}

/* ---- the writer ---- */

static char tmpdir[PATH_MAX];

static void temp_path(char *out, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", tmpdir, name) >= PATH_MAX)
        fail_msg("temporary path too long");
}

static char *file_buf; /* read_file's, freed by the group teardown */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = file_buf;
    free(buf);
    buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 65536 + 1 > cap)
            buf = realloc(buf, cap = (cap + 65536) * 2);
        size_t n = fread(buf + *len, 1, 65536, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    buf[*len] = '\0';
    return file_buf = buf;
}

/* Waits (up to 10 s, checking every 10 ms) for the file to hold want; no timing is asserted. */
static int wait_for_content(const char *path, const char *want)
{
    for (int i = 0; i < 1000; i++) {
        size_t len;
        char *s = read_file(path, &len);
        if (s != NULL && strcmp(s, want) == 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

static void start(unsigned flush_ms, size_t buffer_size, unsigned buffers, unsigned stop_ms)
{
    fd_access_log_options_t o = {flush_ms, buffer_size, buffers, stop_ms};
    assert_int_equal(fd_access_log_start(&o), 0);
}

static fd_access_log_sink_t *open_sink(const char *path)
{
    char err[256];
    fd_access_log_sink_t *s = fd_access_log_sink_open(path, err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    return s;
}

typedef struct writer_arg {
    fd_access_log_sink_t *sink;
    int id, refused;
} writer_arg_t;

static void *writer_main(void *p)
{
    writer_arg_t *a = p;
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    char buf[128];
    for (int i = 0; w != NULL && i < 10000; i++) {
        int n = snprintf(buf, sizeof(buf), "worker=%d seq=%05d payload=%.*s\n", a->id, i, 20 + i % 40,
                         "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        a->refused += !fd_access_log_write(w, a->sink, buf, (size_t)n);
    }
    a->refused += w == NULL;
    fd_access_log_worker_free(w);
    return NULL;
}

/* Every line present once, whole, and in each worker's order. */
static void check_two_workers_file(const char *path)
{
    size_t len;
    char *s = read_file(path, &len);
    assert_non_null(s);
    int next[2] = {0, 0};
    size_t lines = 0;
    for (char *p = s, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1, lines++) {
        int id, seq, plen;
        char payload[128];
        *nl = '\0';
        if (sscanf(p, "worker=%d seq=%d payload=%127s%n", &id, &seq, payload, &plen) != 3 || p[plen] != '\0' ||
            id < 0 || id > 1 || seq != next[id] || (int)strlen(payload) != 20 + seq % 40 ||
            strncmp(payload, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", strlen(payload)))
            fail_msg("line %zu is damaged or out of order: '%s'", lines, p);
        next[id]++;
    }
    assert_int_equal(lines, 20000);
    assert_int_equal(next[0], 10000);
    assert_int_equal(next[1], 10000);
}

static void test_two_workers_10000_lines_each(void **state)
{
    (void)state;
    char path[PATH_MAX];
    temp_path(path, "two_workers.log");
    /* enough buffers that nothing is dropped however far behind the logger falls */
    start(1000, 64 * 1024, 64, 0);
    writer_arg_t args[2] = {{open_sink(path), 0, 0}, {open_sink(path), 1, 0}};
    assert_ptr_equal(args[0].sink, args[1].sink); /* one path, one file */
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    fd_access_log_stop();
    assert_int_equal(args[0].refused + args[1].refused, 0);
    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(args[0].sink, &st);
    assert_int_equal(st.write_buffered, 20000);
    assert_int_equal(st.lines_written, 20000);
    assert_int_equal(st.lines_dropped, 0);
    assert_int_equal(st.write_failed, 0);
    check_two_workers_file(path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(sb.st_mode & 0777, 0644 & ~mask);
    assert_int_equal((uint64_t)sb.st_size, st.bytes_written);
    fd_access_log_sink_release(args[0].sink);
    fd_access_log_sink_release(args[1].sink);
}

/* A FIFO nobody reads: writes still return at once, lines beyond what the pipe and the worker's
 * buffers hold are dropped and counted, another sink keeps being written, and stop gives up on the
 * FIFO after its timeout. */
static void test_stalled_sink_drops_and_never_blocks(void **state)
{
    (void)state;
    char fifo_path[PATH_MAX], file_path[PATH_MAX];
    temp_path(fifo_path, "stalled.fifo");
    temp_path(file_path, "beside_stalled.log");
    assert_int_equal(mkfifo(fifo_path, 0600), 0);
    int reader = open(fifo_path, O_RDONLY | O_NONBLOCK); /* holds the FIFO open, never reads */
    assert_true(reader >= 0);
    start(20, 4096, 2, 200);
    fd_access_log_sink_t *fifo = open_sink(fifo_path), *file = open_sink(file_path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    const char text[] = "a line for a pipe nobody reads, forty-odd bytes\n";
    int accepted = 0, total = 20000;
    for (int i = 0; i < total; i++)
        accepted += fd_access_log_write(w, fifo, text, sizeof(text) - 1);
    assert_true(accepted < total);

    /* the logger is not stuck on the FIFO: the file gets its lines */
    char want[1024] = "";
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fd_access_log_write(w, file, "beside\n", 7), 1);
        strcat(want, "beside\n");
    }
    assert_true(wait_for_content(file_path, want));

    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(fifo, &st);
    assert_int_equal(st.write_buffered, (uint64_t)accepted);
    assert_true(st.lines_dropped >= (uint64_t)(total - accepted));
    assert_true(fd_access_log_dropped_total() >= st.lines_dropped);
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    fd_access_log_sink_stats(fifo, &st);
    assert_int_equal(st.lines_written + st.lines_dropped, (uint64_t)total);
    assert_true(st.lines_written * (sizeof(text) - 1) <= 1024 * 1024); /* at most what a pipe holds */
    fd_access_log_sink_release(fifo);
    fd_access_log_sink_release(file);
    close(reader);
}

/* A released sink stuck on a FIFO is given up on at stop and freed (LeakSanitizer checks). */
static void test_release_stalled_sink_then_stop(void **state)
{
    (void)state;
    char fifo_path[PATH_MAX];
    temp_path(fifo_path, "released_stalled.fifo");
    assert_int_equal(mkfifo(fifo_path, 0600), 0);
    int reader = open(fifo_path, O_RDONLY | O_NONBLOCK);
    assert_true(reader >= 0);
    start(20, 4096, 2, 100);
    fd_access_log_sink_t *fifo = open_sink(fifo_path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    int accepted = 0;
    for (int i = 0; i < 5000; i++)
        accepted += fd_access_log_write(w, fifo, "0123456789012345678901234567890123456789\n", 41);
    assert_true(accepted < 5000);
    fd_access_log_worker_free(w);
    fd_access_log_sink_release(fifo);
    fd_access_log_stop();
    close(reader);
}

typedef struct inherited_result {
    char got[64];
    int fd2_nonblocking;
    uint64_t write_failed;
} inherited_result_t;

/* Reads what arrives on fd within 10 s. */
static void read_within(int fd, char *buf, size_t cap)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    size_t len = 0;
    while (len < cap - 1 && strchr(buf, '\n') == NULL && poll(&pfd, 1, 10000) == 1) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        buf[len += (size_t)n] = '\0';
    }
}

/* Logs through fd 2 = ours[1]: one line read back at ours[0], then the reader leaves and the next
 * write fails. fd 2 is put back before anything is asserted. */
static void log_through_stderr(int ours[2], inherited_result_t *r)
{
    int saved = dup(STDERR_FILENO);
    dup2(ours[1], STDERR_FILENO);
    close(ours[1]);
    start(20, 0, 0, 200);
    fd_access_log_sink_t *s = open_sink("/dev/stderr");
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    fd_access_log_write(w, s, "through stderr\n", 15);
    read_within(ours[0], r->got, sizeof(r->got));
    r->fd2_nonblocking = (fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK) != 0;
    close(ours[0]);
    fd_access_log_sink_stats_t st = {0};
    for (int i = 0; i < 1000 && st.write_failed == 0; i++) {
        fd_access_log_write(w, s, "lost\n", 5);
        usleep(10000);
        fd_access_log_sink_stats(s, &st);
    }
    r->write_failed = st.write_failed;
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    fd_access_log_sink_release(s);
    dup2(saved, STDERR_FILENO);
    close(saved);
}

/* stdout/stderr as a pipe or a socket (a log collector): written without blocking and without
 * touching the flags of the shared fd; a reader that left costs counted failures, not SIGPIPE. */
static void test_inherited_pipe_and_socket(void **state)
{
    (void)state;
    int ours[2];
    inherited_result_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(pipe(ours), 0);
    log_through_stderr(ours, &r);
    assert_string_equal(r.got, "through stderr\n");
    assert_false(r.fd2_nonblocking);
    assert_true(r.write_failed > 0);

    memset(&r, 0, sizeof(r));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ours), 0);
    log_through_stderr(ours, &r);
    assert_string_equal(r.got, "through stderr\n");
    assert_false(r.fd2_nonblocking);
    assert_true(r.write_failed > 0);
}

/* An idle worker's partly filled buffer goes out on the flush interval, without stop. */
static void test_flush_interval(void **state)
{
    (void)state;
    char path[PATH_MAX];
    temp_path(path, "interval.log");
    start(50, 0, 0, 0);
    fd_access_log_sink_t *s = open_sink(path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    assert_int_equal(fd_access_log_write(w, s, "one line\n", 9), 1);
    assert_true(wait_for_content(path, "one line\n"));
    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(s, &st);
    assert_true(st.flushed_by_timer >= 1);
    assert_int_equal(fd_access_log_write(w, s, "two\n", 4), 1);
    assert_true(wait_for_content(path, "one line\ntwo\n"));
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    fd_access_log_sink_release(s);
}

/* logrotate's way: rename, then /reopen_logs; later lines go to a new file at the old path. */
static void test_reopen_after_rotation(void **state)
{
    (void)state;
    char path[PATH_MAX], rotated[PATH_MAX];
    temp_path(path, "rotate.log");
    temp_path(rotated, "rotate.log.1");
    start(20, 0, 0, 0);
    fd_access_log_sink_t *s = open_sink(path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    assert_int_equal(fd_access_log_write(w, s, "before\n", 7), 1);
    assert_true(wait_for_content(path, "before\n"));
    assert_int_equal(rename(path, rotated), 0);
    fd_access_log_reopen_all();
    assert_int_equal(fd_access_log_write(w, s, "after\n", 6), 1);
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    size_t len;
    assert_string_equal(read_file(rotated, &len), "before\n");
    assert_string_equal(read_file(path, &len), "after\n");
    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(s, &st);
    assert_int_equal(st.reopen_failed, 0);
    fd_access_log_sink_release(s);
}

/* The last release while running leaves the closing to the logger, which writes what is left;
 * the path can be opened again afterwards. */
static void test_release_while_running(void **state)
{
    (void)state;
    char path[PATH_MAX];
    temp_path(path, "released.log");
    start(1000, 0, 0, 0);
    fd_access_log_sink_t *s = open_sink(path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    assert_int_equal(fd_access_log_write(w, s, "first\n", 6), 1);
    fd_access_log_sink_release(s);
    assert_true(wait_for_content(path, "first\n")); /* well before the 1 s flush interval is needed */
    s = open_sink(path);
    assert_int_equal(fd_access_log_write(w, s, "second\n", 7), 1);
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    size_t len;
    assert_string_equal(read_file(path, &len), "first\nsecond\n");
    fd_access_log_sink_release(s);
}

/* fd_access_log_log renders in place; a line longer than a buffer is dropped and counted. */
static void test_log_record_and_long_line(void **state)
{
    (void)state;
    char path[PATH_MAX], err[256];
    temp_path(path, "rendered.log");
    start(0, 4096, 0, 0);
    fd_access_log_sink_t *s = open_sink(path);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    fd_access_log_format_t *f =
        fd_access_log_format_compile(H2O_STRLIT("%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%\n"), err, sizeof(err));
    assert_non_null(f);
    fd_access_log_record_t rec = full_record();
    size_t lines = 0;
    for (; lines < 500; lines++) /* several buffers of 4 KiB */
        assert_int_equal(fd_access_log_log(w, s, f, &rec), 1);
    static char huge[5000];
    memset(huge, 'x', sizeof(huge));
    assert_int_equal(fd_access_log_write(w, s, huge, sizeof(huge)), 0);
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(s, &st);
    assert_int_equal(st.lines_written, lines);
    assert_int_equal(st.lines_dropped, 1);
    size_t len;
    char *text = read_file(path, &len);
    assert_int_equal(len, lines * strlen("GET /api/v1/users?id=7 200\n"));
    assert_memory_equal(text, "GET /api/v1/users?id=7 200\nGET ", 31);
    fd_access_log_format_free(f);
    fd_access_log_sink_release(s);
}

static void test_stdout_and_errors(void **state)
{
    (void)state;
    char err[256];
    assert_null(fd_access_log_sink_open("/dev/stdout", err, sizeof(err)));
    assert_string_equal(err, "cannot open access log '/dev/stdout': the access logger is not running");
    start(0, 0, 0, 0);
    assert_int_equal(fd_access_log_start(NULL), -1);
    fd_access_log_sink_t *a = open_sink("/dev/stdout"), *b = open_sink("/dev/stdout");
    assert_ptr_equal(a, b);
    fd_access_log_worker_t *w = fd_access_log_worker_new();
    assert_int_equal(fd_access_log_write(w, a, "access_log_test: a line on stdout\n", 34), 1);
    char missing[PATH_MAX];
    temp_path(missing, "no/such/dir/x.log");
    assert_null(fd_access_log_sink_open(missing, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file or directory"));
    fd_access_log_worker_free(w);
    fd_access_log_stop();
    fd_access_log_sink_stats_t st;
    fd_access_log_sink_stats(a, &st);
    assert_int_equal(st.lines_written, 1);
    fd_access_log_sink_release(a);
    fd_access_log_sink_release(b);
}

static void test_worker_limit(void **state)
{
    (void)state;
    static fd_access_log_worker_t *w[FD_ACCESS_LOG_MAX_WORKERS];
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++)
        assert_non_null(w[i] = fd_access_log_worker_new());
    assert_null(fd_access_log_worker_new());
    fd_access_log_worker_free(w[7]);
    assert_non_null(w[7] = fd_access_log_worker_new());
    for (size_t i = 0; i < FD_ACCESS_LOG_MAX_WORKERS; i++)
        fd_access_log_worker_free(w[i]);
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TEST_TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/access_log_XXXXXX", base != NULL ? base : "/tmp");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(file_buf);
    return 0;
}

int main(void)
{
#define T(f) cmocka_unit_test(f)
    const struct CMUnitTest tests[] = {
        T(test_default_format_text),
        T(test_default_format_rendered),
        T(test_default_format_missing_values),
        T(test_every_operator),
        T(test_record_values_over_headers),
        T(test_missing_values),
        T(test_start_time_formats),
        T(test_req_fallback_and_truncation),
        T(test_compile_errors),
        T(test_render_into_small_buffer),
        T(test_json_strings),
        T(test_json_typed),
        T(test_protocol_and_address),
        T(test_two_workers_10000_lines_each),
        T(test_stalled_sink_drops_and_never_blocks),
        T(test_release_stalled_sink_then_stop),
        T(test_inherited_pipe_and_socket),
        T(test_flush_interval),
        T(test_reopen_after_rotation),
        T(test_release_while_running),
        T(test_log_record_and_long_line),
        T(test_stdout_and_errors),
        T(test_worker_limit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
