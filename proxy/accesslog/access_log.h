/* Envoy's access logs: the record of one request (filled by the stream when it ends), formats
 * compiled once from Envoy's command-operator strings or JSON dictionaries (format.c), and sinks
 * written by one logger thread so that a worker never waits on a file (writer.c). */
#ifndef FD_ACCESS_LOG_H
#define FD_ACCESS_LOG_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* Envoy's default format (SubstitutionFormatUtils::DEFAULT_FORMAT), used when a logger sets none. */
#define FD_ACCESS_LOG_DEFAULT_FORMAT                                                                                   \
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "                                 \
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "                                       \
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "                                                                           \
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" "                                        \
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"

/* ---- the record ---- */

/* What the proxy knows about one finished request. Strings are h2o_iovec_t so that h2o's own
 * (req->method, req->input.path, req->authority) go in without copies; base == NULL means absent.
 * Nothing is copied or freed: everything must stay valid for the duration of the render/log call. */
typedef struct fd_access_log_record {
    struct timespec start_time; /* wall clock (CLOCK_REALTIME) when the request began */
    /* Answer %REQ(:METHOD)%, %REQ(:PATH)% (original, as received, with query), %REQ(:SCHEME)%
     * and %REQ(:AUTHORITY)% / %REQ(HOST)%; present-but-empty renders empty, as a header does. */
    h2o_iovec_t method, path, scheme, authority;
    h2o_iovec_t protocol; /* "HTTP/1.1", "HTTP/2" (see fd_access_log_protocol) */
    /* The values the proxy settled on (it may have appended to x-forwarded-for or generated the
     * request id); when base is NULL, %REQ(...)% looks the header up in request_headers instead. */
    h2o_iovec_t user_agent, x_forwarded_for, x_request_id;
    h2o_iovec_t response_flags; /* Envoy's short codes, "UH" or "UF,URX"; absent or empty renders "-" */
    /* Absent or empty renders "-", as in Envoy. Addresses are "ip:port", "[v6]:port" for IPv6. */
    h2o_iovec_t upstream_host, upstream_cluster, route_name;
    h2o_iovec_t downstream_remote_address, downstream_local_address, requested_server_name;
    int response_code;                   /* 0 when no response was sent (Envoy logs 0 too) */
    uint64_t bytes_received, bytes_sent; /* body bytes */
    int64_t duration_ms;                 /* < 0: absent */
    /* < 0: absent. Answers %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% when response_headers lack it. */
    int64_t upstream_service_time_ms;
    /* h2o's header lists (lower-case names); either may be NULL. */
    const h2o_headers_t *request_headers, *response_headers;
} fd_access_log_record_t;

/* "HTTP/1.0", "HTTP/1.1", "HTTP/2" or "HTTP/3" for h2o's req->version; absent for anything else. */
h2o_iovec_t fd_access_log_protocol(int h2o_version);

/* Writes "ip:port" ("[ip]:port" for IPv6) into buf and returns its length (0 for another family or
 * a buf too small; 48 bytes always suffice). */
size_t fd_access_log_format_address(const struct sockaddr *sa, char *buf, size_t cap);

/* ---- formats (format.c) ---- */

typedef struct fd_access_log_format fd_access_log_format_t;

typedef enum fd_access_log_json_kind {
    /* FileAccessLog.json_format: every value is a JSON string, absent values render "-". */
    FD_ACCESS_LOG_JSON_STRINGS,
    /* SubstitutionFormatString.json_format (log_format) and FileAccessLog.typed_json_format: a
     * value that is exactly one operator keeps its type (RESPONSE_CODE, BYTES_RECEIVED, BYTES_SENT
     * and DURATION are numbers) and is null when absent; longer values are strings with "-". */
    FD_ACCESS_LOG_JSON_TYPED,
} fd_access_log_json_kind_t;

typedef struct fd_access_log_json_field {
    h2o_iovec_t key, format;
} fd_access_log_json_field_t;

/* Compiles a format string. On error returns NULL and writes into err a message naming the
 * operator and its byte position in text (counted from 0, as Envoy does), e.g.
 * "unknown command operator '%FOO%' at position 12"; the caller adds the config path and line. */
fd_access_log_format_t *fd_access_log_format_compile(const char *text, size_t len, char *err, size_t errlen);

/* Compiles a JSON dictionary: one object per line, keys sorted as Envoy sorts them. On error the
 * message starts with the key, e.g. "'status': unknown command operator '%FOO%' at position 0". */
fd_access_log_format_t *fd_access_log_format_compile_json(const fd_access_log_json_field_t *fields, size_t n,
                                                          fd_access_log_json_kind_t kind, char *err, size_t errlen);

void fd_access_log_format_free(fd_access_log_format_t *format);

/* Renders one line into out, writing at most cap bytes and no NUL. Returns the line's full length,
 * as snprintf does: a result above cap means out holds only the beginning. Allocates nothing. */
size_t fd_access_log_render(const fd_access_log_format_t *format, const fd_access_log_record_t *rec, char *out,
                            size_t cap);

/* ---- output (writer.c) ---- */

/* At most this many fd_access_log_worker_t exist at once. */
#define FD_ACCESS_LOG_MAX_WORKERS 256

typedef struct fd_access_log_options {
    /* 0: 1000 (what Istio passes; Envoy's own --file-flush-interval-msec default is 10000) */
    unsigned flush_interval_ms;
    size_t buffer_size; /* 0: 64 KiB; also the longest line accepted */
    /* 0: 4. Buffers one worker may hold for one sink, filling or waiting to be written: the backlog
     * a slow sink may build before that worker's lines to it are dropped. */
    unsigned buffers_per_worker;
    unsigned stop_timeout_ms; /* 0: 5000; how long fd_access_log_stop waits on a stalled sink */
} fd_access_log_options_t;

/* Starts the process's logger thread (NULL: defaults). Returns 0, or -1 with errno set. Call it once
 * before opening sinks or creating workers; fd_access_log_stop ends it. */
int fd_access_log_start(const fd_access_log_options_t *options);

/* Takes every buffered line, writes what the sinks accept within stop_timeout_ms (a stalled pipe's
 * remainder is counted in lines_dropped) and joins the thread. Call it once workers stopped logging. */
void fd_access_log_stop(void);

/* Asks the logger thread to reopen every file sink (Envoy's /reopen_logs; SIGHUP after rotation).
 * Safe from any thread, and from a signal handler. /dev/stdout and /dev/stderr are left alone. */
void fd_access_log_reopen_all(void);

typedef struct fd_access_log_sink fd_access_log_sink_t;

/* Opens path (O_APPEND|O_CREAT, mode 0644; "/dev/stdout" and "/dev/stderr" are fds 1 and 2) or
 * returns the sink already open on it with one more reference. NULL and err set on failure. Config
 * time only (main thread). */
fd_access_log_sink_t *fd_access_log_sink_open(const char *path, char *err, size_t errlen);

/* Drops a reference. The last one hands the sink to the logger thread, which writes what is left
 * and closes it; no worker may log to it afterwards (drop it with the last config snapshot). */
void fd_access_log_sink_release(fd_access_log_sink_t *sink);

/* Envoy's access_log_file stats for this sink (names as in Envoy where Envoy has them), summed
 * over workers when read. */
typedef struct fd_access_log_sink_stats {
    uint64_t write_buffered;   /* lines taken into a worker buffer */
    uint64_t write_completed;  /* write(2)s that succeeded */
    uint64_t write_failed;     /* write(2)s that failed; their lines count as dropped */
    uint64_t flushed_by_timer; /* buffers taken from a worker by the flush interval */
    uint64_t reopen_failed;
    uint64_t lines_written, bytes_written;
    /* frontdesk's: lines refused because the worker's buffers were all waiting on a slow sink or
     * the line was longer than a buffer, or lost to a failed write or to the stop timeout. */
    uint64_t lines_dropped;
} fd_access_log_sink_stats_t;

void fd_access_log_sink_stats(fd_access_log_sink_t *sink, fd_access_log_sink_stats_t *stats);

/* lines_dropped summed over every open sink. */
uint64_t fd_access_log_dropped_total(void);

/* One per worker thread; used by that thread only. NULL when FD_ACCESS_LOG_MAX_WORKERS exist. */
typedef struct fd_access_log_worker fd_access_log_worker_t;

fd_access_log_worker_t *fd_access_log_worker_new(void);
void fd_access_log_worker_free(fd_access_log_worker_t *worker);

/* Appends one line (it should end in '\n') to the worker's buffer for sink. Never blocks and takes
 * no lock except when switching buffers (once per buffer_size bytes or flush interval). Returns 1,
 * or 0 when the line was dropped (and counted). */
int fd_access_log_write(fd_access_log_worker_t *worker, fd_access_log_sink_t *sink, const char *line, size_t len);

/* Renders rec straight into the worker's buffer for sink (no copy); same contract as write. */
int fd_access_log_log(fd_access_log_worker_t *worker, fd_access_log_sink_t *sink, const fd_access_log_format_t *format,
                      const fd_access_log_record_t *rec);

#endif
