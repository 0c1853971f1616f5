/* An HTTP filter other than the router, and its per-route configs: found in the filter
 * registry by the type of the config (a TypedStruct's type_url), given the config as JSON,
 * and what it compiled destroyed with the snapshot. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/filter_registry.h"
#include "proxy/config/pb_json.h"
#include "proxy/config/translate_int.h"
#include "udpa/type/v1/typed_struct.pb-c.h"
#include "xds/type/v3/typed_struct.pb-c.h"

typedef struct filter_config_owner {
    void (*destroy)(void *config);
    void *config;
} filter_config_owner_t;

static void destroy_filter_config(void *p)
{
    filter_config_owner_t *owner = p;
    if (owner->destroy != NULL)
        owner->destroy(owner->config);
}

/* The config lives as long as the snapshot's pool. */
static void own(fd_translator_t *tr, void (*destroy)(void *), void *config)
{
    filter_config_owner_t *owner = h2o_mem_alloc_shared(&tr->config->pool, sizeof(*owner), destroy_filter_config);
    *owner = (filter_config_owner_t){destroy, config};
}

/* The TypedStruct's type_url and value as JSON text (caller frees), or NULL with an error. */
static char *open_typed_struct(fd_translator_t *tr, const Google__Protobuf__Any *any, char **type_url)
{
    ProtobufCMessage *msg = fd_tr_any_open(tr, any, NULL);
    if (msg == NULL)
        return NULL;
    const Google__Protobuf__Struct *value;
    const char *url;
    if (msg->descriptor == &xds__type__v3__typed_struct__descriptor) {
        url = ((Xds__Type__V3__TypedStruct *)msg)->type_url;
        value = ((Xds__Type__V3__TypedStruct *)msg)->value;
    } else {
        url = ((Udpa__Type__V1__TypedStruct *)msg)->type_url;
        value = ((Udpa__Type__V1__TypedStruct *)msg)->value;
    }
    json_t *json = value != NULL ? fd_pb_to_json_value(&value->base, tr->src) : json_object();
    char *text = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    *type_url = strdup(url);
    fd_tr_any_release(tr, any, msg);
    if (text == NULL || *type_url == NULL)
        abort();
    return text;
}

static int is_typed_struct(const char *type)
{
    return strcmp(type, "xds.type.v3.TypedStruct") == 0 || strcmp(type, "udpa.type.v1.TypedStruct") == 0;
}

typedef void *(*create_fn)(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                           size_t error_size);

/* Gives the filter a config (through create: create_config or create_route_config); NULL with
 * an error when it refuses it. */
static void *create_config(fd_translator_t *tr, const void *addr, const fd_filter_registration_t *reg, create_fn create,
                           const char *filter_name, const char *type_url, const char *json)
{
    fd_filter_config_input_t input = {
        .filter_name = filter_name, .type_url = type_url, .json = json, .json_len = strlen(json), .message = NULL};
    char error[512] = "";
    void *config = create(fd_filter_registry_api(tr->filters), &input, error, sizeof(error));
    if (config == NULL)
        fd_tr_error(tr, addr, "filter '%s' (%s) refused its config: %s", reg->filter->name, reg->origin,
                    error[0] != '\0' ? error : "(no reason given)");
    return config;
}

int fd_tr_http_filter(fd_translator_t *tr, const void *addr, const char *name,
                      const Google__Protobuf__Any *typed_config, int is_optional, fd_http_filter_config_t *out)
{
    const char *type = typed_config != NULL ? fd_tr_any_type_name(typed_config) : "";
    if (!is_typed_struct(type)) {
        if (!is_optional) /* Envoy skips optional filters it does not have */
            fd_tr_error(tr, addr, "HTTP filter '%s'%s%s%s is not supported by frontdesk", name, type[0] ? " (" : "",
                        type, type[0] ? ")" : "");
        return -1;
    }
    size_t saved = fd_tr_push(tr, "typed_config");
    char *type_url = NULL;
    char *json = open_typed_struct(tr, typed_config, &type_url);
    const fd_filter_registration_t *reg = json != NULL ? fd_filter_registry_find(tr->filters, type_url) : NULL;
    if (json != NULL && reg == NULL && !is_optional)
        fd_tr_error_in(tr, typed_config, "type_url",
                       "no filter takes config type '%s' (HTTP filter '%s'): load the plugin that provides it with "
                       "--plugin PATH",
                       type_url, name);
    void *config =
        reg != NULL ? create_config(tr, typed_config, reg, reg->filter->create_config, name, type_url, json) : NULL;
    if (config != NULL) {
        own(tr, reg->filter->destroy_config, config);
        out->filter = reg->filter;
        out->config = config;
        out->name = fd_tr_string(tr, name);
        out->type_name = fd_tr_string(tr, type_url);
    }
    free(json);
    free(type_url);
    fd_tr_pop(tr, saved);
    return out->filter != NULL ? 0 : -1;
}

/* The map entries of every typed_per_filter_config share this layout. */
typedef struct per_filter_entry {
    ProtobufCMessage base;
    char *key;
    Google__Protobuf__Any *value;
} per_filter_entry_t;

/* One entry: the filter its config type names must take per-route configs. */
static void per_filter_config(fd_translator_t *tr, const per_filter_entry_t *e, fd_filter_route_config_t *out)
{
    const char *type = e->value != NULL ? fd_tr_any_type_name(e->value) : "";
    if (!is_typed_struct(type)) {
        fd_tr_error(tr, e, "per-route config for HTTP filter '%s'%s%s%s is not supported by frontdesk", e->key,
                    type[0] ? " (" : "", type, type[0] ? ")" : "");
        return;
    }
    char *type_url = NULL;
    char *json = open_typed_struct(tr, e->value, &type_url);
    const fd_filter_registration_t *reg = json != NULL ? fd_filter_registry_find(tr->filters, type_url) : NULL;
    if (json != NULL && reg == NULL)
        fd_tr_error(tr, e,
                    "no filter takes config type '%s' (per-route config for HTTP filter '%s'): load the "
                    "plugin that provides it with --plugin PATH",
                    type_url, e->key);
    else if (reg != NULL && reg->filter->create_route_config == NULL)
        fd_tr_error(tr, e, "filter '%s' (%s) takes no per-route config (HTTP filter '%s')", reg->filter->name,
                    reg->origin, e->key);
    else if (reg != NULL) {
        void *config = create_config(tr, e, reg, reg->filter->create_route_config, e->key, type_url, json);
        if (config != NULL) {
            own(tr, reg->filter->destroy_route_config, config);
            out->filter_name = fd_tr_string(tr, e->key);
            out->config = config;
        }
    }
    free(json);
    free(type_url);
}

void fd_tr_per_filter_configs(fd_translator_t *tr, void *const *entries, size_t n, fd_filter_route_configs_t *out)
{
    out->entries = fd_tr_alloc(tr, n * sizeof(*out->entries));
    size_t saved = fd_tr_push(tr, "typed_per_filter_config");
    for (size_t i = 0; i < n; i++) {
        per_filter_entry_t *e = entries[i];
        fd_filter_route_config_t *entry = &out->entries[out->n];
        per_filter_config(tr, e, entry);
        if (entry->config != NULL)
            out->n++;
    }
    fd_tr_pop(tr, saved);
}
