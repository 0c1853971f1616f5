/* Clusters from a control server (CDS, state of the world) on the stream of the bootstrap's
 * cds_config. Each Cluster is translated on the main thread; a new or changed one goes to the
 * workers (an EDS one once its endpoints are in: it warms meanwhile, and the version it
 * replaces keeps serving; a DNS one to the resolver too), one absent from a response is removed, an unchanged one keeps
 * its pools, hosts and counters. A Cluster that is refused is NACKed with the translator's message and its previous
 * version keeps serving, while the others apply, as in Envoy. */
#ifndef FD_CDS_H
#define FD_CDS_H

#include <h2o.h>
#include <jansson.h>

#include "proxy/config/config.h"
#include "proxy/server/eds.h"
#include "proxy/server/server.h"
#include "proxy/server/xds_source.h"

typedef struct fd_cds fd_cds_t;

/* Watches every Cluster on the cds_config stream (before fd_xds_sources_start); *out stays
 * NULL without cds_config. -1 (message on stderr) when the control server cannot be named. */
int fd_cds_start(fd_server_t *server, fd_xds_sources_t *sources, h2o_loop_t *loop, const fd_config_t *config,
                 fd_cds_t **out);

/* The first response is in and the clusters it brought are warm (or their
 * initial_fetch_timeout passed). NULL is ready. */
int fd_cds_ready(const fd_cds_t *cds);

/* cluster_manager.* and cluster_manager.cds.*. Main thread. */
typedef struct fd_cds_stats {
    uint64_t update_attempt, update_success, update_rejected;
    uint64_t cluster_added, cluster_modified, cluster_removed;
    uint64_t active_clusters, warming_clusters;
} fd_cds_stats_t;
void fd_cds_stats(const fd_cds_t *cds, fd_cds_stats_t *out);

/* The active clusters from CDS, by position (0..n-1), for /stats and /clusters; the
 * update_* counters of an EDS one. Main thread. */
size_t fd_cds_cluster_count(const fd_cds_t *cds);
const char *fd_cds_cluster_name(const fd_cds_t *cds, size_t i);
int fd_cds_cluster_eds_stats(const fd_cds_t *cds, size_t i, fd_eds_stats_t *out);

/* Fields set in accepted clusters that frontdesk does not support. */
uint64_t fd_cds_unsupported_fields(const fd_cds_t *cds);

/* Envoy's ClustersConfigDump dynamic entries, the last accepted version_info, and the
 * dynamic_endpoint_configs of the active EDS clusters. */
void fd_cds_config_dump(const fd_cds_t *cds, json_t *dynamic_active, json_t *dynamic_warming, json_t *endpoints,
                        const char **version);

/* After the streams are stopped. NULL is a no-op. */
void fd_cds_free(fd_cds_t *cds);

#endif
