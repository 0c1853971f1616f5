/* The worker thread: accepts on its own sockets, runs h2o's HTTP/1.1 and HTTP/2 on its
 * own loop, and drains when the main thread asks. See worker.h. */
#include "proxy/server/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/accesslog/access_log.h"
#include "proxy/server/accept.h"
#include "proxy/server/listener_runtime.h"
#include "proxy/server/server.h"

#define ACCEPTS_PER_WAKEUP 16
#define DRAIN_IDLE_TIMEOUT_MS 1000

typedef struct control_message {
    h2o_multithread_message_t super;
    enum {
        CONTROL_DRAIN,
        CONTROL_HOSTS,
        CONTROL_ROUTES,
        CONTROL_ACCEPT,
        CONTROL_CLUSTER,
        CONTROL_CLUSTER_REMOVE,
        CONTROL_LISTENER,
        CONTROL_LISTENER_REMOVE,
    } kind;
    struct fd_listener_runtime *runtime; /* CONTROL_LISTENER, with the worker's socket fd */
    int fd;
    size_t cluster; /* CONTROL_HOSTS: the static cluster's new addresses (name NULL) */
    char *name;     /* CONTROL_ROUTES: the route_config_name; CONTROL_HOSTS and CONTROL_CLUSTER_REMOVE: a CDS cluster */
    fd_config_t *arena;
    const fd_route_table_t *table;      /* CONTROL_ROUTES */
    const fd_cluster_t *cluster_config; /* CONTROL_CLUSTER, with its addresses */
    size_t n_addresses;
    fd_router_address_t addresses[];
} control_message_t;

static void on_connection_closed(void *data)
{
    fd_worker_listener_t *wl = data;
    wl->worker->connections--;
    wl->connections--;
    FD_STAT_DEC(wl->stats.downstream_cx_active);
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void start_accepting_on(fd_worker_listener_t *wl)
{
    if (wl->sock != NULL && !wl->accepting) {
        wl->accepting = 1;
        h2o_socket_read_start(wl->sock, on_accept);
    }
}

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    fd_worker_listener_t *wl = H2O_STRUCT_FROM_MEMBER(fd_worker_listener_t, accept_pause, entry);
    if (wl->sock != NULL)
        h2o_socket_read_start(wl->sock, on_accept);
}

/* Out of file descriptors or memory: stop accepting for 100 ms instead of spinning. */
static void pause_accepting(fd_worker_listener_t *wl)
{
    if (h2o_timeout_is_linked(&wl->accept_pause))
        return;
    h2o_socket_read_stop(wl->sock);
    wl->accept_pause.cb = on_accept_resume;
    h2o_timeout_link(wl->ctx.loop, &wl->ctx.hundred_ms_timeout, &wl->accept_pause);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    fd_worker_listener_t *wl = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(wl); /* the listener stays readable: retrying at once would spin */
            break;
        }
        /* h2o leaves on_close of accepted sockets to the application: it counts connections */
        sock->on_close.cb = on_connection_closed;
        sock->on_close.data = wl;
        wl->worker->connections++;
        wl->connections++;
        FD_STAT_INC(wl->stats.downstream_cx_total);
        FD_STAT_INC(wl->stats.downstream_cx_active);
        fd_accept_connection(wl, sock);
    }
}

void fd_worker_listener_stop(fd_worker_listener_t *wl, int close_idle)
{
    if (h2o_timeout_is_linked(&wl->accept_pause))
        h2o_timeout_unlink(&wl->accept_pause);
    if (wl->sock != NULL) {
        h2o_socket_read_stop(wl->sock);
        h2o_socket_close(wl->sock);
        wl->sock = NULL;
    }
    h2o_context_request_shutdown(&wl->ctx);
    if (close_idle)
        fd_http1_close_idle(&wl->http1); /* the others close once their request is answered */
    wl->http1.keep_alive_while_draining = !close_idle;
    /* h2o 2.2 has no call to close idle connections: shorten their idle timers instead, so
     * keep-alive connections idle since before the drain close within a second. */
    if (wl->ctx.http1.req_timeout.timeout > DRAIN_IDLE_TIMEOUT_MS)
        wl->ctx.http1.req_timeout.timeout = DRAIN_IDLE_TIMEOUT_MS;
    if (wl->ctx.http2.idle_timeout.timeout > DRAIN_IDLE_TIMEOUT_MS)
        wl->ctx.http2.idle_timeout.timeout = DRAIN_IDLE_TIMEOUT_MS;
}

static void stop_accepting(fd_worker_t *worker)
{
    for (size_t i = 0; i < worker->n_listeners; i++)
        fd_worker_listener_stop(worker->listeners[i], 1);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    fd_worker_t *worker = H2O_STRUCT_FROM_MEMBER(fd_worker_t, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        control_message_t *msg = H2O_STRUCT_FROM_MEMBER(control_message_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        if (msg->kind == CONTROL_DRAIN && !worker->draining) {
            worker->draining = 1;
            stop_accepting(worker);
        } else if (msg->kind == CONTROL_HOSTS && msg->name == NULL) {
            fd_router_update_hosts(&worker->router, msg->cluster, msg->addresses, msg->n_addresses);
        } else if (msg->kind == CONTROL_HOSTS) {
            fd_router_update_cluster_hosts(&worker->router, msg->name, msg->addresses, msg->n_addresses);
        } else if (msg->kind == CONTROL_CLUSTER) {
            fd_router_set_cluster(&worker->router, msg->arena, msg->cluster_config, msg->addresses, msg->n_addresses);
        } else if (msg->kind == CONTROL_CLUSTER_REMOVE) {
            fd_router_remove_cluster(&worker->router, msg->name);
        } else if (msg->kind == CONTROL_ACCEPT && !worker->draining) {
            worker->accepting = 1;
            for (size_t i = 0; i < worker->n_listeners; i++)
                start_accepting_on(worker->listeners[i]);
        } else if (msg->kind == CONTROL_LISTENER) {
            fd_worker_listeners_add(worker, msg->runtime, msg->fd);
        } else if (msg->kind == CONTROL_LISTENER_REMOVE) {
            fd_worker_listeners_remove(worker, msg->name);
        } else if (msg->kind == CONTROL_ROUTES) {
            fd_worker_routes_update(worker, msg->name, msg->arena, msg->table);
        }
        free(msg->name);
        free(msg);
    }
}

fd_worker_listener_t *fd_worker_listener_new(fd_worker_t *worker, fd_listener_runtime_t *runtime, int fd)
{
    fd_worker_listener_t *wl = calloc(1, sizeof(*wl));
    if (wl == NULL)
        abort();
    wl->worker = worker;
    wl->runtime = runtime;
    wl->fd = fd;
    h2o_context_init(&wl->ctx, worker->loop, &runtime->globalconf);
    wl->accept_ctx.ctx = &wl->ctx;
    wl->accept_ctx.hosts = wl->ctx.globalconf->hosts;
    wl->accept_ctx.ssl_ctx = runtime->tls.base;
    fd_http1_listener_init(&wl->http1, &wl->accept_ctx, &fd_listener_first_chain(runtime->listener)->http,
                           FD_MAX_REQUEST_BODY_BYTES);
    wl->sock = h2o_evloop_socket_create(worker->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    wl->sock->data = wl;
    /* until the config is warm (EDS, RDS), connections wait in the backlog, as with Envoy */
    if (worker->accepting && !worker->draining)
        start_accepting_on(wl);
    return wl;
}

void fd_worker_listener_dispose(fd_worker_listener_t *wl)
{
    h2o_context_t *ctx = &wl->ctx;
    if (h2o_timeout_is_linked(&wl->accept_pause))
        h2o_timeout_unlink(&wl->accept_pause);
    if (wl->sock != NULL)
        h2o_socket_close(wl->sock);
    /* h2o_context_request_shutdown armed HTTP/2's graceful-shutdown timer; no connection is left */
    if (h2o_timeout_is_linked(&ctx->http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx->http2._graceful_shutdown_timeout);
    fd_http1_listener_dispose(&wl->http1);
    h2o_context_dispose(ctx);
    wl->disposed = 1;
}

/* Everything the worker made, in reverse: the loop's objects belong to this thread. */
static void dispose_worker(fd_worker_t *worker)
{
    for (int i = 0; i < 3; i++) /* let deferred closes and zero-delay timers run first */
        h2o_evloop_run(worker->loop, 0);
    for (size_t i = 0; i < worker->n_listeners; i++)
        fd_worker_listener_dispose(worker->listeners[i]);
    fd_worker_listeners_dispose_sweep(worker);
    fd_router_worker_dispose(&worker->router);
    fd_loop_timers_dispose(&worker->timers);
    fd_worker_routes_dispose(worker);
    h2o_multithread_unregister_receiver(worker->queue, &worker->control);
    h2o_multithread_destroy_queue(worker->queue);
    fd_config_release(worker->config);
    for (int i = 0; i < 3; i++) /* the queues' sockets close on the next turns of the loop */
        h2o_evloop_run(worker->loop, 0);
    h2o_evloop_destroy(worker->loop);
}

/* The queue's socket reads into buffers from the thread-local h2o allocator of the thread that
 * made it: this one, not the main thread, whose allocator is not ours to share. */
static void make_queue(fd_worker_t *worker)
{
    if (fd_loop_timers_init(&worker->timers, worker->loop) != 0) /* before any request can come */
        perror("frontdesk: timerfd_create");
    worker->queue = h2o_multithread_create_queue(worker->loop);
    h2o_multithread_register_receiver(worker->queue, &worker->control, on_control);
    sem_post(&worker->queue_made);
}

static void *worker_main(void *arg)
{
    fd_worker_t *worker = arg;
    make_queue(worker);
    worker->access_log = fd_access_log_worker_new();
    /* After drain starts, run until every connection is gone (or the drain time is up): h2o
     * closes idle keep-alive connections and answers with "connection: close" meanwhile. */
    while (!worker->draining || worker->requests_in_flight != 0 || worker->connections != 0 ||
           !fd_server_dns_exited(worker->server)) {
        h2o_evloop_run(worker->loop, worker->draining ? 10 : INT32_MAX);
        if (worker->draining && fd_server_drain_expired(worker->server))
            break;
    }
    /* Cut off by the drain deadline, live connections and requests still point into all the
     * worker owns, and disposing it runs their callbacks: leave them to the process exit, which
     * closes them, as Envoy's does. */
    if (worker->requests_in_flight == 0 && worker->connections == 0)
        dispose_worker(worker);
    fd_access_log_worker_free(worker->access_log); /* hands its last lines to the logger thread */
    __atomic_store_n(&worker->stopped, 1, __ATOMIC_RELEASE);
    return NULL;
}

int fd_worker_start(fd_worker_t *worker, struct fd_server *server, size_t index, const int *listen_fds)
{
    worker->server = server;
    worker->index = index;
    worker->config = fd_server_config(server);
    fd_config_retain(worker->config);
    worker->accepting = fd_server_state(server) == FD_SERVER_LIVE;
    pthread_mutex_init(&worker->listeners_lock, NULL);
    worker->loop = h2o_evloop_create();
    fd_router_worker_init(&worker->router, worker->loop, worker->config);
    fd_worker_routes_init(worker);
    worker->n_listeners = worker->config->n_listeners;
    worker->listeners = calloc(worker->n_listeners ? worker->n_listeners : 1, sizeof(*worker->listeners));
    if (worker->listeners == NULL)
        abort();
    for (size_t i = 0; i < worker->n_listeners; i++) {
        fd_listener_runtime_t *runtime = fd_server_listener(server, i);
        fd_listener_runtime_retain(runtime);
        worker->listeners[i] = fd_worker_listener_new(worker, runtime, listen_fds[i]);
    }
    fd_server_seed_worker(server, &worker->router);
    sem_init(&worker->queue_made, 0, 0);
    if (pthread_create(&worker->thread, NULL, worker_main, worker) != 0) {
        perror("frontdesk: pthread_create");
        return -1;
    }
    while (sem_wait(&worker->queue_made) != 0) /* messages may be sent as soon as this returns */
        ;
    sem_destroy(&worker->queue_made);
    return 0;
}

/* A message of kind for the worker, with a copy of name (may be NULL) and of n addresses;
 * sent by send_control. */
static control_message_t *new_control(int kind, const char *name, const fd_router_address_t *addresses, size_t n)
{
    control_message_t *msg = calloc(1, sizeof(*msg) + n * sizeof(fd_router_address_t));
    if (msg == NULL || (name != NULL && (msg->name = strdup(name)) == NULL))
        abort();
    msg->kind = kind;
    msg->n_addresses = n;
    if (n != 0)
        memcpy(msg->addresses, addresses, n * sizeof(*addresses));
    return msg;
}

static void send_control(fd_worker_t *worker, control_message_t *msg)
{
    h2o_multithread_send_message(&worker->control, &msg->super);
}

void fd_worker_start_accepting(fd_worker_t *worker)
{
    send_control(worker, new_control(CONTROL_ACCEPT, NULL, NULL, 0));
}

void fd_worker_request_drain(fd_worker_t *worker)
{
    send_control(worker, new_control(CONTROL_DRAIN, NULL, NULL, 0));
}

void fd_worker_send_hosts(fd_worker_t *worker, size_t cluster, const fd_router_address_t *addresses, size_t n)
{
    control_message_t *msg = new_control(CONTROL_HOSTS, NULL, addresses, n);
    msg->cluster = cluster;
    send_control(worker, msg);
}

void fd_worker_send_cluster_hosts(fd_worker_t *worker, const char *name, const fd_router_address_t *addresses, size_t n)
{
    send_control(worker, new_control(CONTROL_HOSTS, name, addresses, n));
}

void fd_worker_send_cluster(fd_worker_t *worker, fd_config_t *arena, const fd_cluster_t *cluster,
                            const fd_router_address_t *addresses, size_t n)
{
    control_message_t *msg = new_control(CONTROL_CLUSTER, NULL, addresses, n);
    msg->arena = arena;
    msg->cluster_config = cluster;
    send_control(worker, msg);
}

void fd_worker_send_cluster_removal(fd_worker_t *worker, const char *name)
{
    send_control(worker, new_control(CONTROL_CLUSTER_REMOVE, name, NULL, 0));
}

void fd_worker_send_listener(fd_worker_t *worker, struct fd_listener_runtime *runtime, int fd)
{
    control_message_t *msg = new_control(CONTROL_LISTENER, NULL, NULL, 0);
    msg->runtime = runtime;
    msg->fd = fd;
    send_control(worker, msg);
}

void fd_worker_send_listener_removal(fd_worker_t *worker, const char *name)
{
    send_control(worker, new_control(CONTROL_LISTENER_REMOVE, name, NULL, 0));
}

void fd_worker_send_routes(fd_worker_t *worker, const char *name, fd_config_t *arena, const fd_route_table_t *table)
{
    control_message_t *msg = new_control(CONTROL_ROUTES, name, NULL, 0);
    msg->arena = arena;
    msg->table = table;
    send_control(worker, msg);
}

void fd_worker_join(fd_worker_t *worker)
{
    pthread_join(worker->thread, NULL);
    /* not in dispose_worker: the admin reads their stats until now */
    pthread_mutex_lock(&worker->listeners_lock);
    for (size_t i = 0; i < worker->n_listeners; i++) {
        if (worker->listeners[i]->disposed) /* else cut off by the drain deadline: left to the exit */
            fd_listener_runtime_release(worker->listeners[i]->runtime);
        free(worker->listeners[i]);
    }
    free(worker->listeners);
    worker->listeners = NULL;
    worker->n_listeners = 0;
    for (size_t i = 0; i < worker->n_retired_stats; i++)
        free(worker->retired_stats[i].prefix);
    free(worker->retired_stats);
    worker->retired_stats = NULL;
    worker->n_retired_stats = 0;
    pthread_mutex_unlock(&worker->listeners_lock);
}
