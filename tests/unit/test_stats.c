/* test_stats.c — nearest-rank percentiles (util/stats.h), the one helper the lab and the load generator share. */
#include "unit.h"
#include "util/stats.h"

static void percentiles(void **state)
{
    (void)state;
    double v[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
    stats_sort(v, 10);
    for (int i = 0; i < 10; i++)
        assert_true(v[i] == i + 1);
    assert_true(stats_percentile(v, 10, 50) == 5);
    assert_true(stats_percentile(v, 10, 95) == 10);
    assert_true(stats_percentile(v, 10, 99) == 10);
    assert_true(stats_percentile(v, 10, 100) == 10);
    assert_true(stats_percentile(v, 10, 10) == 1);
    assert_true(stats_percentile(v, 10, 0.1) == 1);
    assert_true(stats_percentile(v, 0, 50) == 0);
    double one = 42;
    assert_true(stats_percentile(&one, 1, 99) == 42);
    stats_sort(v, 0); /* no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(percentiles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
