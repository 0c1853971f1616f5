/* Unit tests of the ADS reconnect backoff (xds/ads_backoff.c): Envoy's defaults, a ceiling
 * that doubles up to the maximum, full jitter below the ceiling, and reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "xds/ads_backoff.h"

static void test_envoy_defaults_double_up_to_the_maximum(void **unused)
{
    (void)unused;
    fd_ads_backoff_t b;
    fd_ads_backoff_init(&b, 0, 0);
    const uint64_t ceilings[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof(ceilings) / sizeof(ceilings[0]); i++) {
        assert_int_equal(b.next_ms, ceilings[i]);
        assert_int_equal(fd_ads_backoff_next(&b, ceilings[i] - 1), ceilings[i] - 1); /* the longest wait */
    }
}

static void test_waits_are_below_the_ceiling(void **unused)
{
    (void)unused;
    fd_ads_backoff_t b;
    fd_ads_backoff_init(&b, 100, 400);
    assert_int_equal(fd_ads_backoff_next(&b, 100), 0);
    assert_int_equal(fd_ads_backoff_next(&b, 250), 50);
    assert_int_equal(fd_ads_backoff_next(&b, 401), 1);
    assert_int_equal(fd_ads_backoff_next(&b, 399), 399);
    assert_int_equal(b.next_ms, 400);
}

static void test_reset_and_max_below_base(void **unused)
{
    (void)unused;
    fd_ads_backoff_t b;
    fd_ads_backoff_init(&b, 200, 50);
    assert_int_equal(b.max_ms, 200);
    fd_ads_backoff_next(&b, 0);
    assert_int_equal(b.next_ms, 200);
    fd_ads_backoff_init(&b, 100, 1000);
    fd_ads_backoff_next(&b, 0);
    fd_ads_backoff_next(&b, 0);
    assert_int_equal(b.next_ms, 400);
    fd_ads_backoff_reset(&b);
    assert_int_equal(b.next_ms, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envoy_defaults_double_up_to_the_maximum),
        cmocka_unit_test(test_waits_are_below_the_ceiling),
        cmocka_unit_test(test_reset_and_max_below_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
