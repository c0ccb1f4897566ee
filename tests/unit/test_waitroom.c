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

/* ---- rooms (one backend object, many rooms; the settings passed on every call) ---- */

static struct wr_room room_new(int64_t id, int max_active, int admit_per_sec, int64_t token_ms, int64_t idle_ms,
                               int64_t opens_at_ms)
{
    return (struct wr_room){.id = id,
                            .policy = {.max_active = max_active, .admit_per_sec = admit_per_sec,
                                       .token_ms = token_ms, .idle_ms = idle_ms, .opens_at_ms = opens_at_ms,
                                       .mode = WR_OPEN}};
}

static int64_t now_of(struct fixture *f) { return clock_now_ms(&f->clock); }

static struct tk_ticket issue_in(struct fixture *f, const struct wr_room *r, int64_t user, bool expect_created)
{
    struct tk_ticket t;
    bool created = !expect_created;
    assert_int_equal(f->w->ops->issue(f->w, r, user, now_of(f), &t, &created), TK_OK);
    assert_int_equal(created, expect_created);
    assert_int_equal(t.user_id, user);
    assert_int_equal(t.room_id, r->id);
    int64_t room = -1;
    assert_int_equal(waitroom_token_room(t.token, &room), TK_OK);
    assert_int_equal(room, r->id);
    return t;
}

static struct tk_ticket status_in(struct fixture *f, const struct wr_room *r, const char *token)
{
    struct tk_ticket t;
    assert_int_equal(f->w->ops->status(f->w, r, token, now_of(f), &t), TK_OK);
    return t;
}

static struct tk_waitroom_stats stats_in(struct fixture *f, const struct wr_room *r)
{
    struct tk_waitroom_stats st;
    assert_int_equal(f->w->ops->stats(f->w, r, now_of(f), &st), TK_OK);
    return st;
}

static void tick_in(struct fixture *f, const struct wr_room *r)
{
    assert_int_equal(f->w->ops->tick(f->w, r, now_of(f)), TK_OK);
}

/* Before opens_at the pre-queue has no positions and nobody is admitted, slots free or not; at the opening the
 * N pre-queued tokens hold positions 1..N, each exactly once, in an order that is not the arrival order (with
 * N = 200 the chance that a uniform shuffle leaves it unchanged is 1/200!, about 1e-375); later arrivals queue
 * FIFO behind them, and admission then takes them in that order. */
static void prequeue_shuffled_once(void **state)
{
    (void)state;
    enum { N = 200 };
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(7, 1000, 1000, 600000, 3600000, T0 + 10000);
    struct tk_ticket t[N + 2];
    for (int i = 0; i < N; i++) {
        t[i] = issue_in(f, &r, 1000 + i, true);
        assert_int_equal(t[i].state, TOKEN_WAITING); /* not admitted at once, though every slot is free */
        assert_int_equal(t[i].position, -1);
        assert_int_equal(t[i].estimated_wait_s, -1);
        assert_int_equal(t[i].expires_at_ms, 0);
    }
    clock_fake_advance(&f->clock, 5000);
    tick_in(f, &r);
    struct tk_ticket again = status_in(f, &r, t[17].token);
    assert_int_equal(again.position, -1);
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.waiting, N);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.admitted_total, 0);
    /* the opening, seen while PAUSED so that the line stays as placed */
    clock_fake_advance(&f->clock, 5000);
    r.policy.mode = WR_PAUSED;
    bool seen[N + 1] = {false};
    int in_arrival_order = 0;
    for (int i = 0; i < N; i++) {
        struct tk_ticket s = status_in(f, &r, t[i].token);
        assert_int_equal(s.state, TOKEN_WAITING);
        assert_true(s.position >= 1 && s.position <= N);
        assert_false(seen[s.position]);
        seen[s.position] = true;
        assert_true(s.estimated_wait_s >= 1);
        in_arrival_order += s.position == i + 1;
    }
    assert_true(in_arrival_order < N);
    t[N] = issue_in(f, &r, 5000, true);
    t[N + 1] = issue_in(f, &r, 5001, true);
    assert_int_equal(t[N].position, N + 1);
    assert_int_equal(t[N + 1].position, N + 2);
    /* the order is fixed: polling again, or from the sweep, changes nobody's place */
    tick_in(f, &r);
    int64_t first_pos = status_in(f, &r, t[0].token).position;
    tick_in(f, &r);
    assert_int_equal(status_in(f, &r, t[0].token).position, first_pos);
    /* OPEN, one slot: the one placed first is admitted; the late arrivals are last */
    r.policy.mode = WR_OPEN;
    r.policy.max_active = 1;
    tick_in(f, &r);
    for (int i = 0; i < N; i++) {
        struct tk_ticket s = status_in(f, &r, t[i].token);
        if (s.state == TOKEN_ACTIVE)
            assert_int_equal(status_in(f, &r, t[i].token).position, 0);
    }
    assert_int_equal(stats_in(f, &r).active, 1);
    assert_int_equal(status_in(f, &r, t[N].token).position, N);
    r.policy.max_active = N + 1; /* everyone from the pre-queue now, the late arrivals just behind */
    tick_in(f, &r);
    for (int i = 0; i < N; i++)
        assert_int_equal(status_in(f, &r, t[i].token).state, TOKEN_ACTIVE);
    assert_int_equal(status_in(f, &r, t[N].token).state, TOKEN_ACTIVE);
    assert_int_equal(status_in(f, &r, t[N + 1].token).position, 1);
    close_room(f);
}

/* The pre-queue order is uniform: over R openings (fresh rooms) of K arrivals each, every arrival index comes
 * first about R/K times. Chi-square with K-1 = 5 degrees of freedom against 25.74, its 1 - 1e-4 quantile: a
 * correct shuffle fails this test once in 10,000 runs; arrival order (or any fixed order) gives 5R = 1500.
 * (K and R are kept small so that the PostgreSQL run, ~0.7 ms a call, stays quick.) */
static void prequeue_order_is_uniform(void **state)
{
    (void)state;
    enum { K = 6, R = 300 };
    struct fixture *f = open_room(1, 100, 600000, 3600000, 100);
    static char tokens[R][K][TOKEN_MAX_LEN + 1];
    for (int room = 0; room < R; room++) {
        struct wr_room r = room_new(100 + room, 1, 1, 600000, 3600000, T0 + 1000);
        r.policy.mode = WR_PAUSED;
        for (int i = 0; i < K; i++)
            memcpy(tokens[room][i], issue_in(f, &r, 1 + i, true).token, TOKEN_MAX_LEN + 1);
    }
    clock_fake_advance(&f->clock, 1000);
    int firsts[K] = {0};
    for (int room = 0; room < R; room++) {
        struct wr_room r = room_new(100 + room, 1, 1, 600000, 3600000, T0 + 1000);
        r.policy.mode = WR_PAUSED;
        int first = -1;
        for (int i = 0; i < K; i++)
            if (status_in(f, &r, tokens[room][i]).position == 1) {
                assert_int_equal(first, -1);
                first = i;
            }
        assert_true(first >= 0);
        firsts[first]++;
    }
    double expected = (double)R / K, chi2 = 0;
    for (int i = 0; i < K; i++)
        chi2 += (firsts[i] - expected) * (firsts[i] - expected) / expected;
    if (chi2 >= 25.74) {
        for (int i = 0; i < K; i++)
            fprintf(stderr, "arrival %d first %d times (expected %.0f)\n", i, firsts[i], expected);
        fail_msg("chi-square %.2f >= 25.74 (p < 1e-4): the pre-queue order is not uniform", chi2);
    }
    close_room(f);
}

/* With a long line and every slot free, admissions follow admit_per_sec: over 20 simulated seconds (after the
 * first, which spends the full bucket) within 5% of 20 x admit_per_sec; the last-minute count sees them all. */
static void admission_rate_sustained(void **state)
{
    (void)state;
    enum { RATE = 25, WAITERS = 600 };
    struct fixture *f = open_room(1, 100, 600000, 3600000, 5000);
    struct wr_room r = room_new(3, 100000, RATE, 3600000, 3600000, T0 + 1000);
    for (int i = 0; i < WAITERS; i++)
        issue_in(f, &r, 1 + i, true);
    clock_fake_advance(&f->clock, 1000); /* the opening */
    tick_in(f, &r);
    for (int step = 0; step < 10; step++) {
        clock_fake_advance(&f->clock, 100);
        tick_in(f, &r);
    }
    uint64_t a1 = stats_in(f, &r).admitted_total;
    for (int step = 0; step < 200; step++) { /* 20 s, a tick every 100 ms */
        clock_fake_advance(&f->clock, 100);
        tick_in(f, &r);
        assert_true(stats_in(f, &r).active <= r.policy.max_active);
    }
    struct tk_waitroom_stats st = stats_in(f, &r);
    int64_t n = (int64_t)(st.admitted_total - a1);
    assert_in_range(n, 20 * RATE * 95 / 100, 20 * RATE * 105 / 100);
    assert_int_equal(st.window_ms, 21000); /* since the first admission, at the opening */
    assert_int_equal(st.admitted_last_minute, (int64_t)st.admitted_total);
    assert_int_equal(st.waiting, WAITERS - (int64_t)st.admitted_total);
    close_room(f);
}

/* ACTIVE never exceeds max_active, also when max_active is cut live: nobody is admitted until enough lapse. */
static void max_active_cut_live(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(4, 10, 100, 5000, 3600000, T0 + 1);
    for (int i = 0; i < 60; i++)
        issue_in(f, &r, 1 + i, true);
    clock_fake_advance(&f->clock, 1);
    tick_in(f, &r);
    assert_int_equal(stats_in(f, &r).active, 10);
    r.policy.max_active = 3; /* live: the next call sees it */
    uint64_t admitted = stats_in(f, &r).admitted_total;
    for (int step = 0; step < 120; step++) { /* 12 s in 100 ms steps; tokens live 5 s */
        clock_fake_advance(&f->clock, 100);
        tick_in(f, &r);
        struct tk_waitroom_stats st = stats_in(f, &r);
        if (step < 49) { /* the first ten are still ACTIVE: nobody else comes in */
            assert_int_equal(st.active, 10);
            assert_int_equal(st.admitted_total, admitted);
        } else {
            assert_true(st.active <= 3);
        }
    }
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.active, 3);
    assert_true(st.admitted_total > admitted);
    close_room(f);
}

/* PAUSED admits nobody, not even into a free slot, while ACTIVE tokens keep working; OPEN resumes. */
static void paused_then_open(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(5, 2, 100, 600000, 3600000, 0);
    struct tk_ticket a = issue_in(f, &r, 1, true), a2 = issue_in(f, &r, 2, true), b = issue_in(f, &r, 3, true);
    assert_int_equal(a.state, TOKEN_ACTIVE);
    assert_int_equal(a2.state, TOKEN_ACTIVE);
    assert_int_equal(b.position, 1);
    r.policy.mode = WR_PAUSED;
    assert_int_equal(f->w->ops->finish(f->w, &r, a.token, now_of(f)), TK_OK);
    clock_fake_advance(&f->clock, 2000);
    tick_in(f, &r);
    assert_int_equal(status_in(f, &r, b.token).state, TOKEN_WAITING);
    assert_int_equal(status_in(f, &r, b.token).position, 1);
    struct tk_ticket c = issue_in(f, &r, 4, true); /* a slot is free, but nobody is admitted */
    assert_int_equal(c.state, TOKEN_WAITING);
    assert_int_equal(c.position, 2);
    int64_t uid = 0;
    assert_int_equal(waitroom_require_active(f->w, &r, a2.token, now_of(f), &uid), TK_OK);
    assert_int_equal(uid, 2);
    assert_int_equal(stats_in(f, &r).admitted_total, 2);
    r.policy.mode = WR_OPEN;
    assert_int_equal(status_in(f, &r, b.token).state, TOKEN_ACTIVE);
    assert_int_equal(status_in(f, &r, c.token).position, 1);
    close_room(f);
}

/* CLOSED: new tokens are refused with SALE_CLOSED, a live ACTIVE token is handed back, every waiter (pre-queue
 * too) expires at the next call, counted as expired, not abandoned. */
static void closed_refuses_and_expires(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(6, 1, 100, 600000, 3600000, 0);
    struct wr_room pre = room_new(8, 1, 100, 600000, 3600000, T0 + 60000);
    struct tk_ticket a = issue_in(f, &r, 1, true), b = issue_in(f, &r, 2, true), c = issue_in(f, &r, 3, true);
    struct tk_ticket p = issue_in(f, &pre, 1, true);
    assert_int_equal(a.state, TOKEN_ACTIVE);
    assert_int_equal(c.position, 2);
    r.policy.mode = WR_CLOSED;
    pre.policy.mode = WR_CLOSED;
    struct tk_ticket t;
    bool created = true;
    assert_int_equal(f->w->ops->issue(f->w, &r, 9, now_of(f), &t, &created), TK_ERR_SALE_CLOSED);
    assert_int_equal(f->w->ops->issue(f->w, &r, 2, now_of(f), &t, &created), TK_ERR_SALE_CLOSED); /* B's expired */
    struct tk_ticket a2 = issue_in(f, &r, 1, false);
    assert_string_equal(a2.token, a.token);
    assert_int_equal(a2.state, TOKEN_ACTIVE);
    assert_int_equal(status_in(f, &r, b.token).state, TOKEN_EXPIRED);
    assert_int_equal(status_in(f, &r, c.token).state, TOKEN_EXPIRED);
    assert_int_equal(status_in(f, &pre, p.token).state, TOKEN_EXPIRED);
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.expired_total, 2);
    assert_int_equal(st.abandoned_total, 0);
    st = stats_in(f, &pre);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.expired_total, 1);
    assert_int_equal(st.abandoned_total, 0);
    close_room(f);
}

/* Rooms are independent: tokens say their room and are found only there; a user holds one live token per room. */
static void rooms_are_independent(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r1 = room_new(1, 1, 100, 600000, 3600000, 0), r2 = room_new(2, 1, 100, 600000, 3600000, 0);
    struct tk_ticket a1 = issue_in(f, &r1, 7, true), a2 = issue_in(f, &r2, 7, true);
    assert_int_equal(a1.state, TOKEN_ACTIVE);
    assert_int_equal(a2.state, TOKEN_ACTIVE); /* room 1 being full does not touch room 2 */
    assert_string_not_equal(a1.token, a2.token);
    assert_memory_equal(a1.token, "1-", 2);
    assert_int_equal(strlen(a1.token), 2 + TOKEN_HEX_LEN);
    struct tk_ticket z = issue(f, 7, true); /* room 0: plain hex */
    assert_int_equal(strlen(z.token), TOKEN_HEX_LEN);
    assert_string_equal(issue_in(f, &r1, 7, false).token, a1.token); /* one live token per user per room */
    assert_string_equal(issue_in(f, &r2, 7, false).token, a2.token);
    struct tk_ticket t;
    assert_int_equal(f->w->ops->status(f->w, &r2, a1.token, now_of(f), &t), TK_ERR_NOT_FOUND);
    assert_int_equal(f->w->ops->status(f->w, &f->room, a1.token, now_of(f), &t), TK_ERR_NOT_FOUND);
    int64_t uid;
    assert_int_equal(waitroom_require_active(f->w, &r2, a1.token, now_of(f), &uid), TK_ERR_UNAUTHORIZED);
    assert_int_equal(waitroom_require_active(f->w, &r1, a1.token, now_of(f), &uid), TK_OK);
    char forged[TOKEN_MAX_LEN + 1];
    assert_true(strlen(a1.token) == 2 + TOKEN_HEX_LEN);
    memcpy(forged, a1.token, sizeof forged); /* room 1's secret under room 2's prefix */
    forged[0] = '2';
    assert_int_equal(f->w->ops->status(f->w, &r2, forged, now_of(f), &t), TK_ERR_NOT_FOUND);
    struct tk_ticket b1 = issue_in(f, &r1, 8, true);
    assert_int_equal(b1.state, TOKEN_WAITING);
    assert_int_equal(stats_in(f, &r2).waiting, 0);
    assert_int_equal(stats_in(f, &r1).waiting, 1);
    assert_int_equal(f->w->ops->finish(f->w, &r2, a2.token, now_of(f)), TK_OK);
    assert_int_equal(status_in(f, &r1, b1.token).state, TOKEN_WAITING); /* room 2's free slot is not room 1's */
    assert_int_equal(status_in(f, &r1, a1.token).state, TOKEN_ACTIVE);
    close_room(f);
}

/* A waiter that stops polling loses its place, also in the pre-queue, counted as abandoned; the next is admitted. */
static void idle_waiter_abandoned(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 5000, 1000);
    struct wr_room r = room_new(9, 1, 100, 600000, 5000, 0);
    struct tk_ticket a = issue_in(f, &r, 1, true), b = issue_in(f, &r, 2, true), c = issue_in(f, &r, 3, true);
    struct wr_room pre = room_new(10, 1, 100, 600000, 5000, T0 + 8000);
    struct tk_ticket p1 = issue_in(f, &pre, 1, true), p2 = issue_in(f, &pre, 2, true);
    clock_fake_advance(&f->clock, 3000);
    status_in(f, &r, c.token); /* C and P2 poll; B and P1 do not */
    status_in(f, &pre, p2.token);
    clock_fake_advance(&f->clock, 2500);
    assert_int_equal(f->w->ops->finish(f->w, &r, a.token, now_of(f)), TK_OK);
    assert_int_equal(status_in(f, &r, c.token).state, TOKEN_ACTIVE); /* B was skipped */
    assert_int_equal(status_in(f, &r, b.token).state, TOKEN_EXPIRED);
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.abandoned_total, 1);
    assert_int_equal(st.expired_total, 2); /* A paid, B abandoned */
    assert_int_equal(st.waiting, 0);
    tick_in(f, &pre);
    assert_int_equal(status_in(f, &pre, p1.token).state, TOKEN_EXPIRED);
    st = stats_in(f, &pre);
    assert_int_equal(st.abandoned_total, 1);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(status_in(f, &pre, p2.token).position, -1); /* P2 polls on */
    clock_fake_advance(&f->clock, 2500); /* T0 + 8 s: the opening; P2 polled 2.5 s ago */
    assert_int_equal(status_in(f, &pre, p2.token).state, TOKEN_ACTIVE);
    close_room(f);
}

/* The stats agree with what happened: waiting, active, totals, the last minute, and the quantiles of known waits
 * (from arrival, or from the opening for the pre-queue; immediate = 0). */
static void stats_agree(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(11, 1, 1000, 600000, 3600000, 0);
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.wait_p50_s, -1);
    assert_int_equal(st.wait_p95_s, -1);
    assert_int_equal(st.admitted_last_minute, 0);
    struct tk_ticket t[5];
    for (int i = 0; i < 5; i++)
        t[i] = issue_in(f, &r, 1 + i, true); /* t0 immediate (0 s), then waits of 2, 5, 9 s; t4 stays */
    const int64_t at[] = {2000, 5000, 9000};
    for (int i = 0; i < 3; i++) {
        clock_fake_advance(&f->clock, at[i] - (now_of(f) - T0));
        assert_int_equal(f->w->ops->finish(f->w, &r, t[i].token, now_of(f)), TK_OK);
        assert_int_equal(status_in(f, &r, t[i + 1].token).state, TOKEN_ACTIVE);
        status_in(f, &r, t[4].token);
    }
    st = stats_in(f, &r);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.issued_total, 5);
    assert_int_equal(st.admitted_total, 4);
    assert_int_equal(st.expired_total, 3);
    assert_int_equal(st.abandoned_total, 0);
    assert_int_equal(st.admitted_last_minute, 4);
    assert_int_equal(st.window_ms, 9000);
    assert_int_equal(st.wait_p50_s, 2); /* waits 0, 2, 5, 9: the 2nd smallest */
    assert_int_equal(st.wait_p95_s, 9);
    clock_fake_advance(&f->clock, 61000); /* the last minute has no admissions; the window is a full minute */
    status_in(f, &r, t[4].token);
    st = stats_in(f, &r);
    assert_int_equal(st.admitted_last_minute, 0);
    assert_int_equal(st.window_ms, 60000);
    assert_int_equal(st.admitted_total, 4);
    /* the pre-queue waits from the opening: arrived 10 s early, admitted at the opening = 0 s */
    struct wr_room pre = room_new(12, 10, 1000, 600000, 3600000, now_of(f) + 10000);
    issue_in(f, &pre, 1, true);
    clock_fake_advance(&f->clock, 10000);
    tick_in(f, &pre);
    st = stats_in(f, &pre);
    assert_int_equal(st.admitted_total, 1);
    assert_int_equal(st.wait_p50_s, 0);
    assert_int_equal(st.wait_p95_s, 0);
    close_room(f);
}

/* The estimate comes from the measured rate once there is one: here 1 admission a second (slots free up once a
 * second), where the configured figures would say max_active / token_ms = 1 per 600 s. */
static void estimate_from_measured_rate(void **state)
{
    (void)state;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 1000);
    struct wr_room r = room_new(13, 1, 10, 600000, 3600000, 0);
    struct tk_ticket t[21];
    for (int i = 0; i < 21; i++)
        t[i] = issue_in(f, &r, 1 + i, true);
    /* nothing measured yet apart from the first, immediate, admission: ceil(10 / (1 per 1 s)) */
    for (int i = 1; i <= 10; i++) { /* one payment a second: t[i] admitted at T0 + i s */
        clock_fake_advance(&f->clock, 1000);
        assert_int_equal(f->w->ops->finish(f->w, &r, t[i - 1].token, now_of(f)), TK_OK);
        for (int k = i; k < 21; k++)
            status_in(f, &r, t[k].token);
    }
    struct tk_waitroom_stats st = stats_in(f, &r);
    assert_int_equal(st.admitted_last_minute, 11);
    assert_int_equal(st.window_ms, 10000);
    struct tk_ticket last = status_in(f, &r, t[20].token);
    assert_int_equal(last.position, 10);
    /* 11 admissions in 10 s: ceil(10 / 1.1) = 10 s, where max_active / token_ms would give 6000 s */
    assert_int_equal(last.estimated_wait_s, 10);
    assert_int_equal(last.estimated_wait_s,
                     admission_estimate_wait_s(&r.policy, now_of(f), 10, 1, st.admitted_last_minute, st.window_ms));
    assert_int_equal(admission_estimate_wait_s(&r.policy, now_of(f), 10, 1, 0, 0), 6000);
    assert_int_equal(status_in(f, &r, t[11].token).estimated_wait_s, 1);
    close_room(f);
}

/* In-process: at most WAITROOM_ROOMS_MAX rooms, then TK_ERR_UNAVAILABLE (the shared backends keep rooms in
 * Redis / the database, whose size bounds them: each room's keys and rows are bounded and expire). */
static void rooms_bounded(void **state)
{
    (void)state;
    if (USE_REDIS || USE_PG)
        return;
    struct fixture *f = open_room(1, 100, 600000, 3600000, 10);
    struct tk_ticket t;
    bool created;
    for (int i = 1; i <= WAITROOM_ROOMS_MAX; i++) {
        struct wr_room r = room_new(i, 1, 1, 1000, 1000, 0);
        assert_int_equal(f->w->ops->issue(f->w, &r, 1, now_of(f), &t, &created), TK_OK);
    }
    struct wr_room r = room_new(WAITROOM_ROOMS_MAX + 1, 1, 1, 1000, 1000, 0);
    assert_int_equal(f->w->ops->issue(f->w, &r, 1, now_of(f), &t, &created), TK_ERR_UNAVAILABLE);
    r.id = 5; /* an existing room still serves */
    assert_int_equal(f->w->ops->issue(f->w, &r, 2, now_of(f), &t, &created), TK_OK);
    close_room(f);
}


/* ---- admission decided once: one table of cases through the C rule and through every backend's own ---- */

struct rule_case {
    enum wr_mode mode;
    int64_t opens_at, max_active, rate, now, active, waiting, milli, last; /* times relative to T0 */
    int64_t quota, milli_after, last_after;                                /* expected (last_after relative) */
    bool immediate;
};

static const struct rule_case RULE_CASES[] = {
    /* mode   opens max rate now act wait milli  last   quota milli' last' imm */
    {WR_OPEN, 0, 3, 2, 0, 0, 10, 2000, 0, 2, 0, 0, false},            /* rate-limited to 2 */
    {WR_OPEN, 0, 3, 2, 0, 2, 10, 2000, 0, 1, 1000, 0, false},         /* one slot free */
    {WR_OPEN, 0, 3, 2, 0, 0, 1, 2000, 0, 1, 1000, 0, false},          /* only one waits */
    {WR_OPEN, 0, 3, 2, 0, 3, 10, 2000, 0, 0, 2000, 0, false},         /* full */
    {WR_OPEN, 0, 3, 2, 0, 5, 10, 2000, 0, 0, 2000, 0, false},         /* max_active cut below the active count */
    {WR_OPEN, 0, 3, 2, 0, 0, 10, 0, -100, 0, 200, 0, false},          /* 0.2 admissions refilled */
    {WR_OPEN, 0, 3, 2, 0, 0, 10, 0, -500, 1, 0, 0, false},            /* 1.0 refilled, taken */
    {WR_OPEN, 0, 3, 2, 0, 0, 10, 0, -5000, 2, 0, 0, false},           /* capped at one second's worth */
    {WR_OPEN, 0, 3, 1, 0, 0, 10, 5000, 0, 1, 0, 0, false},            /* admit_per_sec cut live: bucket cut too */
    {WR_PAUSED, 0, 3, 2, 0, 0, 10, 0, -2000, 0, 2000, 0, false},      /* paused: refills, admits nobody */
    {WR_CLOSED, 0, 3, 2, 0, 0, 10, 2000, 0, 0, 2000, 0, false},       /* closed */
    {WR_OPEN, 1000, 3, 2, 0, 0, 10, 2000, 0, 0, 2000, 0, false},      /* before the opening */
    {WR_OPEN, 0, 3, 2, 0, 0, 0, 2000, 0, 0, 2000, 0, true},           /* nobody waits, slots free: at once */
    {WR_OPEN, 0, 3, 2, 0, 2, 0, 2000, 0, 0, 2000, 0, true},
    {WR_OPEN, 0, 3, 2, 0, 3, 0, 2000, 0, 0, 2000, 0, false},          /* full: no */
    {WR_PAUSED, 0, 3, 2, 0, 0, 0, 2000, 0, 0, 2000, 0, false},        /* paused: no */
    {WR_OPEN, 0, 3, 2, 0, 0, 10, 500, 50, 0, 500, 50, false},         /* a clock behind the stored one: no refill */
    {WR_OPEN, 0, 1000000, 100000, 0, 0, 1000000, 0, -1000, 100000, 0, 0, false}, /* large numbers */
};

static struct admission_input rule_input(const struct rule_case *c)
{
    return (struct admission_input){
        .policy = {.max_active = (int)c->max_active, .admit_per_sec = (int)c->rate, .token_ms = 60000,
                   .idle_ms = 10000, .opens_at_ms = T0 + c->opens_at, .mode = c->mode},
        .now_ms = T0 + c->now,
        .active = c->active,
        .waiting = c->waiting,
        .bucket = {.milli = c->milli, .last_ms = T0 + c->last}};
}

static void assert_same_decision(const struct admission_decision *a, const struct admission_decision *b, int i)
{
    if (a->quota != b->quota || a->immediate != b->immediate || a->bucket.milli != b->bucket.milli ||
        a->bucket.last_ms != b->bucket.last_ms)
        fail_msg("case %d: quota %lld/%lld immediate %d/%d milli %lld/%lld last %lld/%lld", i, (long long)a->quota,
                 (long long)b->quota, a->immediate, b->immediate, (long long)a->bucket.milli,
                 (long long)b->bucket.milli, (long long)a->bucket.last_ms, (long long)b->bucket.last_ms);
}

/* The C rule against the table's stated decisions; then this backend's own rule (Lua, PL/pgSQL, or the C one)
 * against the C rule on the table and on 400 more cases drawn with a fixed seed. */
static void admission_decided_once(void **state)
{
    (void)state;
    struct fixture *f = open_room(2, 100, 60000, 600000, 100);
    const int n = (int)(sizeof RULE_CASES / sizeof RULE_CASES[0]);
    for (int i = 0; i < n; i++) {
        const struct rule_case *c = &RULE_CASES[i];
        struct admission_input in = rule_input(c);
        struct admission_decision want = {.quota = c->quota, .immediate = c->immediate,
                                          .bucket = {.milli = c->milli_after, .last_ms = T0 + c->last_after}};
        struct admission_decision got, backend;
        admission_decide(&in, &got);
        assert_same_decision(&want, &got, i);
        assert_int_equal(f->w->ops->decide(f->w, &in, &backend), TK_OK);
        assert_same_decision(&got, &backend, i);
    }
    srand(42);
    for (int i = 0; i < 400; i++) {
        int64_t rate = 1 + rand() % 50;
        struct rule_case c = {.mode = (enum wr_mode)(rand() % 3), .opens_at = rand() % 3 == 0 ? rand() % 2000 : 0,
                              .max_active = 1 + rand() % 20, .rate = rate, .now = rand() % 1500,
                              .active = rand() % 25, .waiting = rand() % 4 == 0 ? 0 : rand() % 30,
                              .milli = rand() % (rate * 1000 + 3000), .last = rand() % 1800 - 300};
        struct admission_input in = rule_input(&c);
        struct admission_decision got, backend;
        admission_decide(&in, &got);
        assert_int_equal(f->w->ops->decide(f->w, &in, &backend), TK_OK);
        assert_same_decision(&got, &backend, n + i);
    }
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
        cmocka_unit_test(prequeue_shuffled_once), cmocka_unit_test(prequeue_order_is_uniform),
        cmocka_unit_test(admission_rate_sustained), cmocka_unit_test(max_active_cut_live),
        cmocka_unit_test(paused_then_open),   cmocka_unit_test(closed_refuses_and_expires),
        cmocka_unit_test(rooms_are_independent), cmocka_unit_test(idle_waiter_abandoned),
        cmocka_unit_test(stats_agree),        cmocka_unit_test(estimate_from_measured_rate),
        cmocka_unit_test(rooms_bounded),      cmocka_unit_test(admission_decided_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
