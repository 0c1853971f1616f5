/* Unit tests of a worker's host updates (DNS, EDS): hosts present before and after keep
 * their pool and counters, new ones are added, removed ones retire and go only once no
 * request runs on them or still names them (for its access log line). And a worker's CDS
 * clusters: found by name, replaced or removed while requests still use the old one. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/router/router.h"

typedef struct fixture {
    h2o_evloop_t *loop;
    fd_config_t config;
    fd_cluster_t cluster;
    fd_endpoint_t endpoint;
    fd_router_worker_t rw;
} fixture_t;

static fd_router_address_t address(const fixture_t *f, uint16_t port)
{
    fd_router_address_t a;
    memset(&a, 0, sizeof(a));
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.addr_len = sizeof(*sin);
    a.endpoint = &f->endpoint;
    a.weight = f->endpoint.weight;
    return a;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->loop = h2o_evloop_create();
    f->endpoint = (fd_endpoint_t){.weight = 2, .address = {.host = "backend.internal", .port = 80}};
    f->cluster = (fd_cluster_t){.name = {"web", 3},
                                .type = FD_DISCOVERY_STRICT_DNS,
                                .connect_timeout_ms = 1000,
                                .upstream_idle_timeout_ms = 60000,
                                .endpoints = &f->endpoint,
                                .n_endpoints = 1,
                                .ring_hash_min_size = 64,
                                .ring_hash_max_size = 1024};
    f->config = (fd_config_t){.clusters = &f->cluster, .n_clusters = 1};
    fd_router_worker_init(&f->rw, (h2o_loop_t *)f->loop, &f->config);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    fd_router_worker_dispose(&f->rw);
    h2o_evloop_destroy(f->loop);
    free(f);
    return 0;
}

static void test_dns_cluster_starts_without_hosts(void **state)
{
    fixture_t *f = *state;
    /* its only endpoint is a name: hosts come from the resolver */
    assert_int_equal(f->rw.clusters[0].n_hosts, 0);
}

static void test_update_keeps_adds_and_retires(void **state)
{
    fixture_t *f = *state;
    fd_router_cluster_t *rc = &f->rw.clusters[0];
    fd_router_address_t first[2] = {address(f, 8001), address(f, 8002)};
    fd_router_update_hosts(&f->rw, 0, first, 2);
    assert_int_equal(rc->n_hosts, 2);
    fd_router_host_t *kept = rc->hosts[1], *removed = rc->hosts[0];
    assert_string_equal(kept->address.host, "127.0.0.1");
    assert_int_equal(kept->address.port, 8002);
    assert_int_equal(kept->weight, 2);
    kept->stats.rq_total = 7;
    removed->active_requests = 1; /* a request still runs on it */

    fd_router_address_t second[2] = {address(f, 8002), address(f, 8003)};
    fd_router_update_hosts(&f->rw, 0, second, 2);
    assert_int_equal(rc->n_hosts, 2);
    assert_ptr_equal(rc->hosts[0], kept); /* same object: pool and counters survive */
    assert_int_equal(rc->hosts[0]->stats.rq_total, 7);
    assert_int_equal(rc->hosts[1]->address.port, 8003);
    assert_int_equal(rc->n_retired, 1);
    assert_ptr_equal(rc->retired[0], removed);

    removed->active_requests = 0; /* its request ended: the next update frees it */
    fd_router_update_hosts(&f->rw, 0, second, 2);
    assert_int_equal(rc->n_retired, 0);

    fd_router_update_hosts(&f->rw, 0, NULL, 0); /* the name stopped resolving to anything */
    assert_int_equal(rc->n_hosts, 0);
}

static void test_named_host_outlives_its_retirement(void **state)
{
    fixture_t *f = *state;
    fd_router_cluster_t *rc = &f->rw.clusters[0];
    fd_router_address_t a = address(f, 8001), b = address(f, 8002);
    fd_router_update_hosts(&f->rw, 0, &a, 1);
    fd_router_host_t *host = rc->hosts[0];
    fd_stream_info_t info = {.upstream_service_time_ms = -1};
    fd_stream_info_name_host(&info, host); /* an attempt ran on it and ended: no request active */
    assert_int_equal(host->refs, 1);
    assert_int_equal(host->active_requests, 0);

    fd_router_update_hosts(&f->rw, 0, &b, 1); /* retired */
    fd_router_update_hosts(&f->rw, 0, &a, 1); /* a sweep frees the idle 8002; 8001 is named */
    assert_int_equal(rc->n_retired, 1);
    assert_ptr_equal(rc->retired[0], host);
    assert_int_equal(info.upstream_host->address.port, 8001); /* what the access log reads */

    fd_stream_info_name_host(&info, NULL); /* the request's pool is gone */
    assert_null(info.upstream_host);
    assert_int_equal(host->refs, 0);
    fd_router_update_hosts(&f->rw, 0, &a, 1);
    assert_int_equal(rc->n_retired, 0);
}

static void test_renaming_moves_the_reference(void **state)
{
    fixture_t *f = *state;
    fd_router_cluster_t *rc = &f->rw.clusters[0];
    fd_router_address_t both[2] = {address(f, 8001), address(f, 8002)};
    fd_router_update_hosts(&f->rw, 0, both, 2);
    fd_router_host_t *first = rc->hosts[0], *second = rc->hosts[1];
    fd_stream_info_t info = {.upstream_service_time_ms = -1};
    fd_stream_info_name_host(&info, first);
    fd_stream_info_name_host(&info, second); /* a retry went to another host */
    assert_int_equal(first->refs, 0);
    assert_int_equal(second->refs, 1);
    fd_stream_info_name_host(&info, second); /* a retry to the same host */
    assert_int_equal(second->refs, 1);
    fd_stream_info_name_host(&info, NULL);
    assert_int_equal(second->refs, 0);
}

/* EDS: hosts have no configured endpoint; an update that changes only weights keeps them. */
static void test_eds_update_reweighs_in_place(void **state)
{
    fixture_t *f = *state;
    fd_router_cluster_t *rc = &f->rw.clusters[0];
    fd_router_address_t eds[2] = {address(f, 9001), address(f, 9002)};
    for (int i = 0; i < 2; i++)
        eds[i].endpoint = NULL, eds[i].weight = 1;
    fd_router_update_hosts(&f->rw, 0, eds, 2);
    fd_router_host_t *first = rc->hosts[0], *second = rc->hosts[1];
    assert_null(first->endpoint);
    eds[0].weight = 7;
    eds[1].priority = 1;
    fd_router_update_hosts(&f->rw, 0, eds, 2);
    assert_ptr_equal(rc->hosts[0], first); /* same host: its pool and counters stay */
    assert_ptr_equal(rc->hosts[1], second);
    assert_int_equal(first->weight, 7);
    assert_int_equal(second->priority, 1);
    assert_int_equal(rc->n_retired, 0);
}

/* A CDS cluster's arena, as the translator makes one: the cluster lives in its pool. */
static fd_config_t *cds_arena(const char *name, const fd_cluster_t **out)
{
    fd_config_t *arena = fd_config_new();
    fd_cluster_t *c = h2o_mem_alloc_pool(&arena->pool, sizeof(*c));
    *c = (fd_cluster_t){.name = {name, strlen(name)}, .connect_timeout_ms = 1000, .upstream_idle_timeout_ms = 60000};
    *out = c;
    return arena;
}

static void test_cds_clusters_found_by_name(void **state)
{
    fixture_t *f = *state;
    const char *names[] = {"orders", "api", "zeta", "billing"};
    for (size_t i = 0; i < 4; i++) {
        const fd_cluster_t *c;
        fd_config_t *arena = cds_arena(names[i], &c);
        fd_router_address_t a = address(f, (uint16_t)(9000 + i));
        fd_router_set_cluster(&f->rw, arena, c, &a, 1);
    }
    assert_int_equal(f->rw.n_dynamic, 4);
    for (size_t i = 0; i < 4; i++) {
        fd_router_cluster_t *rc = fd_router_find_dynamic(&f->rw, names[i], strlen(names[i]));
        assert_non_null(rc);
        assert_int_equal(rc->hosts[0]->address.port, 9000 + i);
    }
    assert_null(fd_router_find_dynamic(&f->rw, "ap", 2));  /* a prefix is not a name */
    assert_null(fd_router_find_dynamic(&f->rw, "web", 3)); /* the static one is not a CDS one */
    fd_router_remove_cluster(&f->rw, "api");
    assert_null(fd_router_find_dynamic(&f->rw, "api", 3));
    assert_int_equal(f->rw.n_dynamic, 3);
    assert_int_equal(f->rw.n_retired_clusters, 0); /* nothing used it: freed at once */
}

static void test_cds_cluster_replaced_while_in_use(void **state)
{
    fixture_t *f = *state;
    const fd_cluster_t *c1, *c2;
    fd_config_t *a1 = cds_arena("orders", &c1), *a2 = cds_arena("orders", &c2);
    fd_router_address_t first = address(f, 9001), second = address(f, 9002);
    fd_router_set_cluster(&f->rw, a1, c1, &first, 1);
    fd_router_cluster_t *old = fd_router_find_dynamic(&f->rw, "orders", 6);
    fd_stream_info_t info = {.upstream_service_time_ms = -1};
    fd_stream_info_name_cluster(&info, old); /* a request picked it */
    fd_stream_info_name_host(&info, old->hosts[0]);
    old->stats.upstream_rq_total = 5;
    old->stats.upstream_rq_active = 1;

    fd_router_set_cluster(&f->rw, a2, c2, &second, 1);
    fd_router_cluster_t *now = fd_router_find_dynamic(&f->rw, "orders", 6);
    assert_ptr_not_equal(now, old);
    assert_int_equal(now->hosts[0]->address.port, 9002);
    assert_int_equal(now->stats.upstream_rq_total, 5);  /* counters carry over */
    assert_int_equal(now->stats.upstream_rq_active, 0); /* gauges stay with the old one */
    assert_int_equal(f->rw.n_retired_clusters, 1);
    assert_ptr_equal(info.upstream_cluster, c1); /* what the access log reads */

    fd_stream_info_end(&info); /* the request logged: the old one goes */
    assert_null(info.upstream_cluster);
    assert_int_equal(f->rw.n_retired_clusters, 0);

    fd_stream_info_name_cluster(&info, now);
    fd_router_remove_cluster(&f->rw, "orders"); /* removed under a request */
    assert_null(fd_router_find_dynamic(&f->rw, "orders", 6));
    assert_int_equal(f->rw.n_retired_clusters, 1);
    assert_int_equal(now->refs, 1);
    fd_stream_info_end(&info);
    assert_int_equal(f->rw.n_retired_clusters, 0);
}

static void test_cds_cluster_waits_for_busy_hosts(void **state)
{
    fixture_t *f = *state;
    const fd_cluster_t *c;
    fd_config_t *arena = cds_arena("orders", &c);
    fd_router_address_t a = address(f, 9001);
    fd_router_set_cluster(&f->rw, arena, c, &a, 1);
    fd_router_cluster_t *rc = fd_router_find_dynamic(&f->rw, "orders", 6);
    rc->hosts[0]->active_requests = 1; /* an upstream exchange outlives its stream's reference */
    fd_router_remove_cluster(&f->rw, "orders");
    assert_int_equal(f->rw.n_retired_clusters, 1);
    rc->hosts[0]->active_requests = 0;
    fd_router_sweep_clusters(&f->rw); /* what the sweep timer does */
    assert_int_equal(f->rw.n_retired_clusters, 0);
}

static void test_static_clusters_are_not_referenced(void **state)
{
    fixture_t *f = *state;
    fd_stream_info_t info = {.upstream_service_time_ms = -1};
    fd_stream_info_name_cluster(&info, &f->rw.clusters[0]);
    assert_ptr_equal(info.upstream_cluster, &f->cluster);
    assert_null(info.cluster_ref);
    assert_int_equal(f->rw.clusters[0].refs, 0);
    fd_stream_info_end(&info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eds_update_reweighs_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_cluster_starts_without_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_keeps_adds_and_retires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_host_outlives_its_retirement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renaming_moves_the_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cds_clusters_found_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cds_cluster_replaced_while_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cds_cluster_waits_for_busy_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_clusters_are_not_referenced, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
