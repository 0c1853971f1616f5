/* An example frontdesk filter plugin: requests must carry one of the configured API keys.
 *
 *   config     {"header": "x-api-key", "keys": ["k1", "k2"]}   header defaults to x-api-key
 *   per route  {"disabled": true}                               no key needed on that route
 *
 * No key: 401. A key not in the list: 403. The key header is removed before the request goes
 * upstream, so services never see the secret. Build: see README ("HTTP filters and plugins"). */
#define _POSIX_C_SOURCE 200809L /* strdup, with -std=c11 */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/fd_filter.h"

typedef struct api_key_config {
    char *header;
    char **keys;
    size_t n_keys;
} api_key_config_t;

typedef struct api_key_route {
    int disabled;
} api_key_route_t;

static void destroy_config(void *p)
{
    api_key_config_t *config = p;
    for (size_t i = 0; i < config->n_keys; i++)
        free(config->keys[i]);
    free(config->keys);
    free(config->header);
    free(config);
}

static json_t *parse(const fd_filter_config_input_t *input, char *error, size_t error_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(input->json, input->json_len, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(error, error_size, "the config must be a JSON object%s%s", root == NULL ? ": " : "",
                 root == NULL ? jerr.text : "");
        json_decref(root);
        return NULL;
    }
    return root;
}

static void *create_config(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                           size_t error_size)
{
    (void)api;
    json_t *root = parse(input, error, error_size);
    if (root == NULL)
        return NULL;
    json_t *header = json_object_get(root, "header");
    json_t *keys = json_object_get(root, "keys");
    api_key_config_t *config = calloc(1, sizeof(*config));
    if ((header != NULL && (!json_is_string(header) || json_string_length(header) == 0)) || !json_is_array(keys) ||
        json_array_size(keys) == 0) {
        snprintf(error, error_size, "'keys' must be a non-empty list of strings, 'header' a header name");
        goto fail;
    }
    config->header = strdup(header != NULL ? json_string_value(header) : "x-api-key");
    for (char *c = config->header; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    config->keys = calloc(json_array_size(keys), sizeof(*config->keys));
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *key = json_string_value(json_array_get(keys, i));
        if (key == NULL || key[0] == '\0') {
            snprintf(error, error_size, "keys[%zu] must be a non-empty string", i);
            goto fail;
        }
        config->keys[config->n_keys++] = strdup(key);
    }
    json_decref(root);
    return config;
fail:
    json_decref(root);
    destroy_config(config);
    return NULL;
}

static void *create_route_config(const fd_filter_api_t *api, const fd_filter_config_input_t *input, char *error,
                                 size_t error_size)
{
    (void)api;
    json_t *root = parse(input, error, error_size);
    if (root == NULL)
        return NULL;
    json_t *disabled = json_object_get(root, "disabled");
    if (disabled != NULL && !json_is_boolean(disabled)) {
        snprintf(error, error_size, "'disabled' must be true or false");
        json_decref(root);
        return NULL;
    }
    api_key_route_t *route = calloc(1, sizeof(*route));
    route->disabled = json_is_true(disabled);
    json_decref(root);
    return route;
}

static int known_key(const api_key_config_t *config, fd_filter_string_t key)
{
    for (size_t i = 0; i < config->n_keys; i++)
        if (strlen(config->keys[i]) == key.len && memcmp(config->keys[i], key.base, key.len) == 0)
            return 1;
    return 0;
}

static fd_filter_status_t on_request_headers(fd_filter_stream_t *s, void *cfg, void *state)
{
    const api_key_config_t *config = cfg;
    const api_key_route_t *route = fd_filter_route_config(s);
    (void)state;
    if (route != NULL && route->disabled)
        return FD_FILTER_CONTINUE;
    fd_filter_string_t key;
    if (!fd_filter_header_get(s, FD_FILTER_REQUEST_HEADERS, config->header, 0, &key)) {
        static const char body[] = "missing API key\n";
        fd_filter_send_local_reply(s, 401, body, sizeof(body) - 1);
        return FD_FILTER_STOP;
    }
    if (!known_key(config, key)) {
        static const char body[] = "unknown API key\n";
        fd_filter_send_local_reply(s, 403, body, sizeof(body) - 1);
        return FD_FILTER_STOP;
    }
    fd_filter_header_remove(s, FD_FILTER_REQUEST_HEADERS, config->header);
    return FD_FILTER_CONTINUE;
}

static const fd_filter_descriptor_t api_key_filter = {
    .abi_version = FD_FILTER_ABI_VERSION,
    .struct_size = sizeof(fd_filter_descriptor_t),
    .name = "frontdesk.examples.api_key",
    .type_url = "type.googleapis.com/frontdesk.examples.ApiKey",
    .create_config = create_config,
    .destroy_config = destroy_config,
    .create_route_config = create_route_config,
    .destroy_route_config = free,
    .on_request_headers = on_request_headers,
};

FD_FILTER_PLUGIN(&api_key_filter);
