/*
 * test_flow.c — the happy path of ticketd over HTTP: user, wallet, waiting
 * room, concerts, dates, seats, hold, payment, transfers and history, plus the
 * operational endpoints (/health, /metrics, /openapi.json). Each test starts its
 * own server on a fresh SQLite file, so counts such as "50 free seats" are exact.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define SEATS_PER_DATE 50
#define MONEY 1000000000 /* one maximal charge: more than any seat costs */

/* GET /health, in the success envelope like every other JSON answer. */
static void test_health(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct resp r = http(s, "GET", "/health", NULL, NULL);
    json_t *h = assert_ok(r, 200);
    ensure(strcmp(jstr(h, "status"), "ok") == 0, "health status %s", jstr(h, "status"));
    if (!s->external) {
        ensure(strcmp(jstr(h, "store"), srv_store_name(s)) == 0, "store %s", jstr(h, "store"));
        ensure(strcmp(jstr(h, "redis"), srv_redis_state(s)) == 0, "redis %s", jstr(h, "redis"));
    } else {
        const char *store = jstr(h, "store");
        ensure(strcmp(store, "sqlite") == 0 || strcmp(store, "postgres") == 0, "store %s", store);
    }
    resp_free(&r);
}

/* Sum of the samples of metric `name` (also name_total) whose line contains both
 * needles (NULL matches anything); *n_samples counts them. */
static double metric_sum(const char *text, const char *name, const char *needle1,
                         const char *needle2, int *n_samples)
{
    double sum = 0;
    size_t nl = strlen(name);
    *n_samples = 0;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p = eol ? eol + 1 : p + len;
        if (line[0] == '#' || strncmp(line, name, nl) != 0)
            continue;
        const char *rest = line + nl;
        if (strncmp(rest, "_total", 6) == 0)
            rest += 6;
        if (*rest != '{' && *rest != ' ')
            continue;
        if ((needle1 && !strstr(line, needle1)) || (needle2 && !strstr(line, needle2)))
            continue;
        const char *val = strrchr(line, '}');
        val = strchr(val ? val : rest, ' ');
        if (val == NULL)
            continue;
        sum += strtod(val + 1, NULL);
        (*n_samples)++;
    }
    return sum;
}

/* The metrics of the whole deployment: each instance counts its own requests (Prometheus scrapes every
 * instance), so with several instances the scrapes of all of them are concatenated; n consecutive
 * requests go round-robin to each instance once. */
static char *metrics_text(struct srv *s)
{
    char *all = NULL;
    size_t len = 0;
    for (int i = 0; i < s->n_base_urls; i++) {
        struct resp r = http(s, "GET", "/metrics", NULL, NULL);
        ensure(r.status == 200, "GET /metrics: HTTP %ld", r.status);
        ensure(strncmp(r.ctype, "text/plain", 10) == 0, "/metrics Content-Type \"%s\"", r.ctype);
        ensure(r.json == NULL || !json_is_object(r.json), "/metrics answered JSON, not Prometheus text");
        size_t n = strlen(r.raw);
        char *p = realloc(all, len + n + 1);
        ensure(p != NULL, "out of memory");
        memcpy(p + len, r.raw, n + 1);
        all = p;
        len += n;
        resp_free(&r);
    }
    return all;
}

static void test_metrics(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, 10);
    char *text = metrics_text(s);

    /* Find a counter whose name speaks of requests, then its samples. */
    char counter[128] = "";
    for (const char *p = strstr(text, "# TYPE "); p && !counter[0]; p = strstr(p + 1, "# TYPE ")) {
        char name[128], type[32];
        if (sscanf(p, "# TYPE %127s %31s", name, type) == 2 && strcmp(type, "counter") == 0 &&
            strstr(name, "request"))
            copy_str(counter, sizeof counter, name);
    }
    ensure(counter[0], "no '# TYPE <...request...> counter' line in /metrics:\n%.1500s", text);
    int n;
    double total = metric_sum(text, counter, NULL, NULL, &n);
    ensure(n > 0 && total >= 2, "counter %s has %d samples summing to %g after >= 2 requests",
           counter, n, total);
    double health_before = metric_sum(text, counter, "/health", "\"200\"", &n);
    ensure(strstr(text, " histogram\n") != NULL, "no histogram (request latency) in /metrics");
    /* The contract also asks for lock, queue, hold and payment figures. */
    const char *topics[] = {"lock", "queue", "hold", "payment"};
    for (size_t i = 0; i < 4; i++) {
        bool found = false;
        for (const char *p = strstr(text, "# TYPE "); p && !found; p = strstr(p + 1, "# TYPE ")) {
            char name[128];
            found = sscanf(p, "# TYPE %127s", name) == 1 && strstr(name, topics[i]) != NULL;
        }
        ensure(found, "no metric about \"%s\" in /metrics", topics[i]);
    }
    free(text);

    /* Counted per route and status: three more health checks add exactly three. */
    for (int i = 0; i < 3; i++) {
        struct resp h = http(s, "GET", "/health", NULL, NULL);
        resp_free(&h);
    }
    text = metrics_text(s);
    double health_after = metric_sum(text, counter, "/health", "\"200\"", &n);
    ensure(n > 0 && health_after - health_before == 3,
           "%s for /health and 200 went from %g to %g after 3 requests", counter, health_before,
           health_after);
    free(text);
}

static void test_openapi(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct resp r = http(s, "GET", "/openapi.json", NULL, NULL);
    ensure(r.status == 200, "GET /openapi.json: HTTP %ld", r.status);
    ensure(strncmp(r.ctype, "application/json", 16) == 0, "Content-Type \"%s\"", r.ctype);
    ensure(json_is_object(r.json), "/openapi.json is not a JSON object");
    const char *v = jstr(r.json, "openapi");
    ensure(v[0] == '3' && v[1] == '.', "openapi version \"%s\" is not 3.x", v);
    json_t *paths = json_object_get(r.json, "paths");
    ensure(json_is_object(paths), "/openapi.json has no paths object");
    const char *must[] = {"/users", "/user/charge", "/user/check", "/transfers", "/user/history",
                          "/queue/issue", "/queue/status", "/concerts",
                          "/concert/available-dates", "/concert/available-seats",
                          "/reservation", "/payment", "/queue/events", "/admin/concerts", "/admin/schedules",
                          "/admin/sales", "/admin/sales/{saleId}", "/reservation/{reservationId}", "/user/payments",
                          "/payments/{paymentId}/refund", "/admin/payments/{paymentId}/refund",
                          "/admin/schedules/{scheduleId}/cancel"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ensure(json_object_get(paths, must[i]) != NULL, "/openapi.json does not document %s",
               must[i]);
    resp_free(&r);
}

/* Concerts, their dates and seats on a fresh database, in every detail of the contract. */
static void test_catalogue(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);

    struct resp rc = http(s, "GET", "/concerts", TOKEN(u.token), NULL);
    json_t *concerts = assert_ok(rc, 200);
    ensure(json_is_array(concerts) && json_array_size(concerts) >= 2,
           "expected at least 2 concerts: %s", rc.raw);

    int64_t now = now_ms();
    size_t n_dates_total = 0;
    char sched_ids[64][ID_MAX];
    int n_sched = 0;
    size_t ci;
    json_t *c;
    json_array_foreach(concerts, ci, c) {
        const char *cid = jstr(c, "concertId"), *cname = jstr(c, "name");
        ensure(is_id(cid), "concertId \"%s\" is not an id", cid);
        ensure(cname[0] != '\0', "concert %s has an empty name", cid);
        for (size_t k = 0; k < ci; k++)
            ensure(strcmp(jstr(json_array_get(concerts, k), "concertId"), cid) != 0,
                   "concertId %s listed twice", cid);
        json_t *sale = json_object_get(c, "sale");
        ensure(sale != NULL, "concert %s has no 'sale' field: %s", cid, rc.raw);
        if (!json_is_null(sale)) { /* the demo's on-sale: its own waiting room, closed to a site-wide token */
            struct resp rf = http(s, "GET", fmt("/concert/available-dates?concertId=%s", cid), TOKEN(u.token), NULL);
            assert_err(rf, 403, "FORBIDDEN");
            resp_free(&rf);
            continue;
        }

        struct resp rd = http(s, "GET", fmt("/concert/available-dates?concertId=%s", cid),
                              TOKEN(u.token), NULL);
        json_t *dates = assert_ok(rd, 200);
        ensure(json_is_array(dates) && json_array_size(dates) >= 3,
               "concert %s: expected at least 3 dates: %s", cid, rd.raw);
        n_dates_total += json_array_size(dates);
        size_t di;
        json_t *d;
        json_array_foreach(dates, di, d) {
            const char *sid = jstr(d, "scheduleId"), *date = jstr(d, "date");
            ensure(is_id(sid), "scheduleId \"%s\" is not an id", sid);
            ensure(strcmp(jstr(d, "concertId"), cid) == 0, "schedule %s of concert %s under %s",
                   sid, jstr(d, "concertId"), cid);
            ensure(strcmp(jstr(d, "concertName"), cname) == 0, "concertName %s != %s",
                   jstr(d, "concertName"), cname);
            ensure(strlen(date) == 10 && rfc3339_ms(fmt("%sT00:00:00Z", date)) > 0,
                   "date \"%s\" is not YYYY-MM-DD", date);
            int64_t starts = rfc3339_ms(jstr(d, "startsAt"));
            ensure(starts > now, "startsAt \"%s\" is not an RFC 3339 UTC time in the future",
                   jstr(d, "startsAt"));
            ensure(jint(d, "totalSeats") == SEATS_PER_DATE, "totalSeats %lld",
                   (long long)jint(d, "totalSeats"));
            int64_t reserved = jint(d, "reservedSeats"), avail = jint(d, "availableSeats");
            ensure(avail >= 1 && reserved >= 0 && reserved + avail == SEATS_PER_DATE,
                   "schedule %s: reservedSeats %lld + availableSeats %lld != totalSeats", sid,
                   (long long)reserved, (long long)avail);
            if (!s->external)
                ensure(reserved == 0, "reservedSeats %lld on a fresh database",
                       (long long)reserved);
            for (int k = 0; k < n_sched; k++)
                ensure(strcmp(sched_ids[k], sid) != 0, "scheduleId %s listed twice", sid);
            ensure(n_sched < 64, "too many schedules for this test");
            copy_str(sched_ids[n_sched++], ID_MAX, sid);
        }
        resp_free(&rd);
    }

    struct resp ra = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    json_t *all = assert_ok(ra, 200);
    ensure(json_is_array(all) && json_array_size(all) == n_dates_total,
           "unfiltered available-dates lists %zu dates, the concerts together %zu",
           json_array_size(all), n_dates_total);
    resp_free(&ra);

    for (int k = 0; k < n_sched; k++) {
        struct seat seats[SEATS_PER_DATE + 1];
        long avail = schedule_free(s, &u, sched_ids[k]);
        int n = seats_list(s, &u, sched_ids[k], seats, SEATS_PER_DATE + 1);
        ensure(n == avail, "schedule %s lists %d seats, available-dates says %ld", sched_ids[k],
               n, avail);
        if (!s->external)
            ensure(n == SEATS_PER_DATE, "schedule %s lists %d seats", sched_ids[k], n);
        bool seen[SEATS_PER_DATE + 1] = {false};
        for (int i = 0; i < n; i++) {
            ensure(is_id(seats[i].id), "seatId \"%s\" is not an id", seats[i].id);
            ensure(seats[i].number >= 1 && seats[i].number <= SEATS_PER_DATE,
                   "seatNumber %ld", seats[i].number);
            ensure(!seen[seats[i].number], "seatNumber %ld twice", seats[i].number);
            seen[seats[i].number] = true;
            ensure(seats[i].price >= 1 && seats[i].price <= 1000000000, "price %lld",
                   (long long)seats[i].price);
        }
    }
    resp_free(&rc);
}

/* The whole booking flow of one user, checking each response and the state after it. */
static void test_booking_flow(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    ensure(balance(s, &u) == 0, "new balance is not 0");
    ensure(charge(s, &u, MONEY) == MONEY, "charge of %d did not give it back", MONEY);
    ensure(balance(s, &u) == MONEY, "balance after charge");

    struct resp r = http(s, "GET", fmt("/user/check?userId=%s", u.id), AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "userId"), u.id) == 0 && jint(d, "balance") == MONEY,
           "check with own userId: %s", r.raw);
    resp_free(&r);

    /* Issue: nobody waits and slots are free, so ACTIVE at once. */
    int64_t t0 = now_ms();
    r = http(s, "POST", "/queue/issue", AUTH(u.key), NULL);
    d = assert_ok(r, 201);
    ensure(is_hex(jstr(d, "token"), 32), "token \"%s\" is not 32 hex digits", jstr(d, "token"));
    ensure(strcmp(jstr(d, "userId"), u.id) == 0, "token of user %s", jstr(d, "userId"));
    ensure(strcmp(jstr(d, "status"), "ACTIVE") == 0, "status %s", jstr(d, "status"));
    ensure(jint(d, "position") == 0, "position %lld", (long long)jint(d, "position"));
    ensure(jint(d, "estimatedWaitSeconds") == 0, "estimatedWaitSeconds %lld",
           (long long)jint(d, "estimatedWaitSeconds"));
    int64_t tok_exp = rfc3339_ms(jstr(d, "expiresAt"));
    ensure(tok_exp > t0 && tok_exp <= t0 + 600 * 1000 + 5000,
           "token expiresAt \"%s\" is not within token_seconds (600) from now",
           jstr(d, "expiresAt"));
    copy_str(u.token, sizeof u.token, jstr(d, "token"));
    resp_free(&r);

    r = http(s, "GET", "/queue/status", TOKEN(u.token), NULL);
    d = assert_ok(r, 200);
    ensure(strcmp(jstr(d, "token"), u.token) == 0 && strcmp(jstr(d, "userId"), u.id) == 0 &&
               strcmp(jstr(d, "status"), "ACTIVE") == 0 && jint(d, "position") == 0,
           "status of a fresh ACTIVE token: %s", r.raw);
    resp_free(&r);

    /* Choose the first date of the first concert and its first seat. */
    r = http(s, "GET", "/concerts", TOKEN(u.token), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) >= 2, "concerts: %s", r.raw);
    char cid[ID_MAX], cname[128];
    copy_str(cid, sizeof cid, jstr(json_array_get(d, 0), "concertId"));
    copy_str(cname, sizeof cname, jstr(json_array_get(d, 0), "name"));
    resp_free(&r);

    r = http(s, "GET", fmt("/concert/available-dates?concertId=%s", cid), TOKEN(u.token), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) >= 1, "dates: %s", r.raw);
    char sid[ID_MAX], date[16];
    copy_str(sid, sizeof sid, jstr(json_array_get(d, 0), "scheduleId"));
    copy_str(date, sizeof date, jstr(json_array_get(d, 0), "date"));
    long free_before = (long)jint(json_array_get(d, 0), "availableSeats");
    resp_free(&r);

    struct seat seats[SEATS_PER_DATE];
    ensure(seats_list(s, &u, sid, seats, SEATS_PER_DATE) == free_before,
           "available-seats disagrees with availableSeats %ld", free_before);
    if (!s->external)
        ensure(free_before == SEATS_PER_DATE, "a fresh date has %ld free seats", free_before);
    struct seat seat = seats[free_before > 7 ? 7 : 0];

    /* Hold. */
    int64_t t1 = now_ms();
    r = http(s, "POST", "/reservation", TOKEN(u.token), fmt("{\"seatId\":\"%s\"}", seat.id));
    d = assert_ok(r, 201);
    char res_id[ID_MAX];
    copy_str(res_id, sizeof res_id, jstr(d, "reservationId"));
    ensure(is_id(res_id), "reservationId \"%s\"", res_id);
    ensure(strcmp(jstr(d, "seatId"), seat.id) == 0, "seatId %s", jstr(d, "seatId"));
    ensure(jint(d, "seatNumber") == seat.number, "seatNumber %lld",
           (long long)jint(d, "seatNumber"));
    ensure(strcmp(jstr(d, "scheduleId"), sid) == 0, "scheduleId %s", jstr(d, "scheduleId"));
    ensure(jint(d, "price") == seat.price, "price %lld, listed %lld",
           (long long)jint(d, "price"), (long long)seat.price);
    ensure(strcmp(jstr(d, "status"), "HELD") == 0, "status %s", jstr(d, "status"));
    int64_t hold_exp = rfc3339_ms(jstr(d, "expiresAt"));
    ensure(hold_exp > t1 && hold_exp <= t1 + 300 * 1000 + 5000,
           "hold expiresAt \"%s\" is not within hold_seconds (300) from now",
           jstr(d, "expiresAt"));
    resp_free(&r);

    /* The held seat is gone from the listings. */
    ensure(!seat_free(s, &u, sid, seat.id), "held seat still in available-seats");
    ensure(seats_list(s, &u, sid, seats, SEATS_PER_DATE) == free_before - 1,
           "available-seats does not drop by one after a hold");
    r = http(s, "GET", fmt("/concert/available-dates?concertId=%s", cid), TOKEN(u.token), NULL);
    d = assert_ok(r, 200);
    json_t *sched = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (strcmp(jstr(e, "scheduleId"), sid) == 0)
            sched = e;
    }
    ensure(sched != NULL || free_before == 1, "the date left the listing: %s", r.raw);
    if (sched != NULL)
        ensure(jint(sched, "availableSeats") == free_before - 1 &&
                   jint(sched, "reservedSeats") == SEATS_PER_DATE - free_before + 1 &&
                   jint(sched, "totalSeats") == SEATS_PER_DATE,
               "after one hold expected available %ld, reserved %ld, total 50: %s",
               free_before - 1, SEATS_PER_DATE - free_before + 1, r.raw);
    resp_free(&r);

    /* Pay. */
    r = http(s, "POST", "/payment", TOKEN(u.token), fmt("{\"reservationId\":\"%s\"}", res_id));
    d = assert_ok(r, 200);
    ensure(is_id(jstr(d, "paymentId")), "paymentId \"%s\"", jstr(d, "paymentId"));
    ensure(strcmp(jstr(d, "reservationId"), res_id) == 0, "reservationId %s",
           jstr(d, "reservationId"));
    ensure(strcmp(jstr(d, "seatId"), seat.id) == 0, "seatId %s", jstr(d, "seatId"));
    ensure(jint(d, "seatNumber") == seat.number, "seatNumber");
    ensure(strcmp(jstr(d, "concertName"), cname) == 0, "concertName %s", jstr(d, "concertName"));
    ensure(strcmp(jstr(d, "date"), date) == 0, "date %s, the schedule's is %s", jstr(d, "date"),
           date);
    ensure(jint(d, "amount") == seat.price, "amount %lld", (long long)jint(d, "amount"));
    ensure(strcmp(jstr(d, "status"), "PAID") == 0, "status %s", jstr(d, "status"));
    ensure(jint(d, "balance") == MONEY - seat.price, "balance %lld after paying %lld",
           (long long)jint(d, "balance"), (long long)seat.price);
    resp_free(&r);
    ensure(balance(s, &u) == MONEY - seat.price, "re-read balance after payment");

    /* The ledger: newest first, and it sums to the balance. */
    r = http(s, "GET", "/user/history", AUTH(u.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 2, "history after charge+payment: %s", r.raw);
    json_t *e0 = json_array_get(d, 0), *e1 = json_array_get(d, 1);
    ensure(strcmp(jstr(e0, "kind"), "PAYMENT") == 0 && jint(e0, "amount") == -seat.price &&
               jint(e0, "balanceAfter") == MONEY - seat.price,
           "newest entry should be the PAYMENT: %s", r.raw);
    ensure(strcmp(jstr(e1, "kind"), "CHARGE") == 0 && jint(e1, "amount") == MONEY &&
               jint(e1, "balanceAfter") == MONEY,
           "oldest entry should be the CHARGE: %s", r.raw);
    resp_free(&r);

    /* Paying expired the token. */
    char st[16];
    token_state(s, u.token, st);
    ensure(strcmp(st, "EXPIRED") == 0, "token after payment is %s, not EXPIRED", st);
    r = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    assert_err(r, 403, "NOT_ADMITTED");
    resp_free(&r);

    /* Issuing again gives a new, ACTIVE token. */
    char old[SECRET_MAX];
    copy_str(old, sizeof old, u.token);
    token_issue(s, &u, "ACTIVE", 201);
    ensure(strcmp(old, u.token) != 0, "issue after payment returned the expired token");

    /* The seat stays sold. */
    ensure(!seat_free(s, &u, sid, seat.id), "sold seat listed as available");
    ensure(schedule_free(s, &u, sid) == (free_before > 1 ? free_before - 1 : -1),
           "availableSeats after the sale");
    r = http(s, "POST", "/reservation", TOKEN(u.token), fmt("{\"seatId\":\"%s\"}", seat.id));
    assert_err(r, 409, "SEAT_UNAVAILABLE");
    resp_free(&r);
    ensure(balance(s, &u) == MONEY - seat.price, "balance changed by a refused hold");
}

/* A date whose 50 seats are all held is no longer listed; its seat list is empty. */
static void test_full_date_disappears(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--max-holds-per-user", "50"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);
    char sid[ID_MAX];
    pick_schedule(s, &u, SEATS_PER_DATE, sid);
    long dates_before = 0;
    struct resp r = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    dates_before = (long)json_array_size(assert_ok(r, 200));
    resp_free(&r);

    struct seat seats[SEATS_PER_DATE];
    ensure(seats_list(s, &u, sid, seats, SEATS_PER_DATE) == SEATS_PER_DATE, "50 seats");
    for (int i = 0; i < SEATS_PER_DATE; i++) {
        char res[ID_MAX];
        hold(s, &u, seats[i].id, res);
    }
    ensure(seats_list(s, &u, sid, seats, SEATS_PER_DATE) == 0,
           "a date with every seat held still lists free seats");
    ensure(schedule_free(s, &u, sid) == -1, "a date without a free seat is still listed");
    r = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    ensure((long)json_array_size(assert_ok(r, 200)) == dates_before - 1,
           "exactly one date should have left the listing: %s", r.raw);
    resp_free(&r);
}

static void test_transfer_and_history(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    charge(s, &a, 1000);

    struct resp r = http(s, "POST", "/transfers", AUTH(a.key),
                         fmt("{\"toUserId\":\"%s\",\"amount\":300}", b.id));
    json_t *d = assert_ok(r, 200);
    ensure(is_id(jstr(d, "transferId")), "transferId \"%s\"", jstr(d, "transferId"));
    ensure(strcmp(jstr(d, "fromUserId"), a.id) == 0 && strcmp(jstr(d, "toUserId"), b.id) == 0 &&
               jint(d, "amount") == 300 && jint(d, "balance") == 700,
           "transfer response: %s", r.raw);
    resp_free(&r);
    ensure(balance(s, &a) == 700 && balance(s, &b) == 300, "balances after transfer");

    r = http(s, "POST", "/transfers", AUTH(a.key),
             fmt("{\"toUserId\":\"%s\",\"amount\":701}", b.id));
    assert_err(r, 409, "INSUFFICIENT_BALANCE");
    resp_free(&r);
    r = http(s, "POST", "/transfers", AUTH(a.key), "{\"toUserId\":\"999999999999\",\"amount\":1}");
    assert_err(r, 404, "NOT_FOUND");
    resp_free(&r);
    ensure(balance(s, &a) == 700 && balance(s, &b) == 300, "refused transfers changed balances");

    const char *bad_bodies[] = {
        fmt("{\"toUserId\":\"%s\",\"amount\":0}", b.id),
        fmt("{\"toUserId\":\"%s\",\"amount\":1.5}", b.id),
        fmt("{\"toUserId\":\"%s\",\"amount\":\"1\"}", b.id),
        fmt("{\"toUserId\":\"%s\",\"amount\":1000000001}", b.id),
        fmt("{\"toUserId\":%s,\"amount\":1}", b.id),
        fmt("{\"toUserId\":\"%s\"}", b.id),
        "{\"amount\":1}",
        fmt("{\"toUserId\":\"%s\",\"amount\":1,\"note\":\"x\"}", b.id),
        "{\"toUserId\":\"abc\",\"amount\":1}",
    };
    for (size_t k = 0; k < sizeof bad_bodies / sizeof bad_bodies[0]; k++) {
        r = http(s, "POST", "/transfers", AUTH(a.key), bad_bodies[k]);
        assert_err(r, 400, "INVALID_ARGUMENT");
        resp_free(&r);
    }
    ensure(balance(s, &a) == 700 && balance(s, &b) == 300, "invalid transfers changed balances");

    /* A retried transfer moves the money once. */
    char body[128];
    snprintf(body, sizeof body, "{\"toUserId\":\"%s\",\"amount\":50}", b.id);
    struct hdrs hk = {.key = a.key, .idem = "transfer-1"};
    struct resp t1 = http(s, "POST", "/transfers", &hk, body);
    ensure(jint(assert_ok(t1, 200), "balance") == 650, "keyed transfer: %s", t1.raw);
    struct resp t2 = http(s, "POST", "/transfers", &hk, body);
    assert_ok(t2, 200);
    ensure(strcmp(t1.raw, t2.raw) == 0, "the retried transfer answered differently:\n%s\n%s",
           t1.raw, t2.raw);
    resp_free(&t1);
    resp_free(&t2);
    ensure(balance(s, &a) == 650 && balance(s, &b) == 350, "a retried transfer moved money twice");
    snprintf(body, sizeof body, "{\"toUserId\":\"%s\",\"amount\":60}", b.id);
    r = http(s, "POST", "/transfers", &hk, body);
    assert_err(r, 409, "IDEMPOTENCY_KEY_REUSED");
    resp_free(&r);
    ensure(balance(s, &a) == 650 && balance(s, &b) == 350, "a reused key moved money");

    r = http(s, "GET", "/user/history?limit=2", AUTH(a.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 2 &&
               jint(json_array_get(d, 0), "balanceAfter") == 650 &&
               jint(json_array_get(d, 1), "balanceAfter") == 700,
           "a's newest entries after the keyed transfer: %s", r.raw);
    resp_free(&r);
    /* Back to the state the rest of this test checks. */
    r = http(s, "POST", "/transfers", AUTH(b.key),
             fmt("{\"toUserId\":\"%s\",\"amount\":50}", a.id));
    assert_ok(r, 200);
    resp_free(&r);

    r = http(s, "GET", "/user/history", AUTH(a.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 4, "a's history: %s", r.raw);
    json_t *in = json_array_get(d, 0), *out = json_array_get(d, 1);
    ensure(strcmp(jstr(in, "kind"), "TRANSFER_IN") == 0 && jint(in, "amount") == 50 &&
               jint(in, "balanceAfter") == 700 && strcmp(jstr(out, "kind"), "TRANSFER_OUT") == 0 &&
               jint(out, "amount") == -50,
           "a's two newest entries: %s", r.raw);
    json_t *e0 = json_array_get(d, 2), *e1 = json_array_get(d, 3);
    ensure(strcmp(jstr(e0, "kind"), "TRANSFER_OUT") == 0 && jint(e0, "amount") == -300 &&
               jint(e0, "balanceAfter") == 700,
           "newest entry of a: %s", r.raw);
    ensure(strcmp(jstr(e1, "kind"), "CHARGE") == 0 && jint(e1, "amount") == 1000 &&
               jint(e1, "balanceAfter") == 1000,
           "oldest entry of a: %s", r.raw);
    int64_t sum = 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(d, i);
        sum += jint(e, "amount");
        ensure(is_id(jstr(e, "entryId")), "entryId \"%s\"", jstr(e, "entryId"));
        ensure(rfc3339_ms(jstr(e, "createdAt")) > 0, "createdAt \"%s\"", jstr(e, "createdAt"));
        ensure(json_object_get(e, "ref") != NULL, "entry without \"ref\": %s", r.raw);
    }
    ensure(sum == 700, "a's entries sum to %lld, the balance is 700", (long long)sum);
    resp_free(&r);

    r = http(s, "GET", "/user/history?limit=100", AUTH(b.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 3, "b's history: %s", r.raw);
    /* newest first: TRANSFER_OUT -50 (300), TRANSFER_IN 50 (350), TRANSFER_IN 300 (300) */
    const char *kinds[] = {"TRANSFER_OUT", "TRANSFER_IN", "TRANSFER_IN"};
    const int64_t amounts[] = {-50, 50, 300}, afters[] = {300, 350, 300};
    for (size_t k = 0; k < 3; k++) {
        json_t *e = json_array_get(d, k);
        ensure(strcmp(jstr(e, "kind"), kinds[k]) == 0 && jint(e, "amount") == amounts[k] &&
                   jint(e, "balanceAfter") == afters[k],
               "b's history, entry %zu: %s", k, r.raw);
    }
    resp_free(&r);

    r = http(s, "GET", "/user/history?limit=1", AUTH(a.key), NULL);
    d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 1 &&
               strcmp(jstr(json_array_get(d, 0), "kind"), "TRANSFER_IN") == 0,
           "history?limit=1: %s", r.raw);
    resp_free(&r);
    const char *bad_limits[] = {"0", "101", "-1", "abc"};
    for (size_t i = 0; i < 4; i++) {
        r = http(s, "GET", fmt("/user/history?limit=%s", bad_limits[i]), AUTH(a.key), NULL);
        assert_err(r, 400, "INVALID_ARGUMENT");
        resp_free(&r);
    }
}

/* GET /user/history returns the newest 20 entries unless asked for more. */
static void test_history_default_limit(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    for (int i = 1; i <= 25; i++)
        charge(s, &u, i);
    struct resp r = http(s, "GET", "/user/history", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 20, "default history length: %s", r.raw);
    for (size_t i = 0; i < 20; i++) {
        json_t *e = json_array_get(d, i);
        int64_t amount = 25 - (int64_t)i;
        ensure(strcmp(jstr(e, "kind"), "CHARGE") == 0 && jint(e, "amount") == amount &&
                   jint(e, "balanceAfter") == amount * (amount + 1) / 2,
               "history entry %zu should be the charge of %lld: %s", i, (long long)amount, r.raw);
    }
    resp_free(&r);
    r = http(s, "GET", "/user/history?limit=100", AUTH(u.key), NULL);
    ensure(json_array_size(assert_ok(r, 200)) == 25, "history?limit=100: %s", r.raw);
    resp_free(&r);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_health),
        API_TEST(test_metrics),
        API_TEST(test_openapi),
        API_TEST(test_catalogue),
        API_TEST(test_booking_flow),
        API_TEST(test_full_date_disappears),
        API_TEST(test_transfer_and_history),
        API_TEST(test_history_default_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
