/*
 * test_orders.c — several seats in one hold, cancel, refund and a cancelled date (API.md part 2, "Several seats,
 * cancel, refund"; issue 11), over HTTP, black box:
 *   - 200 users × 4 random seats of one 50-seat date at once: no seat in two holds, every 201 holds all its seats,
 *     every 409 none (SEAT_UNAVAILABLE with unavailableSeatIds), zero 5xx, available-seats agrees;
 *   - pay the whole reservation (one PAYMENT entry), refund it (one REFUND entry, seats back, second refund 409
 *     ALREADY_REFUNDED, Idempotency-Key replayed), someone else's payment 403, GET /user/payments;
 *   - past --refund-cutoff-seconds: 409 REFUND_CLOSED for the payer, the organizer may still refund;
 *   - DELETE /reservation/{id}: seats free at once, twice 409 HOLD_EXPIRED, someone else's 403, paid 409;
 *   - bad input: empty, duplicated or too many seatIds, seats of two dates, both forms at once;
 *   - cancel of a date stopped halfway (TICKETD_TEST_CANCEL_CRASH_AFTER) then run again: exactly one refund per
 *     payment, money conserved, the date no longer listed, `ticketd reconcile` clean;
 *   - concurrent refunds of one payment (the payer's many at once, the payer's racing the organizer's): exactly one
 *     200, one credit, one REFUND entry, the rest 409 ALREADY_REFUNDED;
 *   - Idempotency-Key on POST /payments/{id}/refund: concurrent and later retries replay the first answer byte for
 *     byte (after the balance and the seats changed too), a lost response is rebuilt identical, the key on another
 *     payment is 409 IDEMPOTENCY_KEY_REUSED, another user's key space is separate;
 *   - a real crash: kill -9 of every instance in the middle of a 2,000-seat date's cancel (500 payments, batches of
 *     one), restart on the same database, cancel again: the rest refunded, nobody twice, `ticketd reconcile` clean.
 * Run embedded and against PostgreSQL + Redis with 1 and 3 instances, like every API program.
 */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRICE 1000
static const char *g_bin;

/* A concert with one date of `seats` seats starting at starts_at; the date's id. */
static void date_new(struct srv *s, int seats, int64_t starts_at, char sched[ID_MAX])
{
    struct resp r = http_admin(s, "POST", "/admin/concerts", "{\"name\":\"Orders\"}");
    json_t *d = assert_ok(r, 201);
    char concert[ID_MAX];
    copy_str(concert, sizeof concert, jstr(d, "concertId"));
    resp_free(&r);
    r = http_admin(s, "POST", "/admin/schedules",
              fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"seatCount\":%d,\"prices\":[{\"fromSeat\":1,"
                  "\"toSeat\":%d,\"price\":%d,\"category\":\"A\"}]}",
                  concert, time_rfc3339(starts_at), seats, seats, PRICE));
    d = assert_ok(r, 201);
    copy_str(sched, ID_MAX, jstr(d, "scheduleId"));
    resp_free(&r);
}

static int64_t days(int n) { return (int64_t)n * 86400 * 1000; }

/* POST /reservation {"seatIds": [...]}: the response (caller frees). */
static struct resp hold_seats(struct srv *s, const struct user *u, struct seat *seats, const int *idx, int n)
{
    char body[256] = "{\"seatIds\":[";
    for (int i = 0; i < n; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"%s\"", i ? "," : "", seats[idx[i]].id);
    strcat(body, "]}");
    return http(s, "POST", "/reservation", TOKEN(u->token), body);
}

/* Count of ledger entries of `kind` in the user's history. */
static int history_count(struct srv *s, const struct user *u, const char *kind, int64_t *sum)
{
    struct resp r = http(s, "GET", "/user/history?limit=100", AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    int n = 0;
    if (sum)
        *sum = 0;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (strcmp(jstr(e, "kind"), kind) == 0) {
            n++;
            if (sum)
                *sum += jint(e, "amount");
        }
    }
    resp_free(&r);
    return n;
}

/* ---- 1. 200 users × 4 overlapping seats at once -------------------------------------------- */

#define RACE_USERS 200
#define RACE_SEATS 50
#define RACE_K 4

static void test_multi_seat_race(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(ARGS("--max-active", "10000"));
    char sched[ID_MAX];
    date_new(s, RACE_SEATS, now_ms() + days(30), sched);
    static struct user u[RACE_USERS];
    users_new_many(s, u, RACE_USERS);
    tokens_issue_many(s, u, RACE_USERS);
    struct seat seats[RACE_SEATS];
    ensure(seats_list(s, &u[0], sched, seats, RACE_SEATS) == RACE_SEATS, "50 free seats");
    static struct mreq reqs[RACE_USERS];
    static int picks[RACE_USERS][RACE_K];
    srand((unsigned)now_ms());
    for (int i = 0; i < RACE_USERS; i++) {
        for (int k = 0; k < RACE_K; k++) {
            int x;
            bool dup;
            do {
                x = rand() % RACE_SEATS;
                dup = false;
                for (int j = 0; j < k; j++)
                    dup |= picks[i][j] == x;
            } while (dup);
            picks[i][k] = x;
        }
        reqs[i].method = "POST";
        snprintf(reqs[i].path, sizeof reqs[i].path, "/reservation");
        reqs[i].h = (struct hdrs){.token = u[i].token};
        snprintf(reqs[i].body, sizeof reqs[i].body, "{\"seatIds\":[\"%s\",\"%s\",\"%s\",\"%s\"]}",
                 seats[picks[i][0]].id, seats[picks[i][1]].id, seats[picks[i][2]].id, seats[picks[i][3]].id);
    }
    static struct resp out[RACE_USERS];
    http_multi(s, reqs, RACE_USERS, out);
    assert_no_5xx(out, RACE_USERS);
    int held_by[RACE_SEATS];
    for (int i = 0; i < RACE_SEATS; i++)
        held_by[i] = -1;
    int won = 0, lost = 0;
    for (int i = 0; i < RACE_USERS; i++) {
        if (out[i].status == 201) {
            json_t *d = assert_ok(out[i], 201);
            json_t *hs = json_object_get(d, "seats");
            ensure(json_array_size(hs) == RACE_K, "a 201 holds all its seats: %s", out[i].raw);
            ensure(jint(d, "amount") == RACE_K * PRICE, "amount %lld", (long long)jint(d, "amount"));
            for (int k = 0; k < RACE_K; k++) {
                int x = picks[i][k];
                ensure(held_by[x] < 0, "seat %s in two holds (users %d and %d)", seats[x].id, held_by[x], i);
                held_by[x] = i;
            }
            won++;
        } else {
            assert_err(out[i], 409, "SEAT_UNAVAILABLE");
            json_t *root = json_loads(out[i].raw, 0, NULL);
            ensure(root && json_array_size(json_object_get(root, "unavailableSeatIds")) >= 1,
                   "a 409 names the taken seats: %s", out[i].raw);
            json_decref(root);
            lost++;
        }
    }
    for (int i = 0; i < RACE_USERS; i++)
        resp_free(&out[i]);
    int held = 0;
    for (int i = 0; i < RACE_SEATS; i++)
        held += held_by[i] >= 0;
    ensure(won >= 1 && won * RACE_K == held && won + lost == RACE_USERS, "won %d lost %d held %d", won, lost, held);
    /* every 409 held nothing: the free seats are exactly those no 201 took */
    sleep_ms(150); /* the 100 ms read cache */
    struct seat after[RACE_SEATS];
    int nfree = seats_list(s, &u[0], sched, after, RACE_SEATS);
    ensure(nfree == RACE_SEATS - held, "%d seats free, expected %d", nfree, RACE_SEATS - held);
    for (int i = 0; i < nfree; i++)
        for (int x = 0; x < RACE_SEATS; x++)
            if (strcmp(after[i].id, seats[x].id) == 0)
                ensure(held_by[x] < 0, "seat %s held by user %d but listed free", seats[x].id, held_by[x]);
    print_message("multi-seat race: %d of %d users held %d seats each, %d refused whole\n", won, RACE_USERS, RACE_K,
                  lost);
}

/* ---- 2. pay, refund, history ---------------------------------------------------------------- */

static void test_pay_and_refund(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NO_ARGS);
    char sched[ID_MAX];
    date_new(s, 10, now_ms() + days(30), sched);
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 10000);
    charge(s, &b, 10000);
    token_issue(s, &a, "ACTIVE", 201);
    token_issue(s, &b, "ACTIVE", 201);
    struct seat seats[10];
    ensure(seats_list(s, &a, sched, seats, 10) == 10, "10 seats");
    int pick[3] = {0, 1, 2};
    struct resp r = hold_seats(s, &a, seats, pick, 3);
    json_t *d = assert_ok(r, 201);
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    ensure(strcmp(jstr(d, "status"), "HELD") == 0 && jint(d, "amount") == 3 * PRICE, "%s", r.raw);
    ensure(strcmp(jstr(json_array_get(json_object_get(d, "seats"), 0), "category"), "A") == 0, "category");
    resp_free(&r);
    /* someone else cannot pay it */
    r = http(s, "POST", "/payment", TOKEN(b.token), fmt("{\"reservationId\":\"%s\"}", res));
    assert_err(r, 403, "FORBIDDEN");
    resp_free(&r);
    r = http(s, "POST", "/payment", TOKEN(a.token), fmt("{\"reservationId\":\"%s\"}", res));
    d = assert_ok(r, 200);
    ensure(jint(d, "amount") == 3 * PRICE && jint(d, "balance") == 10000 - 3 * PRICE &&
               json_array_size(json_object_get(d, "seats")) == 3 && strcmp(jstr(d, "status"), "PAID") == 0,
           "%s", r.raw);
    char pay_id[ID_MAX];
    copy_str(pay_id, sizeof pay_id, jstr(d, "paymentId"));
    resp_free(&r);
    int64_t sum;
    ensure(history_count(s, &a, "PAYMENT", &sum) == 1 && sum == -3 * PRICE, "one PAYMENT entry of -3000");
    ensure(schedule_free(s, &b, sched) == 7, "3 seats sold");
    /* the token expired with the payment: a second hold needs a new one */
    char st[16];
    token_state(s, a.token, st);
    ensure(strcmp(st, "EXPIRED") == 0, "token %s after paying", st);
    /* GET /user/payments */
    r = http(s, "GET", "/user/payments", AUTH(a.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 1 && strcmp(jstr(json_array_get(d, 0), "status"), "PAID") == 0 &&
               json_array_size(json_object_get(json_array_get(d, 0), "seats")) == 3,
           "%s", r.raw);
    resp_free(&r);
    /* someone else's refund */
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), AUTH(b.key), NULL);
    assert_err(r, 403, "FORBIDDEN");
    resp_free(&r);
    r = http(s, "POST", "/payments/99999999/refund", AUTH(a.key), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    /* the refund, with a key, replayed */
    struct hdrs h = {.key = a.key, .idem = "refund-1"};
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), &h, NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "REFUNDED") == 0 && jint(d, "balance") == 10000, "%s", r.raw);
    char first[1024];
    copy_str(first, sizeof first, r.raw);
    resp_free(&r);
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), &h, NULL);
    assert_ok(r, 200);
    ensure(strcmp(r.raw, first) == 0, "the replay differs: %s vs %s", r.raw, first);
    resp_free(&r);
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), AUTH(a.key), NULL);
    assert_err(r, 409, "ALREADY_REFUNDED");
    resp_free(&r);
    r = http_admin(s, "POST", fmt("/admin/payments/%s/refund", pay_id), NULL);
    assert_err(r, 409, "ALREADY_REFUNDED");
    resp_free(&r);
    ensure(history_count(s, &a, "REFUND", &sum) == 1 && sum == 3 * PRICE, "one REFUND entry of 3000");
    ensure(balance(s, &a) == 10000, "money back");
    sleep_ms(150);
    ensure(schedule_free(s, &b, sched) == 10, "the seats are back on sale");
    for (int i = 0; i < 3; i++)
        ensure(seat_free(s, &b, sched, seats[i].id), "seat %s free again", seats[i].id);
    /* and sellable again */
    r = hold_seats(s, &b, seats, pick, 3);
    assert_ok(r, 201);
    resp_free(&r);
}

/* ---- 3. the refund cutoff ---------------------------------------------------------------------- */

static void test_refund_cutoff(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(ARGS("--refund-cutoff-seconds", "3600"));
    char sched[ID_MAX];
    date_new(s, 5, now_ms() + 30 * 60 * 1000, sched); /* starts in 30 min: inside the hour's cutoff */
    struct user a;
    user_new(s, &a);
    charge(s, &a, 5000);
    token_issue(s, &a, "ACTIVE", 201);
    struct seat seats[5];
    ensure(seats_list(s, &a, sched, seats, 5) == 5, "5 seats");
    char res[ID_MAX];
    hold(s, &a, seats[0].id, res);
    pay(s, &a, res);
    struct resp r = http(s, "GET", "/user/payments", AUTH(a.key), NULL);
    json_t *d = assert_ok(r, 200);
    char pay_id[ID_MAX];
    copy_str(pay_id, sizeof pay_id, jstr(json_array_get(d, 0), "paymentId"));
    resp_free(&r);
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), AUTH(a.key), NULL);
    assert_err(r, 409, "REFUND_CLOSED");
    resp_free(&r);
    ensure(history_count(s, &a, "REFUND", NULL) == 0, "nothing refunded");
    r = http_admin(s, "POST", fmt("/admin/payments/%s/refund", pay_id), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "REFUNDED") == 0, "%s", r.raw);
    resp_free(&r);
    ensure(balance(s, &a) == 5000, "refunded by the organizer");
    r = http(s, "POST", fmt("/payments/%s/refund", pay_id), AUTH(a.key), NULL);
    assert_err(r, 409, "ALREADY_REFUNDED");
    resp_free(&r);
}

/* ---- 4. cancel a hold ------------------------------------------------------------------------- */

static void test_cancel_hold(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NO_ARGS);
    char sched[ID_MAX];
    date_new(s, 6, now_ms() + days(30), sched);
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    token_issue(s, &a, "ACTIVE", 201);
    token_issue(s, &b, "ACTIVE", 201);
    struct seat seats[6];
    ensure(seats_list(s, &a, sched, seats, 6) == 6, "6 seats");
    int pick[2] = {3, 1};
    struct resp r = hold_seats(s, &a, seats, pick, 2);
    json_t *d = assert_ok(r, 201);
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    resp_free(&r);
    r = http(s, "DELETE", fmt("/reservation/%s", res), TOKEN(b.token), NULL);
    assert_err(r, 403, "FORBIDDEN");
    resp_free(&r);
    r = http(s, "DELETE", "/reservation/99999999", TOKEN(a.token), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    /* b cannot take them while held; after the cancel at once */
    r = hold_seats(s, &b, seats, pick, 2);
    assert_err(r, 409, "SEAT_UNAVAILABLE");
    resp_free(&r);
    r = http(s, "DELETE", fmt("/reservation/%s", res), TOKEN(a.token), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "status"), "CANCELLED") == 0 && strcmp(jstr(d, "reservationId"), res) == 0, "%s", r.raw);
    resp_free(&r);
    r = http(s, "DELETE", fmt("/reservation/%s", res), TOKEN(a.token), NULL);
    assert_err(r, 409, "HOLD_EXPIRED");
    resp_free(&r);
    sleep_ms(150); /* an instance that refused b trusts its taken-seat cache for at most 100 ms (DECISIONS.md) */
    r = hold_seats(s, &b, seats, pick, 2);
    d = assert_ok(r, 201);
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    resp_free(&r);
    charge(s, &b, 10000);
    pay(s, &b, res);
    token_issue(s, &b, "ACTIVE", 201);
    r = http(s, "DELETE", fmt("/reservation/%s", res), TOKEN(b.token), NULL);
    assert_err(r, 409, "ALREADY_PAID");
    resp_free(&r);
}

/* ---- 5. bad input -------------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NO_ARGS);
    char d1[ID_MAX], d2[ID_MAX];
    date_new(s, 6, now_ms() + days(30), d1);
    date_new(s, 6, now_ms() + days(31), d2);
    struct user a;
    user_new(s, &a);
    token_issue(s, &a, "ACTIVE", 201);
    struct seat s1[6], s2[6];
    seats_list(s, &a, d1, s1, 6);
    seats_list(s, &a, d2, s2, 6);
    const char *bodies[] = {
        "{\"seatIds\":[]}",
        fmt("{\"seatIds\":[\"%s\",\"%s\"]}", s1[0].id, s1[0].id),
        fmt("{\"seatIds\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]}", s1[0].id, s1[1].id, s1[2].id, s1[3].id, s1[4].id),
        fmt("{\"seatIds\":[\"%s\",\"%s\"]}", s1[0].id, s2[0].id),
        fmt("{\"seatIds\":[\"%s\"],\"seatId\":\"%s\"}", s1[0].id, s1[1].id),
        "{\"seatIds\":[1,2]}",
        "{\"seatIds\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct resp r = http(s, "POST", "/reservation", TOKEN(a.token), bodies[i]);
        assert_err(r, 400, "INVALID_ARGUMENT");
        resp_free(&r);
    }
    sleep_ms(150);
    ensure(schedule_free(s, &a, d1) == 6 && schedule_free(s, &a, d2) == 6, "nothing held");
    struct resp r = http(s, "POST", "/reservation", TOKEN(a.token),
                         fmt("{\"seatIds\":[\"%s\",\"99999999\"]}", s1[0].id));
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
}

/* ---- 6. cancel a date: stopped halfway, run again ------------------------------------------------- */

#define CANCEL_USERS 20

static int reconcile_status(const struct srv *s, char *out, size_t n)
{
    FILE *p = popen(fmt("'%s' reconcile --db '%s' 2>&1", g_bin, s->db_url), "r");
    ensure(p != NULL, "popen reconcile");
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cancel_date(void **state)
{
    (void)state;
    setenv("TICKETD_CANCEL_BATCH", "3", 1);
    setenv("TICKETD_TEST_CANCEL_CRASH_AFTER", "2", 1);
    struct srv *s = srv_start_admin(NO_ARGS);
    unsetenv("TICKETD_CANCEL_BATCH");
    unsetenv("TICKETD_TEST_CANCEL_CRASH_AFTER");
    char sched[ID_MAX];
    date_new(s, 2 * CANCEL_USERS, now_ms() + days(30), sched);
    static struct user u[CANCEL_USERS];
    users_new_many(s, u, CANCEL_USERS);
    tokens_issue_many(s, u, CANCEL_USERS);
    struct seat seats[2 * CANCEL_USERS];
    ensure(seats_list(s, &u[0], sched, seats, 2 * CANCEL_USERS) == 2 * CANCEL_USERS, "seats");
    for (int i = 0; i < CANCEL_USERS; i++) {
        charge(s, &u[i], 5000);
        int pick[2] = {2 * i, 2 * i + 1};
        struct resp r = hold_seats(s, &u[i], seats, pick, 2);
        json_t *d = assert_ok(r, 201);
        char res[ID_MAX];
        copy_str(res, sizeof res, jstr(d, "reservationId"));
        resp_free(&r);
        ensure(pay(s, &u[i], res) == 5000 - 2 * PRICE, "paid");
    }
    /* the first call stops after 2 batches of 3 (on each instance: the hook fires once per process) */
    int reported = 0, calls = 0;
    for (;;) {
        struct resp r = http_admin(s, "POST", fmt("/admin/schedules/%s/cancel", sched), NULL);
        calls++;
        ensure(calls < 10, "the cancel never finished");
        if (r.status == 503) {
            resp_free(&r);
            int refunds = 0;
            for (int i = 0; i < CANCEL_USERS; i++)
                refunds += history_count(s, &u[i], "REFUND", NULL);
            ensure(refunds > 0 && refunds < CANCEL_USERS, "halfway: %d refunds", refunds);
            continue;
        }
        json_t *d = assert_ok(r, 200);
        ensure(strcmp(jstr(d, "scheduleId"), sched) == 0, "%s", r.raw);
        reported = (int)jint(d, "refunded");
        resp_free(&r);
        break;
    }
    ensure(calls >= 2 && reported > 0 && reported < CANCEL_USERS, "the rerun refunded the rest (%d)", reported);
    struct resp r = http_admin(s, "POST", fmt("/admin/schedules/%s/cancel", sched), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(jint(d, "refunded") == 0, "a repeat refunds nobody: %s", r.raw);
    resp_free(&r);
    r = http_admin(s, "POST", "/admin/schedules/99999999/cancel", NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    for (int i = 0; i < CANCEL_USERS; i++) {
        int64_t sum;
        ensure(history_count(s, &u[i], "REFUND", &sum) == 1 && sum == 2 * PRICE, "user %d: one refund", i);
        ensure(balance(s, &u[i]) == 5000, "user %d: money back", i);
    }
    token_issue(s, &u[0], "ACTIVE", 201);
    ensure(schedule_free(s, &u[0], sched) == -1, "the cancelled date is no longer listed");
    int pick[1] = {0};
    r = hold_seats(s, &u[0], seats, pick, 1);
    assert_err(r, 409, "SEAT_UNAVAILABLE");
    resp_free(&r);
    char out[8192];
    int st = reconcile_status(s, out, sizeof out);
    ensure(st == 0, "reconcile exit %d: %s", st, out);
}

/* ---- 7. concurrent refunds of one payment -------------------------------------------------------- */

/* Holds seats[idx[0..n)] for u and pays the reservation; copies the payment id. The token is spent afterwards. */
static void buy(struct srv *s, struct user *u, struct seat *seats, const int *idx, int n, char pay_id[ID_MAX])
{
    token_issue(s, u, "ACTIVE", 0);
    struct resp r = hold_seats(s, u, seats, idx, n);
    json_t *d = assert_ok(r, 201);
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    resp_free(&r);
    r = http(s, "POST", "/payment", TOKEN(u->token), fmt("{\"reservationId\":\"%s\"}", res));
    d = assert_ok(r, 200);
    copy_str(pay_id, ID_MAX, jstr(d, "paymentId"));
    resp_free(&r);
}

#define REFUND_RACERS 40

static void test_refund_race(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NO_ARGS);
    char sched[ID_MAX];
    date_new(s, 10, now_ms() + days(30), sched);
    struct user a;
    user_new(s, &a);
    charge(s, &a, 10000);
    token_issue(s, &a, "ACTIVE", 201);
    struct seat seats[10];
    ensure(seats_list(s, &a, sched, seats, 10) == 10, "10 seats");
    static struct mreq q[REFUND_RACERS];
    static struct resp r[REFUND_RACERS];
    /* round 0: the payer's refund 40 times at once; rounds 1 and 2: 20 payer's and 20 organizer's, interleaved,
     * the payer's first, then the organizer's first */
    for (int round = 0; round < 3; round++) {
        int pick[2] = {2 * round, 2 * round + 1};
        char pay_id[ID_MAX];
        buy(s, &a, seats, pick, 2, pay_id);
        ensure(balance(s, &a) == 10000 - 2 * PRICE, "paid");
        memset(q, 0, sizeof q);
        for (int i = 0; i < REFUND_RACERS; i++) {
            bool organizer = round > 0 && i % 2 == round % 2;
            q[i].method = "POST";
            snprintf(q[i].path, sizeof q[i].path, organizer ? "/admin/payments/%s/refund" : "/payments/%s/refund",
                     pay_id);
            q[i].h.key = organizer ? harness_admin_key() : a.key;
        }
        http_multi(s, q, REFUND_RACERS, r);
        assert_no_5xx(r, REFUND_RACERS);
        int ok = 0, by_organizer = 0;
        for (int i = 0; i < REFUND_RACERS; i++) {
            if (r[i].status == 200) {
                json_t *d = assert_ok(r[i], 200);
                ensure(strcmp(jstr(d, "status"), "REFUNDED") == 0 && strcmp(jstr(d, "paymentId"), pay_id) == 0 &&
                           jint(d, "balance") == 10000,
                       "the refund: %s", r[i].raw);
                ok++;
                by_organizer += round > 0 && i % 2 == round % 2;
            } else {
                assert_err(r[i], 409, "ALREADY_REFUNDED");
            }
            resp_free(&r[i]);
        }
        ensure(ok == 1, "round %d: %d of %d concurrent refunds succeeded", round, ok, REFUND_RACERS);
        int64_t sum;
        ensure(history_count(s, &a, "REFUND", &sum) == round + 1 && sum == (round + 1) * 2 * PRICE,
               "round %d: one REFUND entry of %d per payment (sum %lld)", round, 2 * PRICE, (long long)sum);
        ensure(balance(s, &a) == 10000, "round %d: credited once (balance %lld)", round, (long long)balance(s, &a));
        print_message("refund race %d: %d refunds at once, one credit (by the %s)\n", round, REFUND_RACERS,
                      by_organizer ? "organizer" : "payer");
    }
    char out[8192];
    int st = reconcile_status(s, out, sizeof out);
    ensure(st == 0, "reconcile exit %d: %s", st, out);
}

/* ---- 8. Idempotency-Key on POST /payments/{id}/refund ---------------------------------------------- */

#define IDEM_RACERS 20

static void test_refund_idempotency(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NO_ARGS);
    srv_require_local(s); /* the lost response is simulated in the database */
    char sched[ID_MAX];
    date_new(s, 10, now_ms() + days(30), sched);
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 10000);
    charge(s, &b, 10000);
    token_issue(s, &a, "ACTIVE", 201);
    struct seat seats[10];
    ensure(seats_list(s, &a, sched, seats, 10) == 10, "10 seats");
    int pick[2] = {0, 1};
    char p1[ID_MAX];
    buy(s, &a, seats, pick, 2, p1);

    /* the same key 20 times at once: one refund, every answer the same bytes */
    static struct mreq q[IDEM_RACERS];
    static struct resp r[IDEM_RACERS];
    memset(q, 0, sizeof q);
    for (int i = 0; i < IDEM_RACERS; i++) {
        q[i].method = "POST";
        snprintf(q[i].path, sizeof q[i].path, "/payments/%s/refund", p1);
        q[i].h = (struct hdrs){.key = a.key, .idem = "refund-key"};
    }
    http_multi(s, q, IDEM_RACERS, r);
    assert_no_5xx(r, IDEM_RACERS);
    char first[2048];
    json_t *d = assert_ok(r[0], 200);
    ensure(strcmp(jstr(d, "status"), "REFUNDED") == 0 && jint(d, "balance") == 10000, "%s", r[0].raw);
    copy_str(first, sizeof first, r[0].raw);
    for (int i = 0; i < IDEM_RACERS; i++) {
        assert_ok(r[i], 200);
        ensure(strcmp(r[i].raw, first) == 0, "answer %d to one Idempotency-Key differs:\n%s\n%s", i, r[i].raw, first);
        resp_free(&r[i]);
    }
    ensure(history_count(s, &a, "REFUND", NULL) == 1, "one REFUND entry for 20 retries of one key");

    /* later, after the balance and the seats moved on: still the first answer, byte for byte */
    charge(s, &a, 777);
    token_issue(s, &b, "ACTIVE", 201);
    sleep_ms(150); /* the 100 ms taken-seat cache */
    char pb[ID_MAX];
    buy(s, &b, seats, pick, 2, pb); /* the refunded seats, sold to b */
    struct hdrs h = {.key = a.key, .idem = "refund-key"};
    struct resp x = http(s, "POST", fmt("/payments/%s/refund", p1), &h, NULL);
    assert_ok(x, 200);
    ensure(strcmp(x.raw, first) == 0, "a later replay differs:\n%s\n%s", x.raw, first);
    resp_free(&x);
    ensure(balance(s, &a) == 10777 && history_count(s, &a, "REFUND", NULL) == 1, "a replay changes nothing");

    /* the key of another request (another payment's path) is refused and changes nothing */
    int pick2[1] = {2};
    char p2[ID_MAX];
    buy(s, &a, seats, pick2, 1, p2);
    x = http(s, "POST", fmt("/payments/%s/refund", p2), &h, NULL);
    assert_err(x, 409, "IDEMPOTENCY_KEY_REUSED");
    resp_free(&x);
    ensure(history_count(s, &a, "REFUND", NULL) == 1, "a reused key refunds nothing");
    /* keys are per user: b's "refund-key" is b's own, and a's payment is not b's */
    struct hdrs hb = {.key = b.key, .idem = "refund-key"};
    x = http(s, "POST", fmt("/payments/%s/refund", p2), &hb, NULL);
    assert_err(x, 403, "FORBIDDEN");
    resp_free(&x);

    /* a response lost with its instance (the effect committed, the record still PENDING): rebuilt, the same */
    struct hdrs h2 = {.key = a.key, .idem = "refund-key-2"};
    x = http(s, "POST", fmt("/payments/%s/refund", p2), &h2, NULL);
    d = assert_ok(x, 200);
    ensure(strcmp(jstr(d, "status"), "REFUNDED") == 0 && jint(d, "balance") == 10777, "%s", x.raw);
    char second[2048];
    copy_str(second, sizeof second, x.raw);
    resp_free(&x);
    srv_sql(s,
            fmt("UPDATE idempotency SET state = 'PENDING', status = NULL, body = NULL WHERE user_id = %s AND "
                "key = 'refund-key-2'",
                a.id),
            1);
    x = http(s, "POST", fmt("/payments/%s/refund", p2), &h2, NULL);
    assert_ok(x, 200);
    ensure(strcmp(x.raw, second) == 0, "the rebuilt answer differs:\n%s\n%s", x.raw, second);
    resp_free(&x);
    ensure(history_count(s, &a, "REFUND", NULL) == 2 && balance(s, &a) == 10777, "two refunds in all");
    char out[8192];
    int st = reconcile_status(s, out, sizeof out);
    ensure(st == 0, "reconcile exit %d: %s", st, out);
}

/* ---- 9. kill -9 in the middle of a large date's cancel, restart, cancel again --------------------- */

#define KILL_USERS 500
#define KILL_K 4
#define KILL_CHUNK 250

struct cancel_call {
    struct srv *s;
    char path[96];
    long status;
};

static void *cancel_thread(void *arg)
{
    struct cancel_call *c = arg;
    struct resp r = http(c->s, "POST", c->path, AUTH(harness_admin_key()), NULL);
    c->status = r.status; /* 0: the connection died with the server */
    resp_free(&r);
    http_close_idle();
    return NULL;
}

static void burst(struct srv *s, struct mreq *q, int n, long want)
{
    static struct resp r[KILL_CHUNK];
    ensure(n <= KILL_CHUNK, "burst of %d", n);
    http_multi(s, q, n, r);
    for (int i = 0; i < n; i++) {
        assert_ok(r[i], want);
        resp_free(&r[i]);
    }
}

static void test_cancel_date_killed(void **state)
{
    (void)state;
    setenv("TICKETD_CANCEL_BATCH", "1", 1); /* 500 transactions: a long window to kill in */
    struct srv *s = srv_start_admin(ARGS("--max-active", "10000"));
    srv_require_local(s);
    char sched[ID_MAX];
    date_new(s, KILL_USERS * KILL_K, now_ms() + days(30), sched);
    static struct user u[KILL_USERS];
    static struct seat seats[KILL_USERS * KILL_K];
    static struct mreq q[KILL_CHUNK];
    for (int off = 0; off < KILL_USERS; off += KILL_CHUNK) {
        users_new_many(s, u + off, KILL_CHUNK);
        tokens_issue_many(s, u + off, KILL_CHUNK);
    }
    ensure(seats_list(s, &u[0], sched, seats, KILL_USERS * KILL_K) == KILL_USERS * KILL_K, "2,000 free seats");
    for (int off = 0; off < KILL_USERS; off += KILL_CHUNK) {
        memset(q, 0, sizeof q);
        for (int i = 0; i < KILL_CHUNK; i++) {
            q[i].method = "POST";
            copy_str(q[i].path, sizeof q[i].path, "/user/charge");
            q[i].h.key = u[off + i].key;
            snprintf(q[i].body, sizeof q[i].body, "{\"amount\":%d}", KILL_K * PRICE);
        }
        burst(s, q, KILL_CHUNK, 200);
        static struct resp r[KILL_CHUNK];
        memset(q, 0, sizeof q);
        for (int i = 0; i < KILL_CHUNK; i++) {
            int x = (off + i) * KILL_K;
            q[i].method = "POST";
            copy_str(q[i].path, sizeof q[i].path, "/reservation");
            q[i].h.token = u[off + i].token;
            copy_str(q[i].body, sizeof q[i].body,
                     fmt("{\"seatIds\":[\"%s\",\"%s\",\"%s\",\"%s\"]}", seats[x].id, seats[x + 1].id,
                         seats[x + 2].id, seats[x + 3].id));
        }
        http_multi(s, q, KILL_CHUNK, r);
        char (*res)[ID_MAX] = calloc(KILL_CHUNK, ID_MAX);
        ensure(res != NULL, "out of memory");
        for (int i = 0; i < KILL_CHUNK; i++) {
            copy_str(res[i], ID_MAX, jstr(assert_ok(r[i], 201), "reservationId"));
            resp_free(&r[i]);
        }
        memset(q, 0, sizeof q);
        for (int i = 0; i < KILL_CHUNK; i++) {
            q[i].method = "POST";
            copy_str(q[i].path, sizeof q[i].path, "/payment");
            q[i].h.token = u[off + i].token;
            snprintf(q[i].body, sizeof q[i].body, "{\"reservationId\":\"%s\"}", res[i]);
        }
        free(res);
        burst(s, q, KILL_CHUNK, 200);
    }
    const char *n_paid_sql = fmt("SELECT COUNT(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id "
                                 "JOIN seats s ON s.id = r.seat_id WHERE s.schedule_id = %s AND p.status = 'PAID'",
                                 sched);
    char paid_sql[512], refunded_sql[512];
    copy_str(paid_sql, sizeof paid_sql, n_paid_sql);
    snprintf(refunded_sql, sizeof refunded_sql, "SELECT COUNT(*) FROM payments WHERE status = 'REFUNDED'");
    ensure(srv_sql_int(s, paid_sql) == KILL_USERS, "500 payments of 4 seats");

    /* the cancel, and kill -9 of every instance once some (not all) of it has committed */
    struct cancel_call call = {.s = s};
    snprintf(call.path, sizeof call.path, "/admin/schedules/%s/cancel", sched);
    pthread_t th;
    int64_t t0 = now_ms();
    ensure(pthread_create(&th, NULL, cancel_thread, &call) == 0, "pthread_create");
    int64_t seen = 0;
    while ((seen = srv_sql_int(s, refunded_sql)) < KILL_USERS / 10 && now_ms() - t0 < 60000)
        sleep_ms(1);
    srv_kill9(s);
    int64_t killed_at = now_ms() - t0;
    pthread_join(th, NULL);
    /* PostgreSQL: a killed instance's backend finishes the statement it was running (a COMMIT already sent
     * commits) before it sees the closed socket; count once every backend of the dead instances has gone */
    if (strcmp(srv_store_name(s), "postgres") == 0) {
        int64_t give_up = now_ms() + 10000;
        while (srv_sql_int(s, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                              "backend_type = 'client backend' AND pid <> pg_backend_pid()") > 0 &&
               now_ms() < give_up)
            sleep_ms(10);
    }
    int64_t before = srv_sql_int(s, refunded_sql);
    ensure(before > 0 && before < KILL_USERS && call.status == 0,
           "killed halfway: %lld of %d refunded at the kill (%lld ms in), the cancel answered HTTP %ld",
           (long long)before, KILL_USERS, (long long)killed_at, call.status);
    /* what the crash left is consistent: each payment PAID with its seats sold, or REFUNDED with one entry */
    char out[8192];
    int st = reconcile_status(s, out, sizeof out);
    ensure(st == 0, "reconcile after the kill, exit %d: %s", st, out);

    /* restart on the same database and cancel again */
    setenv("TICKETD_CANCEL_BATCH", "7", 1);
    srv_restart(s);
    unsetenv("TICKETD_CANCEL_BATCH");
    struct resp r = http_admin(s, "POST", call.path, NULL);
    json_t *d = assert_ok(r, 200);
    ensure(jint(d, "refunded") == KILL_USERS - before, "the rerun refunded %lld, expected the other %lld",
           (long long)jint(d, "refunded"), (long long)(KILL_USERS - before));
    resp_free(&r);
    r = http_admin(s, "POST", call.path, NULL);
    d = assert_ok(r, 200);
    ensure(jint(d, "refunded") == 0, "a repeat refunds nobody: %s", r.raw);
    resp_free(&r);
    ensure(srv_sql_int(s, paid_sql) == 0 && srv_sql_int(s, refunded_sql) == KILL_USERS, "every payment refunded");
    ensure(srv_sql_int(s, "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'") == KILL_USERS &&
               srv_sql_int(s, "SELECT COUNT(DISTINCT ref) FROM ledger WHERE kind = 'REFUND'") == KILL_USERS &&
               srv_sql_int(s, "SELECT SUM(amount) FROM ledger WHERE kind = 'REFUND'") ==
                   (int64_t)KILL_USERS * KILL_K * PRICE,
           "exactly one REFUND entry of %d per payment", KILL_K * PRICE);
    ensure(srv_sql_int(s, fmt("SELECT COUNT(*) FROM payments p JOIN users u ON u.id = p.user_id WHERE u.balance = %d",
                              KILL_K * PRICE)) == KILL_USERS,
           "every payer has the money back, once");
    for (int i = 0; i < KILL_USERS; i += 97)
        ensure(balance(s, &u[i]) == KILL_K * PRICE && history_count(s, &u[i], "REFUND", NULL) == 1,
               "user %d: one refund", i);
    st = reconcile_status(s, out, sizeof out);
    ensure(st == 0, "reconcile exit %d: %s", st, out);
    print_message("killed the cancel %lld ms in with %lld of %d refunded; the rerun refunded the other %lld\n",
                  (long long)killed_at, (long long)before, KILL_USERS, (long long)(KILL_USERS - before));
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    g_bin = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        API_TEST(test_multi_seat_race), API_TEST(test_pay_and_refund), API_TEST(test_refund_cutoff),
        API_TEST(test_cancel_hold),     API_TEST(test_bad_input),      API_TEST(test_cancel_date),
        API_TEST(test_refund_race),     API_TEST(test_refund_idempotency), API_TEST(test_cancel_date_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
