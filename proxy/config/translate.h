/* The translator: the one place that turns Envoy's messages (from the bootstrap or
 * from xDS) into frontdesk's runtime config, checking what they mean: names that must
 * exist or be unique, regexes, ranges, filters frontdesk has, fields it supports. */
#ifndef FD_TRANSLATE_H
#define FD_TRANSLATE_H

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "proxy/config/cfg_errors.h"
#include "proxy/config/cfg_source.h"
#include "proxy/config/config.h"
#include "proxy/config/filter_registry.h"

/* Translates a whole bootstrap. src (may be NULL) gives positions for messages; filters
 * (may be NULL: the router only) the HTTP filters there are. Returns a config with one
 * reference, or NULL with every error found in errs. */
fd_config_t *fd_translate_bootstrap(const Envoy__Config__Bootstrap__V3__Bootstrap *bootstrap,
                                    const fd_cfg_source_t *src, const fd_filter_registry_t *filters,
                                    fd_cfg_errors_t *errs);

/* An RDS update (a RouteConfiguration from a control server), checked and compiled as an
 * inline route_config is; routes may name clusters that do not exist (503 at request time,
 * as Envoy's RDS does by default). Returns an arena holding *table (release it with
 * fd_config_release), or NULL with every error in errs; unsupported fields go to warnings. */
fd_config_t *fd_translate_route_configuration(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                              const fd_filter_registry_t *filters, fd_route_table_t **table,
                                              fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings);

/* A CDS update (a Cluster from a control server), checked as a static cluster is; the
 * control server of an EDS cluster must be a cluster of statics (the running bootstrap).
 * Returns an arena holding *cluster (release it with fd_config_release), or NULL with every
 * error in errs; unsupported fields go to warnings. */
fd_config_t *fd_translate_cluster_resource(const Envoy__Config__Cluster__V3__Cluster *c, const fd_config_t *statics,
                                           fd_cluster_t **cluster, fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings);

/* An LDS update (a Listener from a control server), checked as a static listener is; the
 * control server of its RDS must be a cluster of statics, and its address none of statics'
 * listeners'. Returns an arena holding *listener, or NULL with every error in errs;
 * unsupported fields go to warnings. */
fd_config_t *fd_translate_listener_resource(const Envoy__Config__Listener__V3__Listener *l, const fd_config_t *statics,
                                            const fd_filter_registry_t *filters, fd_listener_t **listener,
                                            fd_cfg_errors_t *errs, fd_cfg_errors_t *warnings);

/* An EDS update (a ClusterLoadAssignment from a control server), checked as a static
 * load_assignment is, into *endpoints (malloc'd; the caller frees; NULL when empty) and *n.
 * Fields frontdesk does not support go to warnings (logged by the caller, not refused).
 * 0, or -1 with every error in errs. */
int fd_translate_load_assignment(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                                 fd_endpoint_t **endpoints, size_t *n, fd_cfg_errors_t *errs,
                                 fd_cfg_errors_t *warnings);

#endif
