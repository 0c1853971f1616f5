/* Bootstrap loading and --config-yaml merging; see bootstrap_load.h. */
#include "proxy/config/bootstrap_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/pb_merge.h"
#include "proxy/config/yaml_loader.h"

#define MAX_BOOTSTRAP_BYTES (64u << 20)

char *fd_bootstrap_read_file(const char *path, size_t *len, fd_cfg_errors_t *errs)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fd_cfg_errors_add(errs, path, (fd_cfg_mark_t){0, 0}, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        abort();
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            if (cap >= MAX_BOOTSTRAP_BYTES) {
                fd_cfg_errors_add(errs, path, (fd_cfg_mark_t){0, 0}, NULL, "file is larger than %u MiB",
                                  MAX_BOOTSTRAP_BYTES >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = realloc(buf, (cap *= 2) + 1);
            if (buf == NULL)
                abort();
        }
    }
    if (ferror(f)) {
        fd_cfg_errors_add(errs, path, (fd_cfg_mark_t){0, 0}, NULL, "cannot read: %s", strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static ProtobufCMessage *load_text(const char *name, const char *text, size_t len, fd_cfg_source_t *src,
                                   fd_cfg_errors_t *errs)
{
    fd_cfg_source_init(src, name);
    return fd_yaml_load_message(text, len, &envoy__config__bootstrap__v3__bootstrap__descriptor, src, errs);
}

static ProtobufCMessage *load_file(const char *path, fd_cfg_source_t *src, fd_cfg_errors_t *errs)
{
    size_t len;
    char *text = fd_bootstrap_read_file(path, &len, errs);
    if (text == NULL) {
        fd_cfg_source_init(src, path);
        return NULL;
    }
    ProtobufCMessage *msg;
    if (has_suffix(path, ".pb")) {
        fd_cfg_source_init(src, path);
        msg = protobuf_c_message_unpack(&envoy__config__bootstrap__v3__bootstrap__descriptor, NULL, len,
                                        (const uint8_t *)text);
        if (msg == NULL)
            fd_cfg_errors_add(errs, path, (fd_cfg_mark_t){0, 0}, NULL,
                              "not a valid binary envoy.config.bootstrap.v3.Bootstrap");
    } else {
        msg = load_text(path, text, len, src, errs);
    }
    free(text);
    return msg;
}

int fd_bootstrap_load(fd_bootstrap_t *out, const char *path, const char *config_yaml, fd_cfg_errors_t *errs)
{
    memset(out, 0, sizeof(*out));
    ProtobufCMessage *file_msg = NULL, *yaml_msg = NULL;
    fd_cfg_source_t yaml_src;
    if (path != NULL)
        file_msg = load_file(path, &out->source, errs);
    if (config_yaml != NULL) {
        yaml_msg = load_text("--config-yaml", config_yaml, strlen(config_yaml), path ? &yaml_src : &out->source, errs);
    }
    int failed = (path != NULL && file_msg == NULL) || (config_yaml != NULL && yaml_msg == NULL);
    if (!failed && file_msg != NULL && yaml_msg != NULL) {
        fd_pb_merge(file_msg, yaml_msg);
        yaml_msg = NULL;
        /* Positions and decoded Anys refer to the separate inputs: the merged message is
         * reported by field path only. */
        fd_cfg_source_dispose(&out->source);
        fd_cfg_source_init(&out->source, path);
    } else if (failed) {
        if (file_msg)
            protobuf_c_message_free_unpacked(file_msg, NULL);
        if (yaml_msg)
            protobuf_c_message_free_unpacked(yaml_msg, NULL);
        file_msg = yaml_msg = NULL;
    }
    if (path != NULL && config_yaml != NULL)
        fd_cfg_source_dispose(&yaml_src);
    out->config = (Envoy__Config__Bootstrap__V3__Bootstrap *)(file_msg ? file_msg : yaml_msg);
    if (out->config == NULL) {
        fd_cfg_source_dispose(&out->source);
        return -1;
    }
    return 0;
}

void fd_bootstrap_dispose(fd_bootstrap_t *bootstrap)
{
    if (bootstrap->config != NULL)
        protobuf_c_message_free_unpacked(&bootstrap->config->base, NULL);
    bootstrap->config = NULL;
    fd_cfg_source_dispose(&bootstrap->source);
}
