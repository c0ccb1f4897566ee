/*
 * test_race.c — concurrency over HTTP, with all requests of a burst in flight
 * at once (libcurl multi): many users racing for one seat, many charges to one
 * wallet, and one user paying the same hold many times at once. The outcome is
 * checked from the responses and then re-read through the API.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RACERS 300


static void test_seat_race(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user *u = calloc(RACERS, sizeof *u);
    struct mreq *q = calloc(RACERS, sizeof *q);
    struct resp *r = calloc(RACERS, sizeof *r);
    ensure(u && q && r, "out of memory");
    users_new_many(s, u, RACERS);
    tokens_issue_many(s, u, RACERS);
    for (int i = 0; i < RACERS; i++)
        for (int j = 0; j < i; j++)
            ensure(strcmp(u[i].id, u[j].id) != 0 && strcmp(u[i].key, u[j].key) != 0 &&
                       strcmp(u[i].token, u[j].token) != 0,
                   "users created at once share an id, key or token (%d, %d)", j, i);

    char sid[ID_MAX];
    struct seat seat;
    pick_schedule(s, &u[0], 1, sid);
    ensure(seats_list(s, &u[0], sid, &seat, 1) >= 1, "no free seat");
    long free_before = schedule_free(s, &u[0], sid);

    for (int i = 0; i < RACERS; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/reservation");
        q[i].h.token = u[i].token;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"seatId\":\"%s\"}", seat.id));
    }
    http_multi(s, q, RACERS, r);
    assert_no_5xx(r, RACERS);

    int winner = -1;
    for (int i = 0; i < RACERS; i++) {
        if (r[i].status == 201) {
            ensure(winner < 0, "users %d and %d both hold seat %s", winner, i, seat.id);
            json_t *d = assert_ok(r[i], 201);
            ensure(strcmp(jstr(d, "status"), "HELD") == 0 &&
                       strcmp(jstr(d, "seatId"), seat.id) == 0,
                   "winning hold: %s", r[i].raw);
            winner = i;
        } else {
            assert_err(r[i], 409, "SEAT_UNAVAILABLE");
        }
    }
    ensure(winner >= 0, "nobody got the seat");
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(json_object_get(r[winner].json, "data"), "reservationId"));

    ensure(!seat_free(s, &u[0], sid, seat.id), "the raced seat is still listed");
    long free_after = schedule_free(s, &u[0], sid);
    ensure(free_after == (free_before > 1 ? free_before - 1 : -1),
           "availableSeats went from %ld to %ld", free_before, free_after);
    /* The winner can buy it. */
    charge(s, &u[winner], seat.price);
    ensure(pay(s, &u[winner], res) == 0, "the winner's payment");

    for (int i = 0; i < RACERS; i++)
        resp_free(&r[i]);
    free(u);
    free(q);
    free(r);
}

static void test_charge_race(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    int64_t start = charge(s, &u, 1000);
    struct mreq *q = calloc(RACERS, sizeof *q);
    struct resp *r = calloc(RACERS, sizeof *r);
    ensure(q && r, "out of memory");
    int64_t sum = 0;
    for (int i = 0; i < RACERS; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/user/charge");
        q[i].h.key = u.key;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"amount\":%d}", i + 1));
        sum += i + 1;
    }
    http_multi(s, q, RACERS, r);
    assert_no_5xx(r, RACERS);

    /* Charges are serialised: each saw a different balance after it, the last saw the total. */
    int64_t *after = calloc(RACERS, sizeof *after);
    ensure(after != NULL, "out of memory");
    int64_t max_after = 0;
    for (int i = 0; i < RACERS; i++) {
        json_t *d = assert_ok(r[i], 200);
        after[i] = jint(d, "balance");
        ensure(after[i] >= start + i + 1 && after[i] <= start + sum,
               "charge of %d answered balance %lld", i + 1, (long long)after[i]);
        if (after[i] > max_after)
            max_after = after[i];
        for (int j = 0; j < i; j++)
            ensure(after[j] != after[i], "two charges answered the same balance %lld",
                   (long long)after[i]);
    }
    ensure(max_after == start + sum, "the highest answered balance is %lld, expected %lld",
           (long long)max_after, (long long)(start + sum));
    int64_t final = balance(s, &u);
    ensure(final == start + sum, "final balance %lld, expected %lld + %lld = %lld",
           (long long)final, (long long)start, (long long)sum, (long long)(start + sum));

    for (int i = 0; i < RACERS; i++)
        resp_free(&r[i]);
    free(after);
    free(q);
    free(r);
}

/* The same hold paid 50 times at once: one debit, the rest refused cleanly. */
static void test_double_payment_race(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    enum { N = 50 };
    struct mreq q[N];
    struct resp r[N];
    for (int with_key = 0; with_key < 2; with_key++) {
        struct user u;
        user_new(s, &u);
        charge(s, &u, 1000000000);
        token_issue(s, &u, "ACTIVE", 201);
        char sid[ID_MAX], res[ID_MAX];
        struct seat seat;
        pick_schedule(s, &u, 1, sid);
        ensure(seats_list(s, &u, sid, &seat, 1) >= 1, "no free seat");
        hold(s, &u, seat.id, res);

        memset(q, 0, sizeof q);
        for (int i = 0; i < N; i++) {
            q[i].method = "POST";
            copy_str(q[i].path, sizeof q[i].path, "/payment");
            q[i].h.token = u.token;
            q[i].h.idem = with_key ? "pay-race" : NULL;
            copy_str(q[i].body, sizeof q[i].body, fmt("{\"reservationId\":\"%s\"}", res));
        }
        http_multi(s, q, N, r);
        assert_no_5xx(r, N);
        int n_paid = 0;
        const char *first_body = NULL;
        for (int i = 0; i < N; i++) {
            if (r[i].status == 200) {
                assert_ok(r[i], 200);
                n_paid++;
                if (with_key && first_body)
                    ensure(strcmp(first_body, r[i].raw) == 0,
                           "two answers to one Idempotency-Key differ:\n%s\n%s", first_body,
                           r[i].raw);
                first_body = first_body ? first_body : r[i].raw;
            } else if (r[i].status == 403) {
                assert_err(r[i], 403, "NOT_ADMITTED");
            } else {
                assert_err(r[i], 409, "ALREADY_PAID");
            }
        }
        ensure(with_key ? n_paid >= 1 : n_paid == 1, "%d payments of one hold succeeded", n_paid);
        ensure(balance(s, &u) == 1000000000 - seat.price, "balance %lld after paying %lld once",
               (long long)balance(s, &u), (long long)seat.price);
        struct resp h = http(s, "GET", "/user/history", AUTH(u.key), NULL);
        ensure(json_array_size(assert_ok(h, 200)) == 2, "ledger after one charge, one payment: %s",
               h.raw);
        resp_free(&h);
        for (int i = 0; i < N; i++)
            resp_free(&r[i]);
    }
}

/* One user fires 20 holds on 20 seats at once: exactly max_holds_per_user (4) succeed. */
static void test_hold_limit_race(void **state)
{
    (void)state;
    enum { N = 20, LIMIT = 4 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);
    char sid[ID_MAX];
    struct seat seats[64];
    pick_schedule(s, &u, N, sid);
    long free_before = schedule_free(s, &u, sid);
    ensure(seats_list(s, &u, sid, seats, 64) >= N, "fewer than %d free seats", N);
    struct mreq q[N];
    struct resp r[N];
    memset(q, 0, sizeof q);
    for (int i = 0; i < N; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/reservation");
        q[i].h.token = u.token;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"seatId\":\"%s\"}", seats[i].id));
    }
    http_multi(s, q, N, r);
    assert_no_5xx(r, N);
    int n_held = 0;
    for (int i = 0; i < N; i++) {
        if (r[i].status == 201) {
            assert_ok(r[i], 201);
            n_held++;
        } else {
            assert_err(r[i], 409, "HOLD_LIMIT");
        }
        resp_free(&r[i]);
    }
    ensure(n_held == LIMIT, "%d concurrent holds succeeded; the limit is %d", n_held, LIMIT);
    ensure(schedule_free(s, &u, sid) == free_before - LIMIT, "free seats after the burst");
}

/* Transfers both ways between two wallets at once: no deadlock, no lost update. */
static void test_transfer_race(void **state)
{
    (void)state;
    enum { N = 200 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 10000);
    charge(s, &b, 10000);
    struct mreq *q = calloc(N, sizeof *q);
    struct resp *r = calloc(N, sizeof *r);
    ensure(q && r, "out of memory");
    for (int i = 0; i < N; i++) {
        const struct user *from = i % 2 ? &a : &b, *to = i % 2 ? &b : &a;
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/transfers");
        q[i].h.key = from->key;
        copy_str(q[i].body, sizeof q[i].body,
                 fmt("{\"toUserId\":\"%s\",\"amount\":50}", to->id));
    }
    http_multi(s, q, N, r);
    assert_no_5xx(r, N);
    for (int i = 0; i < N; i++) {
        json_t *d = assert_ok(r[i], 200);
        int64_t after = jint(d, "balance");
        ensure(after >= 10000 - 50 * N / 2 && after <= 10000 + 50 * N / 2,
               "a transfer answered balance %lld", (long long)after);
        resp_free(&r[i]);
    }
    ensure(balance(s, &a) == 10000 && balance(s, &b) == 10000,
           "after %d transfers of 50 each way the balances are %lld and %lld", N / 2,
           (long long)balance(s, &a), (long long)balance(s, &b));
    free(q);
    free(r);
}

/* Four holds of the same price, money for one, all paid at once: exactly one debit. */
static void test_double_spend(void **state)
{
    (void)state;
    enum { N = 4 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);

    /* Find N free seats of one price on one date: with money for exactly one of them,
     * at most one payment can succeed, whatever the order. */
    struct resp rd = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    json_t *dates = assert_ok(rd, 200);
    struct seat pick[N];
    int n_pick = 0;
    size_t di;
    json_t *d;
    json_array_foreach(dates, di, d) {
        struct seat seats[64];
        int n = seats_list(s, &u, jstr(d, "scheduleId"), seats, 64);
        n = n < 64 ? n : 64;
        for (int i = 0; i < n && n_pick < N; i++) {
            n_pick = 0; /* the seats priced like seat i */
            for (int j = 0; j < n && n_pick < N; j++)
                if (seats[j].price == seats[i].price)
                    pick[n_pick++] = seats[j];
        }
        if (n_pick == N)
            break;
    }
    resp_free(&rd);
    ensure(n_pick == N, "no date has %d free seats of one price", N);
    int64_t price = pick[0].price;
    charge(s, &u, price);

    char res[N][ID_MAX];
    struct mreq q[N];
    struct resp r[N];
    memset(q, 0, sizeof q);
    for (int i = 0; i < N; i++) {
        hold(s, &u, pick[i].id, res[i]);
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/payment");
        q[i].h.token = u.token;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"reservationId\":\"%s\"}", res[i]));
    }
    http_multi(s, q, N, r);
    assert_no_5xx(r, N);
    int n_paid = 0;
    for (int i = 0; i < N; i++) {
        if (r[i].status == 200) {
            assert_ok(r[i], 200);
            n_paid++;
        } else if (r[i].status == 403) {
            assert_err(r[i], 403, "NOT_ADMITTED");
        } else {
            assert_err(r[i], 409, "INSUFFICIENT_BALANCE");
        }
        resp_free(&r[i]);
    }
    ensure(n_paid == 1, "%d payments succeeded with money for one", n_paid);
    ensure(balance(s, &u) == 0, "balance after spending it once");
    struct resp h = http(s, "GET", "/user/history", AUTH(u.key), NULL);
    ensure(json_array_size(assert_ok(h, 200)) == 2, "ledger after one charge, one payment: %s",
           h.raw);
    resp_free(&h);
}

/* One user asks for a queue token 20 times at once: one live token, created once. */
static void test_issue_race(void **state)
{
    (void)state;
    enum { N = 20 };
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    struct mreq q[N];
    struct resp r[N];
    memset(q, 0, sizeof q);
    for (int i = 0; i < N; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/queue/issue");
        q[i].h.key = u.key;
    }
    http_multi(s, q, N, r);
    assert_no_5xx(r, N);
    int n_created = 0;
    char token[SECRET_MAX] = "";
    for (int i = 0; i < N; i++) {
        json_t *d = assert_ok(r[i], r[i].status == 201 ? 201 : 200);
        n_created += r[i].status == 201;
        if (!token[0])
            copy_str(token, sizeof token, jstr(d, "token"));
        ensure(strcmp(jstr(d, "token"), token) == 0, "one user got two live tokens: %s and %s",
               token, jstr(d, "token"));
        resp_free(&r[i]);
    }
    ensure(n_created == 1, "%d of %d concurrent issues answered 201 Created", n_created, N);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_seat_race),
        API_TEST(test_charge_race),
        API_TEST(test_double_payment_race),
        API_TEST(test_hold_limit_race),
        API_TEST(test_transfer_race),
        API_TEST(test_double_spend),
        API_TEST(test_issue_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
