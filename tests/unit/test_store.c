/* test_store.c — the SQLite store's rules, for every write mode: charges with ledger entries and
 * overflow refusal, holds (limit, expiry at exactly hold_ms with no sweep, re-hold), payments (owner,
 * expiry, balance, double payment), the idempotent sweep, the catalogue, the seat map and the organizer's
 * lists. SQLite by default; run with --pg for the same tests on PostgreSQL (testdb.h). */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store/store.h"
#include "testdb.h"

static const int64_t T0 = TESTDB_T0;
static const int64_t HOLD_MS = 300000;

#define fx store_fx
#define setup store_fx_setup
#define teardown store_fx_teardown



static int64_t sql_int(struct fx *f, const char *sql) { return testdb_int(&f->db, sql); }
static void sql_exec(struct fx *f, const char *sql) { testdb_exec(&f->db, sql); }

static const enum tk_write_mode MODES[] = {TK_WRITE_ATOMIC, TK_WRITE_PESSIMISTIC, TK_WRITE_OPTIMISTIC,
                                           TK_WRITE_UNSAFE};

static void charge_every_mode(void **state)
{
    struct fx *f = *state;
    int64_t u = store_fx_user(f, "tk_a", 0);
    int64_t expect = 0;
    for (size_t m = 0; m < 4; m++) {
        int64_t b = -1;
        assert_int_equal(store_wallet_charge(f->st, MODES[m], u, 1000 + (int64_t)m, T0, NULL, &b, NULL), TK_OK);
        expect += 1000 + (int64_t)m;
        assert_int_equal(b, expect);
    }
    assert_int_equal(store_fx_balance(f, u), expect);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT SUM(amount) FROM ledger WHERE user_id=%lld AND kind='CHARGE'", (long long)u);
    assert_int_equal(sql_int(f, sql), expect);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM ledger WHERE user_id=%lld", (long long)u);
    assert_int_equal(sql_int(f, sql), 4);
    int64_t b;
    assert_int_equal(store_wallet_charge(f->st, TK_WRITE_ATOMIC, 999999, 5, T0, NULL, &b, NULL), TK_ERR_NOT_FOUND);
}

static void charge_overflow_changes_nothing(void **state)
{
    struct fx *f = *state;
    int64_t u = store_fx_user(f, "tk_b", 0);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE users SET balance = 9223372036854775000 WHERE id = %lld", (long long)u);
    sql_exec(f, sql);
    for (size_t m = 0; m < 4; m++) {
        int64_t b = -1;
        assert_int_equal(store_wallet_charge(f->st, MODES[m], u, 1000, T0, NULL, &b, NULL), TK_ERR_OVERFLOW);
        assert_int_equal(store_fx_balance(f, u), 9223372036854775000LL);
    }
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM ledger WHERE user_id=%lld", (long long)u);
    assert_int_equal(sql_int(f, sql), 0);
}

struct seats_ctx {
    int n;
    int64_t first_id;
    int64_t ids[64];
};

static int count_seat(void *arg, const struct tk_seat *s)
{
    struct seats_ctx *c = arg;
    if (!c->n)
        c->first_id = s->id;
    c->ids[c->n++] = s->id;
    return TK_OK;
}

static int seats_free(struct fx *f, int64_t schedule, int64_t now, struct seats_ctx *c)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(store_seats_available(f->st, schedule, now, count_seat, c), TK_OK);
    return c->n;
}

static int hold(struct fx *f, enum tk_write_mode mode, int64_t user, int64_t seat, int64_t now, int max,
                struct tk_hold *out)
{
    struct tk_hold_req r = {.user_id = user, .seat_id = seat, .now_ms = now, .hold_ms = HOLD_MS, .max_holds = max};
    return store_hold_create(f->st, mode, &r, out);
}

static int pay(struct fx *f, int64_t user, int64_t res, int64_t seat, int64_t now, struct tk_payment *out)
{
    struct tk_pay_req r = {.user_id = user, .reservation_id = res, .seat_id = seat, .now_ms = now};
    return store_payment_create(f->st, &r, out);
}

static void hold_rules_every_mode(void **state)
{
    struct fx *f = *state;
    for (size_t m = 0; m < 4; m++) {
        int64_t schedule = 1 + (int64_t)m; /* a fresh date per mode */
        char k1[16], k2[16];
        snprintf(k1, sizeof k1, "tk_h%zu", m);
        snprintf(k2, sizeof k2, "tk_i%zu", m);
        int64_t u1 = store_fx_user(f, k1, 0), u2 = store_fx_user(f, k2, 0);
        struct seats_ctx c;
        assert_int_equal(seats_free(f, schedule, T0, &c), 50);
        int64_t seat = c.ids[0];
        struct tk_hold h, h2;
        assert_int_equal(hold(f, MODES[m], u1, seat, T0, 2, &h), TK_OK);
        assert_int_equal(h.expires_at_ms, T0 + HOLD_MS);
        assert_int_equal(h.seat_number, 1);
        assert_int_equal(h.state, HOLD_HELD);
        assert_int_equal(seats_free(f, schedule, T0, &c), 49);
        /* nobody can hold it while the hold lasts, not even its holder */
        assert_int_equal(hold(f, MODES[m], u2, seat, T0 + HOLD_MS - 1, 2, &h2), TK_ERR_SEAT_UNAVAILABLE);
        assert_int_equal(hold(f, MODES[m], u1, seat, T0, 2, &h2), TK_ERR_SEAT_UNAVAILABLE);
        /* the hold limit */
        assert_int_equal(hold(f, MODES[m], u1, c.ids[1], T0, 2, &h2), TK_OK);
        assert_int_equal(hold(f, MODES[m], u1, c.ids[2], T0, 2, &h2), TK_ERR_HOLD_LIMIT);
        assert_int_equal(seats_free(f, schedule, T0, &c), 48); /* the refused hold left nothing behind */
        /* at exactly hold_ms the seat is free again, with no sweep */
        assert_int_equal(seats_free(f, schedule, T0 + HOLD_MS, &c), 50);
        assert_int_equal(hold(f, MODES[m], u2, seat, T0 + HOLD_MS, 2, &h2), TK_OK);
        /* the first holder's reservation is now expired */
        struct tk_payment p;
        assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + HOLD_MS, &p), TK_ERR_HOLD_EXPIRED);
        assert_int_equal(hold(f, MODES[m], u1, 999999, T0, 2, &h2), TK_ERR_NOT_FOUND);
    }
}

static void payment_rules(void **state)
{
    struct fx *f = *state;
    int64_t rich = store_fx_user(f, "tk_rich", 1000000), poor = store_fx_user(f, "tk_poor", 1000);
    struct seats_ctx c;
    seats_free(f, 6, T0, &c);
    struct tk_hold h, hp;
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, rich, c.ids[0], T0, 4, &h), TK_OK);
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, poor, c.ids[1], T0, 4, &hp), TK_OK);
    struct tk_payment p;
    /* someone else's hold */
    assert_int_equal(pay(f, poor, h.reservation_id, 0, T0 + 1, &p), TK_ERR_FORBIDDEN);
    assert_int_equal(pay(f, rich, 999999, 0, T0 + 1, &p), TK_ERR_NOT_FOUND);
    assert_int_equal(pay(f, rich, 0, c.ids[5], T0 + 1, &p), TK_ERR_NOT_FOUND); /* never held that seat */
    /* insufficient balance changes nothing */
    assert_int_equal(pay(f, poor, hp.reservation_id, 0, T0 + 1, &p), TK_ERR_INSUFFICIENT_BALANCE);
    assert_int_equal(store_fx_balance(f, poor), 1000);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM payments"), 0);
    /* pay by seat */
    assert_int_equal(pay(f, rich, 0, c.ids[0], T0 + 1, &p), TK_OK);
    assert_int_equal(p.amount_won, 150000);
    assert_int_equal(p.balance_won, 850000);
    assert_int_equal(p.reservation_id, h.reservation_id);
    assert_string_equal(p.concert_name, "Neon Harbor Live");
    assert_int_equal(store_fx_balance(f, rich), 850000);
    assert_int_equal(pay(f, rich, h.reservation_id, 0, T0 + 2, &p), TK_ERR_ALREADY_PAID);
    assert_int_equal(store_fx_balance(f, rich), 850000);
    /* the sold seat stays unavailable forever */
    assert_int_equal(seats_free(f, 6, T0 + 10 * HOLD_MS, &c), 49);
    struct tk_hold x;
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, poor, h.seat_id, T0 + 10 * HOLD_MS, 4, &x), TK_ERR_SEAT_UNAVAILABLE);
    /* the ledger agrees with the balance */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT SUM(amount) FROM ledger WHERE user_id=%lld", (long long)rich);
    assert_int_equal(sql_int(f, sql), 850000);
    /* paying after expiry */
    assert_int_equal(pay(f, poor, hp.reservation_id, 0, T0 + HOLD_MS, &p), TK_ERR_HOLD_EXPIRED);
}

static void sweep_is_idempotent(void **state)
{
    struct fx *f = *state;
    int64_t u = store_fx_user(f, "tk_s", 0);
    struct seats_ctx c;
    seats_free(f, 5, T0, &c);
    struct tk_hold h;
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u, c.ids[3], T0, 4, &h), TK_OK);
    int n = -1;
    assert_int_equal(store_holds_expire_due(f->st, T0 + HOLD_MS - 1, 100, &n), TK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_holds_expire_due(f->st, T0 + HOLD_MS, 100, &n), TK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_holds_expire_due(f->st, T0 + HOLD_MS, 100, &n), TK_OK);
    assert_int_equal(n, 0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT held_by IS NULL AND hold_id IS NULL FROM seats WHERE id=%lld", (long long)h.seat_id);
    assert_int_equal(sql_int(f, sql), 1);
    snprintf(sql, sizeof sql, "SELECT status='EXPIRED' FROM reservations WHERE id=%lld", (long long)h.reservation_id);
    assert_int_equal(sql_int(f, sql), 1);
}

struct dates_ctx {
    int n;
    struct tk_schedule rows[16];
};

static int count_date(void *arg, const struct tk_schedule *s)
{
    struct dates_ctx *c = arg;
    c->rows[c->n++] = *s;
    return TK_OK;
}

static int schedules_on_offer(struct fx *f, int64_t concert_id, int64_t now, struct dates_ctx *d)
{
    struct tk_schedule_filter sf = {.concert_id = concert_id, .now_ms = now};
    return store_schedules_list(f->st, &sf, count_date, d);
}

static void catalogue(void **state)
{
    struct fx *f = *state;
    struct dates_ctx d = {0};
    assert_int_equal(schedules_on_offer(f, 0, T0, &d), TK_OK);
    assert_int_equal(d.n, 3 * STORE_DEMO_CONCERT_COUNT);
    for (int i = 0; i < d.n; i++) {
        assert_true(d.rows[i].starts_at_ms > T0);
        assert_int_equal(d.rows[i].total_seats, 50);
    }
    memset(&d, 0, sizeof d);
    assert_int_equal(schedules_on_offer(f, 2, T0, &d), TK_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(schedules_on_offer(f, 77, T0, &d), TK_ERR_NOT_FOUND);
    /* dates that have started are not offered */
    memset(&d, 0, sizeof d);
    assert_int_equal(schedules_on_offer(f, 0, T0 + 100LL * 86400000, &d), TK_OK);
    assert_int_equal(d.n, 0);
    struct seats_ctx c;
    assert_int_equal(store_seats_available(f->st, 77, T0, count_seat, &c), TK_ERR_NOT_FOUND);
    /* a fully held date disappears from the list */
    int64_t u = store_fx_user(f, "tk_full", 0);
    seats_free(f, 3, T0, &c);
    int64_t ids[64];
    memcpy(ids, c.ids, sizeof ids);
    for (int i = 0; i < 50; i++) {
        struct tk_hold h;
        assert_int_equal(hold(f, TK_WRITE_ATOMIC, u, ids[i], T0, 50, &h), TK_OK);
    }
    memset(&d, 0, sizeof d);
    assert_int_equal(schedules_on_offer(f, 1, T0, &d), TK_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(store_ping(f->st), TK_OK);
}

struct cat_seats {
    int n;
    struct tk_seat rows[64];
};

static int cat_seat(void *arg, const struct tk_seat *s)
{
    struct cat_seats *c = arg;
    if (c->n < 64)
        c->rows[c->n] = *s;
    c->n++;
    return TK_OK;
}

struct sales_seen {
    int n;
    struct tk_sale rows[8];
};

static int sale_seen(void *arg, const struct tk_sale *s)
{
    struct sales_seen *c = arg;
    if (c->n < 8)
        c->rows[c->n] = *s;
    c->n++;
    return TK_OK;
}

/* The organizer's catalogue and sales, on every backend. */
static void organizer_catalogue_and_sales(void **state)
{
    struct fx *f = *state;
    struct tk_concert c;
    assert_int_equal(store_concert_create(f->st, "Encore Night", &c), TK_OK);
    assert_true(c.id > STORE_DEMO_CONCERT_COUNT);
    assert_string_equal(c.name, "Encore Night");
    struct tk_price_range ranges[2] = {{.from_seat = 1, .to_seat = 2, .price_won = 200000},
                                       {.from_seat = 3, .to_seat = 5, .price_won = 90000}};
    snprintf(ranges[0].category, sizeof ranges[0].category, "VIP");
    struct tk_schedule_new in = {.concert_id = c.id, .starts_at_ms = T0 + 86400000, .seat_count = 5, .nranges = 2,
                                 .ranges = ranges};
    struct tk_schedule sc;
    assert_int_equal(store_schedule_create(f->st, &in, &sc), TK_OK);
    assert_int_equal(sc.total_seats, 5);
    assert_string_equal(sc.concert_name, "Encore Night");
    struct cat_seats seats = {0};
    assert_int_equal(store_seats_available(f->st, sc.id, T0, cat_seat, &seats), TK_OK);
    assert_int_equal(seats.n, 5);
    assert_int_equal(seats.rows[0].seat_number, 1);
    assert_int_equal(seats.rows[0].price_won, 200000);
    assert_string_equal(seats.rows[0].category, "VIP");
    assert_int_equal(seats.rows[4].price_won, 90000);
    assert_string_equal(seats.rows[4].category, "");
    in.concert_id = 999;
    assert_int_equal(store_schedule_create(f->st, &in, &sc), TK_ERR_NOT_FOUND);

    int64_t owner = 0;
    assert_int_equal(store_owner_concert(f->st, OWNER_SCHEDULE, seats.rows[0].schedule_id, &owner), TK_OK);
    assert_int_equal(owner, c.id);
    assert_int_equal(store_owner_concert(f->st, OWNER_SEAT, seats.rows[2].id, &owner), TK_OK);
    assert_int_equal(owner, c.id);
    assert_int_equal(store_owner_concert(f->st, OWNER_SEAT, 987654, &owner), TK_ERR_NOT_FOUND);

    struct tk_sale sin = {.concert_id = c.id, .state = SALE_OPEN, .opens_at_ms = T0 + 5000, .max_active = 7,
                          .admit_per_sec = 3, .token_seconds = 60};
    struct tk_sale sale, again;
    assert_int_equal(store_sale_create(f->st, &sin, &sale), TK_OK);
    assert_true(sale.id > 0);
    assert_int_equal(sale.concert_id, c.id);
    assert_int_equal(sale.opens_at_ms, T0 + 5000);
    assert_int_equal(sale.max_active, 7);
    assert_int_equal(store_sale_create(f->st, &sin, &again), TK_ERR_INVALID); /* one sale per concert */
    sin.concert_id = 999;
    assert_int_equal(store_sale_create(f->st, &sin, &again), TK_ERR_NOT_FOUND);

    struct tk_sale_patch p = {.has_max_active = true, .max_active = 2, .has_state = true, .state = SALE_PAUSED};
    assert_int_equal(store_sale_update(f->st, sale.id, &p, &again), TK_OK);
    assert_int_equal(again.max_active, 2);
    assert_int_equal(again.state, SALE_PAUSED);
    assert_int_equal(again.admit_per_sec, 3);
    /* the server's SOLD_OUT never overwrites an organizer's CLOSED */
    p = (struct tk_sale_patch){.has_state = true, .state = SALE_CLOSED};
    assert_int_equal(store_sale_update(f->st, sale.id, &p, &again), TK_OK);
    p = (struct tk_sale_patch){.has_state = true, .state = SALE_SOLD_OUT,
                               .state_from_mask = 1u << SALE_OPEN | 1u << SALE_PAUSED};
    assert_int_equal(store_sale_update(f->st, sale.id, &p, &again), TK_ERR_CONFLICT);
    assert_int_equal(store_sale_update(f->st, 999, &p, &again), TK_ERR_NOT_FOUND);

    struct sales_seen seen = {0};
    assert_int_equal(store_sales_list(f->st, 100, sale_seen, &seen), TK_OK);
    bool found = false;
    for (int i = 0; i < seen.n && i < 8; i++)
        if (seen.rows[i].id == sale.id) {
            found = true;
            assert_int_equal(seen.rows[i].state, SALE_CLOSED);
            assert_int_equal(seen.rows[i].max_active, 2);
        }
    assert_true(found);

    /* seat counts: 5 free; hold one, sell one */
    struct tk_seat_counts n;
    assert_int_equal(store_seat_counts(f->st, c.id, T0, &n), TK_OK);
    assert_int_equal(n.free, 5);
    assert_int_equal(n.held + n.sold, 0);
    int64_t u = store_fx_user(f, "tk_counts", 1000000);
    struct tk_hold h1, h2;
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u, seats.rows[0].id, T0, 4, &h1), TK_OK);
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u, seats.rows[1].id, T0, 4, &h2), TK_OK);
    struct tk_payment pay_out;
    assert_int_equal(pay(f, u, h2.reservation_id, 0, T0 + 1, &pay_out), TK_OK);
    assert_int_equal(store_seat_counts(f->st, c.id, T0 + 2, &n), TK_OK);
    assert_int_equal(n.free, 3);
    assert_int_equal(n.held, 1);
    assert_int_equal(n.sold, 1);
    assert_int_equal(store_owner_concert(f->st, OWNER_RESERVATION, h1.reservation_id, &owner), TK_OK);
    assert_int_equal(owner, c.id);
}

static void bad_paths(void **state)
{
    (void)state;
    struct tk_store *st = NULL;
    char err[128] = "";
    assert_int_equal(store_open("mysql://x", 2, &st, err, sizeof err), TK_ERR_INVALID);
    assert_true(strlen(err) > 0);
    assert_int_equal(store_open("sqlite:", 2, &st, err, sizeof err), TK_ERR_INVALID);
    assert_int_not_equal(store_open("sqlite:/nonexistent-dir/x/t.db", 2, &st, err, sizeof err), TK_OK);
    assert_null(st);
}

/* ---------- orders (issue 11): several seats, cancel, refund, a cancelled date ---------- */

static int count_problem(void *arg, const char *problem)
{
    fprintf(stderr, "audit: %s\n", problem);
    (*(int *)arg)++;
    return 0;
}

static int audit_problems(struct fx *f, int64_t now)
{
    int n = 0;
    assert_int_equal(store_audit(f->st, now, 0, count_problem, &n), TK_OK);
    return n;
}

/* A fresh date of `seats` seats priced 1000 won each, starting at starts_at. */
static int64_t orders_date(struct fx *f, int seats, int64_t starts_at)
{
    struct tk_concert c;
    assert_int_equal(store_concert_create(f->st, "Orders", &c), TK_OK);
    struct tk_price_range r = {.from_seat = 1, .to_seat = seats, .price_won = 1000};
    struct tk_schedule_new in = {.concert_id = c.id, .starts_at_ms = starts_at, .seat_count = seats, .nranges = 1,
                                 .ranges = &r};
    struct tk_schedule sc;
    assert_int_equal(store_schedule_create(f->st, &in, &sc), TK_OK);
    return sc.id;
}

static int hold_many(struct fx *f, enum tk_write_mode mode, int64_t user, const int64_t *ids, int n, int64_t now,
                     struct tk_hold *out)
{
    struct tk_hold_req r = {.user_id = user, .seat_id = ids[0], .seat_ids = ids, .nseats = n, .now_ms = now,
                            .hold_ms = HOLD_MS, .max_holds = 4};
    return store_hold_create(f->st, mode, &r, out);
}

static void orders_multi_seat_every_mode(void **state)
{
    struct fx *f = *state;
    for (size_t m = 0; m < 4; m++) {
        int64_t sched = orders_date(f, 10, T0 + 30LL * 86400000);
        char k1[16], k2[16];
        snprintf(k1, sizeof k1, "tk_m%zu", m);
        snprintf(k2, sizeof k2, "tk_n%zu", m);
        int64_t u1 = store_fx_user(f, k1, 100000), u2 = store_fx_user(f, k2, 100000);
        struct seats_ctx c;
        assert_int_equal(seats_free(f, sched, T0, &c), 10);
        int64_t a[3] = {c.ids[0], c.ids[1], c.ids[2]};
        struct tk_hold h, h2;
        assert_int_equal(hold_many(f, MODES[m], u1, a, 3, T0, &h), TK_OK);
        assert_int_equal(h.nseats, 3);
        assert_int_equal(h.amount_won, 3000);
        assert_int_equal(h.seats[2].seat_id, a[2]);
        assert_int_equal(seats_free(f, sched, T0, &c), 7);
        /* an overlapping set: refused whole, the taken seat named, nothing held */
        int64_t b[3] = {a[2], c.ids[0], c.ids[1]};
        if (MODES[m] != TK_WRITE_UNSAFE) {
            assert_int_equal(hold_many(f, MODES[m], u2, b, 3, T0, &h2), TK_ERR_SEAT_UNAVAILABLE);
            assert_int_equal(h2.nunavailable, 1);
            assert_int_equal(h2.unavailable[0], a[2]);
            assert_int_equal(seats_free(f, sched, T0, &c), 7);
        }
        /* the hold limit counts seats: 3 held + 2 > 4 */
        int64_t d[2] = {c.ids[3], c.ids[4]};
        assert_int_equal(hold_many(f, MODES[m], u1, d, 2, T0, &h2), TK_ERR_HOLD_LIMIT);
        assert_int_equal(seats_free(f, sched, T0, &c), 7);
        /* pay the whole reservation: one debit of the sum, every seat sold */
        struct tk_payment p;
        assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 1, &p), TK_OK);
        assert_int_equal(p.amount_won, 3000);
        assert_int_equal(p.balance_won, 97000);
        assert_int_equal(p.nseats, 3);
        assert_int_equal(seats_free(f, sched, T0 + HOLD_MS * 2, &c), 7);
        assert_int_equal(audit_problems(f, T0 + 2), 0);
        /* seats of two dates */
        int64_t other = orders_date(f, 2, T0 + 30LL * 86400000);
        struct seats_ctx c2;
        seats_free(f, other, T0, &c2);
        int64_t mix[2] = {c.ids[0], c2.ids[0]};
        if (mix[0] > mix[1]) {
            int64_t t = mix[0];
            mix[0] = mix[1];
            mix[1] = t;
        }
        assert_int_equal(hold_many(f, MODES[m], u2, mix, 2, T0, &h2), TK_ERR_INVALID);
        int64_t unknown[2] = {c.ids[0], 99999999};
        assert_int_equal(hold_many(f, MODES[m], u2, unknown, 2, T0, &h2), TK_ERR_NOT_FOUND);
    }
}

static void orders_cancel_and_refund(void **state)
{
    struct fx *f = *state;
    int64_t start = T0 + 30LL * 86400000;
    int64_t sched = orders_date(f, 10, start);
    int64_t u1 = store_fx_user(f, "tk_c1", 100000), u2 = store_fx_user(f, "tk_c2", 100000);
    struct seats_ctx c;
    seats_free(f, sched, T0, &c);
    int64_t a[2] = {c.ids[0], c.ids[1]};
    struct tk_hold h;
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, u1, a, 2, T0, &h), TK_OK);
    unsigned cancel_from = 1u << HOLD_HELD, refund_from = 1u << PAYMENT_PAID;
    /* someone else's reservation */
    assert_int_equal(store_hold_cancel(f->st, u2, h.reservation_id, T0, cancel_from), TK_ERR_FORBIDDEN);
    assert_int_equal(store_hold_cancel(f->st, u1, 99999999, T0, cancel_from), TK_ERR_NOT_FOUND);
    assert_int_equal(store_hold_cancel(f->st, u1, h.reservation_id, T0 + 1, cancel_from), TK_OK);
    assert_int_equal(seats_free(f, sched, T0 + 1, &c), 10); /* free at once */
    assert_int_equal(store_hold_cancel(f->st, u1, h.reservation_id, T0 + 2, cancel_from), TK_ERR_HOLD_EXPIRED);
    struct tk_payment p, r;
    assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 2, &p), TK_ERR_HOLD_EXPIRED);
    /* someone else holds them at once */
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, u2, a, 2, T0 + 3, &h), TK_OK);
    assert_int_equal(pay(f, u2, h.reservation_id, 0, T0 + 4, &p), TK_OK);
    assert_int_equal(store_hold_cancel(f->st, u2, h.reservation_id, T0 + 5, cancel_from), TK_ERR_ALREADY_PAID);
    /* refunds: someone else's, past the cutoff, then the payer's, then twice */
    struct tk_refund_req rq = {.payment_id = p.payment_id, .user_id = u1, .cutoff_ms = 86400000, .now_ms = T0 + 6,
                               .from_mask = refund_from};
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_ERR_FORBIDDEN);
    rq.user_id = u2;
    rq.now_ms = start - 86400000 + 1;
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_ERR_REFUND_CLOSED);
    rq.now_ms = T0 + 6;
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_OK);
    assert_int_equal(r.state, PAYMENT_REFUNDED);
    assert_int_equal(r.balance_won, 100000);
    assert_int_equal(seats_free(f, sched, T0 + 6, &c), 10);
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_ERR_ALREADY_REFUNDED);
    rq.user_id = 0; /* the organizer, any time: still once */
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_ERR_ALREADY_REFUNDED);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'"), 1);
    assert_int_equal(audit_problems(f, T0 + 7), 0);
    /* a refunded seat is sold again */
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, u1, a, 2, T0 + 8, &h), TK_OK);
    assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 9, &p), TK_OK);
    assert_int_equal(audit_problems(f, T0 + 10), 0);
    /* the audit notices a refund without its entry */
    sql_exec(f, "DELETE FROM ledger WHERE kind = 'REFUND'");
    assert_true(audit_problems(f, T0 + 11) > 0);
}

static void orders_cancelled_date(void **state)
{
    struct fx *f = *state;
    int64_t sched = orders_date(f, 10, T0 + 30LL * 86400000);
    struct seats_ctx c;
    seats_free(f, sched, T0, &c);
    int64_t total = 0;
    int64_t users[5];
    for (int i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "tk_d%d", i);
        users[i] = store_fx_user(f, k, 5000);
        struct tk_hold h;
        struct tk_payment p;
        int64_t ids[2] = {c.ids[2 * i], c.ids[2 * i + 1]};
        assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, users[i], ids, 2, T0, &h), TK_OK);
        assert_int_equal(pay(f, users[i], h.reservation_id, 0, T0 + 1, &p), TK_OK);
        total += p.amount_won;
    }
    assert_int_equal(total, 10000);
    assert_int_equal(store_schedule_cancel(f->st, 99999999, T0), TK_ERR_NOT_FOUND);
    assert_int_equal(store_schedule_cancel(f->st, sched, T0 + 2), TK_OK);
    int n = 0, all = 0;
    unsigned from = 1u << PAYMENT_PAID;
    /* batches of 2, as if the process died after the first: the rest later, nobody twice */
    assert_int_equal(store_schedule_refund_batch(f->st, sched, 2, T0 + 3, from, &n), TK_OK);
    assert_int_equal(n, 2);
    all += n;
    do {
        assert_int_equal(store_schedule_refund_batch(f->st, sched, 2, T0 + 4, from, &n), TK_OK);
        all += n;
    } while (n > 0);
    assert_int_equal(all, 5);
    assert_int_equal(store_schedule_refund_batch(f->st, sched, 2, T0 + 5, from, &n), TK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'"), 5);
    for (int i = 0; i < 5; i++) {
        struct tk_user u;
        assert_int_equal(store_user_get(f->st, users[i], &u), TK_OK);
        assert_int_equal(u.balance_won, 5000);
    }
    assert_int_equal(audit_problems(f, T0 + 6), 0);
    /* the date is no longer held, paid or listed */
    struct tk_hold h;
    int64_t one[1] = {c.ids[0]};
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, users[0], one, 1, T0 + 7, &h), TK_ERR_SEAT_UNAVAILABLE);
}

/* ---------- the seat map (GET /concert/seat-map): every seat with its status, on both stores ---------- */

static int stop_visit(void *arg, const struct tk_seat *s)
{
    (void)arg;
    (void)s;
    return TK_ERR_CONFLICT;
}

struct map_ctx {
    int n;
    int held, sold;
    int last_number;
    bool ordered;
    struct tk_seat rows[16];
};

static int map_seat(void *arg, const struct tk_seat *s)
{
    struct map_ctx *c = arg;
    if (s->seat_number <= c->last_number)
        c->ordered = false;
    c->last_number = s->seat_number;
    if (c->n < 16)
        c->rows[c->n] = *s;
    c->n++;
    c->held += s->status == SEAT_HELD;
    c->sold += s->status == SEAT_SOLD;
    return TK_OK;
}

static int seat_map(struct fx *f, int64_t sched, int64_t now, struct map_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->ordered = true;
    int rc = store_seat_map(f->st, sched, now, map_seat, c);
    assert_true(c->ordered);
    return rc;
}

static int status_of(const struct map_ctx *c, int64_t seat_id)
{
    for (int i = 0; i < c->n && i < 16; i++)
        if (c->rows[i].id == seat_id)
            return (int)c->rows[i].status;
    fail_msg("seat %lld not in the map", (long long)seat_id);
    return -1;
}

static void seat_map_statuses(void **state)
{
    struct fx *f = *state;
    int64_t sched = orders_date(f, 10, T0 + 30LL * 86400000);
    int64_t u1 = store_fx_user(f, "tk_sm1", 100000), u2 = store_fx_user(f, "tk_sm2", 100000);
    struct map_ctx m;
    assert_int_equal(seat_map(f, sched, T0, &m), TK_OK);
    assert_int_equal(m.n, 10);
    assert_int_equal(m.held + m.sold, 0);
    assert_int_equal(m.rows[0].seat_number, 1);
    assert_int_equal(m.rows[9].seat_number, 10);
    assert_int_equal(m.rows[0].price_won, 1000);
    assert_int_equal(m.rows[0].schedule_id, sched);
    int64_t a[2] = {m.rows[0].id, m.rows[1].id}, b[1] = {m.rows[2].id};
    /* held: anyone's, until the hold's expiry exactly */
    struct tk_hold h, h2;
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, u1, a, 2, T0, &h), TK_OK);
    assert_int_equal(hold_many(f, TK_WRITE_ATOMIC, u2, b, 1, T0, &h2), TK_OK);
    assert_int_equal(seat_map(f, sched, T0 + 1, &m), TK_OK);
    assert_int_equal(m.held, 3);
    assert_int_equal(status_of(&m, a[0]), SEAT_HELD);
    assert_int_equal(status_of(&m, b[0]), SEAT_HELD);
    assert_int_equal(seat_map(f, sched, T0 + HOLD_MS, &m), TK_OK);
    assert_int_equal(m.held, 0); /* expired: free with no sweep */
    /* sold, then free again after a refund */
    struct tk_payment p, r;
    assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 2, &p), TK_OK);
    assert_int_equal(seat_map(f, sched, T0 + 3, &m), TK_OK);
    assert_int_equal(m.sold, 2);
    assert_int_equal(m.held, 1);
    assert_int_equal(status_of(&m, a[1]), SEAT_SOLD);
    assert_int_equal(seat_map(f, sched, T0 + HOLD_MS * 2, &m), TK_OK);
    assert_int_equal(m.sold, 2); /* a sale does not lapse */
    struct tk_refund_req rq = {.payment_id = p.payment_id, .user_id = u1, .cutoff_ms = 86400000, .now_ms = T0 + 4,
                               .from_mask = 1u << PAYMENT_PAID};
    assert_int_equal(store_payment_refund(f->st, &rq, &r), TK_OK);
    assert_int_equal(seat_map(f, sched, T0 + 5, &m), TK_OK);
    assert_int_equal(m.sold, 0);
    assert_int_equal(status_of(&m, a[0]), SEAT_FREE);
    /* a cancelled hold frees its seat at once */
    assert_int_equal(store_hold_cancel(f->st, u2, h2.reservation_id, T0 + 6, 1u << HOLD_HELD), TK_OK);
    assert_int_equal(seat_map(f, sched, T0 + 7, &m), TK_OK);
    assert_int_equal(m.held + m.sold, 0);
    /* unknown and cancelled dates */
    assert_int_equal(seat_map(f, 99999999, T0, &m), TK_ERR_NOT_FOUND);
    assert_int_equal(m.n, 0);
    assert_int_equal(store_schedule_cancel(f->st, sched, T0 + 8), TK_OK);
    assert_int_equal(seat_map(f, sched, T0 + 9, &m), TK_ERR_NOT_FOUND);
    assert_int_equal(m.n, 0);
    /* a visitor's error stops the visit and is returned */
    int64_t other = orders_date(f, 3, T0 + 30LL * 86400000);
    assert_int_equal(store_seat_map(f->st, other, T0, stop_visit, NULL), TK_ERR_CONFLICT);
}

/* ---------- the organizer's lists: every date of a concert (schedules_list every), payments by filter ---------- */

struct pays_ctx {
    int n;
    struct tk_payment rows[8];
};

static int pay_seen(void *arg, const struct tk_payment *p)
{
    struct pays_ctx *c = arg;
    if (c->n < 8)
        c->rows[c->n] = *p;
    c->n++;
    return TK_OK;
}

static int payments(struct fx *f, int64_t user, int64_t sched, int limit, struct pays_ctx *c)
{
    memset(c, 0, sizeof *c);
    struct tk_payment_filter pf = {.user_id = user, .schedule_id = sched};
    return store_payments_list(f->st, &pf, limit, pay_seen, c);
}

static void organizer_lists(void **state)
{
    struct fx *f = *state;
    struct tk_concert c;
    assert_int_equal(store_concert_create(f->st, "Lists", &c), TK_OK);
    struct tk_price_range r = {.from_seat = 1, .to_seat = 2, .price_won = 1000};
    int64_t starts[3] = {T0 + 20LL * 86400000, T0 + 10LL * 86400000, T0 + 30LL * 86400000};
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        struct tk_schedule_new in = {.concert_id = c.id, .starts_at_ms = starts[i], .seat_count = 2, .nranges = 1,
                                     .ranges = &r};
        struct tk_schedule sc;
        assert_int_equal(store_schedule_create(f->st, &in, &sc), TK_OK);
        ids[i] = sc.id;
    }
    /* date 0 sold out (two users, one seat each), date 2 cancelled */
    int64_t u1 = store_fx_user(f, "tk_l1", 10000), u2 = store_fx_user(f, "tk_l2", 10000);
    struct seats_ctx sc0;
    seats_free(f, ids[0], T0, &sc0);
    struct tk_hold h;
    struct tk_payment p1, p2, p3;
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u1, sc0.ids[0], T0, 4, &h), TK_OK);
    assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 1, &p1), TK_OK);
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u2, sc0.ids[1], T0, 4, &h), TK_OK);
    assert_int_equal(pay(f, u2, h.reservation_id, 0, T0 + 2, &p2), TK_OK);
    struct seats_ctx sc1;
    seats_free(f, ids[1], T0, &sc1);
    assert_int_equal(hold(f, TK_WRITE_ATOMIC, u1, sc1.ids[0], T0, 4, &h), TK_OK);
    assert_int_equal(pay(f, u1, h.reservation_id, 0, T0 + 3, &p3), TK_OK);
    assert_int_equal(store_schedule_cancel(f->st, ids[2], T0 + 4), TK_OK);

    /* on offer: only date 1 (date 0 is sold out, date 2 cancelled) */
    struct dates_ctx d = {0};
    assert_int_equal(schedules_on_offer(f, c.id, T0 + 5, &d), TK_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.rows[0].id, ids[1]);
    /* every date: the sold-out one too, oldest first, never the cancelled one; started ones too */
    struct tk_schedule_filter every = {.concert_id = c.id, .now_ms = T0 + 5, .every = true};
    memset(&d, 0, sizeof d);
    assert_int_equal(store_schedules_list(f->st, &every, count_date, &d), TK_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.rows[0].id, ids[1]);
    assert_int_equal(d.rows[1].id, ids[0]);
    assert_int_equal(d.rows[1].reserved_seats, 2);
    assert_int_equal(d.rows[1].total_seats, 2);
    assert_string_equal(d.rows[1].concert_name, "Lists");
    every.now_ms = T0 + 25LL * 86400000; /* date 1 and date 0 have started */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_schedules_list(f->st, &every, count_date, &d), TK_OK);
    assert_int_equal(d.n, 2);
    every.concert_id = 999999;
    assert_int_equal(store_schedules_list(f->st, &every, count_date, &d), TK_ERR_NOT_FOUND);

    /* payments: a user's, a date's, everyone's; newest first, with their date */
    struct pays_ctx pc;
    assert_int_equal(payments(f, u1, 0, 100, &pc), TK_OK);
    assert_int_equal(pc.n, 2);
    assert_int_equal(pc.rows[0].payment_id, p3.payment_id);
    assert_int_equal(pc.rows[0].schedule_id, ids[1]);
    assert_int_equal(pc.rows[1].payment_id, p1.payment_id);
    assert_int_equal(pc.rows[1].schedule_id, ids[0]);
    assert_int_equal(pc.rows[1].user_id, u1);
    assert_int_equal(payments(f, 0, ids[0], 100, &pc), TK_OK);
    assert_int_equal(pc.n, 2);
    assert_int_equal(pc.rows[0].payment_id, p2.payment_id);
    assert_int_equal(pc.rows[0].user_id, u2);
    assert_int_equal(pc.rows[1].payment_id, p1.payment_id);
    assert_int_equal(payments(f, u2, ids[0], 100, &pc), TK_OK);
    assert_int_equal(pc.n, 1);
    assert_int_equal(payments(f, u2, ids[1], 100, &pc), TK_OK);
    assert_int_equal(pc.n, 0);
    assert_int_equal(payments(f, 0, 0, 100, &pc), TK_OK);
    assert_int_equal(pc.n, 3);
    assert_int_equal(pc.rows[0].payment_id, p3.payment_id);
    assert_int_equal(payments(f, 0, 0, 2, &pc), TK_OK);
    assert_int_equal(pc.n, 2);
    assert_int_equal(payments(f, 0, ids[2], 100, &pc), TK_OK);
    assert_int_equal(pc.n, 0);
}

int main(int argc, char **argv)
{
    testdb_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(charge_every_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(charge_overflow_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(hold_rules_every_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(payment_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(catalogue, setup, teardown),
        cmocka_unit_test_setup_teardown(organizer_catalogue_and_sales, setup, teardown),
        cmocka_unit_test(bad_paths),
        cmocka_unit_test_setup_teardown(orders_multi_seat_every_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(orders_cancel_and_refund, setup, teardown),
        cmocka_unit_test_setup_teardown(orders_cancelled_date, setup, teardown),
        cmocka_unit_test_setup_teardown(seat_map_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(organizer_lists, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
