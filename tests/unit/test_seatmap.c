/* test_seatmap.c — the read cache of available-seats/-dates (core/seatmap.h) with a fake clock: the 100 ms bound
 * (exactly), the version bumps of this instance's writes, single flight and refresh ahead, failed reads, the
 * limits, and pages outliving their entry. */
#include "unit.h"
#include <string.h>
#include "core/seatmap.h"
#include "util/hmap.h"

#define MS (1000000LL)
#define T0 (1000 * MS) /* any monotonic start */

/* A MISS that publishes body at stamp now. */
static void fill_page(struct seatmap *m, enum seatmap_kind kind, int64_t id, int64_t now, const char *body)
{
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(m, kind, id, now, 0, &pg, &f), SEATMAP_MISS);
    assert_null(pg);
    seatmap_put(m, &f, body, strlen(body), NULL, 0);
}

/* HIT with body, or anything else: the verdict (a HIT's reference is released). */
static enum seatmap_verdict look(struct seatmap *m, enum seatmap_kind kind, int64_t id, int64_t now, unsigned flags,
                                 const char *want_body)
{
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    enum seatmap_verdict v = seatmap_get(m, kind, id, now, flags, &pg, &f);
    if (v == SEATMAP_HIT) {
        assert_non_null(pg);
        if (want_body) {
            assert_int_equal(pg->len, strlen(want_body));
            assert_memory_equal(pg->bytes, want_body, pg->len);
        }
        seatmap_page_release(pg);
    } else if (v == SEATMAP_MISS) {
        seatmap_abandon(m, &f);
    }
    return v;
}

static void test_bound_is_exact(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 16), TK_OK);
    fill_page(&m, SEATMAP_SEATS, 7, T0, "p1");
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0, SEATMAP_PEEK, "p1"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0 + SEATMAP_AHEAD_NS - 1, SEATMAP_PEEK, "p1"), SEATMAP_HIT);
    /* past the refresh-ahead age a look that claims nothing is still served ... */
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0 + SEATMAP_STALE_NS - 1, SEATMAP_PEEK, "p1"), SEATMAP_HIT);
    /* ... and never at or past the bound, whoever asks */
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0 + SEATMAP_STALE_NS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0 + SEATMAP_STALE_NS, 0, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, 7, T0 + 10000 * MS, SEATMAP_NO_WAIT, NULL), SEATMAP_MISS);
    /* another key, another kind: nothing cached */
    assert_int_equal(look(&m, SEATMAP_SEATS, 8, T0, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_DATES, 7, T0, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    struct seatmap_stats st;
    seatmap_stats(&m, &st);
    assert_int_equal(st.hits, 3);
    seatmap_free(&m);
    seatmap_free(&m); /* twice: a no-op */
}

/* The stamp is the time the read STARTED: a slow read's page expires 100 ms after its start, not its end. */
static void test_stamp_is_read_start(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 16), TK_OK);
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 1, T0, 0, &pg, &f), SEATMAP_MISS);
    seatmap_put(&m, &f, "slow", 4, NULL, 0); /* published "60 ms later": the stamp stays T0 */
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 60 * MS, SEATMAP_PEEK, "slow"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 100 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    seatmap_free(&m);
}

static void test_versions(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 64), TK_OK);
    /* find a schedule whose version stripe is not schedule 1's */
    int64_t other = 2;
    while (hash_u64((uint64_t)other) % SEATMAP_VERSION_STRIPES == hash_u64(1) % SEATMAP_VERSION_STRIPES)
        other++;
    fill_page(&m, SEATMAP_SEATS, 1, T0, "s1");
    fill_page(&m, SEATMAP_SEATS, other, T0, "s2");
    fill_page(&m, SEATMAP_DATES, 0, T0, "d");
    fill_page(&m, SEATMAP_DATES, 5, T0, "d5");

    /* a hold on schedule 1: its seats and every dates page go, nothing else */
    seatmap_changed_schedule(&m, 1);
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_DATES, 0, T0 + MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_DATES, 5, T0 + MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, other, T0 + MS, SEATMAP_PEEK, "s2"), SEATMAP_HIT);

    /* a page read before a write (its version snapshot taken before the bump) is never served after it */
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 1, T0 + 2 * MS, 0, &pg, &f), SEATMAP_MISS);
    seatmap_changed_schedule(&m, 1); /* the write commits while the read runs */
    seatmap_put(&m, &f, "racy", 4, NULL, 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 3 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    fill_page(&m, SEATMAP_SEATS, 1, T0 + 4 * MS, "after");
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 5 * MS, SEATMAP_PEEK, "after"), SEATMAP_HIT);

    /* a payment or an expiry: everything */
    fill_page(&m, SEATMAP_DATES, 0, T0 + 6 * MS, "db");
    assert_int_equal(look(&m, SEATMAP_SEATS, other, T0 + 6 * MS, SEATMAP_PEEK, "s2"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_DATES, 0, T0 + 6 * MS, SEATMAP_PEEK, "db"), SEATMAP_HIT);
    seatmap_changed_all(&m);
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 7 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, other, T0 + 7 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_DATES, 0, T0 + 7 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    seatmap_free(&m);
}

static void test_single_flight(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 16), TK_OK);
    const struct seatmap_page *pg;
    struct seatmap_fill a, b, c;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, T0, 0, &pg, &a), SEATMAP_MISS);
    assert_true(a.claim != 0);
    /* while a's read runs: others wait, or read themselves without the claim when told not to wait; an event
     * thread never waits and claims nothing (its request goes to a worker, which waits) */
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, T0 + MS, 0, &pg, &b), SEATMAP_WAIT);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, T0 + MS, SEATMAP_PEEK, &pg, &b), SEATMAP_MISS);
    assert_int_equal(b.claim, 0);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, T0 + MS, SEATMAP_INLINE, &pg, &b), SEATMAP_MISS);
    assert_int_equal(b.claim, 0);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, T0 + MS, SEATMAP_NO_WAIT, &pg, &b), SEATMAP_MISS);
    assert_int_equal(b.claim, 0);
    seatmap_put(&m, &a, "a", 1, NULL, 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, T0 + 2 * MS, 0, "a"), SEATMAP_HIT);
    /* b's read started later (T0 + 1 ms): its page replaces a's; an older one never replaces a newer one */
    seatmap_put(&m, &b, "b", 1, NULL, 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, T0 + 2 * MS, 0, "b"), SEATMAP_HIT);
    seatmap_put(&m, &a, "a-again", 7, NULL, 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, T0 + 2 * MS, 0, "b"), SEATMAP_HIT);

    /* refresh ahead: past SEATMAP_AHEAD_NS one caller refreshes while the others are still served the page */
    int64_t t = T0 + MS + SEATMAP_AHEAD_NS;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t, SEATMAP_PEEK, &pg, &c), SEATMAP_HIT);
    seatmap_page_release(pg);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t, 0, &pg, &c), SEATMAP_MISS);
    assert_true(c.claim != 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + MS, 0, "b"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + MS, SEATMAP_INLINE, "b"), SEATMAP_HIT);
    seatmap_put(&m, &c, "c", 1, NULL, 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + 2 * MS, 0, "c"), SEATMAP_HIT);
    /* the same claimed on an event thread (for the worker its request goes to), the others served meanwhile */
    int64_t ti = t + SEATMAP_AHEAD_NS;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, ti, SEATMAP_INLINE, &pg, &b), SEATMAP_MISS);
    assert_true(b.claim != 0);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, ti, SEATMAP_INLINE, "c"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, ti, 0, "c"), SEATMAP_HIT);
    seatmap_put(&m, &b, "c", 1, NULL, 0); /* the worker's read: same bytes, stamp ti */
    t = ti;

    /* a refresh ahead that fails: the page it refreshed still serves until its bound, not a moment longer */
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t + SEATMAP_AHEAD_NS, 0, &pg, &a), SEATMAP_MISS);
    assert_true(a.claim != 0);
    seatmap_abandon(&m, &a);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + SEATMAP_AHEAD_NS, SEATMAP_PEEK, "c"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + SEATMAP_STALE_NS - 1, SEATMAP_PEEK, "c"), SEATMAP_HIT);
    assert_int_equal(look(&m, SEATMAP_SEATS, 3, t + SEATMAP_STALE_NS, SEATMAP_PEEK, NULL), SEATMAP_MISS);

    /* a failed read releases its claim at once: the next caller reads (no page ever passes the bound) */
    int64_t t2 = t + SEATMAP_STALE_NS;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2, 0, &pg, &a), SEATMAP_MISS);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2, 0, &pg, &b), SEATMAP_WAIT);
    seatmap_abandon(&m, &a);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2, 0, &pg, &b), SEATMAP_MISS);
    assert_true(b.claim != 0);
    /* a claim that is never settled is given up after SEATMAP_FLIGHT_NS */
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2 + SEATMAP_FLIGHT_NS - 1, 0, &pg, &c), SEATMAP_WAIT);
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2 + SEATMAP_FLIGHT_NS, 0, &pg, &c), SEATMAP_MISS);
    assert_true(c.claim != 0 && c.claim != b.claim);
    seatmap_put(&m, &b, "late b", 6, NULL, 0); /* the old claimer's put still publishes, and clears nothing of c's */
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 3, t2 + SEATMAP_FLIGHT_NS, 0, &pg, &a), SEATMAP_HIT);
    seatmap_page_release(pg);
    seatmap_abandon(&m, &c);
    struct seatmap_stats st;
    seatmap_stats(&m, &st);
    assert_int_equal(st.waits, 3);
    seatmap_free(&m);
}

static void test_limits(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 3), TK_OK);
    for (int64_t id = 1; id <= 5; id++)
        fill_page(&m, SEATMAP_SEATS, id, T0 + id * MS, "x");
    struct seatmap_stats st;
    seatmap_stats(&m, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.entries_max, 3);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.bytes, 3);
    /* the oldest went first */
    assert_int_equal(look(&m, SEATMAP_SEATS, 1, T0 + 6 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, 2, T0 + 6 * MS, SEATMAP_PEEK, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, 5, T0 + 6 * MS, SEATMAP_PEEK, "x"), SEATMAP_HIT);
    /* a page over the byte limit is not cached (and costs nothing) */
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(&m, SEATMAP_SEATS, 9, T0 + 7 * MS, 0, &pg, &f), SEATMAP_MISS);
    seatmap_put(&m, &f, "big", (size_t)SEATMAP_BYTES_MAX + 1, NULL, 0); /* never read past its 3 bytes */
    assert_int_equal(look(&m, SEATMAP_SEATS, 9, T0 + 8 * MS, 0, NULL), SEATMAP_MISS); /* claim released */
    /* misses that cache nothing (404s, failed reads) take no entry from the pages: 5 is still there; a new key
     * gets no claim while the cache is full (its put evicts the oldest page, as any put) */
    for (int64_t id = 100; id < 110; id++)
        assert_int_equal(look(&m, SEATMAP_SEATS, id, T0 + 8 * MS, 0, NULL), SEATMAP_MISS);
    assert_int_equal(look(&m, SEATMAP_SEATS, 5, T0 + 8 * MS, SEATMAP_PEEK, "x"), SEATMAP_HIT);
    seatmap_stats(&m, &st);
    assert_int_equal(st.evictions, 2);
    seatmap_free(&m);
}

/* A page handed out stays readable after its entry is replaced or evicted. */
static void test_page_outlives_entry(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 1), TK_OK);
    fill_page(&m, SEATMAP_DATES, 0, T0, "held page");
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(&m, SEATMAP_DATES, 0, T0 + MS, SEATMAP_PEEK, &pg, &f), SEATMAP_HIT);
    fill_page(&m, SEATMAP_DATES, 1, T0 + 2 * MS, "evicts it");
    assert_memory_equal(pg->bytes, "held page", 9);
    seatmap_page_release(pg);
    seatmap_page_release(NULL);
    seatmap_free(&m);
}

/* Rows of a dates page come back as given; the schedule→concert memory is exact or says "unknown". */
static void test_rows_and_owners(void **state)
{
    (void)state;
    struct seatmap m;
    assert_int_equal(seatmap_init(&m, 4), TK_OK);
    const char *items = "{a}{bb}";
    struct seatmap_row rows[2] = {{.concert_id = 1, .off = 0, .len = 3}, {.concert_id = 2, .off = 3, .len = 4}};
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    assert_int_equal(seatmap_get(&m, SEATMAP_DATES, 0, T0, 0, &pg, &f), SEATMAP_MISS);
    seatmap_put(&m, &f, items, strlen(items), rows, 2);
    assert_int_equal(seatmap_get(&m, SEATMAP_DATES, 0, T0 + MS, 0, &pg, &f), SEATMAP_HIT);
    assert_int_equal(pg->nrows, 2);
    assert_int_equal(pg->rows[1].concert_id, 2);
    assert_memory_equal(pg->bytes + pg->rows[1].off, "{bb}", pg->rows[1].len);
    seatmap_page_release(pg);

    int64_t c = 0;
    assert_false(seatmap_concert_of(&m, 10, &c));
    seatmap_note_concert(&m, 10, 3);
    assert_true(seatmap_concert_of(&m, 10, &c));
    assert_int_equal(c, 3);
    /* a colliding schedule takes the slot over: the first is then unknown, never wrong */
    int64_t other = 11;
    for (; other < 10 + 100 * SEATMAP_OWNER_SLOTS; other++) {
        seatmap_note_concert(&m, other, 4);
        if (!seatmap_concert_of(&m, 10, &c))
            break;
        assert_int_equal(c, 3);
    }
    assert_true(seatmap_concert_of(&m, other, &c));
    assert_int_equal(c, 4);
    assert_false(seatmap_concert_of(&m, 0, &c));
    seatmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_is_exact),  cmocka_unit_test(test_stamp_is_read_start),
        cmocka_unit_test(test_versions),        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_limits),          cmocka_unit_test(test_page_outlives_entry),
        cmocka_unit_test(test_rows_and_owners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
