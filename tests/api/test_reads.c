/*
 * test_reads.c — the read routes the two pages use, over HTTP, black box:
 *   - GET /concert/seat-map: every seat of a date by seatNumber with FREE / HELD (anyone's) / SOLD; the statuses
 *     move FREE -> HELD -> SOLD -> FREE (refund) and HELD -> FREE (DELETE /reservation, the organizer's refund), and
 *     the instance that made the write shows it at once (its read cache primed before the write); the others
 *     within the 100 ms bound; a cancelled date is 404 at once;
 *   - its gate, exactly available-seats': no token 401, a WAITING token 403 NOT_ADMITTED, another sale's token and a
 *     site-wide token on a sale's concert 403 FORBIDDEN; a malformed id 400, an unknown date 404;
 *   - a 5,000-seat date: 5,000 items, in order, from the store and from the cache alike;
 *   - the organizer's lists: 401 without the admin key, 403 with a user's; GET /admin/schedules (every date not
 *     cancelled, sold-out ones too, oldest first, in the available-dates shape; 404 unknown concert), GET /admin/sales
 *     (newest first, each GET /admin/sales/{id} without stats), GET /admin/payments (newest first, the /user/payments
 *     item plus userId and scheduleId, ?scheduleId filter, ?limit 1..100), GET /admin/products (= GET /products);
 *   - docs/openapi.json documents the new paths.
 * Run three ways like every API program (embedded; PostgreSQL + Redis with 1 and 3 instances, round-robin).
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRICE 1000
#define CREATE_SPREAD_MS 700 /* a new sale is known everywhere (SALES_REFRESH_MS 500 + margin) */


/* ---- set-up helpers (the organizer's server and key: harness.h srv_start_admin, http_admin) --------------- */

/* A date `days_ahead` days ahead with `seats` seats: seats 1..2 category "A" (when seats > 2), the rest none. */
static void schedule_new(struct srv *s, const char *concert, int seats, int days_ahead, char id[ID_MAX])
{
    const char *prices = seats > 2 ? fmt("[{\"fromSeat\":1,\"toSeat\":2,\"price\":%d,\"category\":\"A\"},"
                                         "{\"fromSeat\":3,\"toSeat\":%d,\"price\":%d}]",
                                         PRICE * 2, seats, PRICE)
                                   : fmt("[{\"fromSeat\":1,\"toSeat\":%d,\"price\":%d}]", seats, PRICE);
    struct resp r = http_admin(s, "POST", "/admin/schedules",
                          fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"seatCount\":%d,\"prices\":%s}", concert,
                              time_rfc3339(now_ms() + (int64_t)days_ahead * 86400 * 1000), seats, prices));
    json_t *d = assert_ok(r, 201);
    copy_str(id, ID_MAX, jstr(d, "scheduleId"));
    resp_free(&r);
}

static void sale_new(struct srv *s, const char *concert, const char *fields, char id[ID_MAX])
{
    struct resp r = http_admin(s, "POST", "/admin/sales", fmt("{\"concertId\":\"%s\"%s}", concert, fields));
    json_t *d = assert_ok(r, 201);
    copy_str(id, ID_MAX, jstr(d, "saleId"));
    resp_free(&r);
}

/* POST /queue/issue for a concert's sale (concert NULL: site-wide); the token's status must be want_status. */
static void issue(struct srv *s, struct user *u, const char *concert, const char *want_status)
{
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u->key),
                         concert ? fmt("{\"concertId\":\"%s\"}", concert) : NULL);
    json_t *d = assert_ok(r, 201);
    copy_str(u->token, sizeof u->token, jstr(d, "token"));
    ensure(strcmp(jstr(d, "status"), want_status) == 0, "issue: %s, expected %s: %s", jstr(d, "status"),
           want_status, r.raw);
    resp_free(&r);
}

/* ---- the seat map ------------------------------------------------------------------------------- */

#define MAP_MAX 5000
struct map_seat {
    char id[ID_MAX];
    long number;
    int64_t price;
    char category[16]; /* "" for null */
    char status[8];
};

/* GET /concert/seat-map on instance `on` (-1: round-robin) with u's token: asserts 200, the shape and the order;
 * fills out (MAP_MAX) and returns the count. */
static int seat_map_on(struct srv *s, int on, const struct user *u, const char *sched, struct map_seat *out)
{
    const char *path = fmt("/concert/seat-map?concertScheduleId=%s", sched);
    struct resp r = on < 0 ? http(s, "GET", path, TOKEN(u->token), NULL)
                           : http_on(s, on, "GET", path, TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "seat-map: data is not an array: %s", r.raw);
    int n = (int)json_array_size(d);
    ensure(n <= MAP_MAX, "seat-map: %d seats", n);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(d, (size_t)i);
        ensure(json_object_size(e) == 5, "seat-map item %d has %zu fields: %s", i, json_object_size(e), r.raw);
        struct map_seat *m = &out[i];
        copy_str(m->id, sizeof m->id, jstr(e, "seatId"));
        ensure(is_id(m->id), "seatId \"%s\"", m->id);
        m->number = (long)jint(e, "seatNumber");
        ensure(m->number == i + 1, "seat-map item %d is seat %ld: not in seatNumber order", i, m->number);
        m->price = jint(e, "price");
        json_t *cat = json_object_get(e, "category");
        ensure(cat && (json_is_null(cat) || json_is_string(cat)), "seat %ld: category %s", m->number, r.raw);
        copy_str(m->category, sizeof m->category, json_is_string(cat) ? json_string_value(cat) : "");
        copy_str(m->status, sizeof m->status, jstr(e, "status"));
        ensure(strcmp(m->status, "FREE") == 0 || strcmp(m->status, "HELD") == 0 || strcmp(m->status, "SOLD") == 0,
               "seat %ld: status \"%s\"", m->number, m->status);
    }
    resp_free(&r);
    return n;
}

/* The statuses of seats 1..n (up to 63) as one string of F/H/S, read on instance `on`. */
static const char *statuses_on(struct srv *s, int on, const struct user *u, const char *sched)
{
    static struct map_seat m[MAP_MAX];
    int n = seat_map_on(s, on, u, sched, m);
    char buf[64];
    int k = 0;
    for (int i = 0; i < n && k < 63; i++)
        buf[k++] = m[i].status[0];
    buf[k] = 0;
    return fmt("%s", buf);
}

/* Every instance shows want, once the bound has passed. */
static void statuses_everywhere(struct srv *s, const struct user *u, const char *sched, const char *want,
                                const char *why)
{
    reads_settle();
    for (int i = 0; i < srv_instances(s); i++) {
        const char *got = statuses_on(s, i, u, sched);
        ensure(strcmp(got, want) == 0, "%s: instance %d shows %s, expected %s", why, i, got, want);
    }
}

/* The instance that wrote shows want at once. */
static void statuses_at_once(struct srv *s, const struct user *u, const char *sched, const char *want,
                             const char *why)
{
    const char *got = statuses_on(s, 0, u, sched);
    ensure(strcmp(got, want) == 0, "%s: the writing instance shows %s at once, expected %s", why, got, want);
}

static void expect_map_err(struct srv *s, const char *token, const char *query, long status, const char *code,
                           const char *why)
{
    struct resp r = http(s, "GET", fmt("/concert/seat-map%s", query), token ? TOKEN(token) : NULL, NULL);
    if (r.status != status)
        fail_msg("%s: HTTP %ld, expected %ld %s: %s", why, r.status, status, code, r.raw);
    assert_err(r, status, code);
    resp_free(&r);
}

static void test_seat_map_statuses(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX];
    admin_concert_new(s, "Seat map", concert);
    schedule_new(s, concert, 6, 30, sched);
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 100000);
    charge(s, &b, 100000);
    issue(s, &a, NULL, "ACTIVE");
    issue(s, &b, NULL, "ACTIVE");

    /* the shape: every seat, in order, priced and categorised as created, all FREE */
    static struct map_seat m[MAP_MAX];
    int n = seat_map_on(s, -1, &a, sched, m);
    ensure(n == 6, "a 6-seat date maps %d seats", n);
    ensure(m[0].price == PRICE * 2 && strcmp(m[0].category, "A") == 0 && m[2].price == PRICE && !m[2].category[0],
           "seat 1 %lld %s, seat 3 %lld %s", (long long)m[0].price, m[0].category, (long long)m[2].price,
           m[2].category);
    struct seat free_seats[8];
    ensure(seats_list(s, &a, sched, free_seats, 8) == 6, "available-seats does not agree");
    for (int i = 0; i < 6; i++)
        ensure(strcmp(free_seats[i].id, m[i].id) == 0, "seat %d: available-seats id %s, seat-map %s", i + 1,
               free_seats[i].id, m[i].id);
    statuses_everywhere(s, &a, sched, "FFFFFF", "a new date");

    /* a holds seats 1 and 2 through instance 0: HELD there at once, for anyone (b reads it) */
    statuses_at_once(s, &b, sched, "FFFFFF", "primed");
    struct resp r = http_on(s, 0, "POST", "/reservation", TOKEN(a.token),
                            fmt("{\"seatIds\":[\"%s\",\"%s\"]}", m[0].id, m[1].id));
    json_t *d = assert_ok(r, 201);
    char res_a[ID_MAX];
    copy_str(res_a, sizeof res_a, jstr(d, "reservationId"));
    resp_free(&r);
    statuses_at_once(s, &b, sched, "HHFFFF", "after a's hold, read by b");
    ensure(!seat_free(s, &a, sched, m[0].id), "available-seats shows a held seat free");

    /* paid: SOLD at once (a's token is spent by the payment: b reads) */
    r = http_on(s, 0, "POST", "/payment", TOKEN(a.token), fmt("{\"reservationId\":\"%s\"}", res_a));
    d = assert_ok(r, 200);
    char pay_a[ID_MAX];
    copy_str(pay_a, sizeof pay_a, jstr(d, "paymentId"));
    resp_free(&r);
    statuses_at_once(s, &b, sched, "SSFFFF", "after a's payment");
    statuses_everywhere(s, &b, sched, "SSFFFF", "after a's payment");
    issue(s, &a, NULL, "ACTIVE"); /* a fresh token for a: b's is spent by b's payment below */

    /* refunded by the payer: FREE at once */
    statuses_at_once(s, &b, sched, "SSFFFF", "primed");
    r = http_on(s, 0, "POST", fmt("/payments/%s/refund", pay_a), AUTH(a.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    statuses_at_once(s, &b, sched, "FFFFFF", "after the payer's refund");

    /* b holds seat 3 and gives it back: FREE at once */
    r = http_on(s, 0, "POST", "/reservation", TOKEN(b.token), fmt("{\"seatId\":\"%s\"}", m[2].id));
    d = assert_ok(r, 201);
    char res_b[ID_MAX];
    copy_str(res_b, sizeof res_b, jstr(d, "reservationId"));
    resp_free(&r);
    statuses_at_once(s, &a, sched, "FFHFFF", "after b's hold");
    r = http_on(s, 0, "DELETE", fmt("/reservation/%s", res_b), TOKEN(b.token), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    statuses_at_once(s, &b, sched, "FFFFFF", "after DELETE /reservation");
    statuses_everywhere(s, &b, sched, "FFFFFF", "after DELETE /reservation");

    /* b buys seat 6; the organizer refunds it: FREE at once */
    hold(s, &b, m[5].id, res_b);
    int64_t bal = pay(s, &b, res_b);
    ensure(bal == 100000 - PRICE, "b's balance %lld", (long long)bal);
    statuses_everywhere(s, &a, sched, "FFFFFS", "after b's payment");
    r = http(s, "GET", "/user/payments", AUTH(b.key), NULL);
    d = assert_ok(r, 200);
    char pay_b[ID_MAX];
    copy_str(pay_b, sizeof pay_b, jstr(json_array_get(d, 0), "paymentId"));
    resp_free(&r);
    statuses_at_once(s, &a, sched, "FFFFFS", "primed");
    r = http_on(s, 0, "POST", fmt("/admin/payments/%s/refund", pay_b), AUTH(harness_admin_key()), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    statuses_at_once(s, &a, sched, "FFFFFF", "after the organizer's refund");

    /* a cancelled date: 404 at once on the instance that cancelled it */
    statuses_at_once(s, &a, sched, "FFFFFF", "primed");
    r = http_on(s, 0, "POST", fmt("/admin/schedules/%s/cancel", sched), AUTH(harness_admin_key()), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    r = http_on(s, 0, "GET", fmt("/concert/seat-map?concertScheduleId=%s", sched), TOKEN(a.token), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    r = http_on(s, 0, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sched), TOKEN(a.token), NULL);
    assert_err(r, 404, "NOT_FOUND"); /* its free seats can never be held: the date is gone for buyers */
    resp_free(&r);
    reads_settle();
    expect_map_err(s, a.token, fmt("?concertScheduleId=%s", sched), 404, "NOT_FOUND", "a cancelled date");
    srv_stop(s);
}

static void test_seat_map_gate(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char ca[ID_MAX], cb[ID_MAX], cc[ID_MAX], sa[ID_MAX], sb[ID_MAX], sc[ID_MAX], sale_a[ID_MAX], sale_b[ID_MAX];
    admin_concert_new(s, "Gate A", ca);
    admin_concert_new(s, "Gate B", cb);
    admin_concert_new(s, "Gate C (no sale)", cc);
    schedule_new(s, ca, 3, 30, sa);
    schedule_new(s, cb, 3, 30, sb);
    schedule_new(s, cc, 3, 30, sc);
    sale_new(s, ca, ",\"maxActive\":1", sale_a);
    sale_new(s, cb, "", sale_b);
    srv_spread(s, CREATE_SPREAD_MS);
    struct user a, waiter, b, site;
    user_new(s, &a);
    user_new(s, &waiter);
    user_new(s, &b);
    user_new(s, &site);
    issue(s, &a, ca, "ACTIVE");
    issue(s, &waiter, ca, "WAITING"); /* sale A admits one at a time */
    issue(s, &b, cb, "ACTIVE");
    issue(s, &site, NULL, "ACTIVE");

    static struct map_seat m[MAP_MAX];
    ensure(seat_map_on(s, -1, &a, sa, m) == 3, "A's token on A's date");
    ensure(seat_map_on(s, -1, &site, sc, m) == 3, "a site-wide token on a date without a sale");
    char qa[64]; /* fmt's buffers rotate: keep this one */
    snprintf(qa, sizeof qa, "?concertScheduleId=%s", sa);
    expect_map_err(s, NULL, qa, 401, "UNAUTHORIZED", "no token");
    expect_map_err(s, "not-a-token", qa, 401, "UNAUTHORIZED", "a made-up token");
    expect_map_err(s, waiter.token, qa, 403, "NOT_ADMITTED", "a WAITING token");
    expect_map_err(s, b.token, qa, 403, "FORBIDDEN", "sale B's token on A's date");
    expect_map_err(s, a.token, fmt("?concertScheduleId=%s", sb), 403, "FORBIDDEN", "sale A's token on B's date");
    expect_map_err(s, a.token, fmt("?concertScheduleId=%s", sc), 403, "FORBIDDEN", "sale A's token, no-sale date");
    expect_map_err(s, site.token, qa, 403, "FORBIDDEN", "a site-wide token on a sale's date");
    expect_map_err(s, a.token, "", 400, "INVALID_ARGUMENT", "no concertScheduleId");
    expect_map_err(s, a.token, "?concertScheduleId=abc", 400, "INVALID_ARGUMENT", "a malformed id");
    expect_map_err(s, a.token, "?concertScheduleId=0", 400, "INVALID_ARGUMENT", "id 0");
    expect_map_err(s, site.token, "?concertScheduleId=999999999", 404, "NOT_FOUND", "an unknown date");
    /* twice more, so that a cached page (or a cached gate) answers: the same verdicts */
    for (int i = 0; i < 2; i++) {
        ensure(seat_map_on(s, -1, &a, sa, m) == 3, "A's token on A's date, again");
        expect_map_err(s, b.token, qa, 403, "FORBIDDEN", "sale B's token on A's date, again");
        expect_map_err(s, waiter.token, qa, 403, "NOT_ADMITTED", "a WAITING token, again");
    }
    srv_stop(s);
}

static void test_seat_map_5000_seats(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX];
    admin_concert_new(s, "Stadium", concert);
    schedule_new(s, concert, 5000, 30, sched);
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100000);
    issue(s, &u, NULL, "ACTIVE");
    static struct map_seat m[MAP_MAX];
    for (int round = 0; round < 3; round++) { /* the store's answer, then the cache's */
        int n = seat_map_on(s, -1, &u, sched, m);
        ensure(n == 5000, "round %d: a 5,000-seat date maps %d seats", round, n);
        for (int i = 0; i < n; i++)
            ensure(strcmp(m[i].status, "FREE") == 0, "seat %d is %s", i + 1, m[i].status);
    }
    char res[ID_MAX];
    hold(s, &u, m[4998].id, res);
    reads_settle();
    for (int i = 0; i < srv_instances(s); i++) {
        ensure(seat_map_on(s, i, &u, sched, m) == 5000, "instance %d: not 5,000 seats", i);
        for (int k = 0; k < 5000; k++)
            ensure(strcmp(m[k].status, k == 4998 ? "HELD" : "FREE") == 0, "instance %d: seat %d is %s", i, k + 1,
                   m[k].status);
    }
    srv_stop(s);
}

/* ---- the organizer's lists ---------------------------------------------------------------------------- */

static void expect_status(struct srv *s, const char *path, const char *key, long status, const char *code,
                          const char *why)
{
    struct resp r = http(s, "GET", path, key ? AUTH(key) : NULL, NULL);
    if (r.status != status)
        fail_msg("%s: GET %s: HTTP %ld, expected %ld %s: %s", why, path, r.status, status, code, r.raw);
    assert_err(r, status, code);
    resp_free(&r);
}

static void test_admin_reads_auth(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct user u;
    user_new(s, &u);
    const char *paths[] = {"/admin/schedules?concertId=1", "/admin/sales", "/admin/payments", "/admin/products"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        expect_status(s, paths[i], NULL, 401, "UNAUTHORIZED", "no key");
        expect_status(s, paths[i], "not-the-admin-key-at-all", 401, "UNAUTHORIZED", "an unknown key");
        expect_status(s, paths[i], u.key, 403, "FORBIDDEN", "a user's key");
        struct resp r = http_admin(s, "GET", paths[i], NULL);
        ensure(r.status == 200 || r.status == 404, "GET %s with the admin key: HTTP %ld: %s", paths[i], r.status,
               r.raw);
        resp_free(&r);
    }
    srv_stop(s);
}

/* The fields of an available-dates item, exactly. */
static void expect_date_item(const json_t *e, const char *sched, const char *concert, int total, int reserved)
{
    ensure(json_object_size(e) == 8, "a date item has %zu fields", json_object_size(e));
    ensure(strcmp(jstr(e, "scheduleId"), sched) == 0, "date %s, expected %s", jstr(e, "scheduleId"), sched);
    ensure(strcmp(jstr(e, "concertId"), concert) == 0 && strcmp(jstr(e, "concertName"), "Lists") == 0,
           "date %s: concert %s %s", sched, jstr(e, "concertId"), jstr(e, "concertName"));
    ensure(strlen(jstr(e, "date")) == 10 && rfc3339_ms(jstr(e, "startsAt")) > now_ms(), "date %s: %s %s", sched,
           jstr(e, "date"), jstr(e, "startsAt"));
    ensure(jint(e, "totalSeats") == total && jint(e, "reservedSeats") == reserved &&
               jint(e, "availableSeats") == total - reserved,
           "date %s: %lld total, %lld reserved, %lld available; expected %d, %d", sched,
           (long long)jint(e, "totalSeats"), (long long)jint(e, "reservedSeats"),
           (long long)jint(e, "availableSeats"), total, reserved);
}

/* u (an ACTIVE site-wide token) buys the seats numbered from..to of a date; a fresh token after. Returns the
 * payment id in pay_id. */
static void buy(struct srv *s, struct user *u, const char *sched, int from, int to, char pay_id[ID_MAX])
{
    static struct map_seat m[MAP_MAX];
    reads_settle();
    int n = seat_map_on(s, -1, u, sched, m);
    ensure(to <= n, "date %s has %d seats", sched, n);
    char body[256] = "{\"seatIds\":[";
    for (int k = from; k <= to; k++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"%s\"", k > from ? "," : "", m[k - 1].id);
    strcat(body, "]}");
    struct resp r = http(s, "POST", "/reservation", TOKEN(u->token), body);
    json_t *d = assert_ok(r, 201);
    char res[ID_MAX];
    copy_str(res, sizeof res, jstr(d, "reservationId"));
    resp_free(&r);
    r = http(s, "POST", "/payment", TOKEN(u->token), fmt("{\"reservationId\":\"%s\"}", res));
    d = assert_ok(r, 200);
    copy_str(pay_id, ID_MAX, jstr(d, "paymentId"));
    resp_free(&r);
    issue(s, u, NULL, "ACTIVE");
}

static void test_admin_schedules_list(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], d20[ID_MAX], d10[ID_MAX], d30[ID_MAX], other[ID_MAX], od[ID_MAX];
    admin_concert_new(s, "Lists", concert);
    schedule_new(s, concert, 2, 20, d20); /* created out of date order */
    schedule_new(s, concert, 3, 10, d10);
    schedule_new(s, concert, 3, 30, d30);
    admin_concert_new(s, "Other", other);
    schedule_new(s, other, 2, 5, od);
    struct user u;
    user_new(s, &u);
    charge(s, &u, 100000);
    issue(s, &u, NULL, "ACTIVE");
    char pay_id[ID_MAX];
    buy(s, &u, d20, 1, 2, pay_id); /* d20 sold out */
    struct resp r = http_admin(s, "POST", fmt("/admin/schedules/%s/cancel", d30), NULL);
    assert_ok(r, 200);
    resp_free(&r);

    /* the buyer's list: d10 only; the organizer's: d10 then the sold-out d20, never the cancelled d30 */
    reads_settle();
    ensure(schedule_free(s, &u, d20) == -1 && schedule_free(s, &u, d30) == -1 && schedule_free(s, &u, d10) == 3,
           "available-dates lists a sold-out or cancelled date");
    r = http_admin(s, "GET", fmt("/admin/schedules?concertId=%s", concert), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 2, "GET /admin/schedules: %s", r.raw);
    expect_date_item(json_array_get(d, 0), d10, concert, 3, 0);
    expect_date_item(json_array_get(d, 1), d20, concert, 2, 2);
    resp_free(&r);
    r = http_admin(s, "GET", fmt("/admin/schedules?concertId=%s", other), NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 1 && strcmp(jstr(json_array_get(d, 0), "scheduleId"), od) == 0,
           "another concert's dates: %s", r.raw);
    resp_free(&r);
    /* a concert with no date: an empty list */
    char empty[ID_MAX];
    admin_concert_new(s, "Lists", empty);
    r = http_admin(s, "GET", fmt("/admin/schedules?concertId=%s", empty), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 0, "a concert with no dates: %s", r.raw);
    resp_free(&r);
    expect_status(s, "/admin/schedules?concertId=999999999", harness_admin_key(), 404, "NOT_FOUND", "an unknown concert");
    expect_status(s, "/admin/schedules", harness_admin_key(), 400, "INVALID_ARGUMENT", "no concertId");
    expect_status(s, "/admin/schedules?concertId=x1", harness_admin_key(), 400, "INVALID_ARGUMENT", "a malformed concertId");
    srv_stop(s);
}

static void test_admin_sales_list(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char c1[ID_MAX], c2[ID_MAX], s1[ID_MAX], s2[ID_MAX];
    admin_concert_new(s, "Sale one", c1);
    admin_concert_new(s, "Sale two", c2);
    sale_new(s, c1, ",\"maxActive\":7,\"admitPerSec\":3,\"tokenSeconds\":60", s1);
    sale_new(s, c2, fmt(",\"opensAt\":\"%s\"", time_rfc3339(now_ms() + 3600 * 1000)), s2);
    struct resp r = http_admin(s, "PATCH", fmt("/admin/sales/%s", s1), "{\"state\":\"PAUSED\"}");
    assert_ok(r, 200);
    resp_free(&r);
    r = http_admin(s, "GET", "/admin/sales", NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) >= 2, "GET /admin/sales: %s", r.raw);
    /* newest first: ours are the newest; ids strictly descending throughout (the seed's sale, if any, last) */
    json_t *a = json_array_get(d, 0), *b = json_array_get(d, 1);
    ensure(strcmp(jstr(a, "saleId"), s2) == 0 && strcmp(jstr(b, "saleId"), s1) == 0, "not newest first: %s", r.raw);
    for (size_t i = 1; i < json_array_size(d); i++)
        ensure(strtoll(jstr(json_array_get(d, i - 1), "saleId"), NULL, 10) >
                   strtoll(jstr(json_array_get(d, i), "saleId"), NULL, 10),
               "sales not newest first: %s", r.raw);
    size_t k;
    json_t *e;
    json_array_foreach(d, k, e) {
        ensure(json_object_size(e) == 7 && !json_object_get(e, "stats"), "a sale item: %s", r.raw);
        ensure(rfc3339_ms(jstr(e, "opensAt")) > 0, "opensAt %s", jstr(e, "opensAt"));
    }
    ensure(strcmp(jstr(a, "concertId"), c2) == 0 && strcmp(jstr(a, "state"), "SCHEDULED") == 0,
           "the scheduled sale: %s", r.raw);
    ensure(strcmp(jstr(b, "concertId"), c1) == 0 && strcmp(jstr(b, "state"), "PAUSED") == 0 &&
               jint(b, "maxActive") == 7 && jint(b, "admitPerSec") == 3 && jint(b, "tokenSeconds") == 60,
           "the paused sale: %s", r.raw);
    resp_free(&r);
    /* each item is GET /admin/sales/{id} without stats */
    r = http_admin(s, "GET", fmt("/admin/sales/%s", s1), NULL);
    json_t *one = assert_ok(r, 200);
    json_object_del(one, "stats");
    struct resp rl = http_admin(s, "GET", "/admin/sales", NULL);
    json_t *list = assert_ok(rl, 200);
    ensure(json_equal(one, json_array_get(list, 1)), "the list's sale %s differs from GET /admin/sales/%s", s1, s1);
    resp_free(&rl);
    resp_free(&r);
    srv_stop(s);
}

static void test_admin_payments(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], da[ID_MAX], db[ID_MAX];
    admin_concert_new(s, "Lists", concert);
    schedule_new(s, concert, 6, 20, da);
    schedule_new(s, concert, 6, 21, db);
    struct user x, y;
    user_new(s, &x);
    user_new(s, &y);
    charge(s, &x, 100000);
    charge(s, &y, 100000);
    issue(s, &x, NULL, "ACTIVE");
    issue(s, &y, NULL, "ACTIVE");
    char p1[ID_MAX], p2[ID_MAX], p3[ID_MAX];
    buy(s, &x, da, 1, 2, p1);
    buy(s, &y, db, 1, 1, p2);
    buy(s, &y, da, 3, 3, p3);
    struct resp r = http(s, "POST", fmt("/payments/%s/refund", p2), AUTH(y.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);

    /* everyone's, newest first, each a /user/payments item plus userId and scheduleId */
    r = http_admin(s, "GET", "/admin/payments", NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 3, "GET /admin/payments: %s", r.raw);
    const char *want_ids[3] = {p3, p2, p1}, *want_users[3] = {y.id, y.id, x.id}, *want_sched[3] = {da, db, da};
    const char *want_status[3] = {"PAID", "REFUNDED", "PAID"};
    int want_seats[3] = {1, 1, 2};
    int64_t want_amount[3] = {PRICE, PRICE * 2, PRICE * 4}; /* seats 1..2 cost 2 * PRICE, the rest PRICE */
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(d, (size_t)i);
        ensure(json_object_size(e) == 8, "a payment item has %zu fields: %s", json_object_size(e), r.raw);
        ensure(strcmp(jstr(e, "paymentId"), want_ids[i]) == 0 && strcmp(jstr(e, "userId"), want_users[i]) == 0 &&
                   strcmp(jstr(e, "scheduleId"), want_sched[i]) == 0 &&
                   strcmp(jstr(e, "status"), want_status[i]) == 0,
               "payment %d: %s", i, r.raw);
        ensure(is_id(jstr(e, "reservationId")) && rfc3339_ms(jstr(e, "createdAt")) > 0, "payment %d: %s", i, r.raw);
        json_t *seats = json_object_get(e, "seats");
        ensure(json_is_array(seats) && (int)json_array_size(seats) == want_seats[i] &&
                   jint(e, "amount") == want_amount[i],
               "payment %d: seats and amount: %s", i, r.raw);
    }
    resp_free(&r);
    /* the user's own list is the same item without userId and scheduleId */
    r = http(s, "GET", "/user/payments", AUTH(y.key), NULL);
    json_t *mine = assert_ok(r, 200);
    struct resp ra = http_admin(s, "GET", fmt("/admin/payments?scheduleId=%s", da), NULL);
    json_t *of_a = assert_ok(ra, 200);
    ensure(json_array_size(of_a) == 2 && strcmp(jstr(json_array_get(of_a, 0), "paymentId"), p3) == 0 &&
               strcmp(jstr(json_array_get(of_a, 1), "paymentId"), p1) == 0,
           "date A's payments: %s", ra.raw);
    json_t *item = json_deep_copy(json_array_get(of_a, 0));
    json_object_del(item, "userId");
    json_object_del(item, "scheduleId");
    ensure(json_equal(item, json_array_get(mine, 0)), "the organizer's item differs from the user's: %s / %s", ra.raw,
           r.raw);
    json_decref(item);
    resp_free(&ra);
    resp_free(&r);
    r = http_admin(s, "GET", fmt("/admin/payments?scheduleId=%s&limit=1", db), NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 1 && strcmp(jstr(json_array_get(d, 0), "paymentId"), p2) == 0, "date B: %s", r.raw);
    resp_free(&r);
    r = http_admin(s, "GET", "/admin/payments?limit=2", NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 2 && strcmp(jstr(json_array_get(d, 0), "paymentId"), p3) == 0, "limit 2: %s", r.raw);
    resp_free(&r);
    r = http_admin(s, "GET", "/admin/payments?limit=100", NULL);
    d = assert_ok(r, 200);
    ensure(json_array_size(d) == 3, "limit 100: %s", r.raw);
    resp_free(&r);
    /* a date with no payment yet: empty; bounds and malformed input */
    char dc[ID_MAX];
    schedule_new(s, concert, 2, 22, dc);
    r = http_admin(s, "GET", fmt("/admin/payments?scheduleId=%s", dc), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 0, "a date with no payments: %s", r.raw);
    resp_free(&r);
    expect_status(s, "/admin/payments?limit=0", harness_admin_key(), 400, "INVALID_ARGUMENT", "limit 0");
    expect_status(s, "/admin/payments?limit=101", harness_admin_key(), 400, "INVALID_ARGUMENT", "limit 101");
    expect_status(s, "/admin/payments?limit=+5", harness_admin_key(), 400, "INVALID_ARGUMENT", "limit +5");
    expect_status(s, "/admin/payments?scheduleId=abc", harness_admin_key(), 400, "INVALID_ARGUMENT", "a malformed id");
    expect_status(s, "/admin/payments?scheduleId=999999999", harness_admin_key(), 404, "NOT_FOUND", "an unknown date");
    srv_stop(s);
}

static void test_admin_products(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct resp r = http_admin(s, "POST", "/admin/products",
                          "{\"name\":\"Tour shirt\",\"options\":[{\"name\":\"M\",\"price\":30000,\"stock\":5}]}");
    assert_ok(r, 201);
    resp_free(&r);
    struct user u;
    user_new(s, &u);
    r = http_admin(s, "GET", "/admin/products", NULL);
    json_t *org = assert_ok(r, 200);
    struct resp rb = http(s, "GET", "/products", AUTH(u.key), NULL);
    json_t *buyer = assert_ok(rb, 200);
    ensure(json_is_array(org) && json_array_size(org) >= 1, "GET /admin/products: %s", r.raw);
    ensure(json_equal(org, buyer), "GET /admin/products differs from GET /products: %s / %s", r.raw, rb.raw);
    resp_free(&rb);
    resp_free(&r);
    srv_stop(s);
}

/* ---- docs ---------------------------------------------------------------------------------------------- */

static void test_openapi_documents_reads(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct resp r = http(s, "GET", "/openapi.json", NULL, NULL);
    ensure(r.status == 200 && json_is_object(r.json), "GET /openapi.json: HTTP %ld", r.status);
    json_t *paths = json_object_get(r.json, "paths");
    const char *must[] = {"/concert/seat-map", "/admin/schedules", "/admin/sales", "/admin/payments",
                          "/admin/products"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        json_t *p = json_object_get(paths, must[i]);
        ensure(p && json_object_get(p, "get"), "/openapi.json does not document GET %s", must[i]);
    }
    resp_free(&r);
    srv_stop(s);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_seat_map_statuses),
        API_TEST(test_seat_map_gate),
        API_TEST(test_seat_map_5000_seats),
        API_TEST(test_admin_reads_auth),
        API_TEST(test_admin_schedules_list),
        API_TEST(test_admin_sales_list),
        API_TEST(test_admin_payments),
        API_TEST(test_admin_products),
        API_TEST(test_openapi_documents_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
