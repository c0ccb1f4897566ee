/*
 * test_errors.c — every error row of the contract and the bad inputs of
 * docs/DECISIONS.md: malformed and oversized bodies, authentication, admission,
 * ownership, unknown and malformed ids, seat conflicts, limits, expiry, rate
 * limiting, idempotency and balance overflow. After each refused request the
 * test re-reads the state through the API (or the database) to show that
 * nothing changed.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MISSING_ID "999999999999"

/* A user with `money` won and an ACTIVE queue token. */
static void active_user(struct srv *s, struct user *u, int64_t money)
{
    user_new(s, u);
    if (money > 0)
        charge(s, u, money);
    token_issue(s, u, "ACTIVE", 201);
}

/* The first n free seats of a date that has at least n free seats. */
static void free_seats(struct srv *s, const struct user *u, int n, char sid[ID_MAX],
                       struct seat *out)
{
    pick_schedule(s, u, n, sid);
    struct seat all[64];
    int got = seats_list(s, u, sid, all, 64);
    ensure(got >= n, "schedule %s has %d free seats, need %d", sid, got, n);
    memcpy(out, all, (size_t)n * sizeof *out);
}

static size_t body_len(const char *body)
{
    return body ? strlen(body) : 0;
}

/* One request that must be refused with status and code; failures name the caller's line. */
static void expect_err_at(struct srv *s, const char *method, const char *path,
                          const struct hdrs *h, const void *body, size_t len, long status,
                          const char *code, const char *file, int line)
{
    struct resp r = http_raw(s, method, path, h, body, len);
    assert_err_at(&r, status, code, file, line);
    resp_free(&r);
}
#define expect_err(s, method, path, h, body, status, code)                                  \
    expect_err_at((s), (method), (path), (h), (body), body_len(body), (status), (code),    \
                  __FILE__, __LINE__)
#define expect_err_raw(s, method, path, h, body, len, status, code)                          \
    expect_err_at((s), (method), (path), (h), (body), (len), (status), (code), __FILE__,     \
                  __LINE__)

/* ---- bodies ------------------------------------------------------------------ */

static void test_bad_charge_bodies(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, 500);
    const char *bad[] = {
        "{\"amount\":",                        /* truncated */
        "{\"amount\":100",                     /* unclosed */
        "not json",
        "",                                    /* empty body */
        "[1]", "100", "\"x\"", "null", "true", /* not an object */
        "{}",                                  /* missing amount */
        "{\"amount\":100,\"ammount\":5}",      /* unknown field */
        "{\"ammount\":100}",
        "{\"amount\":1,\"amount\":2}",         /* duplicate key */
        "{\"amount\":100} {\"amount\":1}",     /* trailing data */
        "{\"amount\":true}", "{\"amount\":null}", "{\"amount\":\"100\"}",
        "{\"amount\":[1]}", "{\"amount\":{}}",
        "{\"amount\":1.0}", "{\"amount\":1.5}", "{\"amount\":1e3}", "{\"amount\":1e30}",
        "{\"amount\":0}", "{\"amount\":-1}", "{\"amount\":1000000001}",
        "{\"amount\":99999999999999999999}", "{\"amount\":-9223372036854775808}",
        "{\"amount\":9223372036854775807}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_err(s, "POST", "/user/charge", AUTH(u.key), bad[i], 400, "INVALID_ARGUMENT");
        ensure(balance(s, &u) == 500, "body %s changed the balance", bad[i]);
    }
    /* Raw bytes: a NUL inside the JSON, and invalid UTF-8 in a string. */
    static const char nul_body[] = "{\"amount\":1\0}";
    expect_err_raw(s, "POST", "/user/charge", AUTH(u.key), nul_body, sizeof nul_body - 1, 400,
                   "INVALID_ARGUMENT");
    static const char bad_utf8[] = "{\"amount\":1,\"userId\":\"\xff\xfe\"}";
    expect_err_raw(s, "POST", "/user/charge", AUTH(u.key), bad_utf8, sizeof bad_utf8 - 1, 400,
                   "INVALID_ARGUMENT");
    /* Nesting deep enough to overflow a naive recursive parser, well under 64 KiB. */
    char *deep = malloc(60001);
    ensure(deep != NULL, "out of memory");
    memcpy(deep, "{\"amount\":", 10);
    memset(deep + 10, '[', 59990);
    deep[60000] = '\0';
    expect_err(s, "POST", "/user/charge", AUTH(u.key), deep, 400, "INVALID_ARGUMENT");
    free(deep);
    ensure(balance(s, &u) == 500, "raw bad bodies changed the balance");
    expect_err(s, "GET", "/user/check?userId=", AUTH(u.key), NULL, 400, "INVALID_ARGUMENT");

    /* The limits themselves are accepted. */
    ensure(charge(s, &u, 1) == 501, "amount 1 refused");
    ensure(charge(s, &u, 1000000000) == 1000000501, "amount 1000000000 refused");
    ensure(balance(s, &u) == 1000000501, "balance after boundary charges");
}

static void test_bad_user_names(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    char n64[65], n65[66];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'b', 65);
    n65[65] = '\0';
    char hangul64[64 * 3 + 1] = "", hangul65[65 * 3 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(hangul64, "\xea\xb0\x80"); /* U+AC00, 3 bytes */
    strcpy(hangul65, hangul64);
    strcat(hangul65, "\xea\xb0\x80");

    const char *bad[] = {
        "{}", "{\"name\":\"\"}", "{\"name\":123}", "{\"name\":null}", "{\"name\":[\"a\"]}",
        "{\"name\":\"a\\u0001b\"}", "{\"name\":\"a\\nb\"}", "{\"name\":\"a\\u0000b\"}",
        "{\"name\":\"x\",\"extra\":1}",
        "{\"name\":\"\\ud800\"}",                                /* lone surrogate */
        "{\"name\":\"\\u001f\"}", "{\"name\":\"x\",\"name\":\"y\"}", "[\"x\"]", "{\"name\":",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_err(s, "POST", "/users", NULL, bad[i], 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/users", NULL, fmt("{\"name\":\"%s\"}", n65), 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/users", NULL, fmt("{\"name\":\"%s\"}", hangul65), 400,
               "INVALID_ARGUMENT");
    static const char bad_utf8[] = "{\"name\":\"ab\xc3\x28\"}";
    expect_err_raw(s, "POST", "/users", NULL, bad_utf8, sizeof bad_utf8 - 1, 400,
                   "INVALID_ARGUMENT");

    /* 64 characters are fine, counted as characters, not bytes. */
    const char *good[] = {n64, hangul64, "\xf0\x9f\x8e\xb5 Jazz"};
    for (size_t i = 0; i < 3; i++) {
        struct resp r = http(s, "POST", "/users", NULL, fmt("{\"name\":\"%s\"}", good[i]));
        json_t *d = assert_ok(r, 201);
        ensure(strcmp(jstr(d, "name"), good[i]) == 0, "name came back as %s", jstr(d, "name"));
        resp_free(&r);
    }
}

static void test_payload_too_large(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    /* A valid charge of 1 padded with spaces: still valid JSON, only the size is wrong. */
    size_t big = 70 * 1024;
    char *body = malloc(big);
    ensure(body != NULL, "out of memory");
    memset(body, ' ', big);
    memcpy(body, "{\"amount\":1}", 12);

    struct resp r = http_raw(s, "POST", "/user/charge", AUTH(u.key), body, 65536);
    json_t *d = assert_ok(r, 200);
    ensure(jint(d, "balance") == 1, "a 65536-byte body is within the limit");
    resp_free(&r);

    expect_err_raw(s, "POST", "/user/charge", AUTH(u.key), body, 65537, 413, "PAYLOAD_TOO_LARGE");
    ensure(balance(s, &u) == 1, "a 65537-byte body changed the balance");
    expect_err_raw(s, "POST", "/user/charge", AUTH(u.key), body, big, 413, "PAYLOAD_TOO_LARGE");
    ensure(balance(s, &u) == 1, "a 70 KiB body changed the balance");
    struct hdrs chunked = {.key = u.key, .chunked = true};
    expect_err_raw(s, "POST", "/user/charge", &chunked, body, big, 413, "PAYLOAD_TOO_LARGE");
    ensure(balance(s, &u) == 1, "a chunked 70 KiB body changed the balance");
    memcpy(body, "{\"name\":\"big\"}", 14);
    expect_err_raw(s, "POST", "/users", NULL, body, big, 413, "PAYLOAD_TOO_LARGE");
    free(body);
}

/* ---- authentication and admission --------------------------------------------------- */

static void test_bad_api_key(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100);
    char forged[SECRET_MAX];
    copy_str(forged, sizeof forged, u.key);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';

    const struct hdrs *bad_auth[] = {
        NULL,
        &(struct hdrs){.key = forged},
        &(struct hdrs){.key = "tk_00000000000000000000000000000000"},
        &(struct hdrs){.key = ""},
        &(struct hdrs){.raw = {fmt("Authorization: Basic %s", u.key)}},
        &(struct hdrs){.raw = {fmt("Authorization: %s", u.key)}},
        &(struct hdrs){.raw = {"Authorization: Bearer"}},
    };
    for (size_t i = 0; i < sizeof bad_auth / sizeof bad_auth[0]; i++) {
        const struct hdrs *h = bad_auth[i];
        expect_err(s, "POST", "/user/charge", h, "{\"amount\":5}", 401, "UNAUTHORIZED");
        expect_err(s, "GET", "/user/check", h, NULL, 401, "UNAUTHORIZED");
        expect_err(s, "POST", "/queue/issue", h, NULL, 401, "UNAUTHORIZED");
        expect_err(s, "POST", "/transfers", h, fmt("{\"toUserId\":\"%s\",\"amount\":1}", u.id),
                   401, "UNAUTHORIZED");
        expect_err(s, "GET", "/user/history", h, NULL, 401, "UNAUTHORIZED");
    }
    /* The queue token is not an API key. */
    token_issue(s, &u, "ACTIVE", 201);
    expect_err(s, "GET", "/user/check", AUTH(u.token), NULL, 401, "UNAUTHORIZED");
    ensure(balance(s, &u) == 100, "refused requests changed the balance");
}

static void test_bad_queue_token(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    active_user(s, &u, 1000000);
    char sid[ID_MAX], res[ID_MAX];
    struct seat two[2];
    free_seats(s, &u, 2, sid, two);
    struct seat seat = two[0];
    hold(s, &u, two[1].id, res);
    int64_t before = balance(s, &u);

    char forged[SECRET_MAX];
    copy_str(forged, sizeof forged, u.token);
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    const struct hdrs *bad[] = {
        NULL,
        &(struct hdrs){.token = forged},
        &(struct hdrs){.token = "0123456789abcdef0123456789abcdef"},
        &(struct hdrs){.token = ""},
        &(struct hdrs){.token = u.key},          /* an API key is not a queue token */
        &(struct hdrs){.key = u.key},            /* nor is Bearer auth */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct hdrs *h = bad[i];
        expect_err(s, "GET", "/queue/status", h, NULL, 401, "UNAUTHORIZED");
        expect_err(s, "GET", "/concert/available-dates", h, NULL, 401, "UNAUTHORIZED");
        expect_err(s, "GET", "/concert/available-dates", h, NULL, 401, "UNAUTHORIZED");
        expect_err(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sid), h, NULL,
                   401, "UNAUTHORIZED");
        expect_err(s, "POST", "/reservation", h, fmt("{\"seatId\":\"%s\"}", seat.id), 401,
                   "UNAUTHORIZED");
        expect_err(s, "POST", "/payment", h, fmt("{\"reservationId\":\"%s\"}", res), 401,
                   "UNAUTHORIZED");
    }
    ensure(seat_free(s, &u, sid, seat.id), "a refused hold took the seat");
    ensure(balance(s, &u) == before, "a refused payment moved money");
    char st[16];
    token_state(s, u.token, st);
    ensure(strcmp(st, "ACTIVE") == 0, "the real token is now %s", st);
}

static void test_waiting_token_not_admitted(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--max-active", "1"));
    struct user a, b;
    active_user(s, &a, 1000000);
    user_new(s, &b);
    charge(s, &b, 1000000);
    token_issue(s, &b, "WAITING", 201);
    char sid[ID_MAX], res[ID_MAX];
    struct seat seats[2];
    free_seats(s, &a, 2, sid, seats);
    hold(s, &a, seats[1].id, res);

    const struct hdrs *h = TOKEN(b.token);
    expect_err(s, "GET", "/concert/available-dates", h, NULL, 403, "NOT_ADMITTED");
    expect_err(s, "GET", "/concert/available-dates", h, NULL, 403, "NOT_ADMITTED");
    expect_err(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sid), h, NULL, 403,
               "NOT_ADMITTED");
    expect_err(s, "POST", "/reservation", h, fmt("{\"seatId\":\"%s\"}", seats[0].id), 403,
               "NOT_ADMITTED");
    expect_err(s, "POST", "/payment", h, fmt("{\"reservationId\":\"%s\"}", res), 403,
               "NOT_ADMITTED");
    ensure(seat_free(s, &a, sid, seats[0].id), "a waiting user took a seat");
    ensure(balance(s, &b) == 1000000 && balance(s, &a) == 1000000, "money moved");
    char st[16];
    ensure(token_state(s, b.token, st) == 1 && strcmp(st, "WAITING") == 0,
           "the waiter is now %s", st);
}

static void test_forbidden_other_user(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 100);
    charge(s, &b, 200);
    expect_err(s, "POST", "/user/charge", AUTH(a.key),
               fmt("{\"amount\":5,\"userId\":\"%s\"}", b.id), 403, "FORBIDDEN");
    expect_err(s, "POST", "/user/charge", AUTH(a.key),
               "{\"amount\":5,\"userId\":\"" MISSING_ID "\"}", 403, "FORBIDDEN");
    expect_err(s, "GET", fmt("/user/check?userId=%s", b.id), AUTH(a.key), NULL, 403, "FORBIDDEN");
    expect_err(s, "GET", "/user/check?userId=" MISSING_ID, AUTH(a.key), NULL, 403, "FORBIDDEN");
    /* Malformed ids are 400, whoever they might name. */
    expect_err(s, "GET", "/user/check?userId=abc", AUTH(a.key), NULL, 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/user/charge", AUTH(a.key), fmt("{\"amount\":5,\"userId\":%s}", a.id),
               400, "INVALID_ARGUMENT");
    ensure(balance(s, &a) == 100 && balance(s, &b) == 200, "a refused charge moved money");
    /* The caller's own id is accepted. */
    struct resp r = http(s, "POST", "/user/charge", AUTH(a.key),
                         fmt("{\"amount\":5,\"userId\":\"%s\"}", a.id));
    ensure(jint(assert_ok(r, 200), "balance") == 105, "charge with own userId");
    resp_free(&r);
    ensure(balance(s, &b) == 200, "b's balance moved");
}

/* ---- reservations and payments ------------------------------------------------------- */

static void test_pay_someone_elses_reservation(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    active_user(s, &a, 1000000000);
    active_user(s, &b, 1000000000);
    char sid[ID_MAX], res_a[ID_MAX];
    struct seat seats[2];
    free_seats(s, &a, 2, sid, seats);
    hold(s, &a, seats[0].id, res_a);

    expect_err(s, "POST", "/payment", TOKEN(b.token), fmt("{\"reservationId\":\"%s\"}", res_a),
               403, "FORBIDDEN");
    expect_err(s, "POST", "/payment", TOKEN(b.token), fmt("{\"seatId\":\"%s\"}", seats[0].id),
               404, "NOT_FOUND");
    ensure(balance(s, &a) == 1000000000 && balance(s, &b) == 1000000000, "money moved");
    ensure(!seat_free(s, &b, sid, seats[0].id), "the held seat became free");
    char st[16];
    token_state(s, b.token, st);
    ensure(strcmp(st, "ACTIVE") == 0, "b's token is %s after a refused payment", st);

    /* The owner can still pay it; by seat id works for a seat the caller holds. */
    ensure(pay(s, &a, res_a) == 1000000000 - seats[0].price, "owner's payment");
    struct user c;
    active_user(s, &c, 1000000000);
    char res_c[ID_MAX];
    hold(s, &c, seats[1].id, res_c);
    struct resp r = http(s, "POST", "/payment", TOKEN(c.token),
                         fmt("{\"seatId\":\"%s\"}", seats[1].id));
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "reservationId"), res_c) == 0 && strcmp(jstr(d, "status"), "PAID") == 0,
           "payment by seatId: %s", r.raw);
    resp_free(&r);
}

static void test_unknown_and_malformed_ids(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    active_user(s, &u, 1000000);
    char sid[ID_MAX];
    struct seat seat;
    free_seats(s, &u, 1, sid, &seat);
    long free_before = schedule_free(s, &u, sid);
    const struct hdrs *h = TOKEN(u.token);

    expect_err(s, "POST", "/reservation", h, "{\"seatId\":\"" MISSING_ID "\"}", 404, "NOT_FOUND");
    expect_err(s, "POST", "/reservation", h, "{\"seatId\":\"999999999999999999\"}", 404,
               "NOT_FOUND"); /* 18 digits: the longest well-formed id */
    expect_err(s, "POST", "/payment", h, "{\"reservationId\":\"" MISSING_ID "\"}", 404,
               "NOT_FOUND");
    expect_err(s, "POST", "/payment", h, fmt("{\"seatId\":\"%s\"}", seat.id), 404, "NOT_FOUND");
    expect_err(s, "GET", "/concert/available-seats?concertScheduleId=" MISSING_ID, h, NULL, 404,
               "NOT_FOUND");
    expect_err(s, "GET", "/concert/available-dates?concertId=" MISSING_ID, h, NULL, 404,
               "NOT_FOUND");

    const char *bad_ids[] = {"\"abc\"", "\"\"", "\"-1\"", "\"0\"", "\"1234567890123456789\"",
                             "12", "null", "\" 12\"", "\"12a\"", "true", "[\"12\"]"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        expect_err(s, "POST", "/reservation", h, fmt("{\"seatId\":%s}", bad_ids[i]), 400,
                   "INVALID_ARGUMENT");
        expect_err(s, "POST", "/payment", h, fmt("{\"reservationId\":%s}", bad_ids[i]), 400,
                   "INVALID_ARGUMENT");
    }
    expect_err(s, "POST", "/reservation", h, "{}", 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/payment", h, "{}", 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/reservation", h, fmt("{\"seatId\":\"%s\",\"x\":1}", seat.id), 400,
               "INVALID_ARGUMENT");
    const char *bad_query[] = {"abc", "0", "-1", "", "1234567890123456789", "12%20"};
    for (size_t i = 0; i < sizeof bad_query / sizeof bad_query[0]; i++) {
        expect_err(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", bad_query[i]), h,
                   NULL, 400, "INVALID_ARGUMENT");
        expect_err(s, "GET", fmt("/concert/available-dates?concertId=%s", bad_query[i]), h, NULL,
                   400, "INVALID_ARGUMENT");
    }
    expect_err(s, "GET", "/concert/available-seats", h, NULL, 400, "INVALID_ARGUMENT");

    ensure(schedule_free(s, &u, sid) == free_before, "refused requests changed the free seats");
    ensure(seat_free(s, &u, sid, seat.id), "the seat is no longer free");
    ensure(balance(s, &u) == 1000000, "refused requests moved money");
}

static void test_seat_unavailable(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    active_user(s, &a, 1000000000);
    active_user(s, &b, 1000000000);
    char sid[ID_MAX], res[ID_MAX], res2[ID_MAX];
    struct seat seats[2];
    free_seats(s, &a, 2, sid, seats);
    long free_before = schedule_free(s, &a, sid);
    hold(s, &a, seats[0].id, res);
    expect_err(s, "POST", "/reservation", TOKEN(b.token), fmt("{\"seatId\":\"%s\"}", seats[0].id),
               409, "SEAT_UNAVAILABLE");
    expect_err(s, "POST", "/reservation", TOKEN(a.token), fmt("{\"seatId\":\"%s\"}", seats[0].id),
               409, "SEAT_UNAVAILABLE");
    ensure(schedule_free(s, &a, sid) == free_before - 1, "refused holds changed the free seats");
    /* The refused user can hold another seat, and the holder can pay. */
    hold(s, &b, seats[1].id, res2);
    ensure(pay(s, &a, res) == 1000000000 - seats[0].price, "holder's payment");
    ensure(balance(s, &b) == 1000000000, "b's balance moved");
}

static void test_hold_limit(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--max-holds-per-user", "2"));
    struct user a, b;
    active_user(s, &a, 1000000000);
    active_user(s, &b, 0);
    char sid[ID_MAX], r0[ID_MAX], r1[ID_MAX], r2[ID_MAX];
    struct seat seats[4];
    free_seats(s, &a, 4, sid, seats);
    hold(s, &a, seats[0].id, r0);
    hold(s, &a, seats[1].id, r1);
    expect_err(s, "POST", "/reservation", TOKEN(a.token), fmt("{\"seatId\":\"%s\"}", seats[2].id),
               409, "HOLD_LIMIT");
    ensure(seat_free(s, &a, sid, seats[2].id), "a refused hold took the seat");
    hold(s, &b, seats[2].id, r2); /* the limit is per user */
    /* A paid seat is no longer a hold: after paying one, a can hold another. */
    pay(s, &a, r0);
    token_issue(s, &a, "ACTIVE", 201);
    char r3[ID_MAX];
    hold(s, &a, seats[3].id, r3);
}

static void test_insufficient_balance(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);
    char sid[ID_MAX], res[ID_MAX];
    struct seat seat;
    free_seats(s, &u, 1, sid, &seat);
    if (seat.price > 1)
        charge(s, &u, seat.price - 1);
    int64_t before = balance(s, &u);
    hold(s, &u, seat.id, res);
    long free_held = schedule_free(s, &u, sid);

    expect_err(s, "POST", "/payment", TOKEN(u.token), fmt("{\"reservationId\":\"%s\"}", res), 409,
               "INSUFFICIENT_BALANCE");
    ensure(balance(s, &u) == before, "a declined payment moved money");
    ensure(!seat_free(s, &u, sid, seat.id) && schedule_free(s, &u, sid) == free_held,
           "a declined payment released or sold the seat");
    char st[16];
    token_state(s, u.token, st);
    ensure(strcmp(st, "ACTIVE") == 0, "a declined payment left the token %s", st);
    struct resp r = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    r = http(s, "GET", "/user/history", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_array_size(d) == (before > 0 ? 1u : 0u), "a declined payment wrote the ledger: %s",
           r.raw);
    resp_free(&r);
    /* With one more won the same hold is paid. */
    charge(s, &u, seat.price - before);
    ensure(pay(s, &u, res) == 0, "balance after paying with exactly the price");
}

static void test_pay_twice(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    active_user(s, &u, 1000000000);
    char sid[ID_MAX], res[ID_MAX], res2[ID_MAX];
    struct seat seats[2];
    free_seats(s, &u, 2, sid, seats);
    hold(s, &u, seats[0].id, res);
    hold(s, &u, seats[1].id, res2);

    /* With an Idempotency-Key, a retry returns the first response, even though the
     * first payment expired the token the retry carries. */
    struct hdrs h = {.token = u.token, .idem = "pay-once-1"};
    char body[128];
    snprintf(body, sizeof body, "{\"reservationId\":\"%s\"}", res);
    struct resp first = http(s, "POST", "/payment", &h, body);
    json_t *d = assert_ok(first, 200);
    int64_t after = 1000000000 - seats[0].price;
    ensure(jint(d, "balance") == after, "first payment balance");
    struct resp again = http(s, "POST", "/payment", &h, body);
    assert_ok(again, 200);
    ensure(strcmp(first.raw, again.raw) == 0, "the retry's body differs:\n%s\n%s", first.raw,
           again.raw);
    resp_free(&first);
    resp_free(&again);
    ensure(balance(s, &u) == after, "the retry moved money");

    /* Without the key the expired token is refused; with a new token it is ALREADY_PAID. */
    expect_err(s, "POST", "/payment", TOKEN(u.token), body, 403, "NOT_ADMITTED");
    token_issue(s, &u, "ACTIVE", 201);
    expect_err(s, "POST", "/payment", TOKEN(u.token), body, 409, "ALREADY_PAID");
    expect_err(s, "POST", "/payment", TOKEN(u.token), fmt("{\"seatId\":\"%s\"}", seats[0].id), 409,
               "ALREADY_PAID");
    /* The same key with another body. */
    struct hdrs h2 = {.token = u.token, .idem = "pay-once-1"};
    expect_err(s, "POST", "/payment", &h2, fmt("{\"reservationId\":\"%s\"}", res2), 409,
               "IDEMPOTENCY_KEY_REUSED");
    ensure(balance(s, &u) == after, "refused payments moved money");
    struct resp hist = http(s, "GET", "/user/history", AUTH(u.key), NULL);
    ensure(json_array_size(assert_ok(hist, 200)) == 2,
           "ledger after one charge and one payment: %s", hist.raw);
    resp_free(&hist);
}

/* A keyed request that was refused is answered the same way on retry, even when it
 * would now succeed: the retry returns the first response and changes nothing. */
static void test_idempotent_refusal(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);
    char sid[ID_MAX], res[ID_MAX];
    struct seat seat;
    free_seats(s, &u, 1, sid, &seat);
    hold(s, &u, seat.id, res);
    struct hdrs h = {.token = u.token, .idem = "declined-1"};
    char body[128];
    snprintf(body, sizeof body, "{\"reservationId\":\"%s\"}", res);
    struct resp first = http(s, "POST", "/payment", &h, body);
    assert_err(first, 409, "INSUFFICIENT_BALANCE");
    charge(s, &u, seat.price);
    struct resp again = http(s, "POST", "/payment", &h, body);
    ensure(again.status == first.status && strcmp(again.raw, first.raw) == 0,
           "the retry of a declined payment was answered HTTP %ld %s, the first time %ld %s",
           again.status, again.raw, first.status, first.raw);
    resp_free(&first);
    resp_free(&again);
    ensure(balance(s, &u) == seat.price, "the retry of a declined payment moved money");
    /* Without the key, the same payment now goes through. */
    ensure(pay(s, &u, res) == 0, "a fresh payment after topping up");
}

static void test_idempotent_charge_and_hold(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    struct hdrs ha = {.key = a.key, .idem = "charge-1"};
    struct resp first = http(s, "POST", "/user/charge", &ha, "{\"amount\":100}");
    ensure(jint(assert_ok(first, 200), "balance") == 100, "first charge");
    struct resp again = http(s, "POST", "/user/charge", &ha, "{\"amount\":100}");
    assert_ok(again, 200);
    ensure(strcmp(first.raw, again.raw) == 0, "the retry's body differs:\n%s\n%s", first.raw,
           again.raw);
    resp_free(&first);
    resp_free(&again);
    ensure(balance(s, &a) == 100, "a retried charge was applied twice");
    expect_err(s, "POST", "/user/charge", &ha, "{\"amount\":200}", 409, "IDEMPOTENCY_KEY_REUSED");
    ensure(balance(s, &a) == 100, "a reused key moved money");

    /* Keys are per user. */
    struct hdrs hb = {.key = b.key, .idem = "charge-1"};
    struct resp rb = http(s, "POST", "/user/charge", &hb, "{\"amount\":200}");
    ensure(jint(assert_ok(rb, 200), "balance") == 200, "b's charge with a's key name");
    resp_free(&rb);

    /* 128 printable characters are a key; 129 are not. */
    char key[130];
    memset(key, 'k', 129);
    key[128] = '\0';
    struct hdrs hk = {.key = a.key, .idem = key};
    struct resp rk = http(s, "POST", "/user/charge", &hk, "{\"amount\":1}");
    assert_ok(rk, 200);
    resp_free(&rk);
    key[128] = 'k';
    key[129] = '\0';
    expect_err(s, "POST", "/user/charge", &hk, "{\"amount\":1}", 400, "INVALID_ARGUMENT");
    ensure(balance(s, &a) == 101, "balance after the key-length checks");

    /* A retried hold holds once. */
    token_issue(s, &a, "ACTIVE", 201);
    char sid[ID_MAX];
    struct seat seat;
    free_seats(s, &a, 1, sid, &seat);
    long free_before = schedule_free(s, &a, sid);
    struct hdrs hh = {.token = a.token, .idem = "hold-1"};
    char body[128];
    snprintf(body, sizeof body, "{\"seatId\":\"%s\"}", seat.id);
    struct resp h1 = http(s, "POST", "/reservation", &hh, body);
    assert_ok(h1, 201);
    struct resp h2 = http(s, "POST", "/reservation", &hh, body);
    assert_ok(h2, 201);
    ensure(strcmp(h1.raw, h2.raw) == 0, "the retried hold's body differs:\n%s\n%s", h1.raw, h2.raw);
    resp_free(&h1);
    resp_free(&h2);
    ensure(schedule_free(s, &a, sid) == free_before - 1, "a retried hold changed the count twice");

    /* Keys behind queue tokens are per user too: b's "hold-1" is a different request. */
    token_issue(s, &b, "ACTIVE", 201);
    struct seat two[2];
    free_seats(s, &b, 2, sid, two);
    char res_b[ID_MAX];
    struct hdrs hbh = {.token = b.token, .idem = "hold-1"};
    struct resp rbh = http(s, "POST", "/reservation", &hbh, fmt("{\"seatId\":\"%s\"}", two[0].id));
    json_t *db = assert_ok(rbh, 201);
    ensure(strcmp(jstr(db, "seatId"), two[0].id) == 0, "b got someone else's answer: %s", rbh.raw);
    copy_str(res_b, sizeof res_b, jstr(db, "reservationId"));
    resp_free(&rbh);
}

/* ---- time ------------------------------------------------------------------------------ */

static void test_hold_expiry(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--hold-seconds", "1"));
    struct user a, b;
    active_user(s, &a, 1000000000);
    active_user(s, &b, 1000000000);
    char sid[ID_MAX], res[ID_MAX], res_b[ID_MAX];
    struct seat seat;
    free_seats(s, &a, 1, sid, &seat);
    long free_before = schedule_free(s, &a, sid);
    hold(s, &a, seat.id, res);
    ensure(!seat_free(s, &a, sid, seat.id), "a fresh hold did not take the seat");

    sleep_ms(1500);
    ensure(seat_free(s, &b, sid, seat.id), "the seat is not free after its hold expired");
    ensure(schedule_free(s, &b, sid) == free_before, "availableSeats after the hold expired");
    expect_err(s, "POST", "/payment", TOKEN(a.token), fmt("{\"reservationId\":\"%s\"}", res), 409,
               "HOLD_EXPIRED");
    expect_err(s, "POST", "/payment", TOKEN(a.token), fmt("{\"seatId\":\"%s\"}", seat.id), 409,
               "HOLD_EXPIRED");
    ensure(balance(s, &a) == 1000000000, "paying an expired hold moved money");
    char st[16];
    token_state(s, a.token, st);
    ensure(strcmp(st, "ACTIVE") == 0, "a refused payment left the token %s", st);

    /* Someone else can now hold and buy it; the first holder cannot take it back. */
    hold(s, &b, seat.id, res_b);
    expect_err(s, "POST", "/reservation", TOKEN(a.token), fmt("{\"seatId\":\"%s\"}", seat.id), 409,
               "SEAT_UNAVAILABLE");
    ensure(pay(s, &b, res_b) == 1000000000 - seat.price, "b's payment");
    expect_err(s, "POST", "/payment", TOKEN(a.token), fmt("{\"reservationId\":\"%s\"}", res), 409,
               "HOLD_EXPIRED");
    ensure(balance(s, &a) == 1000000000, "a's balance moved");
}

static void test_token_expiry(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--token-seconds", "1"));
    struct user u;
    user_new(s, &u);
    int64_t t0 = now_ms();
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "status"), "ACTIVE") == 0, "status %s", jstr(d, "status"));
    int64_t exp = rfc3339_ms(jstr(d, "expiresAt"));
    ensure(exp > t0 && exp <= t0 + 2000, "expiresAt %s is not about 1 s from now",
           jstr(d, "expiresAt"));
    copy_str(u.token, sizeof u.token, jstr(d, "token"));
    resp_free(&r);
    char sid[ID_MAX];
    pick_schedule(s, &u, 1, sid);

    sleep_ms(1500);
    char st[16];
    token_state(s, u.token, st);
    ensure(strcmp(st, "EXPIRED") == 0, "token is %s 1.5 s after a 1 s lifetime", st);
    expect_err(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL, 403, "NOT_ADMITTED");
    expect_err(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sid), TOKEN(u.token),
               NULL, 403, "NOT_ADMITTED");

    /* Remembered for token_seconds, then forgotten. */
    sleep_ms(2000);
    expect_err(s, "GET", "/queue/status", TOKEN(u.token), NULL, 401, "UNAUTHORIZED");
    expect_err(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL, 401, "UNAUTHORIZED");

    char old[SECRET_MAX];
    copy_str(old, sizeof old, u.token);
    token_issue(s, &u, "ACTIVE", 201);
    ensure(strcmp(old, u.token) != 0, "an expired token was issued again");
}

/* expiresAt is when a token or hold really lapses: never before it (a client that
 * trusts it must not see a "lapsed" hold still block the seat), and at most a second
 * of rounding after it. Just past a hold's expiresAt the seat is free, sweep or not. */
static void test_expires_at_is_exact(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--token-seconds", "5",
                                   "--hold-seconds", "2"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, 1000000000);
    int64_t t0 = now_ms();
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u.key), NULL);
    int64_t t0_end = now_ms();
    json_t *d = assert_ok(r, 201);
    copy_str(u.token, sizeof u.token, jstr(d, "token"));
    int64_t tok_exp = rfc3339_ms(jstr(d, "expiresAt"));
    ensure(tok_exp >= t0 + 5000 && tok_exp <= t0_end + 6000,
           "token issued between %lld and %lld ms with token_seconds 5 says expiresAt %s (%lld)",
           (long long)t0, (long long)t0_end, jstr(d, "expiresAt"), (long long)tok_exp);
    resp_free(&r);

    char sid[ID_MAX];
    struct seat seat;
    free_seats(s, &u, 1, sid, &seat);
    int64_t t1 = now_ms();
    r = http(s, "POST", "/reservation", TOKEN(u.token), fmt("{\"seatId\":\"%s\"}", seat.id));
    int64_t t1_end = now_ms();
    d = assert_ok(r, 201);
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    int64_t hold_exp = rfc3339_ms(jstr(d, "expiresAt"));
    ensure(hold_exp >= t1 + 2000 && hold_exp <= t1_end + 3000,
           "hold made between %lld and %lld ms with hold_seconds 2 says expiresAt %s (%lld)",
           (long long)t1, (long long)t1_end, jstr(d, "expiresAt"), (long long)hold_exp);
    resp_free(&r);

    sleep_ms((int)(hold_exp + 200 - now_ms()));
    ensure(seat_free(s, &u, sid, seat.id), "the seat is still held 200 ms after its expiresAt");
    expect_err(s, "POST", "/payment", TOKEN(u.token), fmt("{\"reservationId\":\"%s\"}", res), 409,
               "HOLD_EXPIRED");
}

/* Runs one UPDATE on the server's database (SQLite or PostgreSQL, harness srv_sql) and checks it changed
 * exactly one row. Only for states the API cannot produce; the statement names the schema it assumes.
 * The two values replace the statement's two '?' in order. */
static void db_update(struct srv *s, const char *sql, int64_t a, int64_t b)
{
    char out[512];
    size_t o = 0;
    int64_t vals[2] = {a, b};
    int k = 0;
    for (const char *p = sql; *p && o + 24 < sizeof out; p++) {
        if (*p == '?' && k < 2)
            o += (size_t)snprintf(out + o, sizeof out - o, "%lld", (long long)vals[k++]);
        else
            out[o++] = *p;
    }
    out[o] = 0;
    ensure(k == 2, "db_update needs two '?' in %s", sql);
    srv_sql(s, out, 1);
}

/* ---- limits ----------------------------------------------------------------------------- */

/* Sends 30 requests quickly; true when some were 429 RATE_LIMITED (and the first was not). */
static bool burst_limited(struct srv *s, const char *method, const char *path,
                          const struct hdrs *h, const char *body)
{
    int n_limited = 0;
    for (int i = 0; i < 30; i++) {
        struct resp r = http(s, method, path, h, body);
        if (r.status == 429) {
            assert_err(r, 429, "RATE_LIMITED");
            ensure(i > 0, "the first request of a burst was limited");
            n_limited++;
        } else {
            ensure(r.status >= 200 && r.status < 300, "%s: HTTP %ld", r.what, r.status);
        }
        resp_free(&r);
    }
    return n_limited > 0;
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "5", "--rate-burst", "5"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    int n_ok = 0, n_limited = 0;
    int64_t t0 = now_ms();
    for (int i = 0; i < 30; i++) {
        struct resp r = http(s, "POST", "/user/charge", AUTH(a.key), "{\"amount\":1}");
        if (r.status == 200) {
            assert_ok(r, 200);
            n_ok++;
        } else {
            assert_err(r, 429, "RATE_LIMITED");
            char ra[32];
            ensure(resp_header(&r, "Retry-After", ra, sizeof ra) && strcmp(ra, "1") == 0,
                   "429 without Retry-After: 1");
            n_limited++;
        }
        ensure(i > 0 || r.status == 200, "the very first request was refused");
        resp_free(&r);
    }
    double secs = (double)(now_ms() - t0) / 1000.0;
    ensure(n_limited > 0, "30 requests in %.2f s at 5/s with burst 5: none was limited", secs);
    ensure(n_ok >= 5, "only %d of 30 passed; the burst is 5", n_ok);
    /* In-process budgets are token buckets (burst 5, then 5 a second); shared ones (Redis) are fixed one-second
     * windows of 5, so a run that crosses a window edge may pass up to 5 per window it touched. */
    bool shared = strcmp(srv_store_name(s), "postgres") == 0;
    int most = shared ? 5 * ((int)secs + 2) : 5 + (int)(secs * 5) + 1;
    ensure(n_ok <= most, "%d passed in %.2f s at 5/s, burst 5 (at most %d)", n_ok, secs, most);

    /* Another client has its own budget. */
    ensure(balance(s, &b) == 0, "another client's request");
    /* Refused requests changed nothing; the budget refills. */
    sleep_ms(1200);
    ensure(balance(s, &a) == n_ok, "balance %lld after %d accepted charges of 1",
           (long long)balance(s, &a), n_ok);

    /* Without an API key the queue token is the client, and without either the peer. */
    token_issue(s, &a, "ACTIVE", 201);
    ensure(burst_limited(s, "GET", "/queue/status", TOKEN(a.token), NULL),
           "30 quick status polls with one queue token were never limited");
    ensure(burst_limited(s, "POST", "/users", NULL, "{\"name\":\"n\"}"),
           "30 quick anonymous requests from one address were never limited");
}

static void test_balance_overflow(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    srv_require_local(s);
    struct user u;
    user_new(s, &u);

    db_update(s, "UPDATE users SET balance = ? WHERE id = ?", 9223372036854775000LL,
              strtoll(u.id, NULL, 10));

    ensure(balance(s, &u) == 9223372036854775000LL, "the balance set in the database");
    expect_err(s, "POST", "/user/charge", AUTH(u.key), "{\"amount\":1000}", 400,
               "INVALID_ARGUMENT");
    ensure(balance(s, &u) == 9223372036854775000LL, "an overflowing charge changed the balance");
    /* A transfer that would overflow the recipient is refused whole, like a charge. */
    struct user giver;
    user_new(s, &giver);
    charge(s, &giver, 1000);
    expect_err(s, "POST", "/transfers", AUTH(giver.key),
               fmt("{\"toUserId\":\"%s\",\"amount\":1000}", u.id), 400, "INVALID_ARGUMENT");
    ensure(balance(s, &giver) == 1000, "an overflowing transfer debited the sender");
    ensure(balance(s, &u) == 9223372036854775000LL,
           "an overflowing transfer credited the recipient");
    /* Up to the maximum is fine, one more is not. */
    ensure(charge(s, &u, 807) == INT64_MAX, "charge to exactly INT64_MAX");
    expect_err(s, "POST", "/user/charge", AUTH(u.key), "{\"amount\":1}", 400, "INVALID_ARGUMENT");
    ensure(balance(s, &u) == INT64_MAX, "balance after the refused charge");
}

/* A date that has started is no longer offered and its seats cannot be held
 * (its start is moved into the past in the database: schedules.starts_at, ms). */
static void test_started_date(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    srv_require_local(s);
    struct user u;
    active_user(s, &u, 0);
    char sid[ID_MAX];
    struct seat seat;
    free_seats(s, &u, 1, sid, &seat);
    db_update(s, "UPDATE schedules SET starts_at = ? WHERE id = ?", now_ms() - 60000,
              strtoll(sid, NULL, 10));
    ensure(schedule_free(s, &u, sid) == -1, "a date that started a minute ago is still listed");
    expect_err(s, "POST", "/reservation", TOKEN(u.token), fmt("{\"seatId\":\"%s\"}", seat.id),
               409, "SEAT_UNAVAILABLE");
}

static void test_queue_full(void **state)
{
    (void)state;
    enum { LINE = 16 }; /* the smallest --queue-max ticketd accepts */
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--max-active", "1", "--queue-max", "16"));
    struct user u[LINE + 2];
    users_new_many(s, u, LINE + 2);
    token_issue(s, &u[0], "ACTIVE", 201);
    for (int i = 1; i <= LINE; i++)
        token_issue(s, &u[i], "WAITING", 201);
    expect_err(s, "POST", "/queue/issue", AUTH(u[LINE + 1].key), NULL, 503, "UNAVAILABLE");
    char st[16];
    ensure(token_state(s, u[LINE].token, st) == LINE && strcmp(st, "WAITING") == 0,
           "the last waiter after a refused issue: %s", st);
    token_issue(s, &u[1], "WAITING", 200); /* a waiter's own refresh is not refused */
    ensure(token_state(s, u[1].token, st) == 1, "the first waiter lost its place");
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_bad_charge_bodies),
        API_TEST(test_bad_user_names),
        API_TEST(test_payload_too_large),
        API_TEST(test_bad_api_key),
        API_TEST(test_bad_queue_token),
        API_TEST(test_waiting_token_not_admitted),
        API_TEST(test_forbidden_other_user),
        API_TEST(test_pay_someone_elses_reservation),
        API_TEST(test_unknown_and_malformed_ids),
        API_TEST(test_seat_unavailable),
        API_TEST(test_hold_limit),
        API_TEST(test_insufficient_balance),
        API_TEST(test_pay_twice),
        API_TEST(test_idempotent_charge_and_hold),
        API_TEST(test_idempotent_refusal),
        API_TEST(test_hold_expiry),
        API_TEST(test_token_expiry),
        API_TEST(test_expires_at_is_exact),
        API_TEST(test_rate_limit),
        API_TEST(test_balance_overflow),
        API_TEST(test_queue_full),
        API_TEST(test_started_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
