/* Access logs: envoy.access_loggers.file, .stdout and .stderr with the default format,
 * a text format, or a flat JSON format, compiled here so a bad format is a config error. */
#include <string.h>

#include "proxy/accesslog/access_log.h"

#include "envoy/extensions/access_loggers/file/v3/file.pb-c.h"
#include "envoy/extensions/access_loggers/stream/v3/stream.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "proxy/config/translate_int.h"

#define FILE_TYPE "envoy.extensions.access_loggers.file.v3.FileAccessLog"
#define STDOUT_TYPE "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
#define STDERR_TYPE "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"

static void translate_json_format(fd_translator_t *tr, const Google__Protobuf__Struct *json, fd_access_log_t *out)
{
    out->format_kind = FD_ACCESS_LOG_FORMAT_JSON;
    out->json_keys = fd_tr_alloc(tr, json->n_fields * sizeof(fd_string_t));
    out->json_formats = fd_tr_alloc(tr, json->n_fields * sizeof(fd_string_t));
    for (size_t i = 0; i < json->n_fields; i++) {
        const Google__Protobuf__Value *v = json->fields[i]->value;
        if (v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE) {
            fd_tr_error(tr, json->fields[i],
                        "json_format value of '%s' must be a format string (nested JSON is not "
                        "supported by frontdesk)",
                        json->fields[i]->key);
            continue;
        }
        out->json_keys[out->n_json] = fd_tr_string(tr, json->fields[i]->key);
        out->json_formats[out->n_json++] = fd_tr_string(tr, v->string_value);
    }
}

static void translate_format(fd_translator_t *tr, const Envoy__Config__Core__V3__SubstitutionFormatString *f,
                             fd_access_log_t *out)
{
    size_t saved = fd_tr_push(tr, "log_format");
    switch (f->format_case) {
    case ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_TEXT_FORMAT:
        out->format_kind = FD_ACCESS_LOG_FORMAT_TEXT;
        out->text_format = fd_tr_string(tr, f->text_format);
        break;
    case ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_TEXT_FORMAT_SOURCE:
        out->format_kind = FD_ACCESS_LOG_FORMAT_TEXT;
        fd_tr_data_source(tr, f->text_format_source, &out->text_format);
        break;
    case ENVOY__CONFIG__CORE__V3__SUBSTITUTION_FORMAT_STRING__FORMAT_JSON_FORMAT:
        translate_json_format(tr, f->json_format, out);
        out->json_typed = 1;
        break;
    default: break;
    }
    fd_tr_pop(tr, saved);
}

static void translate_file_log(fd_translator_t *tr, const Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *f,
                               fd_access_log_t *out)
{
    out->kind = FD_ACCESS_LOG_FILE;
    out->path = fd_tr_string(tr, f->path);
    if (out->path.len == 0)
        fd_tr_error_in(tr, f, "path", "a file access log needs a path");
    switch (f->access_log_format_case) {
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_FORMAT:
        out->format_kind = FD_ACCESS_LOG_FORMAT_TEXT;
        out->text_format = fd_tr_string(tr, f->format);
        break;
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_JSON_FORMAT:
        translate_json_format(tr, f->json_format, out);
        break;
    case ENVOY__EXTENSIONS__ACCESS_LOGGERS__FILE__V3__FILE_ACCESS_LOG__ACCESS_LOG_FORMAT_LOG_FORMAT:
        translate_format(tr, f->log_format, out);
        break;
    default: break;
    }
}

static void translate_access_log(fd_translator_t *tr, const Envoy__Config__Accesslog__V3__AccessLog *log,
                                 fd_access_log_t *out)
{
    if (log->config_type_case != ENVOY__CONFIG__ACCESSLOG__V3__ACCESS_LOG__CONFIG_TYPE_TYPED_CONFIG) {
        fd_tr_error(tr, log, "access log '%s' needs a typed_config", log->name);
        return;
    }
    const char *type = fd_tr_any_type_name(log->typed_config);
    if (strcmp(type, FILE_TYPE) != 0 && strcmp(type, STDOUT_TYPE) != 0 && strcmp(type, STDERR_TYPE) != 0) {
        fd_tr_error(tr, log,
                    "access logger '%s' (%s) is not supported by frontdesk (use envoy.access_loggers.file, "
                    "envoy.access_loggers.stdout or envoy.access_loggers.stderr)",
                    log->name, type);
        return;
    }
    size_t saved = fd_tr_push(tr, "typed_config");
    ProtobufCMessage *msg = fd_tr_any_open(tr, log->typed_config, NULL);
    if (msg != NULL) {
        fd_tr_check_supported(tr, msg);
        if (strcmp(type, FILE_TYPE) == 0) {
            translate_file_log(tr, (Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *)msg, out);
        } else {
            /* StdoutAccessLog and StderrAccessLog share one layout */
            const Envoy__Extensions__AccessLoggers__Stream__V3__StdoutAccessLog *s =
                (Envoy__Extensions__AccessLoggers__Stream__V3__StdoutAccessLog *)msg;
            out->kind = strcmp(type, STDOUT_TYPE) == 0 ? FD_ACCESS_LOG_STDOUT : FD_ACCESS_LOG_STDERR;
            if (s->access_log_format_case ==
                ENVOY__EXTENSIONS__ACCESS_LOGGERS__STREAM__V3__STDOUT_ACCESS_LOG__ACCESS_LOG_FORMAT_LOG_FORMAT)
                translate_format(tr, s->log_format, out);
        }
    }
    fd_tr_any_release(tr, log->typed_config, msg);
    fd_tr_pop(tr, saved);
}

static void free_format(void *slot)
{
    fd_access_log_format_free(*(fd_access_log_format_t **)slot);
}

static void compile_format(fd_translator_t *tr, const void *addr, fd_access_log_t *out)
{
    char err[256];
    fd_access_log_format_t *format = NULL;
    if (out->format_kind == FD_ACCESS_LOG_FORMAT_JSON) {
        fd_access_log_json_field_t *fields = fd_tr_alloc(tr, (out->n_json + 1) * sizeof(*fields));
        for (size_t i = 0; i < out->n_json; i++)
            fields[i] =
                (fd_access_log_json_field_t){h2o_iovec_init(out->json_keys[i].base, out->json_keys[i].len),
                                             h2o_iovec_init(out->json_formats[i].base, out->json_formats[i].len)};
        format = fd_access_log_format_compile_json(
            fields, out->n_json, out->json_typed ? FD_ACCESS_LOG_JSON_TYPED : FD_ACCESS_LOG_JSON_STRINGS, err,
            sizeof(err));
    } else if (out->format_kind == FD_ACCESS_LOG_FORMAT_TEXT) {
        format = fd_access_log_format_compile(out->text_format.base, out->text_format.len, err, sizeof(err));
    } else {
        format = fd_access_log_format_compile(FD_ACCESS_LOG_DEFAULT_FORMAT, strlen(FD_ACCESS_LOG_DEFAULT_FORMAT), err,
                                              sizeof(err));
    }
    if (format == NULL) {
        fd_tr_error(tr, addr, "access log format: %s", err);
        return;
    }
    fd_access_log_format_t **slot = h2o_mem_alloc_shared(&tr->config->pool, sizeof(*slot), free_format);
    *slot = format;
    out->compiled = format;
}

void fd_tr_access_logs(fd_translator_t *tr, Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
                       fd_access_log_t **out, size_t *n_out)
{
    *out = fd_tr_alloc(tr, n * sizeof(**out));
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        size_t saved = fd_tr_push_index(tr, "access_log", i);
        translate_access_log(tr, logs[i], &(*out)[i]);
        compile_format(tr, logs[i], &(*out)[i]);
        fd_tr_pop(tr, saved);
    }
}
