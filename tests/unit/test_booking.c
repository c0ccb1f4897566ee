/* test_booking.c — core/ wired as the server wires it (SQLite store, strategy, in-process waiting room)
 * on a fake clock: accounts and keys, charge validation, hold expiry with no sweep, payment expiring
 * the queue token and admitting the next waiter, and the sweep; orders (multi-seat hold, its payment, cancel,
 * refunds and the cutoff, a date's cancel in batches) through booking_*. */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sqlite3.h>
#include "core/app.h"
#include "util/exec.h"

static const int64_t T0 = 1800000000000LL;

struct fx {
    char dir[64];
    struct tk_clock clock;
    struct tk_app app;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tk-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char url[128], err[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", f->dir);
    clock_fake_init(&f->clock, T0);
    struct tk_app *a = &f->app;
    assert_int_equal(store_open(url, 3, &a->store, err, sizeof err), TK_OK);
    assert_int_equal(store_migrate(a->store), TK_OK);
    bool seeded;
    assert_int_equal(store_seed_demo(a->store, T0, &seeded), TK_OK);
    assert_int_equal(strategy_open("atomic", 5, &a->strategy, err, sizeof err), TK_OK);
    struct admission_policy p = {.max_active = 1, .admit_per_sec = 10, .token_ms = 600000, .idle_ms = 600000};
    assert_int_equal(waitroom_mem_open(100, &a->waitroom), TK_OK);
    a->site_room = (struct wr_room){.id = 0, .policy = p};
    a->clock = &f->clock;
    a->hold_ms = 300000;
    a->max_holds_per_user = 4;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    waitroom_free(f->app.waitroom);
    strategy_free(f->app.strategy);
    store_close(f->app.store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void accounts(void **state)
{
    struct fx *f = *state;
    struct tk_user u;
    char key[API_KEY_LEN + 1];
    assert_int_equal(account_create(&f->app, "lee", &u, key), TK_OK);
    assert_int_equal(strlen(key), API_KEY_LEN);
    assert_memory_equal(key, "tk_", 3);
    char header[64];
    snprintf(header, sizeof header, "Bearer %s", key);
    int64_t uid = 0;
    assert_int_equal(account_authenticate(&f->app, header, &uid), TK_OK);
    assert_int_equal(uid, u.id);
    /* forged, malformed or missing keys */
    char forged[64];
    snprintf(forged, sizeof forged, "Bearer %s", key);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(account_authenticate(&f->app, forged, &uid), TK_ERR_UNAUTHORIZED);
    assert_int_equal(account_authenticate(&f->app, key, &uid), TK_ERR_UNAUTHORIZED); /* no "Bearer " */
    assert_int_equal(account_authenticate(&f->app, "Bearer ' OR 1=1 --", &uid), TK_ERR_UNAUTHORIZED);
    assert_int_equal(account_authenticate(&f->app, NULL, &uid), TK_ERR_UNAUTHORIZED);
    struct tk_user u2;
    char key2[API_KEY_LEN + 1];
    assert_int_equal(account_create(&f->app, "", &u2, key2), TK_ERR_INVALID);
}

static void charges(void **state)
{
    struct fx *f = *state;
    struct tk_user u;
    char key[API_KEY_LEN + 1];
    assert_int_equal(account_create(&f->app, "park", &u, key), TK_OK);
    int64_t b = -1;
    assert_int_equal(wallet_charge(&f->app, u.id, 0, NULL, &b, NULL), TK_ERR_INVALID);
    assert_int_equal(wallet_charge(&f->app, u.id, -5, NULL, &b, NULL), TK_ERR_INVALID);
    assert_int_equal(wallet_charge(&f->app, u.id, 1000000001, NULL, &b, NULL), TK_ERR_INVALID);
    assert_int_equal(wallet_balance(&f->app, u.id, &b), TK_OK);
    assert_int_equal(b, 0);
    assert_int_equal(wallet_charge(&f->app, u.id, 1000000000, NULL, &b, NULL), TK_OK);
    assert_int_equal(b, 1000000000);
    assert_int_equal(f->app.counters.charges, 1);
}

static void hold_pay_and_admission(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    struct tk_user u1, u2;
    char k1[API_KEY_LEN + 1], k2[API_KEY_LEN + 1];
    assert_int_equal(account_create(a, "a", &u1, k1), TK_OK);
    assert_int_equal(account_create(a, "b", &u2, k2), TK_OK);
    int64_t b;
    assert_int_equal(wallet_charge(a, u1.id, 500000, NULL, &b, NULL), TK_OK);
    struct tk_ticket t1, t2;
    bool created;
    assert_int_equal(a->waitroom->ops->issue(a->waitroom, &a->site_room, u1.id, T0, &t1, &created), TK_OK);
    assert_int_equal(a->waitroom->ops->issue(a->waitroom, &a->site_room, u2.id, T0, &t2, &created), TK_OK);
    assert_int_equal(t1.state, TOKEN_ACTIVE);
    assert_int_equal(t2.state, TOKEN_WAITING);

    struct tk_hold h;
    assert_int_equal(booking_hold(a, u1.id, 1, NULL, &h), TK_OK);
    assert_int_equal(h.expires_at_ms, T0 + 300000);
    struct tk_hold other;
    assert_int_equal(booking_hold(a, u2.id, 1, NULL, &other), TK_ERR_SEAT_UNAVAILABLE);
    /* the hold lapses at hold_ms with no sweep; then u1 holds it again */
    clock_fake_advance(&f->clock, 300000);
    struct tk_payment p;
    assert_int_equal(booking_pay(a, u1.id, t1.token, h.reservation_id, 0, NULL, &p), TK_ERR_HOLD_EXPIRED);
    assert_int_equal(wallet_balance(a, u1.id, &b), TK_OK);
    assert_int_equal(b, 500000);
    assert_int_equal(booking_hold(a, u1.id, 1, NULL, &h), TK_OK);
    struct tk_ticket s;
    /* the waiter keeps polling (a silent one would lose its place after idle_ms) */
    assert_int_equal(a->waitroom->ops->status(a->waitroom, &a->site_room, t2.token, clock_now_ms(&f->clock), &s), TK_OK);
    assert_int_equal(s.state, TOKEN_WAITING);
    assert_int_equal(booking_pay(a, u1.id, t1.token, h.reservation_id, 0, NULL, &p), TK_OK);
    assert_int_equal(p.balance_won, 350000);
    assert_int_equal(a->counters.payments, 1);
    assert_int_equal(a->counters.payments_won, 150000);
    /* paying expired the token and admitted the waiter */
    assert_int_equal(a->waitroom->ops->status(a->waitroom, &a->site_room, t1.token, clock_now_ms(&f->clock), &s), TK_OK);
    assert_int_equal(s.state, TOKEN_EXPIRED);
    assert_int_equal(a->waitroom->ops->status(a->waitroom, &a->site_room, t2.token, clock_now_ms(&f->clock), &s), TK_OK);
    assert_int_equal(s.state, TOKEN_ACTIVE);
    assert_int_equal(booking_pay(a, u1.id, NULL, h.reservation_id, 0, NULL, &p), TK_ERR_ALREADY_PAID);
}

static void sweep(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    struct tk_user u;
    char k[API_KEY_LEN + 1];
    assert_int_equal(account_create(a, "c", &u, k), TK_OK);
    struct tk_hold h1, h2;
    assert_int_equal(booking_hold(a, u.id, 10, NULL, &h1), TK_OK);
    assert_int_equal(booking_hold(a, u.id, 11, NULL, &h2), TK_OK);
    assert_int_equal(sweep_once(a), TK_OK);
    assert_int_equal(a->counters.holds_expired, 0);
    clock_fake_advance(&f->clock, 300000);
    assert_int_equal(sweep_once(a), TK_OK);
    assert_int_equal(a->counters.holds_expired, 2);
    assert_int_equal(sweep_once(a), TK_OK);
    assert_int_equal(a->counters.holds_expired, 2);
    /* the background sweeper starts and stops cleanly */
    struct tk_sweeper *sw = NULL;
    assert_int_equal(sweeper_start(a, 10, &sw), TK_OK);
    usleep(30000);
    sweeper_stop(sw);
    sweeper_stop(NULL);
}

/* ---------- orders (issue 11), through core as the server calls it ---------- */

static int count_problem(void *arg, const char *problem)
{
    fprintf(stderr, "reconcile: %s\n", problem);
    (void)arg;
    return 0;
}

static int reconcile_problems(struct tk_app *a)
{
    int n = -1;
    assert_int_equal(reconcile_run(a->store, app_now_ms(a), 0, count_problem, NULL, &n), TK_OK);
    return n;
}

struct pay_list {
    int n;
    struct tk_payment last;
};

static int pay_list_item(void *arg, const struct tk_payment *p)
{
    struct pay_list *l = arg;
    if (l->n++ == 0)
        l->last = *p; /* newest first */
    return TK_OK;
}

/* Demo date 1 (seats 1..50, seats 1..10 at 150,000; starts 7 days after T0's midnight, 19:00) and seat 51 of
 * date 2. A multi-seat hold is all or none, in id order, limited in seats; its payment is one debit of the sum and
 * expires the token; a refund credits it back once, frees the seats, and closes at the cutoff (fake clock). */
static void orders_hold_pay_refund(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    a->refund_cutoff_ms = 86400000;
    struct tk_user u1, u2;
    char k1[API_KEY_LEN + 1], k2[API_KEY_LEN + 1];
    assert_int_equal(account_create(a, "m1", &u1, k1), TK_OK);
    assert_int_equal(account_create(a, "m2", &u2, k2), TK_OK);
    int64_t b;
    assert_int_equal(wallet_charge(a, u1.id, 1000000, NULL, &b, NULL), TK_OK);
    assert_int_equal(wallet_charge(a, u2.id, 1000000, NULL, &b, NULL), TK_OK);
    struct tk_ticket t1;
    bool created;
    assert_int_equal(a->waitroom->ops->issue(a->waitroom, &a->site_room, u1.id, T0, &t1, &created), TK_OK);
    assert_int_equal(t1.state, TOKEN_ACTIVE);

    /* bad lists change nothing: empty, longer than max_holds_per_user (4), a seat twice, two dates */
    struct tk_hold h, h2;
    int64_t five[5] = {1, 2, 3, 4, 5}, twice[2] = {5, 5}, two_dates[2] = {1, 51};
    assert_int_equal(booking_hold_seats(a, u1.id, five, 0, NULL, &h), TK_ERR_INVALID);
    assert_int_equal(booking_hold_seats(a, u1.id, five, 5, NULL, &h), TK_ERR_INVALID);
    assert_int_equal(booking_hold_seats(a, u1.id, twice, 2, NULL, &h), TK_ERR_INVALID);
    assert_int_equal(booking_hold_seats(a, u1.id, two_dates, 2, NULL, &h), TK_ERR_INVALID);
    /* out of order in the request, ascending in the hold */
    int64_t mine[3] = {3, 1, 2};
    assert_int_equal(booking_hold_seats(a, u1.id, mine, 3, NULL, &h), TK_OK);
    assert_int_equal(h.nseats, 3);
    assert_int_equal(h.seats[0].seat_id, 1);
    assert_int_equal(h.seats[2].seat_id, 3);
    assert_int_equal(h.amount_won, 3 * 150000);
    assert_int_equal(h.expires_at_ms, T0 + 300000);
    assert_int_equal(a->counters.holds_created, 1);
    /* an overlapping set is refused whole, the taken seat named; its free seat was not held */
    int64_t overlap[2] = {4, 3};
    assert_int_equal(booking_hold_seats(a, u2.id, overlap, 2, NULL, &h2), TK_ERR_SEAT_UNAVAILABLE);
    assert_int_equal(h2.nunavailable, 1);
    assert_int_equal(h2.unavailable[0], 3);
    int64_t four[1] = {4};
    assert_int_equal(booking_hold_seats(a, u2.id, four, 1, NULL, &h2), TK_OK);
    assert_int_equal(booking_cancel(a, u1.id, h2.reservation_id), TK_ERR_FORBIDDEN);
    assert_int_equal(booking_cancel(a, u2.id, h2.reservation_id), TK_OK);
    assert_int_equal(booking_cancel(a, u2.id, h2.reservation_id), TK_ERR_HOLD_EXPIRED);
    assert_int_equal(booking_hold(a, u1.id, 4, NULL, &h2), TK_OK); /* free at once */
    /* the limit counts seats: 3 + 1 held, one more is too many */
    int64_t six[1] = {6};
    assert_int_equal(booking_hold_seats(a, u1.id, six, 1, NULL, &h2), TK_ERR_HOLD_LIMIT);
    assert_int_equal(booking_cancel(a, u1.id, h2.reservation_id), TK_OK);

    /* one payment of the sum, a moment before the hold lapses; the token is spent */
    clock_fake_advance(&f->clock, 299999);
    struct tk_payment p, r;
    assert_int_equal(booking_pay(a, u2.id, NULL, h.reservation_id, 0, NULL, &p), TK_ERR_FORBIDDEN);
    assert_int_equal(booking_pay(a, u1.id, t1.token, h.reservation_id, 0, NULL, &p), TK_OK);
    assert_int_equal(p.amount_won, 450000);
    assert_int_equal(p.balance_won, 550000);
    assert_int_equal(p.nseats, 3);
    assert_int_equal(p.state, PAYMENT_PAID);
    assert_int_equal(a->counters.payments, 1);
    assert_int_equal(a->counters.payments_won, 450000);
    struct tk_ticket s;
    assert_int_equal(a->waitroom->ops->status(a->waitroom, &a->site_room, t1.token, app_now_ms(a), &s), TK_OK);
    assert_int_equal(s.state, TOKEN_EXPIRED);
    assert_int_equal(booking_pay(a, u1.id, NULL, h.reservation_id, 0, NULL, &p), TK_ERR_ALREADY_PAID);
    assert_int_equal(booking_hold_seats(a, u2.id, mine, 3, NULL, &h2), TK_ERR_SEAT_UNAVAILABLE); /* sold */
    assert_int_equal(h2.nunavailable, 3);
    assert_int_equal(reconcile_problems(a), 0);

    /* refunds: someone else's, then the payer's, then twice (payer and organizer) */
    assert_int_equal(booking_refund(a, u2.id, p.payment_id, NULL, &r), TK_ERR_FORBIDDEN);
    assert_int_equal(booking_refund(a, u1.id, 99999999, NULL, &r), TK_ERR_NOT_FOUND);
    assert_int_equal(booking_refund(a, u1.id, p.payment_id, NULL, &r), TK_OK);
    assert_int_equal(r.state, PAYMENT_REFUNDED);
    assert_int_equal(r.balance_won, 1000000);
    assert_int_equal(r.nseats, 3);
    assert_int_equal(booking_refund(a, u1.id, p.payment_id, NULL, &r), TK_ERR_ALREADY_REFUNDED);
    assert_int_equal(booking_refund(a, 0, p.payment_id, NULL, &r), TK_ERR_ALREADY_REFUNDED);
    assert_int_equal(wallet_balance(a, u1.id, &b), TK_OK);
    assert_int_equal(b, 1000000);
    struct pay_list l = {0};
    assert_int_equal(booking_payments(a, &(struct tk_payment_filter){.user_id = u1.id}, 20, pay_list_item, &l), TK_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.last.state, PAYMENT_REFUNDED);
    assert_int_equal(l.last.nseats, 3);
    assert_int_equal(booking_payments(a, &(struct tk_payment_filter){.user_id = u1.id}, 0, pay_list_item, &l), TK_ERR_INVALID);
    assert_int_equal(reconcile_problems(a), 0);

    /* the seats are on sale again at once: u2 buys two reservations of them */
    int64_t first[2] = {1, 2}, third[1] = {3};
    struct tk_payment p2, p3;
    assert_int_equal(booking_hold_seats(a, u2.id, first, 2, NULL, &h2), TK_OK);
    assert_int_equal(booking_pay(a, u2.id, NULL, h2.reservation_id, 0, NULL, &p2), TK_OK);
    assert_int_equal(booking_hold_seats(a, u2.id, third, 1, NULL, &h2), TK_OK);
    assert_int_equal(booking_pay(a, u2.id, NULL, h2.reservation_id, 0, NULL, &p3), TK_OK);
    /* the cutoff: the payer may refund until exactly starts_at - cutoff, the organizer after it too */
    int64_t starts = store_demo_starts_at_ms(T0, STORE_DEMO_CONCERTS[0].days_ahead[0]);
    clock_fake_advance(&f->clock, starts - a->refund_cutoff_ms - app_now_ms(a));
    assert_int_equal(booking_refund(a, u2.id, p2.payment_id, NULL, &r), TK_OK);
    clock_fake_advance(&f->clock, 1);
    assert_int_equal(booking_refund(a, u2.id, p3.payment_id, NULL, &r), TK_ERR_REFUND_CLOSED);
    assert_int_equal(booking_refund(a, 0, p3.payment_id, NULL, &r), TK_OK);
    assert_int_equal(r.state, PAYMENT_REFUNDED);
    assert_int_equal(wallet_balance(a, u2.id, &b), TK_OK);
    assert_int_equal(b, 1000000);
    assert_int_equal(reconcile_problems(a), 0);
}

/* A date's cancel through core: batches of TICKETD_CANCEL_BATCH, every paid reservation refunded once, a repeat
 * refunds nobody, nothing more can be held on it. */
static void orders_cancel_schedule(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    enum { USERS = 7 };
    struct tk_user u[USERS];
    int64_t b;
    for (int i = 0; i < USERS; i++) {
        char k[API_KEY_LEN + 1], name[16];
        snprintf(name, sizeof name, "c%d", i);
        assert_int_equal(account_create(a, name, &u[i], k), TK_OK);
        assert_int_equal(wallet_charge(a, u[i].id, 1000000, NULL, &b, NULL), TK_OK);
        int64_t ids[2] = {20 + 2 * i, 21 + 2 * i};
        struct tk_hold h;
        struct tk_payment p;
        assert_int_equal(booking_hold_seats(a, u[i].id, ids, 2, NULL, &h), TK_OK);
        assert_int_equal(booking_pay(a, u[i].id, NULL, h.reservation_id, 0, NULL, &p), TK_OK);
    }
    struct tk_hold open;
    int64_t held[1] = {49};
    assert_int_equal(booking_hold_seats(a, u[0].id, held, 1, NULL, &open), TK_OK); /* held, not paid */
    setenv("TICKETD_CANCEL_BATCH", "3", 1);
    int refunded = -1;
    assert_int_equal(booking_cancel_schedule(a, 999999, &refunded), TK_ERR_NOT_FOUND);
    assert_int_equal(booking_cancel_schedule(a, 1, &refunded), TK_OK);
    assert_int_equal(refunded, USERS);
    assert_int_equal(booking_cancel_schedule(a, 1, &refunded), TK_OK);
    assert_int_equal(refunded, 0);
    unsetenv("TICKETD_CANCEL_BATCH");
    for (int i = 0; i < USERS; i++) {
        assert_int_equal(wallet_balance(a, u[i].id, &b), TK_OK);
        assert_int_equal(b, 1000000);
    }
    struct tk_hold h;
    int64_t free_seat[1] = {1};
    assert_int_equal(booking_hold_seats(a, u[1].id, free_seat, 1, NULL, &h), TK_ERR_SEAT_UNAVAILABLE);
    struct tk_payment p;
    assert_int_equal(booking_pay(a, u[0].id, NULL, open.reservation_id, 0, NULL, &p), TK_ERR_HOLD_EXPIRED); /* nothing bought on it */
    assert_int_equal(reconcile_problems(a), 0);
}

/* The steps after a request's effect (keeping its Idempotency-Key record) must wait for a busy write lock in
 * place, on an executor worker too: handed back as TK_ERR_BUSY, the record stayed PENDING and every retry of the
 * key waited for the 30 s lease (found by `ticketd load --scenario flow`). The lock is held from outside (another
 * connection to the file) for 150 ms, longer than a worker's 20 ms writer wait. */
struct finish_job {
    struct exec_job job; /* first */
    struct tk_app *app;
    struct idem_call *call;
    int rc;
    bool done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static enum exec_verdict run_finish(struct exec_job *job)
{
    struct finish_job *j = (struct finish_job *)job;
    int rc = idem_finish(j->app, j->call, true, 200, "{\"ok\":1}", 8, "");
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return EXEC_DONE;
}

static void expire_finish(struct exec_job *job) { (void)job; fail_msg("the job expired"); }

static void idempotency_record_kept_past_a_busy_lock(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    a->idempotency_ttl_ms = 3600000;
    struct tk_user u;
    char key[API_KEY_LEN + 1];
    assert_int_equal(account_create(a, "kim", &u, key), TK_OK);
    struct idem_call call = {.user_id = u.id, .key = "k1", .hash = "h1"};
    enum idem_verdict v;
    assert_int_equal(idem_begin(a, &call, &v), TK_OK);
    assert_int_equal(v, IDEM_RUN);

    char path[128];
    snprintf(path, sizeof path, "%s/t.db", f->dir);
    sqlite3 *outside = NULL;
    assert_int_equal(sqlite3_open(path, &outside), SQLITE_OK);
    assert_int_equal(sqlite3_exec(outside, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    struct exec *e = NULL;
    struct exec_config cfg = {.name = "t", .workers = 1, .queue_max = 4};
    assert_int_equal(exec_new(&cfg, &e), TK_OK);
    struct finish_job j = {.job = {.run = run_finish, .expire = expire_finish}, .app = a, .call = &call};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    assert_int_equal(exec_submit(e, &j.job), TK_OK);
    usleep(150000);
    assert_int_equal(sqlite3_exec(outside, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    pthread_mutex_lock(&j.mu);
    while (!j.done)
        pthread_cond_wait(&j.cv, &j.mu);
    pthread_mutex_unlock(&j.mu);
    exec_free(e);
    sqlite3_close(outside);
    assert_int_equal(j.rc, TK_OK); /* waited in place, not handed back */

    /* the record is DONE: a retry replays it at once */
    struct idem_call again = {.user_id = u.id, .key = "k1", .hash = "h1"};
    assert_int_equal(idem_begin(a, &again, &v), TK_OK);
    assert_int_equal(v, IDEM_REPLAY);
    assert_int_equal(again.rec.status, 200);
    assert_string_equal(again.rec.body, "{\"ok\":1}");
    idem_call_free(&again);
    idem_call_free(&call);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(charges, setup, teardown),
        cmocka_unit_test_setup_teardown(hold_pay_and_admission, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_record_kept_past_a_busy_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(orders_hold_pay_refund, setup, teardown),
        cmocka_unit_test_setup_teardown(orders_cancel_schedule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
