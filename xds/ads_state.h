/* What one ADS stream must remember per type URL (state of the world) and the
 * DiscoveryRequests that follow from it, by Envoy's rules: the subscribed resource names, the
 * last accepted version, the nonce to answer with, the responses awaiting a verdict, and a
 * NACK's error_detail until it is sent. No gRPC and no threads: the ADS client thread owns it
 * (ads_client.c). Functions returning int: 0 or 1 as documented, -1 when out of memory. */
#ifndef FD_ADS_STATE_H
#define FD_ADS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

/* Resources may come wrapped in a Resource whatever the response's type URL (Envoy allows it). */
#define FD_ADS_RESOURCE_WRAPPER_TYPE_URL "type.googleapis.com/envoy.service.discovery.v3.Resource"
/* Envoy (Config::Utility::truncateGrpcStatusMessage) keeps this many bytes of an error_detail. */
#define FD_ADS_ERROR_MAX 4096
/* A NACK's error_detail.code: google.rpc.Code INTERNAL, as Envoy's GrpcMuxImpl sets it. */
#define FD_ADS_NACK_CODE 13

typedef struct fd_ads_state fd_ads_state_t;

/* What became of a response (fd_ads_state_on_response). */
typedef enum fd_ads_check {
    FD_ADS_CHECK_DELIVER, /* hand it to the consumer; its nonce awaits a verdict */
    FD_ADS_CHECK_REJECT,  /* malformed: a NACK is recorded, send fd_ads_state_request() */
    FD_ADS_CHECK_IGNORE,  /* no subscription for its type URL: nothing to send (Envoy's warning) */
} fd_ads_check_t;

/* A state for a client identified by node (copied; user_agent_name defaults to "frontdesk").
 * node_every_request 0 sends the node only in a stream's first request (Envoy's
 * set_node_on_first_message_only: true). NULL when out of memory or node cannot be packed. */
fd_ads_state_t *fd_ads_state_new(const Envoy__Config__Core__V3__Node *node, int node_every_request);
void fd_ads_state_free(fd_ads_state_t *st);

/* Sets the resource names of type_url (copied, sorted, duplicates dropped). An empty list is the
 * wildcard for LDS and CDS. 1: a request must go out now; 0: nothing to send (same names, or a
 * response of this type awaits its verdict, whose request will carry the new names). */
int fd_ads_state_subscribe(fd_ads_state_t *st, const char *type_url, const char *const *names, size_t n);

/* Subscribed type URLs, in subscription order (the order requests go out on a new stream). */
size_t fd_ads_state_type_count(const fd_ads_state_t *st);
const char *fd_ads_state_type_url(const fd_ads_state_t *st, size_t i);
/* How many resource names the i-th type asks for (0: the wildcard, or none any more). */
size_t fd_ads_state_type_names(const fd_ads_state_t *st, size_t i);

/* Last accepted version_info of type_url ("" before the first ACK), NULL if not subscribed. */
const char *fd_ads_state_version(const fd_ads_state_t *st, const char *type_url);

/* A new stream: its first request carries the node again, nonces and pending verdicts of the
 * old stream are forgotten, versions are kept (so a resubscription says what we have). */
void fd_ads_state_new_stream(fd_ads_state_t *st);

/* Checks a response (its type URL is subscribed, every resource has that type URL or is a
 * Resource wrapper). On REJECT, why holds the reason (NUL-terminated, truncated to why_len). */
fd_ads_check_t fd_ads_state_on_response(fd_ads_state_t *st,
                                        const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *why,
                                        size_t why_len);

/* A verdict on a delivered response. ACK: version becomes the accepted version. NACK: the
 * version stays, the message (truncated as Envoy does) goes in the next request's error_detail.
 * 1: the response came on this stream, send fd_ads_state_request(); 0: it came on an earlier
 * stream or type_url is not subscribed, nothing to send (an ACK still records the version). */
int fd_ads_state_ack(fd_ads_state_t *st, const char *type_url, const char *version, const char *nonce);
int fd_ads_state_nack(fd_ads_state_t *st, const char *type_url, const char *nonce, const char *message);

/* Packs the DiscoveryRequest for type_url as it stands: node (first request of the stream),
 * accepted version, names, nonce, and a pending error_detail (then forgotten). *data is
 * malloc'd, the caller frees it. 0, or -1 when out of memory or type_url is not subscribed. */
int fd_ads_state_request(fd_ads_state_t *st, const char *type_url, uint8_t **data, size_t *len);

#endif
