/*
 * test_seatcache.c — the read cache of available-seats and available-dates. shared/API.md: they "may answer from
 * a cache at most 100 ms stale (a seat held or sold more than 100 ms ago is never shown free)". Run embedded and
 * through 1 and 3 instances sharing PostgreSQL + Redis (api_, api1_, api3_): with several instances a hold made
 * through one is cached stale by the others, which is exactly what the bound is about.
 *
 * What is checked, each time against the instances' caches warmed just before:
 *   - an instance shows its own hold at once (its write invalidates its cache before the 201);
 *   - every instance stops showing a hold once 100 ms have passed since its 201;
 *   - the same under load: readers hammer every instance while holds go through all of them, and no read that
 *     STARTED more than 100 ms after a hold's 201 (or after it at all, on the instance that made it) shows it;
 *   - a store outage: no cached page is served past the bound, even though the store cannot answer.
 * Times are CLOCK_MONOTONIC on this machine, the clock the server's cache uses. Reader threads only record;
 * every assertion runs on the test's own thread.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOUND_US (READ_CACHE_BOUND_MS * 1000LL)
#define SEAT_NUMBERS 64 /* the demo's dates have 50 seats: a read's free seats fit a 64-bit mask by seatNumber */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_us(int64_t t)
{
    int64_t left = t - mono_us();
    if (left > 0) {
        struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    while (mono_us() < t) {
    }
}

/* The free seats of an available-seats response as a mask by seatNumber; false unless a 200 with seats that fit. */
static bool seats_mask(const struct resp *r, uint64_t *mask)
{
    *mask = 0;
    if (r->status != 200 || !r->json)
        return false;
    json_t *d = json_object_get(r->json, "data");
    if (!json_is_array(d))
        return false;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        json_int_t n = json_integer_value(json_object_get(e, "seatNumber"));
        if (n < 1 || n >= SEAT_NUMBERS)
            return false;
        *mask |= 1ull << n;
    }
    return true;
}

static const char *seats_path(const char *sid) { return fmt("/concert/available-seats?concertScheduleId=%s", sid); }

/* Instance i's free seats of sid (asserts a 200). */
static uint64_t seats_at(struct srv *s, int i, const struct user *u, const char *sid)
{
    struct resp r = http_on(s, i, "GET", seats_path(sid), TOKEN(u->token), NULL);
    assert_ok(r, 200);
    uint64_t m;
    ensure(seats_mask(&r, &m), "instance %d: available-seats of %s: %.300s", i, sid, r.raw);
    resp_free(&r);
    return m;
}

/* Instance i's availableSeats of sid in available-dates (-1 when not listed). */
static long dates_free_at(struct srv *s, int i, const struct user *u, const char *sid)
{
    struct resp r = http_on(s, i, "GET", "/concert/available-dates", TOKEN(u->token), NULL);
    json_t *d = assert_ok(r, 200);
    long n = -1;
    size_t k;
    json_t *e;
    json_array_foreach(d, k, e) {
        if (strcmp(jstr(e, "scheduleId"), sid) == 0)
            n = (long)jint(e, "availableSeats");
    }
    resp_free(&r);
    return n;
}

/* Seat id of seat number n of sid (from a settled read). */
static void seat_id_of(struct srv *s, const struct user *u, const char *sid, long n, char out[ID_MAX])
{
    struct seat seats[SEAT_NUMBERS];
    int k = seats_list(s, u, sid, seats, SEAT_NUMBERS);
    for (int i = 0; i < k && i < SEAT_NUMBERS; i++) {
        if (seats[i].number == n) {
            copy_str(out, ID_MAX, seats[i].id);
            return;
        }
    }
    fail_msg("seat number %ld of schedule %s is not free", n, sid);
}

/* A free seat number in mask, after `after` (0: the first). */
static long next_free(uint64_t mask, long after)
{
    for (long n = after + 1; n < SEAT_NUMBERS; n++)
        if (mask & (1ull << n))
            return n;
    return -1;
}

/* The value of a counter in instance i's /metrics (-1 when absent). */
static long long metric_at(struct srv *s, int i, const char *name)
{
    struct resp r = http_on(s, i, "GET", "/metrics", NULL, NULL);
    ensure(r.status == 200, "GET /metrics on instance %d: HTTP %ld", i, r.status);
    long long v = -1;
    size_t len = strlen(name);
    for (const char *p = r.raw; (p = strstr(p, name)) != NULL; p += len) {
        if ((p == r.raw || p[-1] == '\n') && p[len] == ' ') {
            v = atoll(p + len + 1);
            break;
        }
    }
    resp_free(&r);
    return v;
}

static long long hits_total(struct srv *s)
{
    long long sum = 0;
    for (int i = 0; i < srv_instances(s); i++) {
        long long v = metric_at(s, i, "ticketd_seatmap_hits_total");
        ensure(v >= 0, "instance %d has no ticketd_seatmap_hits_total in /metrics", i);
        sum += v;
    }
    return sum;
}

static void active_user(struct srv *s, struct user *u)
{
    user_new(s, u);
    token_issue(s, u, "ACTIVE", 201);
}

/* A hold through instance i; returns when its 201 arrived (mono_us). */
static int64_t hold_at(struct srv *s, int i, const struct user *u, const char *seat_id)
{
    struct resp r = http_on(s, i, "POST", "/reservation", TOKEN(u->token), fmt("{\"seatId\":\"%s\"}", seat_id));
    int64_t t = mono_us();
    json_t *d = assert_ok(r, 201);
    ensure(strcmp(jstr(d, "status"), "HELD") == 0, "hold through instance %d: %s", i, r.raw);
    resp_free(&r);
    return t;
}

#define SERVER_ARGS ARGS("--rate-limit", "0", "--max-holds-per-user", "50")

/* ---- an instance's own write ---------------------------------------------------------------------------- */

/* Each instance, its cache warm (and shown to hit), shows its own hold at once, in available-seats and
 * available-dates. Without the version bump the reads right after the hold would come from the warm cache. */
static void test_own_hold_seen_at_once(void **state)
{
    (void)state;
    struct srv *s = srv_start(SERVER_ARGS);
    int n = srv_instances(s);
    struct user u;
    active_user(s, &u);
    char sid[ID_MAX];
    pick_schedule(s, &u, n + 1, sid);
    long seat_no = 0;
    for (int i = 0; i < n; i++) {
        reads_settle(); /* the previous instance's hold is shown everywhere from now on */
        uint64_t before = seats_at(s, i, &u, sid);
        long free_before = dates_free_at(s, i, &u, sid);
        ensure(free_before == __builtin_popcountll(before), "instance %d: dates say %ld free, seats list %d", i,
               free_before, __builtin_popcountll(before));
        long long hits = metric_at(s, i, "ticketd_seatmap_hits_total");
        ensure(seats_at(s, i, &u, sid) == before && dates_free_at(s, i, &u, sid) == free_before,
               "instance %d: two reads in a row differ with no write", i);
        ensure(metric_at(s, i, "ticketd_seatmap_hits_total") >= hits + 1,
               "instance %d did not answer the repeated reads from its cache", i);

        seat_no = next_free(before, seat_no);
        ensure(seat_no > 0, "no free seat left");
        char seat_id[ID_MAX];
        seat_id_of(s, &u, sid, seat_no, seat_id);
        (void)seats_at(s, i, &u, sid); /* warm again after seat_id_of's read (which may be another instance) */
        (void)dates_free_at(s, i, &u, sid);
        int64_t t201 = hold_at(s, i, &u, seat_id);
        uint64_t after = seats_at(s, i, &u, sid);
        long free_after = dates_free_at(s, i, &u, sid);
        int64_t took_us = mono_us() - t201;
        ensure(!(after & (1ull << seat_no)), "instance %d shows seat %ld free right after holding it itself", i,
               seat_no);
        ensure(after == (before & ~(1ull << seat_no)), "instance %d: the free seats changed by more than the hold", i);
        ensure(free_after == free_before - 1, "instance %d: availableSeats %ld right after its own hold, expected %ld",
               i, free_after, free_before - 1);
        print_message("instance %d: own hold shown at once (both reads within %lld ms of the 201)\n", i,
                      (long long)(took_us / 1000));
    }
}

/* ---- other instances: the bound ------------------------------------------------------------------------- */

/* A hold through one instance is shown by every instance once 100 ms have passed since its 201, although each
 * had the seat cached free just before the hold. Every instance takes the writer's turn. */
static void test_hold_shown_everywhere_after_bound(void **state)
{
    (void)state;
    struct srv *s = srv_start(SERVER_ARGS);
    int n = srv_instances(s);
    int rounds = n < 2 ? 3 : 2 * n;
    struct user w, r;
    active_user(s, &w);
    active_user(s, &r);
    char sid[ID_MAX];
    pick_schedule(s, &r, rounds + 1, sid);
    long seat_no = 0;
    int stale_within_bound = 0;
    for (int k = 0; k < rounds; k++) {
        int a = k % n;
        reads_settle();
        uint64_t mask = seats_at(s, 0, &r, sid);
        long free_before = __builtin_popcountll(mask);
        seat_no = next_free(mask, seat_no);
        ensure(seat_no > 0, "no free seat left");
        char seat_id[ID_MAX];
        seat_id_of(s, &r, sid, seat_no, seat_id);
        for (int j = 0; j < n; j++) { /* every instance caches the seat free */
            ensure(seats_at(s, j, &r, sid) & (1ull << seat_no), "instance %d: seat %ld not free before the hold",
                   j, seat_no);
            ensure(dates_free_at(s, j, &r, sid) == free_before, "instance %d: availableSeats before the hold", j);
        }
        int64_t t201 = hold_at(s, a, &w, seat_id);
        for (int j = 0; j < n; j++) /* within the bound another instance may still show it: allowed, counted */
            if (j != a && (seats_at(s, j, &r, sid) & (1ull << seat_no)) && mono_us() < t201 + BOUND_US)
                stale_within_bound++;
        sleep_until_us(t201 + BOUND_US + 1000);
        for (int j = 0; j < n; j++) {
            int64_t started = mono_us();
            ensure(started > t201 + BOUND_US, "the read was meant to start more than 100 ms after the 201");
            uint64_t m = seats_at(s, j, &r, sid);
            ensure(!(m & (1ull << seat_no)),
                   "instance %d shows seat %ld free %lld ms after its hold's 201 (through instance %d)", j, seat_no,
                   (long long)((started - t201) / 1000), a);
            long f = dates_free_at(s, j, &r, sid);
            ensure(f == free_before - 1, "instance %d: availableSeats %ld more than 100 ms after a hold, expected %ld",
                   j, f, free_before - 1);
        }
    }
    print_message("%d rounds; reads of another instance within 100 ms that still showed the seat: %d\n", rounds,
                  stale_within_bound);
}

/* ---- the same under load -------------------------------------------------------------------------------- */

#define HAMMER_HOLDS 24
#define READS_MAX 200000

struct read_rec {
    int64_t start_us, end_us;
    uint64_t mask;
    int status; /* 0: transport error; 1: a 200 that did not parse */
};

struct reader {
    pthread_t thread;
    struct srv *s;
    int instance;
    const char *path;
    const char *token;
    volatile int *stop;
    struct read_rec *recs;
    int n;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    while (!__atomic_load_n(rd->stop, __ATOMIC_ACQUIRE) && rd->n < READS_MAX) {
        struct read_rec *rec = &rd->recs[rd->n++];
        rec->start_us = mono_us();
        struct resp r = http_on(rd->s, rd->instance, "GET", rd->path, TOKEN(rd->token), NULL);
        rec->end_us = mono_us();
        rec->status = (int)r.status;
        if (r.status == 200 && !seats_mask(&r, &rec->mask))
            rec->status = 1;
        resp_free(&r);
    }
    http_close_idle();
    return NULL;
}

static void readers_start(struct reader *rd, int nr, struct srv *s, const char *path, const char *token,
                          volatile int *stop)
{
    for (int i = 0; i < nr; i++) {
        rd[i] = (struct reader){.s = s, .instance = i % srv_instances(s), .path = path, .token = token, .stop = stop,
                                .recs = calloc(READS_MAX, sizeof(struct read_rec))};
        ensure(rd[i].recs != NULL, "out of memory");
        ensure(pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]) == 0, "pthread_create");
    }
}

static void readers_stop(struct reader *rd, int nr, volatile int *stop)
{
    __atomic_store_n(stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nr; i++)
        pthread_join(rd[i].thread, NULL);
}

/* Readers hammer available-seats through every instance while HAMMER_HOLDS holds go through the instances in
 * turn, 15–45 ms apart. No read that started more than 100 ms after a hold's 201 shows the seat, and no read of
 * the instance that made the hold that started after its 201 at all. */
static void test_hammer_reads_during_holds(void **state)
{
    (void)state;
    struct srv *s = srv_start(SERVER_ARGS);
    int n = srv_instances(s);
    struct user w, r;
    active_user(s, &w);
    active_user(s, &r);
    char sid[ID_MAX];
    pick_schedule(s, &r, HAMMER_HOLDS + 1, sid);
    struct seat seats[SEAT_NUMBERS];
    int nfree = seats_list(s, &r, sid, seats, SEAT_NUMBERS);
    ensure(nfree >= HAMMER_HOLDS, "only %d free seats", nfree);
    long long hits_before = hits_total(s);

    int nr = 2 * n > 6 ? 6 : 2 * n;
    struct reader rd[6];
    volatile int stop = 0;
    char path[128];
    copy_str(path, sizeof path, seats_path(sid));
    readers_start(rd, nr, s, path, r.token, &stop);
    sleep_ms(150); /* every instance's cache warm */

    struct {
        int instance;
        long seat_no;
        int64_t t201_us;
    } holds[HAMMER_HOLDS];
    for (int k = 0; k < HAMMER_HOLDS; k++) {
        holds[k].instance = k % n;
        holds[k].seat_no = seats[k].number;
        struct resp hr = http_on(s, holds[k].instance, "POST", "/reservation", TOKEN(w.token),
                                 fmt("{\"seatId\":\"%s\"}", seats[k].id));
        holds[k].t201_us = mono_us();
        if (hr.status != 201) {
            readers_stop(rd, nr, &stop);
            fail_msg("hold %d through instance %d: HTTP %ld %s", k, holds[k].instance, hr.status, hr.raw);
        }
        resp_free(&hr);
        sleep_ms(15 + (k * 7) % 31);
    }
    sleep_ms(150);
    readers_stop(rd, nr, &stop);

    int reads = 0, late_reads = 0, own_reads = 0;
    for (int i = 0; i < nr; i++) {
        for (int j = 0; j < rd[i].n; j++) {
            const struct read_rec *rec = &rd[i].recs[j];
            ensure(rec->status == 200, "a read through instance %d answered HTTP %d", rd[i].instance, rec->status);
            reads++;
            for (int k = 0; k < HAMMER_HOLDS; k++) {
                bool shown = rec->mask & (1ull << holds[k].seat_no);
                int64_t since_us = rec->start_us - holds[k].t201_us;
                if (since_us > BOUND_US) {
                    late_reads++;
                    ensure(!shown, "a read through instance %d started %lld us after hold %d's 201 (instance %d) "
                                   "and shows seat %ld free",
                           rd[i].instance, (long long)since_us, k, holds[k].instance, holds[k].seat_no);
                }
                if (since_us > 0 && rd[i].instance == holds[k].instance) {
                    own_reads++;
                    ensure(!shown, "instance %d's read started %lld us after its own hold %d's 201 and shows seat %ld "
                                   "free",
                           rd[i].instance, (long long)since_us, k, holds[k].seat_no);
                }
            }
        }
    }
    long long hits = hits_total(s) - hits_before;
    print_message("%d reads through %d instances, %lld cache hits; (read, hold) pairs checked: %d past the bound, "
                  "%d on the holding instance\n",
                  reads, n, hits, late_reads, own_reads);
    ensure(reads > 100, "only %d reads", reads);
    ensure(hits > reads / 4, "the cache answered only %lld of %d reads: the test would prove nothing", hits, reads);
    for (int i = 0; i < nr; i++)
        free(rd[i].recs);
}

/* ---- a store outage ------------------------------------------------------------------------------------- */

/* The store cannot answer seat reads for 400 ms: the seats table is renamed away. Readers keep asking every
 * instance, caches warm. A 200 that arrives while the store cannot answer comes from a cache, so its read must
 * have started within 100 ms of the outage's start: never later. */
static void test_outage_never_past_bound(void **state)
{
    (void)state;
    struct srv *s = srv_start(SERVER_ARGS);
    srv_require_local(s);
    int n = srv_instances(s);
    struct user r;
    active_user(s, &r);
    char sid[ID_MAX];
    pick_schedule(s, &r, 1, sid);
    int nr = 2 * n > 6 ? 6 : 2 * n;
    struct reader rd[6];
    volatile int stop = 0;
    char path[128];
    copy_str(path, sizeof path, seats_path(sid));
    bool pg = strcmp(srv_store_name(s), "postgres") == 0;
    readers_start(rd, nr, s, path, r.token, &stop);
    sleep_ms(200);

    /* Renamed away, the table is gone for every statement that names it (PostgreSQL re-analyses its prepared
     * statements when a relation they use changes; SQLite re-prepares them) until it is renamed back. */
    int64_t asked_us = mono_us();
    srv_sql(s, "ALTER TABLE seats RENAME TO seats_away", -1);
    int64_t out_us = mono_us(); /* the rename committed in between: from here on no read of the store succeeds */
    sleep_ms(4 * READ_CACHE_BOUND_MS);
    int64_t back_us = mono_us(); /* before the store comes back: a 200 received before this came from a cache */
    srv_sql(s, "ALTER TABLE seats_away RENAME TO seats", -1);
    sleep_ms(300);
    readers_stop(rd, nr, &stop);

    int cached_in_bound = 0, refused = 0, after = 0;
    for (int i = 0; i < nr; i++) {
        for (int j = 0; j < rd[i].n; j++) {
            const struct read_rec *rec = &rd[i].recs[j];
            ensure(rec->status != 1 && rec->status != 0, "a read through instance %d: HTTP %d", rd[i].instance,
                   rec->status);
            if (rec->start_us > out_us && rec->end_us < back_us) { /* wholly inside the outage */
                if (rec->status == 200) {
                    ensure(rec->start_us - out_us < BOUND_US,
                           "instance %d answered 200 to a read that started %lld us into a store outage",
                           rd[i].instance, (long long)(rec->start_us - out_us));
                    cached_in_bound++;
                } else {
                    ensure(rec->status >= 500, "instance %d answered HTTP %d during the outage", rd[i].instance,
                           rec->status);
                    refused++;
                }
            }
            if (rec->start_us > back_us + 200000) {
                ensure(rec->status == 200, "instance %d answered HTTP %d 200 ms after the store came back",
                       rd[i].instance, rec->status);
                after++;
            }
        }
    }
    print_message("outage (%s, the rename took %lld ms): %d reads answered from a cache within 100 ms, %d refused "
                  "(5xx); %d reads after it, all 200\n",
                  pg ? "postgres" : "sqlite", (long long)((out_us - asked_us) / 1000), cached_in_bound, refused,
                  after);
    ensure(after > 0, "no read after the outage");
    for (int i = 0; i < nr; i++)
        free(rd[i].recs);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_own_hold_seen_at_once),
        API_TEST(test_hold_shown_everywhere_after_bound),
        API_TEST(test_hammer_reads_during_holds),
        API_TEST(test_outage_never_past_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
