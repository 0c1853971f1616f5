/* Unit tests of the load balancers: exact weighted round robin sequences, least request
 * preferring the less busy of its choices, weighted random, and ring hash stability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/router/load_balancer.h"

typedef struct fixture {
    fd_cluster_t cluster;
    fd_endpoint_t endpoints[4];
    fd_router_host_t hosts[4];
    fd_router_host_t *host_ptrs[4];
    fd_router_cluster_t rc;
} fixture_t;

static void make(fixture_t *f, fd_lb_policy_t policy, const uint32_t *weights, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->cluster.lb_policy = policy;
    f->cluster.least_request_choices = 2;
    f->cluster.ring_hash_min_size = 1024;
    f->cluster.ring_hash_max_size = 8u << 20;
    for (size_t i = 0; i < n; i++) {
        f->endpoints[i].weight = weights[i];
        f->hosts[i].endpoint = &f->endpoints[i];
        f->hosts[i].weight = weights[i];
        f->hosts[i].address.host = "127.0.0.1";
        f->hosts[i].address.port = (uint16_t)(8000 + i);
        f->host_ptrs[i] = &f->hosts[i];
    }
    f->rc = (fd_router_cluster_t){.config = &f->cluster, .hosts = f->host_ptrs, .n_hosts = n, .random_state = 42};
}

static void test_round_robin_follows_weights_exactly(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_ROUND_ROBIN, (uint32_t[]){5, 1, 1}, 3);
    size_t counts[3] = {0}, first_seven[7];
    for (size_t i = 0; i < 70; i++) {
        size_t h = fd_lb_pick(&f.rc, NULL);
        counts[h]++;
        if (i < 7)
            first_seven[i] = h;
    }
    assert_int_equal(counts[0], 50);
    assert_int_equal(counts[1], 10);
    assert_int_equal(counts[2], 10);
    /* smooth: the light hosts are interleaved, not bunched at the end of a cycle */
    size_t expected[7] = {0, 0, 1, 0, 2, 0, 0};
    assert_memory_equal(first_seven, expected, sizeof(expected));
}

static void test_least_request_prefers_less_busy(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_LEAST_REQUEST, (uint32_t[]){1, 1}, 2);
    f.hosts[0].active_requests = 10;
    size_t to_busy = 0;
    for (size_t i = 0; i < 1000; i++)
        to_busy += fd_lb_pick(&f.rc, NULL) == 0;
    /* with two choices the busy host wins only when both draws pick it: about a quarter */
    assert_true(to_busy > 150 && to_busy < 350);
    f.cluster.least_request_choices = 5;
    to_busy = 0;
    for (size_t i = 0; i < 1000; i++)
        to_busy += fd_lb_pick(&f.rc, NULL) == 0;
    assert_true(to_busy < 80); /* 1/32 expected */
}

static void test_random_follows_weights(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_RANDOM, (uint32_t[]){3, 1}, 2);
    size_t first = 0;
    for (size_t i = 0; i < 4000; i++)
        first += fd_lb_pick(&f.rc, NULL) == 0;
    assert_true(first > 2800 && first < 3200);
}

static void test_ring_hash_is_stable_and_spreads(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_RING_HASH, (uint32_t[]){1, 1, 1}, 3);
    assert_int_equal(fd_lb_build_ring(&f.rc), 0);
    assert_true(f.rc.ring_size >= 1024);
    size_t counts[3] = {0};
    for (unsigned key = 0; key < 3000; key++) {
        uint64_t h = fd_lb_hash(&key, sizeof(key));
        size_t a = fd_lb_pick(&f.rc, &h), b = fd_lb_pick(&f.rc, &h);
        assert_int_equal(a, b);
        counts[a]++;
    }
    for (size_t i = 0; i < 3; i++)
        assert_true(counts[i] > 700 && counts[i] < 1300);
    /* no hash value: a random host, as Envoy does */
    assert_true(fd_lb_pick(&f.rc, NULL) < 3);
    free(f.rc.ring);
}

static void test_ring_hash_fits_maximum_ring_size(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_RING_HASH, (uint32_t[]){1000000, 1, 3}, 3);
    f.cluster.ring_hash_min_size = 64;
    f.cluster.ring_hash_max_size = 4096;
    assert_int_equal(fd_lb_build_ring(&f.rc), 0);
    assert_true(f.rc.ring_size <= 4096 + 3);
    size_t counts[3] = {0};
    for (size_t i = 0; i < f.rc.ring_size; i++)
        counts[f.rc.ring[i] & 0xffff]++;
    assert_true(counts[0] > 4000);                 /* the heavy host holds nearly the whole ring ... */
    assert_true(counts[1] >= 1 && counts[2] >= 1); /* ... and every host keeps a point */
    free(f.rc.ring);
}

static void test_no_hosts(void **state)
{
    (void)state;
    fixture_t f;
    make(&f, FD_LB_ROUND_ROBIN, NULL, 0);
    assert_int_equal(fd_lb_pick(&f.rc, NULL), SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_follows_weights_exactly),
        cmocka_unit_test(test_least_request_prefers_less_busy),
        cmocka_unit_test(test_random_follows_weights),
        cmocka_unit_test(test_ring_hash_is_stable_and_spreads),
        cmocka_unit_test(test_ring_hash_fits_maximum_ring_size),
        cmocka_unit_test(test_no_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
