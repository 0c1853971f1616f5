/* Per-type ADS bookkeeping and DiscoveryRequest encoding (see ads_state.h). Strings are
 * malloc'd copies owned by the state; requests point into them only while being packed. */
#include "xds/ads_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fd_ads_sub {
    char *type_url;
    char **names; /* sorted, unique */
    size_t n_names;
    char *version;  /* last accepted, "" before the first ACK */
    char *nonce;    /* of the last response answered on this stream, "" on a new stream */
    char *error;    /* a NACK's message until the next request carries it, else NULL */
    char **pending; /* nonces delivered on this stream that await a verdict */
    size_t n_pending;
} fd_ads_sub_t;

struct fd_ads_state {
    Envoy__Config__Core__V3__Node *node; /* unpacked copy, protobuf-c owns its memory */
    int node_every_request;
    int node_sent; /* on this stream */
    fd_ads_sub_t *subs;
    size_t n_subs;
};

static Envoy__Config__Core__V3__Node *copy_node(const Envoy__Config__Core__V3__Node *node)
{
    Envoy__Config__Core__V3__Node tmp = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    if (node != NULL)
        tmp = *node; /* shallow: only read while packing */
    if (tmp.user_agent_name == NULL || tmp.user_agent_name[0] == '\0')
        tmp.user_agent_name = "frontdesk";
    size_t len = protobuf_c_message_get_packed_size(&tmp.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(&tmp.base, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(&envoy__config__core__v3__node__descriptor, NULL, len, buf);
    free(buf);
    return (Envoy__Config__Core__V3__Node *)copy;
}

fd_ads_state_t *fd_ads_state_new(const Envoy__Config__Core__V3__Node *node, int node_every_request)
{
    fd_ads_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    if ((st->node = copy_node(node)) == NULL) {
        free(st);
        return NULL;
    }
    st->node_every_request = node_every_request;
    return st;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void clear_pending(fd_ads_sub_t *sub)
{
    free_strings(sub->pending, sub->n_pending);
    sub->pending = NULL;
    sub->n_pending = 0;
}

static void free_sub(fd_ads_sub_t *sub)
{
    free(sub->type_url);
    free_strings(sub->names, sub->n_names);
    free(sub->version);
    free(sub->nonce);
    free(sub->error);
    clear_pending(sub);
}

void fd_ads_state_free(fd_ads_state_t *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_subs; i++)
        free_sub(&st->subs[i]);
    free(st->subs);
    protobuf_c_message_free_unpacked(&st->node->base, NULL);
    free(st);
}

static fd_ads_sub_t *find_sub(const fd_ads_state_t *st, const char *type_url)
{
    for (size_t i = 0; i < st->n_subs; i++)
        if (strcmp(st->subs[i].type_url, type_url) == 0)
            return &st->subs[i];
    return NULL;
}

/* Replaces *slot by a copy of s; -1 (slot unchanged) when out of memory. */
static int set_string(char **slot, const char *s)
{
    char *copy = strdup(s != NULL ? s : "");
    if (copy == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static fd_ads_sub_t *add_sub(fd_ads_state_t *st, const char *type_url)
{
    fd_ads_sub_t *subs = realloc(st->subs, (st->n_subs + 1) * sizeof(*subs));
    if (subs == NULL)
        return NULL;
    st->subs = subs;
    fd_ads_sub_t *sub = &subs[st->n_subs];
    *sub = (fd_ads_sub_t){0};
    if (set_string(&sub->type_url, type_url) != 0 || set_string(&sub->version, "") != 0 ||
        set_string(&sub->nonce, "") != 0) {
        free_sub(sub);
        return NULL;
    }
    st->n_subs++;
    return sub;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of names without duplicates in *out (NULL when n is 0). */
static int sorted_names(const char *const *names, size_t n, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return 0;
    char **v = calloc(n, sizeof(*v));
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((v[i] = strdup(names[i])) == NULL) {
            free_strings(v, n);
            return -1;
        }
    }
    qsort(v, n, sizeof(*v), cmp_names);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    *out = v;
    *n_out = k;
    return 0;
}

static int same_names(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

int fd_ads_state_subscribe(fd_ads_state_t *st, const char *type_url, const char *const *names, size_t n)
{
    char **sorted;
    size_t n_sorted;
    if (sorted_names(names, n, &sorted, &n_sorted) != 0)
        return -1;
    fd_ads_sub_t *sub = find_sub(st, type_url);
    int is_new = sub == NULL;
    if (is_new && (sub = add_sub(st, type_url)) == NULL) {
        free_strings(sorted, n_sorted);
        return -1;
    }
    if (!is_new && same_names(sub->names, sub->n_names, sorted, n_sorted)) {
        free_strings(sorted, n_sorted);
        return 0;
    }
    free_strings(sub->names, sub->n_names);
    sub->names = sorted;
    sub->n_names = n_sorted;
    return sub->n_pending == 0; /* else the pending verdict's request carries the new names */
}

size_t fd_ads_state_type_count(const fd_ads_state_t *st)
{
    return st->n_subs;
}

const char *fd_ads_state_type_url(const fd_ads_state_t *st, size_t i)
{
    return i < st->n_subs ? st->subs[i].type_url : NULL;
}

size_t fd_ads_state_type_names(const fd_ads_state_t *st, size_t i)
{
    return i < st->n_subs ? st->subs[i].n_names : 0;
}

const char *fd_ads_state_version(const fd_ads_state_t *st, const char *type_url)
{
    const fd_ads_sub_t *sub = find_sub(st, type_url);
    return sub != NULL ? sub->version : NULL;
}

void fd_ads_state_new_stream(fd_ads_state_t *st)
{
    st->node_sent = 0;
    for (size_t i = 0; i < st->n_subs; i++) {
        fd_ads_sub_t *sub = &st->subs[i];
        sub->nonce[0] = '\0';
        free(sub->error);
        sub->error = NULL;
        clear_pending(sub);
    }
}

/* Envoy's check: each resource has the response's type URL or is a Resource wrapper. */
static int check_types(const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *why, size_t why_len)
{
    for (size_t i = 0; i < resp->n_resources; i++) {
        const char *url = resp->resources[i]->type_url;
        if (strcmp(url, resp->type_url) != 0 && strcmp(url, FD_ADS_RESOURCE_WRAPPER_TYPE_URL) != 0) {
            snprintf(why, why_len, "%s does not match the message-wide type URL %s in DiscoveryResponse (version '%s')",
                     url, resp->type_url, resp->version_info);
            return -1;
        }
    }
    return 0;
}

static int push_pending(fd_ads_sub_t *sub, const char *nonce)
{
    char **v = realloc(sub->pending, (sub->n_pending + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    sub->pending = v;
    if ((v[sub->n_pending] = strdup(nonce)) == NULL)
        return -1;
    sub->n_pending++;
    return 0;
}

/* Records a NACK of nonce on sub: the version stays, message goes out with the next request. */
static int record_nack(fd_ads_sub_t *sub, const char *nonce, const char *message)
{
    size_t len = strlen(message), cut = len;
    static const char suffix[] = "...(truncated)";
    if (len > FD_ADS_ERROR_MAX) {
        cut = FD_ADS_ERROR_MAX;
        while (cut > 0 && ((unsigned char)message[cut] & 0xC0) == 0x80)
            cut--; /* not inside a UTF-8 sequence: proto3 strings must stay valid */
    }
    char *error = malloc(cut + sizeof(suffix));
    if (error == NULL || set_string(&sub->nonce, nonce) != 0) {
        free(error);
        return -1;
    }
    memcpy(error, message, cut);
    strcpy(error + cut, cut < len ? suffix : "");
    free(sub->error);
    sub->error = error;
    return 0;
}

fd_ads_check_t fd_ads_state_on_response(fd_ads_state_t *st,
                                        const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *why,
                                        size_t why_len)
{
    fd_ads_sub_t *sub = find_sub(st, resp->type_url);
    if (sub == NULL)
        return FD_ADS_CHECK_IGNORE;
    if (check_types(resp, why, why_len) != 0) {
        if (record_nack(sub, resp->nonce, why) != 0)
            return FD_ADS_CHECK_IGNORE;
        return FD_ADS_CHECK_REJECT;
    }
    if (push_pending(sub, resp->nonce) != 0) {
        snprintf(why, why_len, "out of memory");
        return record_nack(sub, resp->nonce, why) != 0 ? FD_ADS_CHECK_IGNORE : FD_ADS_CHECK_REJECT;
    }
    return FD_ADS_CHECK_DELIVER;
}

/* Removes nonce from the pending verdicts; 1 when it was there (delivered on this stream). */
static int take_pending(fd_ads_sub_t *sub, const char *nonce)
{
    for (size_t i = 0; i < sub->n_pending; i++) {
        if (strcmp(sub->pending[i], nonce) == 0) {
            free(sub->pending[i]);
            memmove(&sub->pending[i], &sub->pending[i + 1], (sub->n_pending - i - 1) * sizeof(char *));
            sub->n_pending--;
            return 1;
        }
    }
    return 0;
}

int fd_ads_state_ack(fd_ads_state_t *st, const char *type_url, const char *version, const char *nonce)
{
    fd_ads_sub_t *sub = find_sub(st, type_url);
    if (sub == NULL)
        return 0;
    if (set_string(&sub->version, version) != 0)
        return -1;
    if (!take_pending(sub, nonce))
        return 0;
    return set_string(&sub->nonce, nonce) != 0 ? -1 : 1;
}

int fd_ads_state_nack(fd_ads_state_t *st, const char *type_url, const char *nonce, const char *message)
{
    fd_ads_sub_t *sub = find_sub(st, type_url);
    if (sub == NULL || !take_pending(sub, nonce))
        return 0;
    return record_nack(sub, nonce, message != NULL ? message : "") != 0 ? -1 : 1;
}

int fd_ads_state_request(fd_ads_state_t *st, const char *type_url, uint8_t **data, size_t *len)
{
    fd_ads_sub_t *sub = find_sub(st, type_url);
    if (sub == NULL)
        return -1;
    Envoy__Service__Discovery__V3__DiscoveryRequest req = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    req.version_info = sub->version;
    req.type_url = sub->type_url;
    req.response_nonce = sub->nonce;
    req.resource_names = sub->names;
    req.n_resource_names = sub->n_names;
    if (!st->node_sent || st->node_every_request)
        req.node = st->node;
    if (sub->error != NULL) {
        status.code = FD_ADS_NACK_CODE;
        status.message = sub->error;
        req.error_detail = &status;
    }
    *len = protobuf_c_message_get_packed_size(&req.base);
    if ((*data = malloc(*len ? *len : 1)) == NULL)
        return -1;
    protobuf_c_message_pack(&req.base, *data);
    st->node_sent = 1;
    free(sub->error);
    sub->error = NULL;
    return 0;
}
