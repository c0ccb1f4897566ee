/*
 * test_sale.c — running a real sale (API.md part 2) over HTTP, black box:
 *   - the organizer API's keys (none set: 403; missing or unknown: 401; a user's key: 403) and its 400s/404s;
 *   - the catalogue: a concert, a date of 120 seats in 3 priced ranges with categories, as a buyer sees it;
 *   - a scheduled opening: everyone who came before opensAt waits with position null, then is placed in one
 *     random order, exactly once, whichever instance they came through; later arrivals queue FIFO behind them;
 *   - admission within the sale's live settings: maxActive, a cut of it, PAUSED, OPEN again, CLOSED;
 *   - the gate: a sale's token admits to its concert only, and a concert with a sale only to its sale's tokens;
 *   - GET /queue/events for a sale's waiter (to ACTIVE; to CLOSED);
 *   - the sale's figures (GET /admin/sales/{id}, /metrics) against what the test did;
 *   - SOLD_OUT, set by the sweep once every seat is sold;
 *   - the abuse limits per address (--signup-rate/--signup-burst, --issue-rate/--issue-burst);
 *   - one live token per user per sale, beside the user's site-wide token.
 * Run three ways like every API program (embedded; PostgreSQL + Redis with 1 and 3 instances, requests
 * round-robin). Sales settings reach every instance within SALES_REFRESH_MS (500 ms) of a write, a PATCH within
 * the contract's 1 s: with several instances the tests wait that long before relying on a change elsewhere.
 */
#include "harness.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CREATE_SPREAD_MS 700  /* a new sale is known everywhere (SALES_REFRESH_MS 500 + margin) */
#define PATCH_SPREAD_MS 1000  /* "every instance applies it within 1 s" */
#define POLL_STEP_MS 50
#define PRICE 1000


/* ---- set-up helpers ----------------------------------------------------------------------- */

/* A date 30 days ahead with `seats` seats; prices: a JSON array, or NULL for one range of PRICE won. */
static void schedule_new(struct srv *s, const char *concert, int seats, const char *prices, char id[ID_MAX])
{
    if (prices == NULL)
        prices = fmt("[{\"fromSeat\":1,\"toSeat\":%d,\"price\":%d}]", seats, PRICE);
    struct resp r = http_admin(s, "POST", "/admin/schedules",
                          fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"seatCount\":%d,\"prices\":%s}", concert,
                              time_rfc3339(now_ms() + 30LL * 86400 * 1000), seats, prices));
    json_t *d = assert_ok(r, 201);
    ensure(is_id(jstr(d, "scheduleId")), "scheduleId \"%s\"", jstr(d, "scheduleId"));
    ensure(strcmp(jstr(d, "concertId"), concert) == 0 && jint(d, "totalSeats") == seats &&
               jint(d, "availableSeats") == seats && jint(d, "reservedSeats") == 0,
           "the new date: %s", r.raw);
    copy_str(id, ID_MAX, jstr(d, "scheduleId"));
    resp_free(&r);
}

/* POST /admin/sales {"concertId", <fields>}: fields is "" or ",\"maxActive\":1,...". */
static void sale_new(struct srv *s, const char *concert, const char *fields, char id[ID_MAX])
{
    struct resp r = http_admin(s, "POST", "/admin/sales", fmt("{\"concertId\":\"%s\"%s}", concert, fields));
    json_t *d = assert_ok(r, 201);
    ensure(is_id(jstr(d, "saleId")), "saleId \"%s\"", jstr(d, "saleId"));
    ensure(strcmp(jstr(d, "concertId"), concert) == 0, "the sale is for concert %s, not %s", jstr(d, "concertId"),
           concert);
    ensure(rfc3339_ms(jstr(d, "opensAt")) > 0, "opensAt \"%s\"", jstr(d, "opensAt"));
    copy_str(id, ID_MAX, jstr(d, "saleId"));
    resp_free(&r);
}

static void sale_patch(struct srv *s, const char *sale, const char *body)
{
    struct resp r = http_admin(s, "PATCH", fmt("/admin/sales/%s", sale), body);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "saleId"), sale) == 0, "PATCH answered sale %s", jstr(d, "saleId"));
    resp_free(&r);
}

/* The figures of GET /admin/sales/{id}. p50/p95 -1 when null. */
struct sale_stats {
    char state[16];
    long long waiting, active, admitted_total, admitted_last_minute, abandoned, p50, p95, free, held, sold;
};

static long long int_or_null(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ensure(v != NULL && (json_is_null(v) || json_is_integer(v)), "\"%s\" is neither an integer nor null", key);
    return json_is_null(v) ? -1 : (long long)json_integer_value(v);
}

static void sale_stats(struct srv *s, const char *sale, struct sale_stats *out)
{
    struct resp r = http_admin(s, "GET", fmt("/admin/sales/%s", sale), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "saleId"), sale) == 0, "GET /admin/sales/%s answered sale %s", sale, jstr(d, "saleId"));
    copy_str(out->state, sizeof out->state, jstr(d, "state"));
    json_t *st = json_object_get(d, "stats");
    ensure(json_is_object(st), "no stats: %s", r.raw);
    out->waiting = jint(st, "waiting");
    out->active = jint(st, "active");
    out->admitted_total = jint(st, "admittedTotal");
    out->admitted_last_minute = jint(st, "admittedLastMinute");
    out->abandoned = jint(st, "abandoned");
    out->p50 = int_or_null(st, "queueWaitP50Seconds");
    out->p95 = int_or_null(st, "queueWaitP95Seconds");
    out->free = jint(st, "seatsFree");
    out->held = jint(st, "seatsHeld");
    out->sold = jint(st, "seatsSold");
    resp_free(&r);
}

/* ---- the buyer's side ------------------------------------------------------------------------ */

/* A token's status; position and estimatedWaitSeconds -1 when null, sale fields "" when null. */
struct qstat {
    char status[16];
    long position, est;
    bool expires_null;
    char sale_id[ID_MAX], concert_id[ID_MAX], sale_state[16];
    int64_t opens_at_ms; /* 0 when null */
};

static void str_or_null(const json_t *o, const char *key, char *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    ensure(v != NULL && (json_is_null(v) || json_is_string(v)), "\"%s\" is neither a string nor null", key);
    copy_str(out, n, json_is_null(v) ? "" : json_string_value(v));
}

static void qstat_from(const json_t *d, struct qstat *q)
{
    memset(q, 0, sizeof *q);
    copy_str(q->status, sizeof q->status, jstr(d, "status"));
    q->position = (long)int_or_null(d, "position");
    q->est = (long)int_or_null(d, "estimatedWaitSeconds");
    q->expires_null = json_is_null(json_object_get(d, "expiresAt"));
    str_or_null(d, "saleId", q->sale_id, sizeof q->sale_id);
    str_or_null(d, "concertId", q->concert_id, sizeof q->concert_id);
    str_or_null(d, "saleState", q->sale_state, sizeof q->sale_state);
    char opens[48];
    str_or_null(d, "opensAt", opens, sizeof opens);
    q->opens_at_ms = opens[0] ? rfc3339_ms(opens) : 0;
}

static void qstatus(struct srv *s, const struct user *u, struct qstat *q)
{
    struct resp r = http(s, "GET", "/queue/status", TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "token"), u->token) == 0, "status of another token: %s", r.raw);
    ensure(strcmp(jstr(d, "userId"), u->id) == 0, "the token of user %s names user %s", u->id, jstr(d, "userId"));
    qstat_from(d, q);
    resp_free(&r);
}

/* POST /queue/issue {"concertId"} (concert NULL: no body); stores the token, returns the status. want_status NULL
 * or "WAITING"/"ACTIVE"; want_http 201 new, 200 existing. */
static void issue(struct srv *s, struct user *u, const char *concert, const char *want_status, long want_http,
                  struct qstat *q)
{
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u->key),
                         concert ? fmt("{\"concertId\":\"%s\"}", concert) : NULL);
    json_t *d = assert_ok(r, want_http);
    const char *tok = jstr(d, "token");
    ensure(strlen(tok) >= 32 && strlen(tok) < SECRET_MAX, "queue token \"%s\"", tok);
    ensure(strcmp(jstr(d, "userId"), u->id) == 0, "token issued for user %s, not %s", jstr(d, "userId"), u->id);
    copy_str(u->token, sizeof u->token, tok);
    struct qstat local;
    if (!q)
        q = &local;
    qstat_from(d, q);
    if (want_status)
        ensure(strcmp(q->status, want_status) == 0, "issue for user %s: status %s, expected %s: %s", u->id,
               q->status, want_status, r.raw);
    resp_free(&r);
}

static void expect_issue_closed(struct srv *s, const struct user *u, const char *concert)
{
    struct resp r = http(s, "POST", "/queue/issue", AUTH(u->key), fmt("{\"concertId\":\"%s\"}", concert));
    assert_err(r, 409, "SALE_CLOSED");
    resp_free(&r);
}

/* Polls until u's token is ACTIVE (fails after limit_ms). */
static void wait_active(struct srv *s, const struct user *u, int limit_ms, const char *why)
{
    int64_t deadline = now_ms() + limit_ms;
    for (;;) {
        struct qstat q;
        qstatus(s, u, &q);
        if (strcmp(q.status, "ACTIVE") == 0)
            return;
        ensure(strcmp(q.status, "WAITING") == 0, "%s: user %s became %s", why, u->id, q.status);
        ensure(now_ms() < deadline, "%s: user %s not admitted within %d ms", why, u->id, limit_ms);
        sleep_ms(POLL_STEP_MS);
    }
}

/* Holds seat number `number` of the schedule and pays for it with u's token. */
static void buy_seat(struct srv *s, const struct user *u, const char *sched, long number)
{
    struct seat seats[64];
    int n = seats_list(s, u, sched, seats, 64);
    const char *seat_id = NULL;
    for (int i = 0; i < n && i < 64; i++)
        if (seats[i].number == number)
            seat_id = seats[i].id;
    ensure(seat_id != NULL, "seat %ld of schedule %s is not free", number, sched);
    char res[ID_MAX];
    hold(s, u, seat_id, res);
    pay(s, u, res);
}

static void expect_dates_ok(struct srv *s, const struct user *u, const char *concert)
{
    struct resp r = http(s, "GET", fmt("/concert/available-dates?concertId=%s", concert), TOKEN(u->token), NULL);
    assert_ok(r, 200);
    resp_free(&r);
}

/* ---- 1. the organizer API's keys and its refusals ----------------------------------------------- */

static void expect_err(struct srv *s, const char *method, const char *path, const char *key, const char *body,
                       long status, const char *code)
{
    struct resp r = http(s, method, path, key ? AUTH(key) : NULL, body);
    assert_err(r, status, code);
    resp_free(&r);
}

/* A POST /admin/schedules body: starts_at is JSON (quoted or not); seat_count < 0 leaves seatCount out. */
static const char *sched_body(const char *concert, const char *starts_at, int seat_count, const char *prices,
                              const char *extra)
{
    return fmt("{\"concertId\":\"%s\",\"startsAt\":%s%s,\"prices\":%s%s}", concert, starts_at,
               seat_count < 0 ? "" : fmt(",\"seatCount\":%d", seat_count), prices, extra);
}

static void bad_schedule(struct srv *s, const char *why, const char *body)
{
    struct resp r = http_admin(s, "POST", "/admin/schedules", body);
    if (r.status != 400)
        fail_msg("POST /admin/schedules with %s: HTTP %ld, expected 400: %s", why, r.status, r.raw);
    assert_err(r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
}

static void test_admin_off_without_key(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    char made_up[33];
    random_hex(made_up, 32);
    /* with no --admin-key every /admin route is 403, whatever the caller sends */
    expect_err(s, "POST", "/admin/concerts", NULL, "{\"name\":\"x\"}", 403, "FORBIDDEN");
    expect_err(s, "POST", "/admin/concerts", made_up, "{\"name\":\"x\"}", 403, "FORBIDDEN");
    expect_err(s, "POST", "/admin/concerts", u.key, "{\"name\":\"x\"}", 403, "FORBIDDEN");
    expect_err(s, "POST", "/admin/sales", made_up, "{\"concertId\":\"1\"}", 403, "FORBIDDEN");
    expect_err(s, "GET", "/admin/sales/1", made_up, NULL, 403, "FORBIDDEN");
    expect_err(s, "PATCH", "/admin/sales/1", made_up, "{\"state\":\"CLOSED\"}", 403, "FORBIDDEN");
    srv_stop(s);
}

static void test_admin_auth_and_validation(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    struct user u;
    user_new(s, &u);
    char wrong[33];
    random_hex(wrong, 32);

    /* keys */
    expect_err(s, "POST", "/admin/concerts", NULL, "{\"name\":\"x\"}", 401, "UNAUTHORIZED");
    expect_err(s, "POST", "/admin/concerts", wrong, "{\"name\":\"x\"}", 401, "UNAUTHORIZED");
    expect_err(s, "GET", "/admin/sales/1", wrong, NULL, 401, "UNAUTHORIZED");
    expect_err(s, "POST", "/admin/concerts", u.key, "{\"name\":\"x\"}", 403, "FORBIDDEN");
    expect_err(s, "PATCH", "/admin/sales/1", u.key, "{\"state\":\"CLOSED\"}", 403, "FORBIDDEN");

    /* concerts */
    const char *k = harness_admin_key();
    expect_err(s, "POST", "/admin/concerts", k, "{\"name\":\"x\",\"venue\":\"y\"}", 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/concerts", k, "{\"name\":\"\"}", 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/concerts", k, "{}", 400, "INVALID_ARGUMENT");
    char concert[ID_MAX];
    admin_concert_new(s, "Validation Night", concert);

    /* dates: each body differs from a valid one in one way */
    char future[40];
    copy_str(future, sizeof future, time_rfc3339(now_ms() + 10LL * 86400 * 1000));
    const char *p10 = "[{\"fromSeat\":1,\"toSeat\":10,\"price\":1000}]";
    char fq[48]; /* startsAt, quoted (a copy: fmt()'s 16 buffers rotate) */
    snprintf(fq, sizeof fq, "\"%s\"", future);
    bad_schedule(s, "an unknown field", sched_body(concert, fq, 10, p10, ",\"hall\":1"));
    bad_schedule(s, "seatCount 0", sched_body(concert, fq, 0, p10, ""));
    bad_schedule(s, "seatCount 5001",
                 sched_body(concert, fq, 5001, "[{\"fromSeat\":1,\"toSeat\":5001,\"price\":1000}]", ""));
    bad_schedule(s, "seat 6 not covered",
                 sched_body(concert, fq, 10,
                            "[{\"fromSeat\":1,\"toSeat\":5,\"price\":1000},"
                            "{\"fromSeat\":7,\"toSeat\":10,\"price\":1000}]",
                            ""));
    bad_schedule(s, "a range past seatCount",
                 sched_body(concert, fq, 10, "[{\"fromSeat\":1,\"toSeat\":11,\"price\":1000}]", ""));
    bad_schedule(s, "the default 50 seats not covered", sched_body(concert, fq, -1, p10, ""));
    bad_schedule(s, "overlapping ranges",
                 sched_body(concert, fq, 10,
                            "[{\"fromSeat\":1,\"toSeat\":6,\"price\":1000},"
                            "{\"fromSeat\":5,\"toSeat\":10,\"price\":2000}]",
                            ""));
    bad_schedule(s, "fromSeat > toSeat",
                 sched_body(concert, fq, 10, "[{\"fromSeat\":10,\"toSeat\":1,\"price\":1000}]", ""));
    bad_schedule(s, "no prices", sched_body(concert, fq, 10, "[]", ""));
    bad_schedule(s, "price 0", sched_body(concert, fq, 10, "[{\"fromSeat\":1,\"toSeat\":10,\"price\":0}]", ""));
    bad_schedule(s, "price 1000000001",
                 sched_body(concert, fq, 10, "[{\"fromSeat\":1,\"toSeat\":10,\"price\":1000000001}]", ""));
    bad_schedule(s, "an unknown field in a range",
                 sched_body(concert, fq, 10, "[{\"fromSeat\":1,\"toSeat\":10,\"price\":1000,\"row\":\"A\"}]", ""));
    bad_schedule(s, "startsAt in the past", sched_body(concert, "\"2020-01-01T19:00:00Z\"", 10, p10, ""));
    bad_schedule(s, "startsAt not RFC 3339 (a space)", sched_body(concert, "\"2031-01-01 19:00:00\"", 10, p10, ""));
    bad_schedule(s, "startsAt not RFC 3339 (no zone)", sched_body(concert, "\"2031-01-01T19:00:00\"", 10, p10, ""));
    bad_schedule(s, "startsAt not RFC 3339 (words)", sched_body(concert, "\"tomorrow\"", 10, p10, ""));
    bad_schedule(s, "startsAt a number", sched_body(concert, "1924992000", 10, p10, ""));
    bad_schedule(s, "startsAt 31 February", sched_body(concert, "\"2031-02-31T19:00:00Z\"", 10, p10, ""));
    bad_schedule(s, "concertId not an id", sched_body("abc", fq, 10, p10, ""));
    bad_schedule(s, "no startsAt", fmt("{\"concertId\":\"%s\",\"seatCount\":10,\"prices\":%s}", concert, p10));
    expect_err(s, "POST", "/admin/schedules", k, sched_body("999999999", fq, 10, p10, ""), 404, "NOT_FOUND");
    /* seatCount omitted: 50 seats */
    struct resp r = http_admin(s, "POST", "/admin/schedules",
                          fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"prices\":"
                              "[{\"fromSeat\":1,\"toSeat\":50,\"price\":700}]}", concert, future));
    json_t *d = assert_ok(r, 201);
    ensure(jint(d, "totalSeats") == 50 && jint(d, "availableSeats") == 50, "default seatCount: %s", r.raw);
    resp_free(&r);

    /* sales */
    expect_err(s, "POST", "/admin/sales", k, fmt("{\"concertId\":\"%s\",\"queue\":1}", concert), 400,
               "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/sales", k, "{\"concertId\":\"999999999\"}", 404, "NOT_FOUND");
    expect_err(s, "POST", "/admin/sales", k, "{}", 400, "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/sales", k, fmt("{\"concertId\":\"%s\",\"maxActive\":0}", concert), 400,
               "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/sales", k, fmt("{\"concertId\":\"%s\",\"admitPerSec\":0}", concert), 400,
               "INVALID_ARGUMENT");
    expect_err(s, "POST", "/admin/sales", k, fmt("{\"concertId\":\"%s\",\"opensAt\":\"soon\"}", concert), 400,
               "INVALID_ARGUMENT");
    char sale[ID_MAX];
    int64_t t0 = now_ms();
    r = http_admin(s, "POST", "/admin/sales", fmt("{\"concertId\":\"%s\",\"maxActive\":7,\"admitPerSec\":3}", concert));
    d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "state"), "OPEN") == 0, "a sale without opensAt is OPEN: %s", r.raw);
    ensure(rfc3339_ms(jstr(d, "opensAt")) <= now_ms() && rfc3339_ms(jstr(d, "opensAt")) >= t0 - 1000,
           "opensAt omitted means now: %s", r.raw);
    ensure(jint(d, "maxActive") == 7 && jint(d, "admitPerSec") == 3 && jint(d, "tokenSeconds") > 0,
           "the sale's settings: %s", r.raw);
    copy_str(sale, sizeof sale, jstr(d, "saleId"));
    resp_free(&r);
    /* the organizer reads the new sale at once, whichever instance answers */
    for (int i = 0; i < s->n_base_urls; i++) {
        s->rr_next = (unsigned)i;
        r = http_admin(s, "GET", fmt("/admin/sales/%s", sale), NULL);
        d = assert_ok(r, 200);
        ensure(strcmp(jstr(d, "state"), "OPEN") == 0 && jint(d, "maxActive") == 7, "instance %d: %s", i, r.raw);
        resp_free(&r);
    }
    expect_err(s, "POST", "/admin/sales", k, fmt("{\"concertId\":\"%s\"}", concert), 400, "INVALID_ARGUMENT");

    /* PATCH and GET */
    expect_err(s, "PATCH", "/admin/sales/999999999", k, "{\"state\":\"PAUSED\"}", 404, "NOT_FOUND");
    expect_err(s, "GET", "/admin/sales/999999999", k, NULL, 404, "NOT_FOUND");
    const char *bad_patch[] = {"{\"state\":\"SOLD_OUT\"}", "{\"state\":\"FOO\"}", "{\"state\":\"open\"}",
                               "{\"state\":1}", "{}", "{\"maxActive\":0}", "{\"admitPerSec\":0}",
                               "{\"tokenSeconds\":30}", "{\"maxActive\":\"5\"}", "not json"};
    for (size_t i = 0; i < sizeof bad_patch / sizeof bad_patch[0]; i++)
        expect_err(s, "PATCH", fmt("/admin/sales/%s", sale), k, bad_patch[i], 400, "INVALID_ARGUMENT");
    expect_err(s, "PATCH", "/admin/sales/abc", k, "{\"state\":\"PAUSED\"}", 400, "INVALID_ARGUMENT");
    expect_err(s, "GET", "/admin/sales/abc", k, NULL, 400, "INVALID_ARGUMENT");
    expect_err(s, "GET", "/admin/sales/0123", k, NULL, 400, "INVALID_ARGUMENT");
    /* none of the refused PATCHes changed anything */
    struct sale_stats st;
    sale_stats(s, sale, &st);
    ensure(strcmp(st.state, "OPEN") == 0, "the sale is %s after refused PATCHes", st.state);
    r = http_admin(s, "PATCH", fmt("/admin/sales/%s", sale), "{\"maxActive\":9}");
    d = assert_ok(r, 200);
    ensure(jint(d, "maxActive") == 9 && jint(d, "admitPerSec") == 3 && strcmp(jstr(d, "state"), "OPEN") == 0,
           "PATCH maxActive changes that only: %s", r.raw);
    resp_free(&r);

    /* a buyer queueing for a concert that does not exist */
    expect_err(s, "POST", "/queue/issue", u.key, "{\"concertId\":\"999999999\"}", 404, "NOT_FOUND");
    expect_err(s, "POST", "/queue/issue", u.key, "{\"concertId\":\"abc\"}", 400, "INVALID_ARGUMENT");
    srv_stop(s);
}

/* ---- 2. the catalogue ---------------------------------------------------------------------------- */

static void test_catalogue_priced_seats(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Priced Hall", concert);
    int64_t starts = (now_ms() / 1000 + 40LL * 86400) * 1000; /* whole seconds */
    struct resp r = http_admin(s, "POST", "/admin/schedules",
                          fmt("{\"concertId\":\"%s\",\"startsAt\":\"%s\",\"seatCount\":120,\"prices\":["
                              "{\"fromSeat\":81,\"toSeat\":120,\"price\":50000},"
                              "{\"fromSeat\":1,\"toSeat\":20,\"price\":150000,\"category\":\"VIP\"},"
                              "{\"fromSeat\":21,\"toSeat\":80,\"price\":100000,\"category\":\"R\"}]}",
                              concert, time_rfc3339(starts)));
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "concertId"), concert) == 0 && strcmp(jstr(d, "concertName"), "Priced Hall") == 0 &&
               rfc3339_ms(jstr(d, "startsAt")) == starts && jint(d, "totalSeats") == 120 &&
               jint(d, "reservedSeats") == 0 && jint(d, "availableSeats") == 120 && strlen(jstr(d, "date")) == 10,
           "the new date, shaped like an available-dates item: %s", r.raw);
    copy_str(sched, sizeof sched, jstr(d, "scheduleId"));
    resp_free(&r);
    sale_new(s, concert, "", sale);
    srv_spread(s, CREATE_SPREAD_MS);

    /* the public catalogue shows the concert with its sale, without any token */
    r = http(s, "GET", "/concerts", NULL, NULL);
    d = assert_ok(r, 200);
    bool listed = false;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (strcmp(jstr(e, "concertId"), concert) != 0)
            continue;
        listed = true;
        json_t *sl = json_object_get(e, "sale");
        ensure(json_is_object(sl) && strcmp(jstr(sl, "saleId"), sale) == 0 && strcmp(jstr(sl, "state"), "OPEN") == 0 &&
                   rfc3339_ms(jstr(sl, "opensAt")) > 0,
               "the concert's sale in GET /concerts: %s", r.raw);
    }
    ensure(listed, "GET /concerts does not list concert %s: %s", concert, r.raw);
    resp_free(&r);

    struct user u;
    user_new(s, &u);
    struct qstat q;
    issue(s, &u, concert, "ACTIVE", 201, &q);
    ensure(strcmp(q.sale_id, sale) == 0 && strcmp(q.concert_id, concert) == 0 && strcmp(q.sale_state, "OPEN") == 0,
           "the token's sale fields: sale %s concert %s state %s", q.sale_id, q.concert_id, q.sale_state);
    ensure(schedule_free(s, &u, sched) == 120, "available-dates: the date has %ld free seats, not 120",
           schedule_free(s, &u, sched));

    r = http(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sched), TOKEN(u.token), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 120, "%zu seats listed, not 120", json_array_size(d));
    bool seen[121] = {false};
    json_array_foreach(d, i, e) {
        long n = (long)jint(e, "seatNumber");
        ensure(n >= 1 && n <= 120 && !seen[n], "seat number %ld out of range or listed twice", n);
        seen[n] = true;
        ensure(is_id(jstr(e, "seatId")), "seatId \"%s\"", jstr(e, "seatId"));
        int64_t want_price = n <= 20 ? 150000 : n <= 80 ? 100000 : 50000;
        const char *want_cat = n <= 20 ? "VIP" : n <= 80 ? "R" : NULL;
        ensure(jint(e, "price") == want_price, "seat %ld costs %lld, not %lld", n, (long long)jint(e, "price"),
               (long long)want_price);
        json_t *cat = json_object_get(e, "category");
        ensure(cat != NULL, "seat %ld has no \"category\" member", n);
        if (want_cat)
            ensure(json_is_string(cat) && strcmp(json_string_value(cat), want_cat) == 0,
                   "seat %ld: category should be %s", n, want_cat);
        else
            ensure(json_is_null(cat), "seat %ld: category should be null (none was given)", n);
    }
    resp_free(&r);
    srv_stop(s);
}

/* ---- 3. a scheduled opening -------------------------------------------------------------------- */

#define N_EARLY 30
#define N_LATE 3

static void test_scheduled_opening(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Opening Night", concert);
    schedule_new(s, concert, 10, NULL, sched);
    struct user u[N_EARLY + N_LATE];
    users_new_many(s, u, N_EARLY + N_LATE);

    /* one slot, one admission a second: after the opening, one is ACTIVE and the others hold their places */
    int64_t opens = now_ms() + 1500 + (s->n_base_urls > 1 ? CREATE_SPREAD_MS : 0);
    sale_new(s, concert, fmt(",\"opensAt\":\"%s\",\"maxActive\":1,\"admitPerSec\":1", time_rfc3339(opens)), sale);
    srv_spread(s, CREATE_SPREAD_MS);

    struct resp r = http(s, "GET", "/concerts", NULL, NULL);
    json_t *d = assert_ok(r, 200);
    size_t i;
    json_t *e;
    bool scheduled = false;
    json_array_foreach(d, i, e) {
        json_t *sl = json_object_get(e, "sale");
        if (strcmp(jstr(e, "concertId"), concert) == 0)
            scheduled = json_is_object(sl) && strcmp(jstr(sl, "state"), "SCHEDULED") == 0 &&
                        rfc3339_ms(jstr(sl, "opensAt")) == opens;
    }
    ensure(scheduled, "GET /concerts before opensAt should show the sale SCHEDULED at %s: %s", time_rfc3339(opens), r.raw);
    resp_free(&r);

    /* the early ones, one after the other (round-robin over the instances in shared mode): arrival order 0..N-1 */
    for (int k = 0; k < N_EARLY; k++) {
        struct qstat q;
        issue(s, &u[k], concert, "WAITING", 201, &q);
        ensure(q.position == -1 && q.est == -1 && q.expires_null,
               "before opensAt: position %ld, estimatedWaitSeconds %ld (both should be null)", q.position, q.est);
        ensure(strcmp(q.sale_state, "SCHEDULED") == 0 && strcmp(q.sale_id, sale) == 0 &&
                   strcmp(q.concert_id, concert) == 0 && q.opens_at_ms == opens,
               "before opensAt: saleState %s saleId %s concertId %s opensAt %lld", q.sale_state, q.sale_id,
               q.concert_id, (long long)q.opens_at_ms);
    }
    ensure(now_ms() < opens - 100, "issuing %d tokens took too long: the opening came first", N_EARLY);
    /* a refresh before the opening returns the same token (200) */
    char first_token[SECRET_MAX];
    copy_str(first_token, sizeof first_token, u[0].token);
    issue(s, &u[0], concert, "WAITING", 200, NULL);
    ensure(strcmp(first_token, u[0].token) == 0, "a refresh before the opening gave a new token");
    struct sale_stats st;
    sale_stats(s, sale, &st);
    ensure(strcmp(st.state, "SCHEDULED") == 0 && st.waiting == N_EARLY && st.active == 0 && st.admitted_total == 0,
           "before the opening: state %s, waiting %lld, active %lld, admitted %lld", st.state, st.waiting, st.active,
           st.admitted_total);
    /* a token is for its sale's concert only: not yet admitted anywhere */
    r = http(s, "GET", fmt("/concert/available-dates?concertId=%s", concert), TOKEN(u[1].token), NULL);
    assert_err(r, 403, "NOT_ADMITTED");
    resp_free(&r);

    /* the opening */
    while (now_ms() < opens + 20)
        sleep_ms(20);
    int64_t deadline = now_ms() + 3000;
    for (;;) {
        struct qstat q;
        qstatus(s, &u[N_EARLY - 1], &q);
        if (q.position >= 0)
            break;
        ensure(now_ms() < deadline, "3 s after opensAt a waiter's position is still null (saleState %s)", q.sale_state);
        sleep_ms(POLL_STEP_MS);
    }
    /* place[k]: 1 for the ACTIVE one (first of the draw), position + 1 for the others */
    int place[N_EARLY], n_active = 0;
    bool taken[N_EARLY + 2] = {false};
    for (int k = 0; k < N_EARLY; k++) {
        struct qstat q;
        qstatus(s, &u[k], &q);
        ensure(strcmp(q.sale_state, "OPEN") == 0, "after opensAt saleState is %s", q.sale_state);
        if (strcmp(q.status, "ACTIVE") == 0) {
            n_active++;
            place[k] = 1;
        } else {
            ensure(strcmp(q.status, "WAITING") == 0 && q.position >= 1,
                   "after the opening user %d is %s at position %ld", k, q.status, q.position);
            ensure(q.est >= 1, "after the opening a waiter's estimatedWaitSeconds is %ld", q.est);
            place[k] = (int)q.position + 1;
        }
        ensure(place[k] >= 1 && place[k] <= N_EARLY, "user %d: place %d of %d", k, place[k], N_EARLY);
        ensure(!taken[place[k]], "place %d given twice (user %d)", place[k], k);
        taken[place[k]] = true;
    }
    ensure(n_active == 1, "%d of the early users are ACTIVE with maxActive 1", n_active);
    /* every place 1..N once (checked above: N users, distinct places in 1..N); and a drawn order, not the arrival
     * order: a uniform draw gives the arrival order back with probability 1/30! (about 4e-33) */
    bool arrival_order = true;
    for (int k = 0; k < N_EARLY; k++)
        arrival_order &= place[k] == k + 1;
    ensure(!arrival_order, "the places after the opening are exactly the arrival order");

    /* later arrivals queue FIFO behind everyone who came before the opening */
    for (int k = 0; k < N_LATE; k++) {
        struct qstat q;
        issue(s, &u[N_EARLY + k], concert, "WAITING", 201, &q);
        long want = N_EARLY - 1 + k + 1; /* N_EARLY - 1 wait before them */
        ensure(q.position == want, "late arrival %d: position %ld, expected %ld (behind all %d early ones)", k,
               q.position, want, N_EARLY);
    }
    for (int k = 0; k < N_LATE; k++) {
        struct qstat q;
        qstatus(s, &u[N_EARLY + k], &q);
        ensure(q.position == N_EARLY + k, "late arrival %d moved to position %ld", k, q.position);
    }
    sale_stats(s, sale, &st);
    ensure(st.waiting == N_EARLY - 1 + N_LATE && st.active == 1 && st.admitted_total == 1,
           "after the opening: waiting %lld, active %lld, admitted %lld", st.waiting, st.active, st.admitted_total);
    srv_stop(s);
}

/* ---- 4. admission within the sale's live settings ------------------------------------------------ */

/* Samples for ms: nobody of w[0..n) is admitted, their positions stay 1..n, and the figures stay put. */
static void expect_nobody_admitted(struct srv *s, const char *sale, struct user *w, int n, long long admitted,
                                   long long max_active, int ms, const char *why)
{
    int64_t until = now_ms() + ms;
    do {
        for (int i = 0; i < n; i++) {
            struct qstat q;
            qstatus(s, &w[i], &q);
            ensure(strcmp(q.status, "WAITING") == 0 && q.position == i + 1,
                   "%s: waiter %d is %s at position %ld, expected WAITING at %d", why, i, q.status, q.position, i + 1);
        }
        struct sale_stats st;
        sale_stats(s, sale, &st);
        ensure(st.admitted_total == admitted && st.waiting == n && st.active <= max_active,
               "%s: admittedTotal %lld (expected %lld), waiting %lld (expected %d), active %lld (at most %lld)", why,
               st.admitted_total, admitted, st.waiting, n, st.active, max_active);
        sleep_ms(100);
    } while (now_ms() < until);
}

static void test_admission_follows_settings(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Settings Live", concert);
    schedule_new(s, concert, 20, NULL, sched);
    sale_new(s, concert, ",\"maxActive\":3,\"admitPerSec\":100", sale);
    srv_spread(s, CREATE_SPREAD_MS);
    enum { N = 8 };
    struct user u[N];
    users_new_many(s, u, N);
    for (int i = 0; i < N; i++)
        charge(s, &u[i], 1000000);
    for (int i = 0; i < 3; i++)
        issue(s, &u[i], concert, "ACTIVE", 201, NULL);
    for (int i = 3; i < 7; i++) {
        struct qstat q;
        issue(s, &u[i], concert, "WAITING", 201, &q);
        ensure(q.position == i - 2, "user %d waits at position %ld, not %d", i, q.position, i - 2);
    }
    struct sale_stats st;
    sale_stats(s, sale, &st);
    ensure(st.active == 3 && st.waiting == 4 && st.admitted_total == 3, "maxActive 3: active %lld waiting %lld",
           st.active, st.waiting);

    /* a payment frees a slot: the first waiter takes it; active never above 3 meanwhile */
    buy_seat(s, &u[0], sched, 1);
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        sale_stats(s, sale, &st);
        ensure(st.active <= 3, "maxActive 3 but %lld ACTIVE", st.active);
        struct qstat q;
        qstatus(s, &u[3], &q);
        if (strcmp(q.status, "ACTIVE") == 0)
            break;
        ensure(now_ms() < deadline, "the first waiter was not admitted within 2 s of a free slot");
        sleep_ms(POLL_STEP_MS);
    }
    sale_stats(s, sale, &st);
    ensure(st.active == 3 && st.waiting == 3 && st.admitted_total == 4, "after one payment: active %lld waiting %lld "
           "admitted %lld", st.active, st.waiting, st.admitted_total);

    /* maxActive cut to 1 live (ACTIVE: u1 u2 u3): payments bring active to 2, then 1, and nobody new comes in */
    sale_patch(s, sale, "{\"maxActive\":1}");
    srv_spread(s, PATCH_SPREAD_MS);
    buy_seat(s, &u[1], sched, 2);
    expect_nobody_admitted(s, sale, &u[4], 3, 4, 2, 1200, "maxActive cut to 1, 2 still ACTIVE");
    buy_seat(s, &u[2], sched, 3);
    expect_nobody_admitted(s, sale, &u[4], 3, 4, 1, 600, "maxActive cut to 1, 1 still ACTIVE");

    /* PAUSED: the ACTIVE token keeps working (it even buys), and its freed slot admits nobody */
    sale_patch(s, sale, "{\"state\":\"PAUSED\"}");
    srv_spread(s, PATCH_SPREAD_MS);
    sale_stats(s, sale, &st);
    ensure(strcmp(st.state, "PAUSED") == 0, "the sale is %s after PATCH PAUSED", st.state);
    struct qstat q;
    qstatus(s, &u[4], &q);
    ensure(strcmp(q.sale_state, "PAUSED") == 0, "a waiter's saleState is %s while PAUSED", q.sale_state);
    expect_dates_ok(s, &u[3], concert);
    buy_seat(s, &u[3], sched, 4);
    expect_nobody_admitted(s, sale, &u[4], 3, 4, 0, 1200, "PAUSED with a free slot");

    /* OPEN again: admissions resume, one at a time (maxActive 1) */
    sale_patch(s, sale, "{\"state\":\"OPEN\"}");
    wait_active(s, &u[4], 2000, "OPEN again after PAUSED");
    for (int i = 5; i < 7; i++) {
        qstatus(s, &u[i], &q);
        ensure(strcmp(q.status, "WAITING") == 0 && q.position == i - 4, "user %d: %s at %ld after the resume", i,
               q.status, q.position);
    }
    sale_stats(s, sale, &st);
    ensure(st.active == 1 && st.admitted_total == 5, "after the resume: active %lld admitted %lld", st.active,
           st.admitted_total);

    /* CLOSED: no new tokens; the waiters' tokens end */
    sale_patch(s, sale, "{\"state\":\"CLOSED\"}");
    srv_spread(s, PATCH_SPREAD_MS);
    expect_issue_closed(s, &u[7], concert);
    for (int i = 5; i < 7; i++) {
        qstatus(s, &u[i], &q);
        ensure(strcmp(q.status, "EXPIRED") == 0 && strcmp(q.sale_state, "CLOSED") == 0,
               "a waiter of a CLOSED sale: status %s, saleState %s", q.status, q.sale_state);
    }
    /* a refresh by a waiter of the closed sale is refused too (no new place in a closed line) */
    expect_issue_closed(s, &u[5], concert);
    srv_stop(s);
}

/* ---- 5. the gate --------------------------------------------------------------------------------- */

static void expect_forbidden(struct srv *s, const char *method, const char *path, const struct user *u,
                             const char *body, const char *why)
{
    struct resp r = http(s, method, path, TOKEN(u->token), body);
    if (r.status != 403)
        fail_msg("%s: %s %s: HTTP %ld, expected 403 FORBIDDEN: %s", why, method, path, r.status, r.raw);
    assert_err(r, 403, "FORBIDDEN");
    resp_free(&r);
}

static void test_gate(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char ca[ID_MAX], cb[ID_MAX], cc[ID_MAX], sa[ID_MAX], sb[ID_MAX], sc[ID_MAX], sale_a[ID_MAX], sale_b[ID_MAX];
    admin_concert_new(s, "Gate A", ca);
    admin_concert_new(s, "Gate B", cb);
    admin_concert_new(s, "Gate C (no sale)", cc);
    schedule_new(s, ca, 5, NULL, sa);
    schedule_new(s, cb, 5, NULL, sb);
    schedule_new(s, cc, 5, NULL, sc);
    sale_new(s, ca, "", sale_a);
    sale_new(s, cb, "", sale_b);
    srv_spread(s, CREATE_SPREAD_MS);

    struct user a, site, b;
    user_new(s, &a);
    user_new(s, &site);
    user_new(s, &b);
    charge(s, &a, 100000);
    charge(s, &site, 100000);
    issue(s, &a, ca, "ACTIVE", 201, NULL);
    issue(s, &b, cb, "ACTIVE", 201, NULL);
    struct qstat q;
    issue(s, &site, NULL, "ACTIVE", 201, &q);
    ensure(!q.sale_id[0] && !q.concert_id[0] && !q.sale_state[0] && q.opens_at_ms == 0,
           "a site-wide token's sale fields are not null");

    /* B's ids, seen by B's own buyer */
    struct seat seats_b[5], seats_c[5];
    ensure(seats_list(s, &b, sb, seats_b, 5) == 5, "B's date has not 5 free seats");
    char res_b[ID_MAX];
    hold(s, &b, seats_b[1].id, res_b);
    ensure(seats_list(s, &site, sc, seats_c, 5) == 5, "C's date has not 5 free seats");

    /* A's token: nothing of B's, nor of C's (which belongs to the site-wide room) */
    expect_forbidden(s, "GET", fmt("/concert/available-dates?concertId=%s", cb), &a, NULL, "sale A's token on B");
    expect_forbidden(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sb), &a, NULL,
                     "sale A's token on B's date");
    expect_forbidden(s, "POST", "/reservation", &a, fmt("{\"seatId\":\"%s\"}", seats_b[0].id),
                     "sale A's token holding B's seat");
    expect_forbidden(s, "POST", "/payment", &a, fmt("{\"reservationId\":\"%s\"}", res_b),
                     "sale A's token paying B's reservation");
    expect_forbidden(s, "GET", fmt("/concert/available-dates?concertId=%s", cc), &a, NULL,
                     "sale A's token on a concert without a sale");
    expect_forbidden(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sc), &a, NULL,
                     "sale A's token on a date without a sale");
    expect_forbidden(s, "POST", "/reservation", &a, fmt("{\"seatId\":\"%s\"}", seats_c[0].id),
                     "sale A's token holding a seat of a concert without a sale");
    /* the site-wide token: nothing of A's */
    expect_forbidden(s, "GET", fmt("/concert/available-dates?concertId=%s", ca), &site, NULL, "a site-wide token on A");
    expect_forbidden(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sa), &site, NULL,
                     "a site-wide token on A's date");
    struct seat seats_a[5];
    ensure(seats_list(s, &a, sa, seats_a, 5) == 5, "A's date has not 5 free seats");
    expect_forbidden(s, "POST", "/reservation", &site, fmt("{\"seatId\":\"%s\"}", seats_a[0].id),
                     "a site-wide token holding A's seat");
    expect_forbidden(s, "POST", "/payment", &site, fmt("{\"seatId\":\"%s\"}", seats_a[0].id),
                     "a site-wide token paying A's seat");
    /* nothing was held by the refused requests */
    ensure(seat_free(s, &a, sa, seats_a[0].id), "a refused hold took A's seat");
    ensure(seat_free(s, &site, sc, seats_c[0].id), "a refused hold took C's seat");
    ensure(!seat_free(s, &b, sb, seats_b[1].id), "B's held seat is free again");

    /* unfiltered lists show each token only its room's dates */
    ensure(schedule_free(s, &a, sa) == 5 && schedule_free(s, &a, sb) == -1 && schedule_free(s, &a, sc) == -1,
           "sale A's token lists dates other than A's");
    ensure(schedule_free(s, &site, sc) == 5 && schedule_free(s, &site, sa) == -1 && schedule_free(s, &site, sb) == -1,
           "a site-wide token lists dates of concerts with a sale");

    /* A's token on A, end to end: hold and pay, then the token is spent */
    expect_dates_ok(s, &a, ca);
    char res[ID_MAX];
    hold(s, &a, seats_a[2].id, res);
    ensure(pay(s, &a, res) == 100000 - PRICE, "the balance after paying %d", PRICE);
    ensure(balance(s, &a) == 100000 - PRICE, "the balance after paying %d", PRICE);
    qstatus(s, &a, &q);
    ensure(strcmp(q.status, "EXPIRED") == 0, "after the payment the sale's token is %s", q.status);
    struct resp r = http(s, "GET", fmt("/concert/available-dates?concertId=%s", ca), TOKEN(a.token), NULL);
    assert_err(r, 403, "NOT_ADMITTED");
    resp_free(&r);
    /* and the site-wide token buys on C */
    char res_c[ID_MAX];
    hold(s, &site, seats_c[0].id, res_c);
    pay(s, &site, res_c);
    srv_stop(s);
}

/* ---- 6. GET /queue/events for a sale's waiter ---------------------------------------------------- */

struct stream {
    char url[512];
    char *body;
    size_t len, cap;
    long status;
    bool done; /* the server ended the response */
    int64_t started_ms, first_byte_ms, ended_ms;
    long limit_ms;
    pthread_mutex_t mu;
    pthread_t thread;
};

static size_t stream_bytes(char *p, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    size_t k = size * n;
    pthread_mutex_lock(&st->mu);
    if (st->len + k + 1 > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4096;
        while (cap < st->len + k + 1)
            cap *= 2;
        char *nb = realloc(st->body, cap);
        if (!nb)
            abort();
        st->body = nb;
        st->cap = cap;
    }
    if (!st->first_byte_ms && k)
        st->first_byte_ms = now_ms();
    memcpy(st->body + st->len, p, k);
    st->len += k;
    st->body[st->len] = 0;
    pthread_mutex_unlock(&st->mu);
    return k;
}

/* The stream's thread: no cmocka calls here, the main thread checks what it read. */
static void *stream_main(void *arg)
{
    struct stream *st = arg;
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, st->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, st->limit_ms);
    st->started_ms = now_ms();
    CURLcode rc = curl_easy_perform(c);
    st->ended_ms = now_ms();
    st->done = rc == CURLE_OK;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st->status);
    curl_easy_cleanup(c);
    return NULL;
}

static void stream_start(struct stream *st, const struct srv *s, const char *token, long limit_ms)
{
    memset(st, 0, sizeof *st);
    snprintf(st->url, sizeof st->url, "%s/queue/events?token=%s", s->base_urls[0], token);
    st->limit_ms = limit_ms;
    pthread_mutex_init(&st->mu, NULL);
    ensure(pthread_create(&st->thread, NULL, stream_main, st) == 0, "pthread_create");
}

static void stream_join(struct stream *st)
{
    pthread_join(st->thread, NULL);
    pthread_mutex_destroy(&st->mu);
}

/* The number of complete events received so far. */
static int stream_events_now(struct stream *st)
{
    pthread_mutex_lock(&st->mu);
    int n = 0;
    for (const char *p = st->body; p && (p = strstr(p, "event: status\ndata: ")); p++)
        n += strstr(p, "\n\n") != NULL;
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* The status objects the stream carried, in order (after the join). */
static int stream_events(const struct stream *st, struct qstat *out, int max)
{
    int n = 0;
    const char *p = st->body ? st->body : "";
    while ((p = strstr(p, "event: status\ndata: ")) && n < max) {
        p += strlen("event: status\ndata: ");
        const char *end = strstr(p, "\n\n");
        ensure(end != NULL, "an event without its blank line: %s", st->body);
        json_t *env = json_loadb(p, (size_t)(end - p), 0, NULL);
        ensure(env && json_is_true(json_object_get(env, "success")), "event data is not the envelope: %.*s",
               (int)(end - p), p);
        qstat_from(json_object_get(env, "data"), &out[n++]);
        json_decref(env);
        p = end;
    }
    return n;
}

static void test_events_of_a_sale(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Streamed", concert);
    schedule_new(s, concert, 10, NULL, sched);
    sale_new(s, concert, ",\"maxActive\":1,\"admitPerSec\":100", sale);
    srv_spread(s, CREATE_SPREAD_MS);
    struct user u[4];
    users_new_many(s, u, 4);
    for (int i = 0; i < 4; i++)
        charge(s, &u[i], 1000000);
    issue(s, &u[0], concert, "ACTIVE", 201, NULL);
    for (int i = 1; i < 4; i++)
        issue(s, &u[i], concert, "WAITING", 201, NULL);

    /* u2 waits at position 2: its stream shows that at once, then 1, then ACTIVE, and ends */
    struct stream st;
    stream_start(&st, s, u[2].token, 10000);
    int64_t t0 = now_ms();
    while (stream_events_now(&st) < 1 && now_ms() - t0 < 2000)
        sleep_ms(20);
    ensure(stream_events_now(&st) >= 1, "no first event within 2 s");
    ensure(st.first_byte_ms - st.started_ms < 1000, "the first event came after %lld ms",
           (long long)(st.first_byte_ms - st.started_ms));
    buy_seat(s, &u[0], sched, 1); /* u1 is admitted, u2 moves to 1 */
    t0 = now_ms();
    while (stream_events_now(&st) < 2 && now_ms() - t0 < 3000)
        sleep_ms(20);
    ensure(stream_events_now(&st) >= 2, "no event within 3 s of the position changing");
    wait_active(s, &u[1], 1000, "the first waiter after a payment");
    buy_seat(s, &u[1], sched, 2); /* u2 is admitted */
    stream_join(&st);
    ensure(st.status == 200, "GET /queue/events: HTTP %ld", st.status);
    ensure(st.done, "the stream did not end by itself after ACTIVE: %s", st.body ? st.body : "");
    struct qstat ev[32];
    int n = stream_events(&st, ev, 32);
    ensure(n >= 3, "%d events: %s", n, st.body);
    ensure(strcmp(ev[0].status, "WAITING") == 0 && ev[0].position == 2 && strcmp(ev[0].sale_id, sale) == 0 &&
               strcmp(ev[0].sale_state, "OPEN") == 0 && strcmp(ev[0].concert_id, concert) == 0,
           "first event: %s", st.body);
    bool saw_one = false;
    for (int i = 0; i + 1 < n; i++) {
        ensure(strcmp(ev[i].status, "WAITING") == 0, "event %d before the last is %s: %s", i, ev[i].status, st.body);
        ensure(i == 0 || ev[i].position <= ev[i - 1].position, "the position rose: %s", st.body);
        saw_one |= ev[i].position == 1;
    }
    ensure(saw_one, "no event showed position 1: %s", st.body);
    ensure(strcmp(ev[n - 1].status, "ACTIVE") == 0 && strcmp(ev[n - 1].sale_id, sale) == 0,
           "last event is not the sale's ACTIVE: %s", st.body);
    free(st.body);

    /* u3 waits at position 1 behind u2; the organizer closes the sale: the last event says CLOSED, the stream ends */
    stream_start(&st, s, u[3].token, 8000);
    t0 = now_ms();
    while (stream_events_now(&st) < 1 && now_ms() - t0 < 2000)
        sleep_ms(20);
    ensure(stream_events_now(&st) >= 1, "no first event within 2 s");
    int64_t closed_at = now_ms();
    sale_patch(s, sale, "{\"state\":\"CLOSED\"}");
    stream_join(&st);
    ensure(st.status == 200 && st.done, "the stream of a waiter of a CLOSED sale did not end (HTTP %ld): %s",
           st.status, st.body ? st.body : "");
    ensure(st.ended_ms - closed_at < 2500, "the stream ended %lld ms after the sale was CLOSED",
           (long long)(st.ended_ms - closed_at));
    n = stream_events(&st, ev, 32);
    ensure(n >= 2 && strcmp(ev[0].status, "WAITING") == 0 && ev[0].position == 1, "events: %s", st.body);
    ensure(strcmp(ev[n - 1].sale_state, "CLOSED") == 0 && strcmp(ev[n - 1].status, "ACTIVE") != 0,
           "the last event should show saleState CLOSED (and no admission): %s", st.body);
    free(st.body);
    srv_stop(s);
}

/* ---- 7. the figures ------------------------------------------------------------------------------ */

/* The value of series{sale="id"} in /metrics, -1 when absent. */
static long long metric_of(const char *text, const char *series, const char *sale)
{
    const char *want = fmt("\n%s{sale=\"%s\"} ", series, sale);
    const char *p = strstr(text, want);
    return p ? atoll(p + strlen(want)) : -1;
}

static void test_stats_agree(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Counted", concert);
    schedule_new(s, concert, 10, NULL, sched);
    sale_new(s, concert, ",\"maxActive\":2,\"admitPerSec\":100", sale);
    srv_spread(s, CREATE_SPREAD_MS);
    struct sale_stats st;
    sale_stats(s, sale, &st);
    ensure(strcmp(st.state, "OPEN") == 0 && st.waiting == 0 && st.active == 0 && st.admitted_total == 0 &&
               st.p50 == -1 && st.p95 == -1 && st.free == 10 && st.held == 0 && st.sold == 0,
           "a new sale's figures: state %s waiting %lld active %lld admitted %lld p50 %lld free %lld", st.state,
           st.waiting, st.active, st.admitted_total, st.p50, st.free);

    /* u0 u1 admitted at once, u2 u3 u4 wait; u0 buys (u2 comes in from the line), u1 holds one seat */
    enum { N = 5 };
    struct user u[N];
    users_new_many(s, u, N);
    for (int i = 0; i < N; i++)
        charge(s, &u[i], 1000000);
    issue(s, &u[0], concert, "ACTIVE", 201, NULL);
    issue(s, &u[1], concert, "ACTIVE", 201, NULL);
    for (int i = 2; i < N; i++)
        issue(s, &u[i], concert, "WAITING", 201, NULL);
    sleep_ms(1100); /* u2 waits a second in the line */
    buy_seat(s, &u[0], sched, 1);
    wait_active(s, &u[2], 2000, "the first waiter after a payment");
    struct seat seats[10];
    int n_free = seats_list(s, &u[1], sched, seats, 10);
    char res[ID_MAX] = "";
    for (int i = 0; i < n_free && i < 10; i++)
        if (seats[i].number == 2)
            hold(s, &u[1], seats[i].id, res);
    ensure(res[0], "seat 2 is not free");

    sale_stats(s, sale, &st);
    ensure(st.waiting == 2, "stats.waiting %lld, expected 2", st.waiting);
    ensure(st.active == 2, "stats.active %lld, expected 2", st.active);
    ensure(st.admitted_total == 3, "stats.admittedTotal %lld, expected 3", st.admitted_total);
    ensure(st.admitted_last_minute == 3, "stats.admittedLastMinute %lld, expected 3", st.admitted_last_minute);
    ensure(st.abandoned == 0, "stats.abandoned %lld, expected 0", st.abandoned);
    ensure(st.sold == 1 && st.held == 1 && st.free == 8, "seats: sold %lld held %lld free %lld, expected 1, 1, 8",
           st.sold, st.held, st.free);
    ensure(st.p50 >= 0 && st.p95 >= st.p50, "queueWaitP50Seconds %lld, queueWaitP95Seconds %lld: numbers expected "
           "once someone was admitted from the line", st.p50, st.p95);
    ensure(st.p95 >= 1, "u2 waited over a second in the line, yet queueWaitP95Seconds is %lld", st.p95);

    /* /metrics reports the probe's last reading (every API_PROBE_PERIOD_MS, 250 ms): poll until it agrees */
    const char *const SERIES[] = {"ticketd_sale_waiting", "ticketd_sale_active", "ticketd_sale_admitted_total",
                                  "ticketd_sale_seats_sold", "ticketd_sale_seats_held", "ticketd_sale_seats_free"};
    const long long WANT[] = {2, 2, 3, 1, 1, 8};
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        struct resp r = http(s, "GET", "/metrics", NULL, NULL);
        ensure(r.status == 200, "GET /metrics: HTTP %ld", r.status);
        int bad = -1;
        for (int i = 0; i < 6 && bad < 0; i++)
            if (metric_of(r.raw, SERIES[i], sale) != WANT[i])
                bad = i;
        if (bad < 0) {
            resp_free(&r);
            break;
        }
        ensure(now_ms() < deadline, "/metrics 2 s later: %s{sale=\"%s\"} is %lld, not %lld", SERIES[bad], sale,
               metric_of(r.raw, SERIES[bad], sale), WANT[bad]);
        resp_free(&r);
        sleep_ms(100);
    }
    srv_stop(s);
}

/* ---- 8. SOLD_OUT ------------------------------------------------------------------------------------ */

static const char *concerts_sale_state(struct srv *s, const char *concert, char out[16])
{
    struct resp r = http(s, "GET", "/concerts", NULL, NULL);
    json_t *d = assert_ok(r, 200);
    size_t i;
    json_t *e;
    out[0] = 0;
    json_array_foreach(d, i, e) {
        json_t *sl = json_object_get(e, "sale");
        if (strcmp(jstr(e, "concertId"), concert) == 0 && json_is_object(sl))
            copy_str(out, 16, jstr(sl, "state"));
    }
    resp_free(&r);
    return out;
}

static void test_sold_out(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char concert[ID_MAX], sched[ID_MAX], sale[ID_MAX];
    admin_concert_new(s, "Two Seats Only", concert);
    schedule_new(s, concert, 2, NULL, sched);
    sale_new(s, concert, ",\"maxActive\":2,\"admitPerSec\":100", sale);
    srv_spread(s, CREATE_SPREAD_MS);
    enum { N = 6 };
    struct user u[N];
    users_new_many(s, u, N);
    for (int i = 0; i < N; i++)
        charge(s, &u[i], 1000000);
    issue(s, &u[0], concert, "ACTIVE", 201, NULL);
    issue(s, &u[1], concert, "ACTIVE", 201, NULL);
    for (int i = 2; i < 5; i++)
        issue(s, &u[i], concert, "WAITING", 201, NULL);
    buy_seat(s, &u[0], sched, 1);
    buy_seat(s, &u[1], sched, 2);
    int64_t sold_at = now_ms();
    char st_name[16];
    while (strcmp(concerts_sale_state(s, concert, st_name), "SOLD_OUT") != 0) {
        ensure(strcmp(st_name, "OPEN") == 0, "GET /concerts: the sale is %s", st_name);
        ensure(now_ms() - sold_at < 2500, "GET /concerts does not show SOLD_OUT 2.5 s after the last seat was sold");
        sleep_ms(POLL_STEP_MS);
    }
    /* the last waiter (u2 and u3 took the slots freed by the payments) stops waiting */
    struct qstat q;
    for (;;) {
        qstatus(s, &u[4], &q);
        if (strcmp(q.sale_state, "SOLD_OUT") == 0)
            break;
        ensure(now_ms() - sold_at < 2500, "a waiter's saleState is %s 2.5 s after the sale sold out", q.sale_state);
        sleep_ms(POLL_STEP_MS);
    }
    ensure(strcmp(q.status, "WAITING") != 0, "a waiter of a SOLD_OUT sale is still WAITING at position %ld",
           q.position);
    for (;;) {
        struct resp r = http(s, "POST", "/queue/issue", AUTH(u[5].key), fmt("{\"concertId\":\"%s\"}", concert));
        if (r.status == 409) {
            assert_err(r, 409, "SALE_CLOSED");
            resp_free(&r);
            break;
        }
        ensure(now_ms() - sold_at < 2500, "2.5 s after the sale sold out a new issue is HTTP %ld: %s", r.status, r.raw);
        resp_free(&r);
        sleep_ms(POLL_STEP_MS);
    }
    struct sale_stats st;
    sale_stats(s, sale, &st);
    ensure(strcmp(st.state, "SOLD_OUT") == 0 && st.sold == 2 && st.free == 0 && st.held == 0,
           "GET /admin/sales: state %s, sold %lld free %lld held %lld", st.state, st.sold, st.free, st.held);
    /* the organizer cannot set it back by hand to SOLD_OUT, but may reopen (e.g. after a refund): not tested here */
    srv_stop(s);
}

/* ---- 9. the abuse limits ------------------------------------------------------------------------- */

/* Sleeps until the first 100 ms of a wall-clock second (a fixed one-second window, with Redis, starts there). */
static void align_to_second(void)
{
    int64_t ms = now_ms() % 1000;
    if (ms > 100)
        sleep_ms((int)(1000 - ms) + 5);
}

static void test_abuse_limits(void **state)
{
    (void)state;
    /* later flags win: these replace the harness's "--signup-rate 0 --issue-rate 0" */
    struct srv *s = srv_start_admin(ARGS("--signup-rate", "1", "--signup-burst", "3", "--issue-rate", "1",
                                  "--issue-burst", "3"));
    /* one instance: the exact count does not depend on how the budget is shared between instances */
    struct user u[4];
    memset(u, 0, sizeof u);
    align_to_second();
    for (int i = 0; i < 4; i++) {
        s->rr_next = 0;
        struct resp r = http(s, "POST", "/users", NULL, fmt("{\"name\":\"burst-%d\"}", i));
        if (i < 3) {
            json_t *d = assert_ok(r, 201);
            copy_str(u[i].id, sizeof u[i].id, jstr(d, "userId"));
            copy_str(u[i].key, sizeof u[i].key, jstr(d, "apiKey"));
        } else {
            assert_err(r, 429, "RATE_LIMITED");
        }
        resp_free(&r);
    }
    sleep_ms(1100); /* a second later there is budget again */
    s->rr_next = 0;
    struct resp r = http(s, "POST", "/users", NULL, "{\"name\":\"burst-later\"}");
    json_t *d = assert_ok(r, 201);
    copy_str(u[3].id, sizeof u[3].id, jstr(d, "userId"));
    copy_str(u[3].key, sizeof u[3].key, jstr(d, "apiKey"));
    resp_free(&r);

    /* four different users, one address: the fourth issue in a burst is refused, whoever asks */
    align_to_second();
    for (int i = 0; i < 4; i++) {
        s->rr_next = 0;
        r = http(s, "POST", "/queue/issue", AUTH(u[i].key), NULL);
        if (i < 3)
            assert_ok(r, 201);
        else
            assert_err(r, 429, "RATE_LIMITED");
        resp_free(&r);
    }
    sleep_ms(1100);
    s->rr_next = 0;
    issue(s, &u[3], NULL, NULL, 201, NULL);
    /* other requests are not limited by these budgets */
    for (int i = 0; i < 5; i++)
        balance(s, &u[0]);
    srv_stop(s);
}

/* ---- 10. one live token per user per sale ----------------------------------------------------------- */

static void test_one_token_per_sale(void **state)
{
    (void)state;
    struct srv *s = srv_start_admin(NULL);
    char ca[ID_MAX], cb[ID_MAX], cc[ID_MAX], sched[ID_MAX], sched_c[ID_MAX], sale_a[ID_MAX], sale_b[ID_MAX];
    admin_concert_new(s, "Once A", ca);
    admin_concert_new(s, "Once B", cb);
    admin_concert_new(s, "Once C (no sale)", cc);
    schedule_new(s, ca, 5, NULL, sched);
    schedule_new(s, cc, 5, NULL, sched_c);
    sale_new(s, ca, ",\"maxActive\":1", sale_a);
    sale_new(s, cb, ",\"maxActive\":1", sale_b);
    srv_spread(s, CREATE_SPREAD_MS);
    struct user x, y;
    user_new(s, &x);
    user_new(s, &y);

    /* the same sale twice: the same token, 200 the second time (ACTIVE and WAITING alike, on any instance) */
    issue(s, &x, ca, "ACTIVE", 201, NULL);
    char xa[SECRET_MAX];
    copy_str(xa, sizeof xa, x.token);
    for (int i = 0; i < 3; i++) {
        issue(s, &x, ca, "ACTIVE", 200, NULL);
        ensure(strcmp(x.token, xa) == 0, "a second issue for the same sale gave a new token");
    }
    struct qstat q;
    issue(s, &y, ca, "WAITING", 201, &q);
    ensure(q.position == 1, "y waits at position %ld", q.position);
    char ya[SECRET_MAX];
    copy_str(ya, sizeof ya, y.token);
    for (int i = 0; i < 3; i++) {
        issue(s, &y, ca, "WAITING", 200, &q);
        ensure(strcmp(y.token, ya) == 0 && q.position == 1, "a waiter's refresh: new token or new place (%ld)",
               q.position);
    }

    /* x also holds a site-wide token and a token of sale B: three live tokens, each for its own room */
    issue(s, &x, NULL, "ACTIVE", 201, &q);
    char xs[SECRET_MAX];
    copy_str(xs, sizeof xs, x.token);
    ensure(!q.sale_id[0], "the site-wide token names sale %s", q.sale_id);
    issue(s, &x, cb, "ACTIVE", 201, &q);
    ensure(strcmp(q.sale_id, sale_b) == 0, "the token for B names sale %s", q.sale_id);
    char xb[SECRET_MAX];
    copy_str(xb, sizeof xb, x.token);
    ensure(strcmp(xa, xs) != 0 && strcmp(xa, xb) != 0 && strcmp(xs, xb) != 0, "two rooms gave the same token");
    /* a concert without a sale is the site-wide room's: the same site-wide token */
    issue(s, &x, cc, "ACTIVE", 200, &q);
    ensure(strcmp(x.token, xs) == 0 && !q.sale_id[0], "issue for a concert without a sale: not the site-wide token");
    /* all three still work, each in its room */
    copy_str(x.token, sizeof x.token, xa);
    qstatus(s, &x, &q);
    ensure(strcmp(q.status, "ACTIVE") == 0 && strcmp(q.sale_id, sale_a) == 0, "x's token for A: %s sale %s", q.status,
           q.sale_id);
    expect_dates_ok(s, &x, ca);
    copy_str(x.token, sizeof x.token, xs);
    expect_dates_ok(s, &x, cc);
    copy_str(x.token, sizeof x.token, xb);
    expect_dates_ok(s, &x, cb);
    copy_str(x.token, sizeof x.token, xa);
    issue(s, &x, ca, "ACTIVE", 200, NULL);
    ensure(strcmp(x.token, xa) == 0, "after other rooms' tokens, A's token changed");
    srv_stop(s);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_admin_off_without_key),
        API_TEST(test_admin_auth_and_validation),
        API_TEST(test_catalogue_priced_seats),
        API_TEST(test_scheduled_opening),
        API_TEST(test_admission_follows_settings),
        API_TEST(test_gate),
        API_TEST(test_events_of_a_sale),
        API_TEST(test_stats_agree),
        API_TEST(test_sold_out),
        API_TEST(test_abuse_limits),
        API_TEST(test_one_token_per_sale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
