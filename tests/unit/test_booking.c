/* test_booking.c — core/ wired as the server wires it (SQLite store, strategy, in-process waiting room)
 * on a fake clock: accounts and keys, charge validation, hold expiry with no sweep, payment expiring
 * the queue token and admitting the next waiter, and the sweep. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
