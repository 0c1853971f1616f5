/* frontdesk's process entry: Envoy's command line (-c, --config-yaml, --mode,
 * --concurrency, -l, --service-node, --service-cluster, --drain-time-s), then
 * either validate the configuration and exit, or serve it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/bootstrap_load.h"
#include "proxy/config/pb_json.h"
#include "proxy/config/translate.h"
#include "proxy/http/filter_chain.h"
#include "proxy/server/server.h"
#include "proxy/version.h"

typedef struct options {
    const char *config_path;
    const char *config_yaml;
    const char *mode;
    const char *log_level;
    const char *service_node;
    const char *service_cluster;
    unsigned concurrency;
    unsigned drain_time_s;
    int print_config;
    const char **plugins; /* --plugin, in order */
    size_t n_plugins;
} options_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: frontdesk [options]\n"
                 "\n"
                 "  -c, --config-path FILE      Envoy v3 bootstrap (YAML, JSON, or binary .pb)\n"
                 "      --config-yaml YAML      bootstrap YAML merged over -c (as Envoy does)\n"
                 "      --mode serve|validate   validate: check the whole configuration and exit\n"
                 "      --concurrency N         worker threads (default: number of cores)\n"
                 "  -l, --log-level LEVEL       trace, debug, info, warning, error, critical, off\n"
                 "      --service-node ID       node id sent to the control server\n"
                 "      --service-cluster NAME  node cluster sent to the control server\n"
                 "      --drain-time-s N        seconds to drain connections on shutdown (default 600)\n"
                 "      --plugin FILE.so        load HTTP filter plugins (filters/fd_filter.h); repeatable\n"
                 "      --print-config          with --mode validate: print the loaded config as JSON\n"
                 "      --version               print the version and exit\n"
                 "  -h, --help                  print this help and exit\n");
}

static int parse_unsigned(const char *flag, const char *text, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (end == text || *end != '\0' || v > 1000000) {
        fprintf(stderr, "frontdesk: %s takes a non-negative integer, got '%s'\n", flag, text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* Returns 0 to continue, 1 to exit successfully (help, version), -1 on a usage error. */
static int parse_options(int argc, char **argv, options_t *opts)
{
    enum {
        OPT_CONFIG_YAML = 256,
        OPT_MODE,
        OPT_CONCURRENCY,
        OPT_NODE,
        OPT_CLUSTER,
        OPT_DRAIN,
        OPT_VERSION,
        OPT_PRINT,
        OPT_PLUGIN
    };
    static const struct option longopts[] = {
        {"config-path", required_argument, NULL, 'c'},
        {"config-yaml", required_argument, NULL, OPT_CONFIG_YAML},
        {"mode", required_argument, NULL, OPT_MODE},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"log-level", required_argument, NULL, 'l'},
        {"service-node", required_argument, NULL, OPT_NODE},
        {"service-cluster", required_argument, NULL, OPT_CLUSTER},
        {"drain-time-s", required_argument, NULL, OPT_DRAIN},
        {"print-config", no_argument, NULL, OPT_PRINT},
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:l:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': opts->config_path = optarg; break;
        case OPT_CONFIG_YAML: opts->config_yaml = optarg; break;
        case OPT_MODE: opts->mode = optarg; break;
        case 'l': opts->log_level = optarg; break;
        case OPT_NODE: opts->service_node = optarg; break;
        case OPT_CLUSTER: opts->service_cluster = optarg; break;
        case OPT_PRINT: opts->print_config = 1; break;
        case OPT_PLUGIN:
            opts->plugins = realloc(opts->plugins, (opts->n_plugins + 1) * sizeof(*opts->plugins));
            if (opts->plugins == NULL)
                abort();
            opts->plugins[opts->n_plugins++] = optarg;
            break;
        case OPT_CONCURRENCY:
            if (parse_unsigned("--concurrency", optarg, &opts->concurrency) != 0)
                return -1;
            break;
        case OPT_DRAIN:
            if (parse_unsigned("--drain-time-s", optarg, &opts->drain_time_s) != 0)
                return -1;
            break;
        case OPT_VERSION: printf("frontdesk version %s\n", FD_VERSION); return 1;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "frontdesk: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (strcmp(opts->mode, "serve") != 0 && strcmp(opts->mode, "validate") != 0) {
        fprintf(stderr, "frontdesk: --mode must be 'serve' or 'validate', got '%s'\n", opts->mode);
        return -1;
    }
    if (opts->config_path == NULL && opts->config_yaml == NULL) {
        fprintf(stderr, "frontdesk: no configuration: give -c FILE and/or --config-yaml YAML\n");
        return -1;
    }
    return 0;
}

static void print_errors(fd_cfg_errors_t *errs)
{
    fd_cfg_errors_sort(errs);
    char *text = fd_cfg_errors_join(errs);
    fprintf(stderr, "%s\n", text);
    free(text);
}

static const char *config_name(const options_t *opts)
{
    return opts->config_path ? opts->config_path : "--config-yaml";
}

/* Loads and translates the bootstrap; on failure prints every error, then "<prefix>configuration
 * '...' is invalid", and returns NULL. On success bootstrap is the caller's to dispose. */
static fd_config_t *load_config(const options_t *opts, const char *prefix, const fd_filter_registry_t *filters,
                                fd_bootstrap_t *bootstrap)
{
    fd_cfg_errors_t errs = {0};
    fd_config_t *config = NULL;
    if (fd_bootstrap_load(bootstrap, opts->config_path, opts->config_yaml, &errs) == 0 &&
        (config = fd_translate_bootstrap(bootstrap->config, &bootstrap->source, filters, &errs)) == NULL)
        fd_bootstrap_dispose(bootstrap);
    if (config == NULL) {
        print_errors(&errs);
        fprintf(stderr, "%sconfiguration '%s' is invalid\n", prefix, config_name(opts));
    }
    fd_cfg_errors_clear(&errs);
    /* as Envoy: the command line names the node over the bootstrap (the strings outlive config) */
    if (config != NULL && opts->service_node != NULL)
        config->node_id = (fd_string_t){opts->service_node, strlen(opts->service_node)};
    if (config != NULL && opts->service_cluster != NULL)
        config->node_cluster = (fd_string_t){opts->service_cluster, strlen(opts->service_cluster)};
    return config;
}

/* The filters there are: the plugins given, in order; NULL (with a message) if one does not load. */
static fd_filter_registry_t *load_filters(const options_t *opts, const char *prefix)
{
    fd_filter_registry_t *registry = fd_filter_registry_new(fd_filter_api());
    for (size_t i = 0; i < opts->n_plugins; i++) {
        char error[1024];
        if (fd_filter_registry_load_plugin(registry, opts->plugins[i], error, sizeof(error)) != 0) {
            fprintf(stderr, "%s%s\n", prefix, error);
            fd_filter_registry_free(registry);
            return NULL;
        }
    }
    return registry;
}

static int validate(const options_t *opts, const fd_filter_registry_t *filters)
{
    fd_bootstrap_t bootstrap;
    fd_config_t *config = load_config(opts, "", filters, &bootstrap);
    if (config == NULL)
        return 1;
    if (opts->print_config) {
        char *json = fd_pb_to_json(&bootstrap.config->base, &bootstrap.source, 1);
        printf("%s\n", json);
        free(json);
    }
    printf("configuration '%s' OK\n", config_name(opts));
    fd_config_release(config);
    fd_bootstrap_dispose(&bootstrap);
    return 0;
}

static int serve(const options_t *opts, const fd_filter_registry_t *filters)
{
    fd_bootstrap_t bootstrap;
    fd_config_t *config = load_config(opts, "frontdesk: ", filters, &bootstrap);
    if (config == NULL)
        return 1;
    json_t *bootstrap_json = fd_pb_to_json_value(&bootstrap.config->base, &bootstrap.source);
    fd_bootstrap_dispose(&bootstrap);
    fd_server_options_t server_opts = {.concurrency = opts->concurrency,
                                       .drain_time_s = opts->drain_time_s,
                                       .config_path = config_name(opts),
                                       .bootstrap_json = bootstrap_json,
                                       .filters = filters};
    int rc = fd_server_run(config, &server_opts);
    json_decref(bootstrap_json);
    fd_config_release(config);
    return rc;
}

int main(int argc, char **argv)
{
    options_t opts = {.mode = "serve", .log_level = "info", .drain_time_s = 600};
    int rc = parse_options(argc, argv, &opts);
    if (rc != 0) {
        free(opts.plugins);
        return rc > 0 ? 0 : 1;
    }
    int validating = strcmp(opts.mode, "validate") == 0;
    fd_filter_registry_t *filters = load_filters(&opts, validating ? "" : "frontdesk: ");
    if (filters != NULL)
        rc = validating ? validate(&opts, filters) : serve(&opts, filters);
    else
        rc = 1;
    fd_filter_registry_free(filters); /* after the last config that used its plugins */
    free(opts.plugins);
    return rc;
}
