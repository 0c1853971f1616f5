/* An HTTP filter other than the router: found in the filter registry by the type of its
 * config (a TypedStruct's type_url), given its config as JSON, and its compiled config
 * destroyed with the snapshot. */
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
    const fd_filter_descriptor_t *filter;
    void *config;
} filter_config_owner_t;

static void destroy_filter_config(void *p)
{
    filter_config_owner_t *owner = p;
    if (owner->filter->destroy_config != NULL)
        owner->filter->destroy_config(owner->config);
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

/* Gives the filter its config; on success out->filter and out->config are set. */
static void create_config(fd_translator_t *tr, const void *addr, const fd_filter_registration_t *reg,
                          const char *filter_name, const char *type_url, const char *json, fd_http_filter_config_t *out)
{
    fd_filter_config_input_t input = {
        .filter_name = filter_name, .type_url = type_url, .json = json, .json_len = strlen(json), .message = NULL};
    char error[512] = "";
    void *config = reg->filter->create_config(fd_filter_registry_api(tr->filters), &input, error, sizeof(error));
    if (config == NULL) {
        fd_tr_error(tr, addr, "filter '%s' (%s) refused its config: %s", reg->filter->name, reg->origin,
                    error[0] != '\0' ? error : "(no reason given)");
        return;
    }
    filter_config_owner_t *owner = h2o_mem_alloc_shared(&tr->config->pool, sizeof(*owner), destroy_filter_config);
    *owner = (filter_config_owner_t){reg->filter, config};
    out->filter = reg->filter;
    out->config = config;
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
    if (reg != NULL) {
        create_config(tr, typed_config, reg, name, type_url, json, out);
        out->name = fd_tr_string(tr, name);
        out->type_name = fd_tr_string(tr, type_url);
    }
    free(json);
    free(type_url);
    fd_tr_pop(tr, saved);
    return out->filter != NULL ? 0 : -1;
}
