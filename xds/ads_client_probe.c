/* A test driver for the ADS client (tests/e2e/xds_client.test.mjs): connects to a control
 * server, subscribes, prints one line per event on stdout, ACKs or NACKs each response (at
 * once, or later from the main thread with --defer), takes "subscribe TYPE [NAME...]" lines
 * on stdin, and exits after --max-responses responses or on SIGTERM/SIGINT.
 *
 * stdout: "response type=T version=V nonce=N resources=K verdict=ack|nack",
 *         "stream up", "stream down status=S message=M", "exit". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "xds/ads_client.h"

#define MAX_ITEMS 64

typedef struct verdict {
    struct verdict *next;
    char *type_url, *version, *nonce;
    int nack;
} verdict_t;

static struct {
    const char *nack_versions[MAX_ITEMS];
    size_t n_nack_versions;
    int defer;
    long max_responses;
    int wake_fd[2]; /* the client thread tells the main thread: a verdict or a response */
    pthread_mutex_t mu;
    long responses;
    verdict_t *verdicts, *verdicts_tail;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* One whole line on stdout, whichever thread prints it. */
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout);
    vprintf(fmt, ap);
    fflush(stdout);
    funlockfile(stdout);
    va_end(ap);
}

static const char *type_alias(const char *t)
{
    if (strcmp(t, "lds") == 0)
        return FD_ADS_TYPE_LISTENER;
    if (strcmp(t, "rds") == 0)
        return FD_ADS_TYPE_ROUTE;
    if (strcmp(t, "cds") == 0)
        return FD_ADS_TYPE_CLUSTER;
    if (strcmp(t, "eds") == 0)
        return FD_ADS_TYPE_ENDPOINT;
    return t;
}

static int wants_nack(const char *version)
{
    for (size_t i = 0; i < g.n_nack_versions; i++)
        if (strcmp(g.nack_versions[i], version) == 0)
            return 1;
    return 0;
}

static void notify_main(void)
{
    char byte = 1;
    while (write(g.wake_fd[1], &byte, 1) < 0 && errno == EINTR) {
    }
}

static void queue_verdict(const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, int nack)
{
    verdict_t *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->type_url = strdup(resp->type_url)) == NULL ||
        (v->version = strdup(resp->version_info)) == NULL || (v->nonce = strdup(resp->nonce)) == NULL) {
        perror("ads_client_probe");
        exit(2);
    }
    v->nack = nack;
    if (g.verdicts_tail != NULL)
        g.verdicts_tail->next = v;
    else
        g.verdicts = v;
    g.verdicts_tail = v;
}

static int on_response(void *ctx, const Envoy__Service__Discovery__V3__DiscoveryResponse *resp, char *error_detail,
                       size_t error_len)
{
    (void)ctx;
    int nack = wants_nack(resp->version_info);
    say("response type=%s version=%s nonce=%s resources=%zu verdict=%s\n", resp->type_url, resp->version_info,
        resp->nonce, resp->n_resources, nack ? "nack" : "ack");
    pthread_mutex_lock(&g.mu);
    g.responses++;
    if (g.defer)
        queue_verdict(resp, nack);
    pthread_mutex_unlock(&g.mu);
    notify_main();
    if (g.defer)
        return FD_ADS_PENDING;
    if (nack)
        snprintf(error_detail, error_len, "probe rejects version %s", resp->version_info);
    return nack ? FD_ADS_NACK : FD_ADS_ACK;
}

static void on_stream(void *ctx, int connected, int grpc_status, const char *message)
{
    (void)ctx;
    if (connected)
        say("stream up\n");
    else
        say("stream down status=%d message=%s\n", grpc_status, message);
}

/* Sends the verdicts queued by on_response (--defer), from this thread; client NULL: frees them. */
static void send_verdicts(fd_ads_client_t *client)
{
    pthread_mutex_lock(&g.mu);
    verdict_t *v = g.verdicts;
    g.verdicts = g.verdicts_tail = NULL;
    pthread_mutex_unlock(&g.mu);
    while (v != NULL) {
        verdict_t *next = v->next;
        char why[256];
        snprintf(why, sizeof(why), "probe rejects version %s", v->version);
        if (client != NULL && v->nack)
            fd_ads_client_nack(client, v->type_url, v->nonce, why);
        else if (client != NULL)
            fd_ads_client_ack(client, v->type_url, v->version, v->nonce);
        free(v->type_url);
        free(v->version);
        free(v->nonce);
        free(v);
        v = next;
    }
}

/* "TYPE[=NAME,NAME...]" or a stdin line "subscribe TYPE [NAME...]" (sep is ',' or ' '). */
static int subscribe_spec(fd_ads_client_t *client, char *spec, const char *sep)
{
    const char *names[MAX_ITEMS];
    size_t n = 0;
    char *save = NULL, *type = strtok_r(spec, *sep == ',' ? "=" : " \n", &save);
    if (type == NULL)
        return -1;
    for (char *name; n < MAX_ITEMS && (name = strtok_r(NULL, *sep == ',' ? ",\n" : " \n", &save)) != NULL;)
        names[n++] = name;
    return fd_ads_client_subscribe(client, type_alias(type), names, n);
}

/* Reads what stdin has (it is readable) and runs each complete line. */
static void read_commands(fd_ads_client_t *client, int *stdin_open)
{
    static char buf[8192];
    static size_t len;
    ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
    if (n <= 0) {
        *stdin_open = n < 0 && errno == EINTR;
        return;
    }
    len += (size_t)n;
    buf[len] = '\0';
    char *line = buf, *end;
    while ((end = strchr(line, '\n')) != NULL) {
        *end = '\0';
        if (strncmp(line, "subscribe ", 10) == 0 && subscribe_spec(client, line + 10, " ") == 0)
            say("subscribed\n");
        else
            say("bad command: %s\n", line);
        line = end + 1;
    }
    len -= (size_t)(line - buf);
    memmove(buf, line, len);
    if (len == sizeof(buf) - 1)
        len = 0; /* a line too long: dropped */
}

static int done(void)
{
    pthread_mutex_lock(&g.mu);
    int reached = g.max_responses > 0 && g.responses >= g.max_responses;
    pthread_mutex_unlock(&g.mu);
    return reached;
}

/* Until a signal or --max-responses: verdicts, stdin commands. */
static void main_loop(fd_ads_client_t *client, int sig_fd)
{
    int stdin_open = 1;
    while (!done()) {
        struct pollfd fds[3] = {{.fd = sig_fd, .events = POLLIN},
                                {.fd = g.wake_fd[0], .events = POLLIN},
                                {.fd = stdin_open ? 0 : -1, .events = POLLIN}};
        if (poll(fds, 3, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (fds[1].revents) {
            char buf[64];
            while (read(g.wake_fd[0], buf, sizeof(buf)) > 0) {
            }
            send_verdicts(client);
        }
        if (fds[2].revents)
            read_commands(client, &stdin_open);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ads_client_probe --target HOST:PORT [--method /SERVICE/METHOD] [--node-id ID] [--node-cluster C]\n"
            "  [--subscribe TYPE[=NAME,...]]... (TYPE: lds rds cds eds or a type URL; default cds)\n"
            "  [--nack-version V]... [--defer] [--max-responses N] [--node-every-request]\n"
            "  [--backoff-base-ms N] [--backoff-max-ms N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    fd_ads_options_t opts = {.on_response = on_response, .on_stream = on_stream};
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    char *subs[MAX_ITEMS];
    size_t n_subs = 0;
    node.id = "probe";
    node.user_agent_version_type_case = ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = "probe";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--defer") == 0)
            g.defer = 1;
        else if (strcmp(a, "--node-every-request") == 0)
            opts.node_on_every_request = 1;
        else if (v == NULL)
            usage();
        else if (strcmp(a, "--target") == 0)
            opts.target = v;
        else if (strcmp(a, "--method") == 0)
            opts.method = v;
        else if (strcmp(a, "--node-id") == 0)
            node.id = (char *)v;
        else if (strcmp(a, "--node-cluster") == 0)
            node.cluster = (char *)v;
        else if (strcmp(a, "--subscribe") == 0 && n_subs < MAX_ITEMS)
            subs[n_subs++] = argv[i + 1];
        else if (strcmp(a, "--nack-version") == 0 && g.n_nack_versions < MAX_ITEMS)
            g.nack_versions[g.n_nack_versions++] = v;
        else if (strcmp(a, "--max-responses") == 0)
            g.max_responses = atol(v);
        else if (strcmp(a, "--backoff-base-ms") == 0)
            opts.backoff_base_ms = (uint32_t)atol(v);
        else if (strcmp(a, "--backoff-max-ms") == 0)
            opts.backoff_max_ms = (uint32_t)atol(v);
        else
            usage();
        i += strcmp(a, "--defer") != 0 && strcmp(a, "--node-every-request") != 0;
    }
    if (opts.target == NULL)
        usage();
    opts.node = &node;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sig_fd < 0 || pipe2(g.wake_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        perror("ads_client_probe");
        return 2;
    }
    fd_ads_client_t *client = fd_ads_client_start(&opts);
    if (client == NULL)
        return 1;
    char cds[] = "cds";
    if (n_subs == 0)
        subs[n_subs++] = cds;
    for (size_t i = 0; i < n_subs; i++)
        subscribe_spec(client, subs[i], ",");
    main_loop(client, sig_fd);
    fd_ads_client_stop(client);
    send_verdicts(NULL); /* nothing is sent: frees what is left */
    say("exit\n");
    close(sig_fd);
    close(g.wake_fd[0]);
    close(g.wake_fd[1]);
    return 0;
}
