/* test_strategy.c — the lock-strategy interface: retry loop bounds, backoff with full jitter, the
 * registry, and the in-process mutex strategy's mutual exclusion under real threads. */
#include "unit.h"
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include "lock/strategy.h"
#include "util/rand.h"

struct flaky {
    int conflicts_left;
    int calls;
    enum tk_write_mode seen_mode;
};

static int flaky_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence;
    struct flaky *f = arg;
    f->calls++;
    f->seen_mode = mode;
    if (f->conflicts_left > 0) {
        f->conflicts_left--;
        return TK_ERR_CONFLICT;
    }
    return TK_OK;
}

static struct tk_strategy *open_named(const char *name, int retries)
{
    struct tk_strategy *s = NULL;
    char err[160];
    assert_int_equal(strategy_open(name, retries, &s, err, sizeof err), TK_OK);
    s->backoff_base_us = 1; /* keep the test fast; the loop's logic is what is under test */
    s->backoff_cap_us = 2;
    return s;
}

static void retries_until_success(void **state)
{
    (void)state;
    struct tk_strategy *s = open_named("optimistic", 5);
    struct flaky f = {.conflicts_left = 3};
    assert_int_equal(strategy_run(s, "user:1", flaky_write, &f), TK_OK);
    assert_int_equal(f.calls, 4);
    assert_int_equal(f.seen_mode, TK_WRITE_OPTIMISTIC);
    struct tk_strategy_stats st;
    strategy_stats(s, &st);
    assert_int_equal(st.runs, 1);
    assert_int_equal(st.conflicts, 3);
    assert_int_equal(st.retries, 3);
    assert_int_equal(st.lock_failures, 0);
    strategy_free(s);
}

static void retries_are_bounded(void **state)
{
    (void)state;
    struct tk_strategy *s = open_named("optimistic", 5);
    struct flaky f = {.conflicts_left = 1000};
    assert_int_equal(strategy_run(s, "user:1", flaky_write, &f), TK_ERR_CONFLICT);
    assert_int_equal(f.calls, 6); /* first try + 5 retries */
    struct tk_strategy_stats st;
    strategy_stats(s, &st);
    assert_int_equal(st.lock_failures, 1);
    assert_int_equal(tk_err_status(TK_ERR_CONFLICT), 503);
    strategy_free(s);
}

static void other_errors_are_not_retried(void **state)
{
    (void)state;
    struct tk_strategy *s = open_named("atomic", 5);
    assert_int_equal(s->ops->mode, TK_WRITE_ATOMIC);
    struct flaky f = {0};
    assert_int_equal(strategy_run(s, "k", flaky_write, &f), TK_OK);
    assert_int_equal(f.calls, 1);
    strategy_free(s);
}

static uint64_t max_rand(uint64_t bound) { return bound - 1; }
static uint64_t zero_rand(uint64_t bound) { (void)bound; return 0; }

static void backoff_full_jitter(void **state)
{
    (void)state;
    /* the ceiling doubles per attempt and stops at the cap; the draw is uniform in [0, ceiling] */
    assert_int_equal(backoff_full_jitter_us(1, 100, 20000, max_rand), 200);
    assert_int_equal(backoff_full_jitter_us(2, 100, 20000, max_rand), 400);
    assert_int_equal(backoff_full_jitter_us(7, 100, 20000, max_rand), 12800);
    assert_int_equal(backoff_full_jitter_us(8, 100, 20000, max_rand), 20000);
    assert_int_equal(backoff_full_jitter_us(60, 100, 20000, max_rand), 20000); /* no overflow */
    assert_int_equal(backoff_full_jitter_us(3, 100, 20000, zero_rand), 0);
}

static void registry(void **state)
{
    (void)state;
    for (int i = 0; i < strategy_count(); i++) {
        const char *name = strategy_at(i)->name;
        if (strategy_needs_redis(name)) {
            /* without a Redis URL they refuse to open, with a readable reason */
            struct tk_strategy *r = NULL;
            char err[160] = "";
            assert_int_equal(strategy_open(name, 3, &r, err, sizeof err), TK_ERR_INVALID);
            assert_null(r);
            assert_non_null(strstr(err, "redis"));
            continue;
        }
        struct tk_strategy *s = open_named(name, 3);
        assert_string_equal(s->ops->name, name);
        assert_int_equal(s->ops->serve_ok, strcmp(name, "none") != 0);
        strategy_free(s);
    }
    struct tk_strategy *s = NULL;
    char err[256] = "";
    assert_int_equal(strategy_open("redlock-ish", 3, &s, err, sizeof err), TK_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(err, "redlock-ish"));
    /* behaviour is data in the registry, never a test on a name inside an implementation */
    char names[256];
    strategy_names(names, sizeof names);
    for (int i = 0; i < strategy_count(); i++) {
        const struct tk_strategy_ops *o = strategy_at(i);
        assert_ptr_equal(strategy_find(o->name), o);
        assert_non_null(strstr(names, o->name));
        assert_non_null(strstr(err, o->name)); /* the error lists every name */
        assert_true(!o->fencing || o->needs_redis);
        assert_true(!o->publish_release || o->park);
        assert_true(!o->needs_nodes || o->needs_redis);
    }
    assert_null(strategy_find("nope"));
    assert_true(strategy_find("fenced")->fencing && !strategy_find("redis-lock")->fencing);
    assert_true(strategy_find("redis-pubsub")->publish_release && !strategy_find("redis-spin")->publish_release);
    assert_true(strategy_find("mutex")->one_process && !strategy_find("atomic")->one_process);
    assert_true(strategy_find("redlock")->needs_nodes);
    assert_false(strategy_needs_redis("nope"));
    strategy_free(NULL);
}

/* The mutex strategy makes a racy read-modify-write safe: 4 threads × 20,000 increments of a plain
 * integer, each read and written separately with a yield in between, lose nothing. */
struct counter_job {
    struct tk_strategy *s;
    volatile int64_t *counter;
};

static int racy_increment(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence;
    assert_int_equal(mode, TK_WRITE_UNSAFE);
    volatile int64_t *c = arg;
    int64_t v = *c;
    sched_yield();
    *c = v + 1;
    return TK_OK;
}

static void *worker(void *arg)
{
    struct counter_job *j = arg;
    for (int i = 0; i < 20000; i++)
        if (strategy_run(j->s, "user:7", racy_increment, (void *)j->counter) != TK_OK)
            return (void *)1;
    return NULL;
}

static void mutex_excludes(void **state)
{
    (void)state;
    struct tk_strategy *s = open_named("mutex", 20);
    volatile int64_t counter = 0;
    struct counter_job j = {.s = s, .counter = &counter};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, &j);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(counter, 80000);
    struct tk_strategy_stats st;
    strategy_stats(s, &st);
    assert_int_equal(st.acquisitions, 80000);
    strategy_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retries_until_success), cmocka_unit_test(retries_are_bounded),
        cmocka_unit_test(other_errors_are_not_retried), cmocka_unit_test(backoff_full_jitter),
        cmocka_unit_test(registry), cmocka_unit_test(mutex_excludes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
