/* The main thread: listening sockets, workers, the admin listener, signals and drain.
 * See server.h. */
#include "proxy/server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/admin/admin.h"
#include "proxy/server/cds.h"
#include "proxy/server/dns_resolver.h"
#include "proxy/server/eds.h"
#include "proxy/server/lds.h"
#include "proxy/server/listen_socket.h"
#include "proxy/server/listener_runtime.h"
#include "proxy/server/rds.h"
#include "proxy/server/tls.h"
#include "proxy/server/worker.h"
#include "proxy/server/xds_loader.h"
#include "proxy/server/xds_source.h"
#include "proxy/util/clock.h"

struct fd_server {
    fd_config_t *config;
    fd_server_options_t options;
    fd_listener_runtime_t **listeners; /* one per static listener */
    fd_worker_t *workers;
    size_t n_workers;
    h2o_evloop_t *loop; /* main thread: admin and signals */
    fd_admin_t *admin;
    fd_xds_sources_t *xds; /* streams to control servers (none for a fully static config) */
    fd_cds_t *cds;         /* NULL: no cds_config */
    fd_eds_t *eds;         /* NULL: no EDS cluster and no CDS */
    fd_lds_t *lds;         /* NULL: no lds_config */
    fd_rds_t *rds;         /* NULL: no listener uses RDS */
    fd_dns_resolver_t *dns;
    h2o_socket_t *signals;
    int draining;            /* read by workers and admin */
    uint64_t drain_deadline; /* CLOCK_MONOTONIC ms */
};

fd_listener_runtime_t *fd_server_listener(fd_server_t *server, size_t listener)
{
    return server->listeners[listener];
}

fd_config_t *fd_server_config(fd_server_t *server)
{
    return server->config;
}

size_t fd_server_worker_count(fd_server_t *server)
{
    return server->n_workers;
}

fd_worker_t *fd_server_worker(fd_server_t *server, size_t index)
{
    return &server->workers[index];
}

void fd_server_seed_worker(fd_server_t *server, fd_router_worker_t *rw)
{
    fd_dns_resolver_seed(server->dns, rw);
}

int fd_server_dns_exited(fd_server_t *server)
{
    return fd_dns_resolver_exited(server->dns);
}

int fd_server_drain_expired(fd_server_t *server)
{
    return fd_monotonic_ms() >= __atomic_load_n(&server->drain_deadline, __ATOMIC_ACQUIRE);
}

static int open_sockets(fd_server_t *server, int *fds)
{
    char err[256];
    for (size_t w = 0; w < server->n_workers; w++) {
        for (size_t l = 0; l < server->config->n_listeners; l++) {
            const fd_listener_t *listener = &server->config->listeners[l];
            int fd = fd_listen_socket_open(&listener->address, err, sizeof(err));
            if (fd < 0) {
                fprintf(stderr, "frontdesk: listener '%s': %s\n", listener->name.base, err);
                return -1;
            }
            fds[w * server->config->n_listeners + l] = fd;
        }
    }
    return 0;
}

void fd_server_start_drain(fd_server_t *server)
{
    if (server->draining)
        return;
    fprintf(stderr, "frontdesk: draining (up to %u s for requests in flight)\n", server->options.drain_time_s);
    __atomic_store_n(&server->drain_deadline, fd_monotonic_ms() + (uint64_t)server->options.drain_time_s * 1000,
                     __ATOMIC_RELEASE);
    __atomic_store_n(&server->draining, 1, __ATOMIC_RELEASE);
    fd_dns_resolver_request_stop(server->dns);
    fd_xds_sources_request_stop(server->xds);
    for (size_t i = 0; i < server->n_workers; i++)
        fd_worker_request_drain(&server->workers[i]);
}

unsigned fd_server_drain_time_s(fd_server_t *server)
{
    return server->options.drain_time_s;
}

int fd_server_is_draining(fd_server_t *server)
{
    return __atomic_load_n(&server->draining, __ATOMIC_ACQUIRE);
}

fd_server_state_t fd_server_state(fd_server_t *server)
{
    if (fd_server_is_draining(server))
        return FD_SERVER_DRAINING;
    return fd_cds_ready(server->cds) && fd_eds_ready(server->eds) && fd_lds_ready(server->lds) &&
                   fd_rds_ready(server->rds)
               ? FD_SERVER_LIVE
               : FD_SERVER_INITIALIZING;
}

const char *fd_server_state_name(fd_server_state_t state)
{
    return state == FD_SERVER_LIVE ? "LIVE" : state == FD_SERVER_DRAINING ? "DRAINING" : "INITIALIZING";
}

struct fd_dns_resolver *fd_server_dns(fd_server_t *server)
{
    return server->dns;
}

struct fd_lds *fd_server_lds(fd_server_t *server)
{
    return server->lds;
}

struct fd_cds *fd_server_cds(fd_server_t *server)
{
    return server->cds;
}

struct fd_eds *fd_server_eds(fd_server_t *server)
{
    return server->eds;
}

struct fd_rds *fd_server_rds(fd_server_t *server)
{
    return server->rds;
}

struct fd_xds_sources *fd_server_xds(fd_server_t *server)
{
    return server->xds;
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    fd_server_t *server = sock->data;
    struct signalfd_siginfo info;
    if (err == NULL)
        while (read(h2o_socket_get_fd(sock), &info, sizeof(info)) == sizeof(info))
            ;
    fd_server_start_drain(server);
}

static int watch_signals(fd_server_t *server, sigset_t *mask)
{
    int fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        perror("frontdesk: signalfd");
        return -1;
    }
    h2o_socket_t *sock = h2o_evloop_socket_create(server->loop, fd, 0);
    sock->data = server;
    h2o_socket_read_start(sock, on_signal);
    server->signals = sock;
    return 0;
}

static int workers_stopped(fd_server_t *server)
{
    for (size_t i = 0; i < server->n_workers; i++)
        if (!__atomic_load_n(&server->workers[i].stopped, __ATOMIC_ACQUIRE))
            return 0;
    return 1;
}

static int start_workers(fd_server_t *server)
{
    size_t n_fds = server->n_workers * server->config->n_listeners;
    int *fds = calloc(n_fds ? n_fds : 1, sizeof(*fds));
    if (fds == NULL || open_sockets(server, fds) != 0) {
        free(fds);
        return -1;
    }
    for (size_t i = 0; i < server->n_workers; i++)
        if (fd_worker_start(&server->workers[i], server, i, fds + i * server->config->n_listeners) != 0) {
            free(fds);
            return -1;
        }
    free(fds);
    return 0;
}

static void dispose_server(fd_server_t *server)
{
    if (server->admin != NULL)
        fd_admin_stop(server->admin);
    h2o_socket_close(server->signals);
    for (int i = 0; i < 3; i++) /* let the deferred closes run before the loop goes */
        h2o_evloop_run(server->loop, 0);
    h2o_evloop_destroy(server->loop);
    free(server->workers);
}

static int names(const fd_string_t *name, const fd_string_t *cluster)
{
    return name->len != 0 && name->len == cluster->len && memcmp(name->base, cluster->base, name->len) == 0;
}

/* A cluster of a control server (for gRPC core, which speaks HTTP/2 itself), not of routes. */
static int is_control_plane(const fd_config_t *config, const fd_cluster_t *cluster)
{
    if (names(&config->ads.cluster, &cluster->name) || names(&config->cds.cluster, &cluster->name) ||
        names(&config->lds.cluster, &cluster->name))
        return 1;
    for (size_t c = 0; c < config->n_clusters; c++)
        if (config->clusters[c].type == FD_DISCOVERY_EDS &&
            names(&config->clusters[c].eds_config.cluster, &cluster->name))
            return 1;
    return 0;
}

/* What validates but cannot be served yet is refused at start, by name: serving it
 * partly (plaintext to a TLS upstream, a cluster without its hosts) would be worse. */
static int check_servable(const fd_config_t *config)
{
    int ok = 1;
    for (size_t c = 0; c < config->n_clusters; c++) {
        const fd_cluster_t *cluster = &config->clusters[c];
        if (cluster->tls != NULL ||
            (!is_control_plane(config, cluster) &&
             (cluster->protocol == FD_UPSTREAM_HTTP2 || cluster->protocol == FD_UPSTREAM_DOWNSTREAM))) {
            fprintf(stderr, "frontdesk: cluster '%s': upstream %s cannot be served yet\n", cluster->name.base,
                    cluster->tls != NULL ? "TLS" : "HTTP/2");
            ok = 0;
        }
    }
    return ok ? 0 : -1;
}

int fd_server_run(fd_config_t *config, const fd_server_options_t *options)
{
    if (check_servable(config) != 0)
        return 1;
    /* before anything is allocated: a missing library is a clean refusal */
    fd_xds_client_api_t xds_client = {0};
    char xds_error[1024];
    int xds_needed = fd_xds_needed(config);
    if (xds_needed && fd_xds_client_load(&xds_client, xds_error, sizeof(xds_error)) != 0) {
        fprintf(stderr, "frontdesk: %s\n", xds_error);
        return 1;
    }
    fd_server_t server = {.config = config, .options = *options, .drain_deadline = UINT64_MAX};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    server.n_workers = options->concurrency ? options->concurrency : (cores > 0 ? (size_t)cores : 1);
    server.listeners = calloc(config->n_listeners ? config->n_listeners : 1, sizeof(*server.listeners));
    server.workers = calloc(server.n_workers, sizeof(*server.workers));
    if (server.listeners == NULL || server.workers == NULL)
        abort();
    if (fd_access_log_start(NULL) != 0)
        return 1;
    for (size_t i = 0; i < config->n_listeners; i++) {
        char err[512];
        if ((server.listeners[i] = fd_listener_runtime_new(config, &config->listeners[i], err, sizeof(err))) == NULL) {
            fprintf(stderr, "frontdesk: listener '%s': %s\n", config->listeners[i].name.base, err);
            return 1;
        }
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* workers inherit the mask: only main reads signals */
    signal(SIGPIPE, SIG_IGN);
    server.loop = h2o_evloop_create();
    if (watch_signals(&server, &mask) != 0)
        return 1;
    if (config->has_admin &&
        (server.admin = fd_admin_start(&server, server.loop, config, json_incref(options->bootstrap_json))) == NULL)
        return 1;
    server.dns = fd_dns_resolver_create(&server, config);
    /* xDS answers are applied from this loop, so none reaches a worker before it starts */
    /* a static config makes no stream, no queue: nothing of xDS at start-up */
    /* CDS first: on the ADS stream, clusters are asked for before endpoints, as Envoy does */
    if (xds_needed && ((server.xds = fd_xds_sources_new(server.loop, config, &xds_client)) == NULL ||
                       fd_cds_start(&server, server.xds, server.loop, config, &server.cds) != 0 ||
                       fd_eds_start(&server, server.xds, server.loop, config, &server.eds) != 0 ||
                       fd_lds_start(&server, server.xds, server.loop, config, options->filters, &server.lds) != 0 ||
                       fd_rds_start(&server, server.xds, server.loop, config, options->filters, &server.rds) != 0 ||
                       fd_xds_sources_start(server.xds) != 0)) {
        fd_xds_sources_free(server.xds);
        fd_cds_free(server.cds);
        fd_eds_free(server.eds);
        fd_lds_free(server.lds);
        fd_rds_free(server.rds);
        return 1;
    }
    if (server.lds != NULL) /* a listener warms until its routes are in */
        fd_rds_on_received(server.rds, fd_lds_on_routes, server.lds);
    if (start_workers(&server) != 0 || fd_dns_resolver_start(server.dns) != 0)
        return 1;
    fprintf(stderr, "frontdesk: serving %zu listener(s) on %zu worker(s)\n", config->n_listeners, server.n_workers);
    int accepting = fd_server_state(&server) == FD_SERVER_LIVE; /* workers started accepting */
    int listeners_asked = server.lds == NULL || !config->cds.present;
    while (!server.draining || !workers_stopped(&server)) {
        h2o_evloop_run(server.loop, server.draining ? 10 : INT32_MAX);
        if (!listeners_asked && fd_cds_ready(server.cds) && fd_eds_ready(server.eds)) {
            listeners_asked = 1;
            fd_lds_begin(server.lds); /* listeners after the first clusters, as in Envoy */
            fd_xds_sources_flush(server.xds);
        }
        if (!accepting && fd_server_state(&server) == FD_SERVER_LIVE) { /* warm: EDS and RDS are in */
            accepting = 1;
            for (size_t i = 0; i < server.n_workers; i++)
                fd_worker_start_accepting(&server.workers[i]);
        }
    }
    for (size_t i = 0; i < server.n_workers; i++)
        fd_worker_join(&server.workers[i]);
    fd_dns_resolver_stop(server.dns);
    fd_xds_sources_free(server.xds);
    fd_cds_free(server.cds);
    fd_eds_free(server.eds);
    fd_lds_free(server.lds);
    fd_rds_free(server.rds);
    dispose_server(&server);
    fd_access_log_stop(); /* writes what the workers handed over */
    for (size_t i = 0; i < config->n_listeners; i++)
        fd_listener_runtime_release(server.listeners[i]);
    free(server.listeners);
    fprintf(stderr, "frontdesk: drained, exiting\n");
    return 0;
}
