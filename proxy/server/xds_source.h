/* The streams to control servers of a static config with dynamic parts (EDS clusters, RDS
 * route configurations): one per config source (the ADS stream, or an api_config_source's
 * own), each a client thread (xds/ads_client.h). A response is decoded on that thread and
 * applied on the main thread by the watcher of its type, whose verdict goes back as an ACK,
 * or a NACK carrying the watcher's message. */
#ifndef FD_XDS_SOURCE_H
#define FD_XDS_SOURCE_H

#include <h2o.h>
#include <protobuf-c/protobuf-c.h>

#include "proxy/config/cfg_errors.h"
#include "proxy/config/config.h"

typedef struct fd_xds_sources fd_xds_sources_t;
typedef struct fd_xds_source fd_xds_source_t;

/* Applies one accepted-or-not response of a watched type, on the main thread: 0 to ACK, -1
 * (with a message in error) to NACK. resources are the decoded messages, freed after. */
typedef int (*fd_xds_apply_cb)(void *ctx, const fd_xds_source_t *source, ProtobufCMessage *const *resources, size_t n,
                               const char *version, char *error, size_t error_size);

struct fd_xds_client_api;

/* Whether config takes anything from a control server (CDS, LDS, EDS clusters, RDS listeners). */
int fd_xds_needed(const fd_config_t *config);

/* client: the loaded xDS client (xds_loader.h), copied. Only for a config fd_xds_needed. */
fd_xds_sources_t *fd_xds_sources_new(h2o_loop_t *loop, const fd_config_t *config,
                                     const struct fd_xds_client_api *client);

/* The stream of a config source for type_url (the ADS stream, or an api_config_source's own
 * stream for that type, as Envoy opens), made on first use; NULL (with a message on stderr)
 * when its control server cannot be named. The source is copied. */
fd_xds_source_t *fd_xds_sources_get(fd_xds_sources_t *sources, const fd_config_source_ref_t *ref, const char *type_url);

/* Subscribes the stream to name (copied; once however often asked) of type_url, decoded as
 * type; responses go to apply (the first call's, for all names of the type). Before or after
 * fd_xds_sources_start (then the new set of names is sent at once). Main thread. */
void fd_xds_source_watch(fd_xds_source_t *source, const char *type_url, const ProtobufCMessageDescriptor *type,
                         const char *name, fd_xds_apply_cb apply, void *ctx);
/* Subscribes to every resource of type_url (the wildcard: CDS and LDS). */
void fd_xds_source_watch_all(fd_xds_source_t *source, const char *type_url, const ProtobufCMessageDescriptor *type,
                             fd_xds_apply_cb apply, void *ctx);
/* No longer asks for name (EDS of a removed cluster). */
void fd_xds_source_unwatch(fd_xds_source_t *source, const char *type_url, const char *name);

/* Sends the subscriptions whose names changed (and opens a stream first used now). Done after
 * each applied response; whoever changes watches at another time calls it. */
void fd_xds_sources_flush(fd_xds_sources_t *sources);

/* Opens the streams; -1 when a client cannot start. */
int fd_xds_sources_start(fd_xds_sources_t *sources);

/* 1 while every stream is up (control_plane.connected_state). */
int fd_xds_sources_connected(const fd_xds_sources_t *sources);

/* Drain: responses are no longer applied (nor answered). NULL is a no-op. */
void fd_xds_sources_request_stop(fd_xds_sources_t *sources);

/* Waiting for the first resources of one kind (Envoy's warming): done once every one has
 * come, or initial_fetch_timeout passed (0: wait as long as it takes). Main thread. */
typedef struct fd_xds_warming {
    size_t waiting;
    const char *what; /* for the message when the timeout passes: "EDS cluster(s)" */
    h2o_loop_t *loop;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    int has_timeout, timed_out;
} fd_xds_warming_t;

void fd_xds_warming_start(fd_xds_warming_t *warming, h2o_loop_t *loop, size_t waiting, uint64_t timeout_ms,
                          const char *what);
void fd_xds_warming_arrived(fd_xds_warming_t *warming); /* one more had its first resource */
int fd_xds_warming_done(const fd_xds_warming_t *warming);
void fd_xds_warming_dispose(fd_xds_warming_t *warming);

/* After translating one resource: its errors (in one) go to errs as "<kind> '<name>': ...",
 * or its warnings (unsupported fields, as DESIGN wants in xDS) are logged under tag ("CDS")
 * and counted in *unsupported. Clears one and warnings; -1 when there were errors. */
int fd_xds_report(fd_cfg_errors_t *errs, fd_cfg_errors_t *one, fd_cfg_errors_t *warnings, const char *kind,
                  const char *tag, const char *name, uint64_t *unsupported);

/* A response refused (wholly or in part): logs "frontdesk: <what>:" and every error of errs,
 * and copies them into error (the NACK's error_detail). Clears errs. */
void fd_xds_reject(fd_cfg_errors_t *errs, char *error, size_t error_size, const char *what);

/* Stops the client threads and frees everything; main thread; NULL is a no-op. */
void fd_xds_sources_free(fd_xds_sources_t *sources);

#endif
