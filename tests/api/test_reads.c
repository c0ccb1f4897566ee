/*
 * test_reads.c — the read routes the two pages use, over HTTP, black box:
 *   - GET /concert/seat-map: every seat of a date by seatNumber with FREE / HELD (anyone's) / SOLD; the statuses
 *     move FREE -> HELD -> SOLD -> FREE (refund) and HELD -> FREE (DELETE /reservation, the organizer's refund), and
 *     the instance that made the write shows it at once (its read cache primed before the write); the others
 *     within the 100 ms bound; a cancelled date is 404 at once;
 *   - its gate, exactly available-seats': no token 401, a WAITING token 403 NOT_ADMITTED, another sale's token and a
 *     site-wide token on a sale's concert 403 FORBIDDEN; a malformed id 400, an unknown date 404;
 *   - a 5,000-seat date: 5,000 items, in order, from the store and from the cache alike;
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

static char g_admin_key[33];

/* ---- set-up helpers ----------------------------------------------------------------------------- */

static void random_hex(char *out, int n_hex)
{
    unsigned char raw[64];
    int fd = open("/dev/urandom", O_RDONLY);
    ensure(fd >= 0 && read(fd, raw, (size_t)(n_hex + 1) / 2) == (ssize_t)((n_hex + 1) / 2), "/dev/urandom");
    close(fd);
    for (int i = 0; i < n_hex; i++)
        out[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[n_hex] = '\0';
}

/* The organizer API on, the per-client budget off (the tests read a lot from one address). */
static struct srv *reads_srv(void) { return srv_start(ARGS("--admin-key", g_admin_key, "--rate-limit", "0")); }

static void spread(const struct srv *s, int ms)
{
    if (srv_instances(s) > 1)
        sleep_ms(ms);
}

static const char *time_str(int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char whole[32];
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt("%s.%03dZ", whole, (int)(ms % 1000));
}

static struct resp admin(struct srv *s, const char *method, const char *path, const char *body)
{
    return http(s, method, path, AUTH(g_admin_key), body);
}

static void concert_new(struct srv *s, const char *name, char id[ID_MAX])
{
    struct resp r = admin(s, "POST", "/admin/concerts", fmt("{\"name\":\"%s\"}", name));
    json_t *d = assert_ok(r, 201);
    copy_str(id, ID_MAX, jstr(d, "concertId"));
    resp_free(&r);
}

/* A date `days_ahead` days ahead with `seats` seats: seats 1..2 category "A" (when seats > 2), the rest none. */
static void schedule_new(struct srv *s, const char *concert, int seats, int days_ahead, char id[ID_MAX])
{
    const char *prices = seats > 2 ? fmt("[{\"fromSeat\":1,\"toSeat\":2,\"price\":%d,\"category\":\"A\"},"
                                         "{\"fromSeat\":3,\"toSeat\":%d,\"price\":%d}]",
                                         PRICE * 2, seats, PRICE)
                                   : fmt("[{\"fromSeat\":1,\"toSeat\":%d,\"price\":%d}]", seats, PRICE);
    struct resp r = admin(s, "POST", "/admin/schedules",
                          fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"seatCount\":%d,\"prices\":%s}", concert,
                              time_str(now_ms() + (int64_t)days_ahead * 86400 * 1000), seats, prices));
    json_t *d = assert_ok(r, 201);
    copy_str(id, ID_MAX, jstr(d, "scheduleId"));
    resp_free(&r);
}

static void sale_new(struct srv *s, const char *concert, const char *fields, char id[ID_MAX])
{
    struct resp r = admin(s, "POST", "/admin/sales", fmt("{\"concertId\":\"%s\"%s}", concert, fields));
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
    struct srv *s = reads_srv();
    char concert[ID_MAX], sched[ID_MAX];
    concert_new(s, "Seat map", concert);
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
    r = http_on(s, 0, "POST", fmt("/admin/payments/%s/refund", pay_b), AUTH(g_admin_key), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    statuses_at_once(s, &a, sched, "FFFFFF", "after the organizer's refund");

    /* a cancelled date: 404 at once on the instance that cancelled it */
    statuses_at_once(s, &a, sched, "FFFFFF", "primed");
    r = http_on(s, 0, "POST", fmt("/admin/schedules/%s/cancel", sched), AUTH(g_admin_key), NULL);
    assert_ok(r, 200);
    resp_free(&r);
    r = http_on(s, 0, "GET", fmt("/concert/seat-map?concertScheduleId=%s", sched), TOKEN(a.token), NULL);
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    reads_settle();
    expect_map_err(s, a.token, fmt("?concertScheduleId=%s", sched), 404, "NOT_FOUND", "a cancelled date");
    srv_stop(s);
}

static void test_seat_map_gate(void **state)
{
    (void)state;
    struct srv *s = reads_srv();
    char ca[ID_MAX], cb[ID_MAX], cc[ID_MAX], sa[ID_MAX], sb[ID_MAX], sc[ID_MAX], sale_a[ID_MAX], sale_b[ID_MAX];
    concert_new(s, "Gate A", ca);
    concert_new(s, "Gate B", cb);
    concert_new(s, "Gate C (no sale)", cc);
    schedule_new(s, ca, 3, 30, sa);
    schedule_new(s, cb, 3, 30, sb);
    schedule_new(s, cc, 3, 30, sc);
    sale_new(s, ca, ",\"maxActive\":1", sale_a);
    sale_new(s, cb, "", sale_b);
    spread(s, CREATE_SPREAD_MS);
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
    struct srv *s = reads_srv();
    char concert[ID_MAX], sched[ID_MAX];
    concert_new(s, "Stadium", concert);
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

/* ---- docs ---------------------------------------------------------------------------------------------- */

static void test_openapi_documents_reads(void **state)
{
    (void)state;
    struct srv *s = reads_srv();
    struct resp r = http(s, "GET", "/openapi.json", NULL, NULL);
    ensure(r.status == 200 && json_is_object(r.json), "GET /openapi.json: HTTP %ld", r.status);
    json_t *paths = json_object_get(r.json, "paths");
    const char *must[] = {"/concert/seat-map"};
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
    random_hex(g_admin_key, 32);
    const struct CMUnitTest tests[] = {
        API_TEST(test_seat_map_statuses),
        API_TEST(test_seat_map_gate),
        API_TEST(test_seat_map_5000_seats),
        API_TEST(test_openapi_documents_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
