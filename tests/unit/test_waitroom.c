/* test_waitroom.c — admission rules (pure) and the waiting-room backends on a fake clock: the in-process
 * one by default, the Redis one with --redis (needs TICKETD_TEST_REDIS), the store-backed PostgreSQL one
 * with --pg (needs TICKETD_TEST_PG); each fails, never skips, without its service. Both shared backends
 * take the time from the caller, so the same fake clock drives them. */
#include "unit.h"
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "waitroom/waitroom.h"
#include "util/rank.h"
#include "util/clock.h"
#include "testdb.h"

static const int64_t T0 = 1800000000000LL;

/* ---- pure rules ---- */

static void state_machine(void **state)
{
    (void)state;
    assert_true(token_transition_ok(TOKEN_WAITING, TOKEN_ACTIVE));
    assert_true(token_transition_ok(TOKEN_WAITING, TOKEN_EXPIRED));
    assert_true(token_transition_ok(TOKEN_ACTIVE, TOKEN_EXPIRED));
    assert_false(token_transition_ok(TOKEN_ACTIVE, TOKEN_WAITING));
    assert_false(token_transition_ok(TOKEN_EXPIRED, TOKEN_ACTIVE));
    assert_false(token_transition_ok(TOKEN_EXPIRED, TOKEN_WAITING));
    assert_false(token_transition_ok(TOKEN_ACTIVE, TOKEN_ACTIVE));
    enum tk_token_state s = TOKEN_WAITING;
    token_transition(&s, TOKEN_ACTIVE);
    assert_int_equal(s, TOKEN_ACTIVE);
    assert_string_equal(token_state_name(s), "ACTIVE");
}

static void immediate_and_quota(void **state)
{
    (void)state;
    struct admission_policy p = {.max_active = 3, .admit_per_sec = 2, .token_ms = 60000, .idle_ms = 10000};
    assert_true(admission_immediate(&p, T0, 0, 0));
    assert_true(admission_immediate(&p, T0, 2, 0));
    assert_false(admission_immediate(&p, T0, 3, 0)); /* full */
    assert_false(admission_immediate(&p, T0, 0, 1)); /* someone waits: no cutting in line */

    struct admit_bucket b;
    admit_bucket_init(&b, &p, T0);
    assert_int_equal(admission_quota(&p, &b, T0, 0, 10), 2);  /* rate-limited to 2 */
    assert_int_equal(admission_quota(&p, &b, T0, 2, 10), 1);  /* one slot free */
    assert_int_equal(admission_quota(&p, &b, T0, 0, 1), 1);   /* only one waits */
    assert_int_equal(admission_quota(&p, &b, T0, 3, 10), 0);  /* full */
    admit_bucket_take(&b, 2);
    assert_int_equal(admission_quota(&p, &b, T0 + 100, 0, 10), 0);  /* 0.2 admissions refilled */
    assert_int_equal(admission_quota(&p, &b, T0 + 500, 0, 10), 1);  /* 1.0 */
    assert_int_equal(admission_quota(&p, &b, T0 + 5000, 0, 10), 2); /* capped at one second's worth */
}

static void wait_estimate(void **state)
{
    (void)state;
    struct admission_policy p = {.max_active = 100, .admit_per_sec = 10, .token_ms = 600000, .idle_ms = 60000};
    assert_int_equal(admission_estimate_wait_s(&p, T0, 0, 0, 0, 0), 0);
    assert_int_equal(admission_estimate_wait_s(&p, T0, 1, 0, 0, 0), 1);   /* ceil(1/10) */
    assert_int_equal(admission_estimate_wait_s(&p, T0, 25, 50, 0, 0), 3); /* slots free: admit_per_sec */
    /* full: turnover 100 per 600 s = 1/6 per second -> 10 waiters wait 60 s */
    assert_int_equal(admission_estimate_wait_s(&p, T0, 10, 100, 0, 0), 60);
    /* turnover faster than admit_per_sec: capped by admit_per_sec */
    struct admission_policy fast = {.max_active = 1000, .admit_per_sec = 10, .token_ms = 1000, .idle_ms = 1000};
    assert_int_equal(admission_estimate_wait_s(&fast, T0, 20, 1000, 0, 0), 2);
}

static void rank_matches_naive(void **state)
{
    (void)state;
    enum { CAP = 37 };
    struct rank r;
    assert_int_equal(rank_init(&r, CAP), TK_OK);
    bool live[10000] = {0};
    int64_t head = 0, tail = 0;
    srand(7);
    for (int step = 0; step < 5000; step++) {
        int op = rand() % 3;
        if (op == 0 && tail - head < CAP) { /* join */
            live[tail] = true;
            rank_add(&r, tail++, +1);
        } else if (op == 1 && tail > head) { /* leave from the middle */
            int64_t s = head + rand() % (tail - head);
            if (live[s]) {
                live[s] = false;
                rank_add(&r, s, -1);
            }
        } else if (tail > head) { /* pop the head */
            if (live[head])
                rank_add(&r, head, -1);
            live[head++] = false;
        }
        if (tail > head) {
            int64_t s = head + rand() % (tail - head);
            int64_t naive = 0;
            for (int64_t i = head; i <= s; i++)
                naive += live[i];
            assert_int_equal(rank_count(&r, head, s), naive);
        }
    }
    rank_free(&r);
}

/* ---- the in-process backend ---- */

struct fixture {
    struct tk_clock clock;
    struct tk_waitroom *w;
    struct wr_room room;
    struct testdb db;
};

static bool USE_REDIS, USE_PG;

static struct fixture *open_room(int max_active, int admit_per_sec, int64_t token_ms, int64_t idle_ms, int queue_max)
{
    struct fixture *f = calloc(1, sizeof *f);
    clock_fake_init(&f->clock, T0);
    struct admission_policy p = {.max_active = max_active, .admit_per_sec = admit_per_sec, .token_ms = token_ms,
                                 .idle_ms = idle_ms};
    if (USE_REDIS) {
        static int n;
        char prefix[64], err[128];
        snprintf(prefix, sizeof prefix, "tk:{unit%d_%d}:", (int)getpid(), n++); /* a fresh room per test */
        assert_int_equal(waitroom_redis_open(queue_max, getenv("TICKETD_TEST_REDIS"), prefix, 2, &f->w, err,
                                             sizeof err),
                         TK_OK);
    } else if (USE_PG) {
        testdb_open(&f->db, T0);
        assert_int_equal(waitroom_store_open(queue_max, f->db.st, &f->w), TK_OK);
    } else {
        assert_int_equal(waitroom_mem_open(queue_max, &f->w), TK_OK);
    }
    f->room = (struct wr_room){.id = 0, .policy = p};
    return f;
}

static void close_room(struct fixture *f)
{
    waitroom_free(f->w);
    if (USE_PG)
        testdb_close(&f->db);
    free(f);
}

static struct tk_ticket issue(struct fixture *f, int64_t user, bool expect_created)
{
    struct tk_ticket t;
    bool created = !expect_created;
    assert_int_equal(f->w->ops->issue(f->w, &f->room, user, clock_now_ms(&f->clock), &t, &created), TK_OK);
    assert_int_equal(created, expect_created);
    assert_int_equal(t.user_id, user);
    return t;
}

static struct tk_ticket status_of(struct fixture *f, const char *token)
{
    struct tk_ticket t;
    assert_int_equal(f->w->ops->status(f->w, &f->room, token, clock_now_ms(&f->clock), &t), TK_OK);
    return t;
}

static void immediate_then_fifo(void **state)
{
    (void)state;
    struct fixture *f = open_room(2, 100, 60000, 600000, 100);
    struct tk_ticket a = issue(f, 1, true), b = issue(f, 2, true), c = issue(f, 3, true), d = issue(f, 4, true);
    assert_int_equal(a.state, TOKEN_ACTIVE);
    assert_int_equal(a.position, 0);
    assert_int_equal(a.expires_at_ms, T0 + 60000);
    assert_true(waitroom_token_well_formed(a.token));
    assert_int_equal(b.state, TOKEN_ACTIVE);
    assert_int_equal(c.state, TOKEN_WAITING);
    assert_int_equal(c.position, 1);
    assert_int_equal(c.expires_at_ms, 0);
    assert_true(c.estimated_wait_s >= 1);
    assert_int_equal(d.position, 2);
    assert_string_not_equal(a.token, b.token);

    /* one live token per user: issuing again returns it and keeps the place */
    struct tk_ticket c2 = issue(f, 3, false);
    assert_string_equal(c2.token, c.token);
    assert_int_equal(c2.position, 1);

    /* A pays: the first waiter (C) is admitted, D moves up */
    assert_int_equal(f->w->ops->finish(f->w, &f->room, a.token, clock_now_ms(&f->clock)), TK_OK);
    assert_int_equal(status_of(f, a.token).state, TOKEN_EXPIRED);
    assert_int_equal(status_of(f, c.token).state, TOKEN_ACTIVE);
    struct tk_ticket d2 = status_of(f, d.token);
    assert_int_equal(d2.state, TOKEN_WAITING);
    assert_int_equal(d2.position, 1);

    /* an expired user gets a new token */
    struct tk_ticket a2 = issue(f, 1, true);
    assert_string_not_equal(a2.token, a.token);
    assert_int_equal(a2.state, TOKEN_WAITING); /* D waits ahead of it */
    assert_int_equal(a2.position, 2);
    int64_t uid = 0;
    assert_int_equal(waitroom_require_active(f->w, &f->room, b.token, clock_now_ms(&f->clock), &uid), TK_OK);
    assert_int_equal(uid, 2);
    assert_int_equal(waitroom_require_active(f->w, &f->room, d.token, clock_now_ms(&f->clock), &uid), TK_ERR_NOT_ADMITTED);
    assert_int_equal(waitroom_require_active(f->w, &f->room, a.token, clock_now_ms(&f->clock), &uid), TK_ERR_NOT_ADMITTED);
    assert_int_equal(waitroom_require_active(f->w, &f->room, "00000000000000000000000000000000", clock_now_ms(&f->clock), &uid),
                     TK_ERR_UNAUTHORIZED);
    assert_int_equal(waitroom_require_active(f->w, &f->room, "short", clock_now_ms(&f->clock), &uid), TK_ERR_UNAUTHORIZED);
    assert_int_equal(waitroom_require_active(f->w, &f->room, NULL, clock_now_ms(&f->clock), &uid), TK_ERR_UNAUTHORIZED);
    close_room(f);
}

static void token_lapses(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 10000, 600000, 100);
    struct tk_ticket a = issue(f, 1, true), b = issue(f, 2, true);
    assert_int_equal(b.state, TOKEN_WAITING);
    clock_fake_advance(&f->clock, 9999);
    assert_int_equal(status_of(f, a.token).state, TOKEN_ACTIVE);
    clock_fake_advance(&f->clock, 1); /* exactly token_ms: lapsed, without any tick */
    assert_int_equal(status_of(f, a.token).state, TOKEN_EXPIRED);
    struct tk_ticket b2 = status_of(f, b.token);
    assert_int_equal(b2.state, TOKEN_ACTIVE);
    assert_int_equal(b2.expires_at_ms, T0 + 10000 + 10000);
    /* expired tokens are remembered for token_ms, then forgotten (Redis forgets by a real-time key TTL,
     * which a fake clock cannot move: that half is checked in-process only) */
    assert_int_equal(status_of(f, a.token).state, TOKEN_EXPIRED);
    if (!USE_REDIS) {
        clock_fake_advance(&f->clock, 10000);
        struct tk_ticket t;
        assert_int_equal(f->w->ops->status(f->w, &f->room, a.token, clock_now_ms(&f->clock), &t), TK_ERR_NOT_FOUND);
    }
    close_room(f);
}

static void admission_rate(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 2, 100000, 600000, 100);
    struct tk_ticket first = issue(f, 1, true);
    struct tk_ticket w[6];
    for (int i = 0; i < 6; i++)
        w[i] = issue(f, 10 + i, true);
    /* raise the ceiling by freeing the one slot repeatedly: admit_per_sec caps admissions, not slots */
    struct tk_waitroom_stats st;
    assert_int_equal(f->w->ops->finish(f->w, &f->room, first.token, clock_now_ms(&f->clock)), TK_OK);
    assert_int_equal(f->w->ops->stats(f->w, &f->room, clock_now_ms(&f->clock), &st), TK_OK);
    assert_int_equal(st.active, 1);
    assert_int_equal(status_of(f, w[0].token).state, TOKEN_ACTIVE);
    assert_int_equal(f->w->ops->finish(f->w, &f->room, w[0].token, clock_now_ms(&f->clock)), TK_OK);
    assert_int_equal(status_of(f, w[1].token).state, TOKEN_ACTIVE); /* 2nd admission this second */
    assert_int_equal(f->w->ops->finish(f->w, &f->room, w[1].token, clock_now_ms(&f->clock)), TK_OK);
    assert_int_equal(status_of(f, w[2].token).state, TOKEN_WAITING); /* the bucket is empty */
    clock_fake_advance(&f->clock, 499);
    assert_int_equal(status_of(f, w[2].token).state, TOKEN_WAITING);
    clock_fake_advance(&f->clock, 1);
    assert_int_equal(status_of(f, w[2].token).state, TOKEN_ACTIVE); /* half a second: one admission */
    assert_int_equal(f->w->ops->stats(f->w, &f->room, clock_now_ms(&f->clock), &st), TK_OK);
    assert_int_equal(st.waiting, 3);
    assert_int_equal(st.admitted_total, 4);
    close_room(f);
}

static void idle_waiter_loses_place(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 100000, 5000, 100);
    issue(f, 1, true);
    struct tk_ticket b = issue(f, 2, true), c = issue(f, 3, true), d = issue(f, 4, true);
    assert_int_equal(d.position, 3);
    clock_fake_advance(&f->clock, 3000);
    status_of(f, b.token); /* B and D poll, C does not */
    status_of(f, d.token);
    clock_fake_advance(&f->clock, 2500); /* C silent 5.5 s > idle 5 s */
    assert_int_equal(f->w->ops->tick(f->w, &f->room, clock_now_ms(&f->clock)), TK_OK);
    assert_int_equal(status_of(f, c.token).state, TOKEN_EXPIRED);
    struct tk_ticket d2 = status_of(f, d.token);
    assert_int_equal(d2.state, TOKEN_WAITING);
    assert_int_equal(d2.position, 2);
    close_room(f);
}

static void line_is_bounded(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 100000, 600000, 16);
    issue(f, 1, true);
    for (int i = 0; i < 16; i++)
        issue(f, 100 + i, true);
    struct tk_ticket t;
    bool created;
    assert_int_equal(f->w->ops->issue(f->w, &f->room, 999, clock_now_ms(&f->clock), &t, &created), TK_ERR_UNAVAILABLE);
    /* an existing waiter still gets its token back */
    assert_int_equal(f->w->ops->issue(f->w, &f->room, 100, clock_now_ms(&f->clock), &t, &created), TK_OK);
    assert_false(created);
    close_room(f);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        USE_REDIS = USE_REDIS || strcmp(argv[i], "--redis") == 0;
        USE_PG = USE_PG || strcmp(argv[i], "--pg") == 0;
    }
    testdb_init(argc, argv);
    if (USE_REDIS && !getenv("TICKETD_TEST_REDIS")) {
        fprintf(stderr, "FAIL: --redis needs TICKETD_TEST_REDIS (start it with: bash scripts/services.sh up)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_machine),      cmocka_unit_test(immediate_and_quota),
        cmocka_unit_test(wait_estimate),      cmocka_unit_test(rank_matches_naive),
        cmocka_unit_test(immediate_then_fifo), cmocka_unit_test(token_lapses),
        cmocka_unit_test(admission_rate),     cmocka_unit_test(idle_waiter_loses_place),
        cmocka_unit_test(line_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
