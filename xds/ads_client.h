/* The xDS transport: one ADS stream (envoy.service.discovery.v3.AggregatedDiscoveryService/
 * StreamAggregatedResources, state of the world) to a control server over gRPC core, on a
 * thread of its own that blocks on a gRPC completion queue and never touches h2o.
 *
 * Threads and ownership. fd_ads_client_start() spawns the client thread; every callback runs
 * on it. fd_ads_client_subscribe(), _ack() and _nack() may be called from any thread (the
 * callbacks included): they copy their arguments into a queue and wake the client thread,
 * which alone owns the stream and the protocol state. Commands run in the order they were
 * posted, and one posted from on_response runs after that response's verdict (so an EDS
 * subscription made while handling CDS goes out after the CDS ACK, as in Envoy).
 * fd_ads_client_stop() is called once, from any thread but the client thread, and frees
 * everything.
 *
 * Verdicts. on_response returns FD_ADS_ACK or FD_ADS_NACK (with the reason written into
 * error_detail) to answer at once, or FD_ADS_PENDING to answer later, from any thread, with
 * fd_ads_client_ack() / fd_ads_client_nack() and the response's version_info and nonce (copy
 * them: resp is freed when on_response returns). Answer the responses of one type in the
 * order they were delivered. A verdict on a response of an earlier stream is not sent (its
 * nonce is stale) but an ACK still records the accepted version.
 *
 * Protocol, as Envoy's GrpcMuxImpl: the node goes in the first request of a stream (or every
 * request, if asked); an ACK carries the response's version_info and nonce; a NACK carries
 * the previously accepted version_info, the response's nonce and error_detail {code 13
 * INTERNAL, message truncated to 4096 bytes}; a response whose resources are not of its type
 * URL (or an envoy.service.discovery.v3.Resource wrapper, passed on as is) is NACKed without
 * reaching on_response; a response of an unsubscribed type is ignored.
 * When the stream fails, it is opened again after a jittered exponential backoff (Envoy's: a
 * random wait below min(base * 2^n, max), reset by any received message), and every
 * subscription is sent again with its last accepted version and no nonce. */
#ifndef FD_ADS_CLIENT_H
#define FD_ADS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define FD_ADS_TYPE_LISTENER "type.googleapis.com/envoy.config.listener.v3.Listener"
#define FD_ADS_TYPE_ROUTE "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
#define FD_ADS_TYPE_CLUSTER "type.googleapis.com/envoy.config.cluster.v3.Cluster"
#define FD_ADS_TYPE_ENDPOINT "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

/* The stream's gRPC method: ADS, or one resource type's own service (api_config_source with
 * api_type GRPC, for control servers without ADS), which speaks the same protocol. */
#define FD_ADS_METHOD_ADS "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
#define FD_ADS_METHOD_LDS "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners"
#define FD_ADS_METHOD_RDS "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes"
#define FD_ADS_METHOD_CDS "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters"
#define FD_ADS_METHOD_EDS "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints"

/* on_response's verdicts (tri-state: done either way, or wait for a later verdict). */
#define FD_ADS_ACK 0
#define FD_ADS_NACK (-1)
#define FD_ADS_PENDING 1

typedef struct fd_ads_client fd_ads_client_t;

typedef struct fd_ads_options {
    /* gRPC target of the control server, e.g. "127.0.0.1:18000" or "dns:///xds.example:18000"
     * (plaintext; the caller resolves envoy_grpc.cluster_name or google_grpc.target_uri). */
    const char *target;
    /* NULL means FD_ADS_METHOD_ADS (copied). */
    const char *method;
    /* Who we are (copied). NULL or an empty user_agent_name gets user_agent_name "frontdesk". */
    const Envoy__Config__Core__V3__Node *node;
    /* 1: the node goes in every request (Envoy's set_node_on_first_message_only: false). */
    int node_on_every_request;
    /* Reconnect backoff; 0 means Envoy's 500 ms and 30 s. */
    uint32_t backoff_base_ms;
    uint32_t backoff_max_ms;
    /* Largest DiscoveryResponse accepted; 0 means no limit (as Envoy; gRPC's default is 4 MiB). */
    uint32_t max_response_bytes;
    /* Each DiscoveryResponse of a subscribed type, in stream order: return a verdict as above.
     * error_detail holds error_len bytes for a NACK's message (NUL-terminated). */
    int (*on_response)(void *ctx, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *error_detail,
                       size_t error_len);
    /* Optional: the stream came up (connected 1: the server sent its headers or a first response;
     * grpc-go and grpc-js servers send headers only with the first response) or went down
     * (connected 0, with gRPC's status code and message). For logs and connected_state. */
    void (*on_stream)(void *ctx, int connected, int grpc_status, const char *message);
    void *ctx;
} fd_ads_options_t;

/* Starts the client thread; it opens the stream once something is subscribed. NULL (with a
 * message on stderr) when options are missing or gRPC cannot start. */
fd_ads_client_t *fd_ads_client_start(const fd_ads_options_t *opts);

/* Subscribes type_url to exactly these resource names (copied; n 0 is the wildcard for LDS and
 * CDS, and "no names" for RDS and EDS once names were sent, as in Envoy). A request goes out
 * when the set changed. 0, or -1 when stopping or out of memory. Thread-safe. */
int fd_ads_client_subscribe(fd_ads_client_t *client, const char *type_url, const char *const *resource_names, size_t n);

/* A later verdict on a response for which on_response returned FD_ADS_PENDING. nack's message
 * becomes error_detail.message. 0, or -1 when stopping or out of memory. Thread-safe. */
int fd_ads_client_ack(fd_ads_client_t *client, const char *type_url, const char *version_info, const char *nonce);
int fd_ads_client_nack(fd_ads_client_t *client, const char *type_url, const char *nonce, const char *error_detail);

/* Cancels the stream, waits for the client thread, drains the completion queue and frees
 * everything. No callback runs after it returns. Not from the client thread. NULL is a no-op. */
void fd_ads_client_stop(fd_ads_client_t *client);

#endif
