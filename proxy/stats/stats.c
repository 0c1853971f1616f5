/* The stat names of each scope, generated from the X-macro lists in stats.h. */
#include "proxy/stats/stats.h"

#define FD_STATS_DESC(name, kind) {#name, FD_STAT_##kind},

const fd_stat_desc_t fd_cluster_stat_descs[] = {FD_CLUSTER_STATS(FD_STATS_DESC)};
const size_t fd_cluster_stat_count = sizeof(fd_cluster_stat_descs) / sizeof(fd_cluster_stat_descs[0]);
const fd_stat_desc_t fd_http_stat_descs[] = {FD_HTTP_STATS(FD_STATS_DESC)};
const size_t fd_http_stat_count = sizeof(fd_http_stat_descs) / sizeof(fd_http_stat_descs[0]);
