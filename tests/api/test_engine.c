/*
 * test_engine.c — the request engine under a stalled backing service and at the HTTP edge:
 *
 *   - the database's write lock held from OUTSIDE the server (SQLite: BEGIN IMMEDIATE on the same file;
 *     PostgreSQL: LOCK TABLE users IN EXCLUSIVE MODE) while charges, same-key retries, /health and seat
 *     reads arrive: the reads answer in milliseconds, the writes end 200 or 503 and the money adds up;
 *   - the per-request deadline (--request-timeout-ms) and the bounded executor queue (503 + Retry-After);
 *   - bodies over 64 KiB (413 before reading, whatever the claimed size), HEAD, strict query integers,
 *     the per-address connection cap, a full batch of 128 events on one event thread (every request answered),
 *     rate limits that a made-up credential cannot reset, and the
 *     executor's Prometheus series.
 *
 * Every refused or stalled request is followed by a re-read of the state (GET /user/check, /user/history)
 * showing that nothing changed beyond what the 200s say. Threads never assert: they record, and the test
 * thread asserts after joining them (cmocka's failures are not thread-safe).
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define START_MONEY 10000
#define CHARGE_WON 100
#define FAST_MS 250 /* what "answers in milliseconds" must stay under while a write waits */

/* ---- small helpers ---------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t t_mono_ms)
{
    int64_t left = t_mono_ms - mono_ms();
    if (left > 0)
        sleep_ms((int)left);
}

static bool is_postgres(const struct srv *s) { return strcmp(srv_store_name(s), "postgres") == 0; }

/* One request to instance i (not round-robin); only from the test thread while no other thread uses s. */
static struct resp http_at(struct srv *s, int i, const char *method, const char *path, const struct hdrs *h,
                           const char *body)
{
    unsigned saved = s->rr_next;
    s->rr_next = (unsigned)i;
    struct resp r = http(s, method, path, h, body);
    s->rr_next = saved;
    return r;
}

/* Number of ledger entries of `kind` (at most 100: the tests stay below). */
static int ledger_count(struct srv *s, const struct user *u, const char *kind)
{
    struct resp r = http(s, "GET", "/user/history?limit=100", AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "history: data is not an array: %s", r.raw);
    ensure(json_array_size(d) < 100, "history has 100 entries: the count may be cut off");
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        if (strcmp(jstr(e, "kind"), kind) == 0)
            n++;
    }
    resp_free(&r);
    return n;
}

static int ledger_total(struct srv *s, const struct user *u)
{
    struct resp r = http(s, "GET", "/user/history?limit=100", AUTH(u->key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d), "history: data is not an array: %s", r.raw);
    int n = (int)json_array_size(d);
    resp_free(&r);
    return n;
}

/* A write answered during a stall: 200 (the charge of CHARGE_WON happened) or 503 UNAVAILABLE (nothing did). */
static bool charge_outcome_at(const struct resp *r, const struct user *u, int i, const char *file, int line)
{
    if (r->status == 200) {
        json_t *d = assert_ok_at(r, 200, file, line);
        ensure(strcmp(jstr(d, "userId"), u->id) == 0, "charge %d answered for user %s, not %s", i,
               jstr(d, "userId"), u->id);
        return true;
    }
    if (r->status != 503)
        fail_msg("%s:%d: charge %d during the stall: expected 200 or 503 UNAVAILABLE, got HTTP %ld: %.400s", file,
                 line, i, r->status, r->raw);
    assert_err_at(r, 503, "UNAVAILABLE", file, line);
    return false;
}
#define charge_outcome(r, u, i) charge_outcome_at((r), (u), (i), __FILE__, __LINE__)

/* ---- the database's write lock, held from outside the server ----------------------------- */

struct dblock {
    sqlite3 *sq;
    PGconn *pg;
    int64_t taken_ms;
};

static void dblock_take(struct srv *s, struct dblock *l)
{
    srv_require_local(s);
    memset(l, 0, sizeof *l);
    if (is_postgres(s)) {
        l->pg = PQconnectdb(s->db_url);
        ensure(PQstatus(l->pg) == CONNECTION_OK, "PostgreSQL %s: %s", s->db_url, PQerrorMessage(l->pg));
        PGresult *r = PQexec(l->pg, "BEGIN; LOCK TABLE users IN EXCLUSIVE MODE;");
        ensure(PQresultStatus(r) == PGRES_COMMAND_OK, "LOCK TABLE users: %s", PQerrorMessage(l->pg));
        PQclear(r);
    } else {
        ensure(sqlite3_open(s->db_path, &l->sq) == SQLITE_OK, "open %s", s->db_path);
        sqlite3_busy_timeout(l->sq, 5000);
        char *err = NULL;
        int rc = sqlite3_exec(l->sq, "BEGIN IMMEDIATE", NULL, NULL, &err);
        ensure(rc == SQLITE_OK, "BEGIN IMMEDIATE on %s: %s", s->db_path, err ? err : "?");
        sqlite3_free(err);
    }
    l->taken_ms = mono_ms();
}

static void dblock_release(struct dblock *l)
{
    if (l->pg) {
        PGresult *r = PQexec(l->pg, "COMMIT");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        PQfinish(l->pg);
        l->pg = NULL;
        ensure(ok, "COMMIT of the LOCK TABLE transaction failed");
    }
    if (l->sq) {
        int rc = sqlite3_exec(l->sq, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(l->sq);
        l->sq = NULL;
        ensure(rc == SQLITE_OK, "COMMIT of the BEGIN IMMEDIATE transaction failed: %d", rc);
    }
}

/* ---- background clients (they record, the test thread asserts) ----------------------------- */

/* Repeats one GET on its own connection until told to stop; keeps the slowest answer. */
struct reader {
    pthread_t th;
    struct srv *s;
    char path[160];
    const char *token; /* queue-token, or NULL */
    int *stop;
    int n, n_bad;
    int64_t max_ms;
    long bad_status;
    char bad_body[200];
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    while (!__atomic_load_n(rd->stop, __ATOMIC_ACQUIRE)) {
        struct hdrs h = {.token = rd->token};
        int64_t t0 = mono_ms();
        struct resp r = http(rd->s, "GET", rd->path, &h, NULL);
        int64_t dt = mono_ms() - t0;
        rd->n++;
        if (dt > rd->max_ms)
            rd->max_ms = dt;
        if (r.status != 200 && rd->n_bad++ == 0) {
            rd->bad_status = r.status;
            snprintf(rd->bad_body, sizeof rd->bad_body, "%s", r.raw);
        }
        resp_free(&r);
        sleep_ms(10);
    }
    http_close_idle();
    return NULL;
}

static void reader_start(struct reader *rd, struct srv *s, const char *path, const char *token, int *stop)
{
    memset(rd, 0, sizeof *rd);
    rd->s = s;
    copy_str(rd->path, sizeof rd->path, path);
    rd->token = token;
    rd->stop = stop;
    ensure(pthread_create(&rd->th, NULL, reader_main, rd) == 0, "pthread_create");
}

/* A burst over the multi interface, run on its own thread. */
struct burst {
    pthread_t th;
    struct srv *s;
    struct mreq *q;
    int n;
    struct resp *out;
    int64_t done_ms; /* when the last answer was in */
};

static void *burst_main(void *arg)
{
    struct burst *b = arg;
    http_multi(b->s, b->q, b->n, b->out);
    b->done_ms = mono_ms();
    return NULL;
}

static void burst_start(struct burst *b, struct srv *s, struct mreq *q, int n, struct resp *out)
{
    b->s = s;
    b->q = q;
    b->n = n;
    b->out = out;
    ensure(pthread_create(&b->th, NULL, burst_main, b) == 0, "pthread_create");
}

/* One request per thread, all released at once, each timed from just before it is sent. */
struct timed {
    pthread_t th;
    struct srv *s;
    pthread_barrier_t *go;
    const char *key;
    struct resp r;
    int64_t took_ms;
};

static void *timed_charge_main(void *arg)
{
    struct timed *t = arg;
    pthread_barrier_wait(t->go);
    int64_t t0 = mono_ms();
    t->r = http(t->s, "POST", "/user/charge", AUTH(t->key), fmt("{\"amount\":%d}", CHARGE_WON));
    t->took_ms = mono_ms() - t0;
    http_close_idle();
    return NULL;
}

static void charge_reqs(struct mreq *q, int n, const struct user *u, const char *idem)
{
    memset(q, 0, (size_t)n * sizeof *q);
    for (int i = 0; i < n; i++) {
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/user/charge");
        q[i].h.key = u->key;
        q[i].h.idem = idem;
        copy_str(q[i].body, sizeof q[i].body, fmt("{\"amount\":%d}", CHARGE_WON));
    }
}

/* A payer with START_MONEY, and a reader with an ACTIVE token and a schedule to read seats of. */
static void stall_setup(struct srv *s, struct user *payer, struct user *reader, char sched[ID_MAX])
{
    user_new(s, payer);
    ensure(charge(s, payer, START_MONEY) == START_MONEY, "first charge");
    user_new(s, reader);
    token_issue(s, reader, "ACTIVE", 201);
    pick_schedule(s, reader, 1, sched);
}

/* Holds the database's write lock from outside for hold_ms while the n requests q go out at once and, on two
 * other connections, GET /health and GET available-seats of sched (reader's token) repeat; asserts that the lock
 * did stall the writes. The reads' verdict goes to slow_reads ("" when every read answered 200 in under FAST_MS
 * while the lock was held), so that the caller checks the money first and then fails on it. */
static void stall_burst(struct srv *s, struct mreq *q, int n, struct resp *out, const struct user *reader,
                        const char *sched, int hold_ms, char slow_reads[512])
{
    slow_reads[0] = '\0';
    int stop = 0;
    struct dblock lock;
    struct burst b;
    struct reader health, seats;
    dblock_take(s, &lock);
    burst_start(&b, s, q, n, out);
    reader_start(&health, s, "/health", NULL, &stop);
    reader_start(&seats, s, fmt("/concert/available-seats?concertScheduleId=%s", sched), reader->token, &stop);
    sleep_until(lock.taken_ms + hold_ms);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(health.th, NULL);
    pthread_join(seats.th, NULL);
    int64_t released_ms = mono_ms();
    dblock_release(&lock);
    pthread_join(b.th, NULL);
    ensure(b.done_ms >= released_ms, "every write was answered while the lock was held: the lock did not stall "
           "them, so this test shows nothing (store %s)", srv_store_name(s));
    struct reader *rds[2] = {&health, &seats};
    for (int k = 0; k < 2; k++) {
        print_message("    GET %s while the lock was held: %d answers, slowest %lld ms\n", rds[k]->path, rds[k]->n,
                      (long long)rds[k]->max_ms);
        if (slow_reads[0])
            continue;
        if (rds[k]->n < 5)
            snprintf(slow_reads, 512, "GET %s answered only %d times in %d ms", rds[k]->path, rds[k]->n, hold_ms);
        else if (rds[k]->n_bad != 0)
            snprintf(slow_reads, 512, "GET %s during the stall: %d answers not 200, the first HTTP %ld: %s",
                     rds[k]->path, rds[k]->n_bad, rds[k]->bad_status, rds[k]->bad_body);
        else if (rds[k]->max_ms >= FAST_MS)
            snprintf(slow_reads, 512,
                     "GET %s took %lld ms while %d writes waited on the database's lock (must be < %d ms; store %s, "
                     "%d instance(s))", rds[k]->path, (long long)rds[k]->max_ms, n, FAST_MS, srv_store_name(s),
                     s->n_base_urls);
    }
}

/* ---- 1. a stalled write never stalls the others ---------------------------------------------------- */

static void test_stall_sqlite_or_pg(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user payer, reader;
    char sched[ID_MAX];
    stall_setup(s, &payer, &reader, sched);
    ensure(ledger_count(s, &payer, "CHARGE") == 1, "one CHARGE entry before the stall");

    enum { N = 16 };
    struct mreq q[N];
    struct resp out[N];
    charge_reqs(q, N, &payer, NULL);
    char slow_reads[512];
    stall_burst(s, q, N, out, &reader, sched, 4000, slow_reads);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += charge_outcome(&out[i], &payer, i);
    print_message("    %d of %d charges 200, %d 503\n", ok, N, N - ok);
    for (int i = 0; i < N; i++)
        resp_free(&out[i]);
    int64_t bal = balance(s, &payer);
    ensure(bal == START_MONEY + (int64_t)CHARGE_WON * ok, "balance %lld after %d successful charges of %d from %d",
           (long long)bal, ok, CHARGE_WON, START_MONEY);
    int entries = ledger_count(s, &payer, "CHARGE");
    ensure(entries == 1 + ok, "%d CHARGE entries, expected %d (1 + %d answered 200)", entries, 1 + ok, ok);
    ensure(slow_reads[0] == '\0', "%s", slow_reads);
}

/* 1b. More waiting writes than workers (32 > the 8 write workers of a 2-core machine): a write that waits on a lock must not hold a worker
 * while it waits, or the reads queue behind the waiting writes. */
static void test_stall_more_writers_than_workers(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user payer, reader;
    char sched[ID_MAX];
    stall_setup(s, &payer, &reader, sched);

    enum { N = 32 };
    struct mreq q[N];
    struct resp out[N];
    charge_reqs(q, N, &payer, NULL);
    char slow_reads[512];
    stall_burst(s, q, N, out, &reader, sched, 3000, slow_reads);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += charge_outcome(&out[i], &payer, i);
    print_message("    %d of %d charges 200, %d 503\n", ok, N, N - ok);
    for (int i = 0; i < N; i++)
        resp_free(&out[i]);
    int64_t bal = balance(s, &payer);
    ensure(bal == START_MONEY + (int64_t)CHARGE_WON * ok, "balance %lld after %d successful charges of %d from %d",
           (long long)bal, ok, CHARGE_WON, START_MONEY);
    ensure(ledger_count(s, &payer, "CHARGE") == 1 + ok, "%d CHARGE entries, expected %d",
           ledger_count(s, &payer, "CHARGE"), 1 + ok);
    ensure(slow_reads[0] == '\0', "%s", slow_reads);
}

/* ---- 2. same-key retries wait for the pending claim without pinning workers --------------------------- */

/* Many users each charging once with their own Idempotency-Key, all at once: every write contends for the store's
 * write lock, and each request's record must still be stored after its effect (a record lost to a busy lock
 * stayed PENDING and made every retry of that key wait for the 30 s lease: found by `ticketd load --scenario flow`).
 * Then every retry answers at once with the first response, byte for byte. */
#define KEYED_USERS 200
static void test_keyed_writes_under_contention(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user *u = calloc(KEYED_USERS, sizeof *u);
    struct mreq *q = calloc(KEYED_USERS, sizeof *q);
    struct resp *first = calloc(KEYED_USERS, sizeof *first), *again = calloc(KEYED_USERS, sizeof *again);
    ensure(u && q && first && again, "out of memory");
    users_new_many(s, u, KEYED_USERS);
    char (*keys)[32] = calloc(KEYED_USERS, sizeof *keys);
    ensure(keys != NULL, "out of memory");
    for (int i = 0; i < KEYED_USERS; i++) {
        snprintf(keys[i], sizeof keys[i], "flow-%d", i);
        q[i].method = "POST";
        copy_str(q[i].path, sizeof q[i].path, "/user/charge");
        q[i].h.key = u[i].key;
        q[i].h.idem = keys[i];
        copy_str(q[i].body, sizeof q[i].body, "{\"amount\":700}");
    }
    int64_t t0 = now_ms();
    http_multi(s, q, KEYED_USERS, first);
    int64_t first_ms = now_ms() - t0;
    for (int i = 0; i < KEYED_USERS; i++)
        ensure(first[i].status == 200, "user %d's keyed charge: HTTP %ld %s", i, first[i].status, first[i].raw);
    t0 = now_ms();
    http_multi(s, q, KEYED_USERS, again);
    int64_t again_ms = now_ms() - t0;
    for (int i = 0; i < KEYED_USERS; i++) {
        ensure(again[i].status == 200 && strcmp(again[i].raw, first[i].raw) == 0,
               "user %d's retry: HTTP %ld %s (first: %s)", i, again[i].status, again[i].raw, first[i].raw);
        resp_free(&first[i]);
        resp_free(&again[i]);
    }
    ensure(again_ms < 3000, "%d retries took %lld ms: some key's record was not stored", KEYED_USERS,
           (long long)again_ms);
    print_message("    %d keyed charges at once: %lld ms; their %d retries: %lld ms\n", KEYED_USERS,
                  (long long)first_ms, KEYED_USERS, (long long)again_ms);
    for (int i = 0; i < KEYED_USERS; i += 37)
        ensure(balance(s, &u[i]) == 700, "user %d charged more or less than once", i);
    free(keys);
    free(u);
    free(q);
    free(first);
    free(again);
}

static void test_stall_pending_idempotency(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user payer, reader;
    char sched[ID_MAX];
    stall_setup(s, &payer, &reader, sched);

    enum { N = 8 };
    struct mreq q[N];
    struct resp out[N];
    char key[64];
    snprintf(key, sizeof key, "engine-stall-%lld-%d", (long long)now_ms(), (int)getpid());
    charge_reqs(q, N, &payer, key);
    char slow_reads[512];
    stall_burst(s, q, N, out, &reader, sched, 4000, slow_reads);
    int ok = 0, first = -1;
    for (int i = 0; i < N; i++) {
        if (!charge_outcome(&out[i], &payer, i))
            continue;
        ok++;
        if (first < 0) {
            first = i;
            continue;
        }
        ensure(out[i].raw_len == out[first].raw_len && memcmp(out[i].raw, out[first].raw, out[i].raw_len) == 0,
               "two 200 answers to the same Idempotency-Key differ:\n  %s\n  %s", out[first].raw, out[i].raw);
    }
    print_message("    %d of %d same-key charges 200 (identical), %d 503\n", ok, N, N - ok);
    int64_t bal = balance(s, &payer);
    int entries = ledger_count(s, &payer, "CHARGE");
    ensure(bal == START_MONEY + CHARGE_WON, "balance %lld: %d same-key charges did not charge exactly once",
           (long long)bal, N);
    ensure(entries == 2, "%d CHARGE entries after %d same-key charges (expected 2: the first and one)", entries, N);
    ensure(ok >= 1, "the charge happened but no answer said 200 (all %d were 503 \"nothing changed\")", N);
    if (first >= 0)
        ensure(jint(json_object_get(out[first].json, "data"), "balance") == START_MONEY + CHARGE_WON,
               "the replayed balance is not the one charge's: %s", out[first].raw);
    for (int i = 0; i < N; i++)
        resp_free(&out[i]);
    ensure(slow_reads[0] == '\0', "%s", slow_reads);
}

/* ---- 3. the deadline ------------------------------------------------------------------------------ */

static void test_deadline(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--request-timeout-ms", "1000"));
    struct user payer;
    user_new(s, &payer);
    charge(s, &payer, START_MONEY);
    int before = ledger_total(s, &payer);

    struct dblock lock;
    dblock_take(s, &lock);
    int64_t t0 = mono_ms();
    struct resp r = http(s, "POST", "/user/charge", AUTH(payer.key), fmt("{\"amount\":%d}", CHARGE_WON));
    int64_t took = mono_ms() - t0;
    sleep_until(lock.taken_ms + 3000);
    dblock_release(&lock);
    sleep_ms(300); /* anything still pending would commit now */

    print_message("    the charge answered HTTP %ld after %lld ms\n", r.status, (long long)took);
    assert_err(r, 503, "UNAVAILABLE");
    ensure(took < 2500, "the 503 came after %lld ms (deadline 1000 ms; must be < 2500)", (long long)took);
    ensure(took >= 900, "the 503 came after %lld ms, before the 1000 ms deadline: the write was not waited for",
           (long long)took);
    resp_free(&r);
    ensure(balance(s, &payer) == START_MONEY, "the expired charge changed the balance: %lld",
           (long long)balance(s, &payer));
    ensure(ledger_total(s, &payer) == before, "the expired charge wrote a ledger entry (%d entries, were %d)",
           ledger_total(s, &payer), before);
}

/* ---- 4. a full executor queue refuses at once ---------------------------------------------------------- */

/* Fires n timed charges at once while the lock is held for hold_ms; returns the number of 200s. */
static int queue_full_burst(struct srv *s, const struct user *payer, int n, int hold_ms, int *fast_503)
{
    struct timed *t = calloc((size_t)n, sizeof *t);
    ensure(t != NULL, "out of memory");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    struct dblock lock;
    dblock_take(s, &lock);
    for (int i = 0; i < n; i++) {
        t[i].s = s;
        t[i].go = &go;
        t[i].key = payer->key;
        ensure(pthread_create(&t[i].th, NULL, timed_charge_main, &t[i]) == 0, "pthread_create");
    }
    pthread_barrier_wait(&go);
    sleep_until(lock.taken_ms + hold_ms);
    dblock_release(&lock);
    for (int i = 0; i < n; i++)
        pthread_join(t[i].th, NULL);
    pthread_barrier_destroy(&go);

    int ok = 0, fast = 0, slow503 = 0;
    for (int i = 0; i < n; i++) {
        if (charge_outcome(&t[i].r, payer, i)) {
            ok++;
        } else if (t[i].took_ms < 500) {
            char ra[32];
            ensure(resp_header(&t[i].r, "Retry-After", ra, sizeof ra) && ra[0],
                   "a quick 503 (queue full) without Retry-After: %s", t[i].r.headers);
            fast++;
        } else {
            slow503++;
        }
        resp_free(&t[i].r);
    }
    print_message("    %d charges: %d 200, %d quick 503 (< 500 ms), %d later 503\n", n, ok, fast, slow503);
    free(t);
    *fast_503 = fast;
    return ok;
}

static void test_queue_full(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--workers", "1", "--executor-queue-max", "2",
                                   "--request-timeout-ms", "5000"));
    struct user payer;
    user_new(s, &payer);
    charge(s, &payer, START_MONEY);
    int fast = 0;
    int ok = queue_full_burst(s, &payer, 12, 3000, &fast);
    ensure(fast >= 1, "12 charges at 1 worker and a queue of 2: none was refused at once with 503");
    int64_t bal = balance(s, &payer);
    ensure(bal == START_MONEY + (int64_t)CHARGE_WON * ok, "balance %lld after %d successful charges of %d from %d",
           (long long)bal, ok, CHARGE_WON, START_MONEY);
    ensure(ledger_count(s, &payer, "CHARGE") == 1 + ok, "%d CHARGE entries, expected %d",
           ledger_count(s, &payer, "CHARGE"), 1 + ok);
}

/* ---- 5. bodies over the limit ---------------------------------------------------------------------------- */

struct raw_resp {
    char *buf;       /* everything read, NUL terminated */
    size_t len;
    int status;      /* 0: no status line */
    size_t head_len; /* through the blank line, 0 when incomplete */
    long content_length; /* -1 when absent */
    bool eof, reset, timed_out;
};

static int srv_port(const struct srv *s, int i)
{
    const char *colon = strrchr(s->base_urls[i], ':');
    ensure(colon != NULL, "no port in %s", s->base_urls[i]);
    return atoi(colon + 1);
}

/* A TCP connection to instance i; -1 (errno set) when refused. */
static int raw_connect(const struct srv *s, int i)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ensure(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv_port(s, i))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static bool raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

static bool raw_header(const struct raw_resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->buf, "\r\n");
    const char *end = r->buf + r->head_len;
    while (p && p + 2 < end) {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (!eol || eol > end)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
            return true;
        }
        p = eol;
    }
    return false;
}

static void raw_parse_head(struct raw_resp *r)
{
    char *h = strstr(r->buf, "\r\n\r\n");
    if (!h)
        return;
    r->head_len = (size_t)(h - r->buf) + 4;
    if (strncmp(r->buf, "HTTP/1.", 7) == 0 && r->len > 12)
        r->status = atoi(r->buf + 9);
    char cl[32];
    r->content_length = raw_header(r, "Content-Length", cl, sizeof cl) ? atol(cl) : -1;
}

/* Reads one response: until the head and its Content-Length body are in (head_only: until the peer closes after
 * the head), the peer closes or resets, or timeout_ms passes. */
static void raw_read(int fd, int timeout_ms, bool head_only, struct raw_resp *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    size_t cap = 4096;
    r->buf = malloc(cap);
    ensure(r->buf != NULL, "out of memory");
    r->buf[0] = '\0';
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        if (r->head_len && !head_only && r->content_length >= 0 &&
            r->len >= r->head_len + (size_t)r->content_length)
            return;
        int left = (int)(deadline - mono_ms());
        if (left <= 0) {
            r->timed_out = true;
            return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            r->timed_out = true;
            return;
        }
        if (r->len + 2048 > cap) {
            cap *= 2;
            char *nb = realloc(r->buf, cap);
            ensure(nb != NULL, "out of memory");
            r->buf = nb;
        }
        ssize_t n = recv(fd, r->buf + r->len, cap - r->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r->reset = true;
            return;
        }
        if (n == 0) {
            r->eof = true;
            return;
        }
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
        if (!r->head_len)
            raw_parse_head(r);
    }
}

static const char *raw_body(const struct raw_resp *r) { return r->buf + r->head_len; }

/* What is wrong with r as the 413 envelope, or NULL (a fmt() buffer: the caller frees r before failing). */
static const char *raw_not_413(const struct raw_resp *r, const char *what)
{
    if (r->head_len && strncmp(raw_body(r), "HTTP/", 5) == 0)
        return fmt("%s: the status line and headers come twice (a malformed response):\n%.700s", what, r->buf);
    if (r->status != 413)
        return fmt("%s: expected HTTP 413, got %s (status %d, %zu bytes%s%s%s): %.300s", what,
                   r->status ? "another status" : "no response", r->status, r->len, r->eof ? ", closed" : "",
                   r->reset ? ", reset" : "", r->timed_out ? ", timed out" : "", r->buf);
    char ct[128] = "";
    if (!raw_header(r, "Content-Type", ct, sizeof ct) || strncasecmp(ct, "application/json", 16) != 0)
        return fmt("%s: the 413 has Content-Type \"%s\", not application/json:\n%.600s", what, ct, r->buf);
    if (r->content_length < 0 || r->len < r->head_len + (size_t)r->content_length)
        return fmt("%s: the 413 body is incomplete: %.600s", what, r->buf);
    json_t *j = json_loadb(raw_body(r), (size_t)r->content_length, 0, NULL);
    const char *code = json_string_value(json_object_get(j, "code"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    bool ok = json_is_object(j) && json_is_false(json_object_get(j, "success")) && code &&
              strcmp(code, "PAYLOAD_TOO_LARGE") == 0 && msg && msg[0];
    json_decref(j);
    return ok ? NULL : fmt("%s: not the PAYLOAD_TOO_LARGE envelope: %.600s", what, raw_body(r));
}

/* POST /user/charge claiming a Content-Length of `claimed` bytes, of which 10 are sent, on a raw connection to
 * instance i: the 413 envelope arrives within 2 s, without the rest of the body. */
static void claimed_size_413(struct srv *s, int i, const char *key, const char *claimed)
{
    int fd = raw_connect(s, i);
    ensure(fd >= 0, "connect to %s: %s", s->base_urls[i], strerror(errno));
    const char *head = fmt("POST /user/charge HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %s\r\n\r\n",
                           key, claimed);
    int64_t t0 = mono_ms();
    bool sent = raw_send(fd, head, strlen(head)) && raw_send(fd, "{\"amount\":", 10);
    struct raw_resp r;
    raw_read(fd, 3000, false, &r);
    int64_t took = mono_ms() - t0;
    close(fd);
    const char *what = fmt("POST /user/charge with Content-Length %s (10 bytes sent) to %s", claimed,
                           s->base_urls[i]);
    const char *wrong = raw_not_413(&r, what);
    free(r.buf);
    ensure(wrong == NULL, "%s%s", wrong, sent ? "" : " (sending the head failed)");
    ensure(took < 2000, "%s: the 413 took %lld ms", what, (long long)took);
}

static void test_body_limits(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, START_MONEY);
    int entries = ledger_total(s, &u);

    /* A claimed 10 GB body of which 10 bytes are sent: the answer comes without waiting for the rest. */
    for (int i = 0; i < s->n_base_urls; i++)
        claimed_size_413(s, i, u.key, "10000000000");
    ensure(balance(s, &u) == START_MONEY, "the 10 GB claim changed the balance");

    size_t big = 200 * 1024;
    char *body = malloc(big);
    ensure(body != NULL, "out of memory");
    memset(body, ' ', big);
    memcpy(body, "{\"amount\":1}", 12); /* valid JSON padded with spaces: only the size is wrong */

    struct resp r = http_raw(s, "POST", "/user/charge", AUTH(u.key), body, 65537);
    assert_err(r, 413, "PAYLOAD_TOO_LARGE");
    resp_free(&r);
    ensure(balance(s, &u) == START_MONEY, "a 65537-byte body changed the balance");

    struct hdrs chunked = {.key = u.key, .chunked = true};
    r = http_raw(s, "POST", "/user/charge", &chunked, body, big);
    assert_err(r, 413, "PAYLOAD_TOO_LARGE");
    resp_free(&r);
    ensure(balance(s, &u) == START_MONEY, "a chunked 200 KiB body changed the balance");

    /* exactly at the limit: read and parsed, so the answer is about the JSON, not the size */
    memset(body, 'x', 65536);
    r = http_raw(s, "POST", "/user/charge", AUTH(u.key), body, 65536);
    assert_err(r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    free(body);

    ensure(balance(s, &u) == START_MONEY, "the oversized bodies changed the balance: %lld",
           (long long)balance(s, &u));
    ensure(ledger_total(s, &u) == entries, "the oversized bodies wrote ledger entries");
    /* the server is still fine */
    ensure(charge(s, &u, 1) == START_MONEY + 1, "a normal charge after the 413s");
}

/* 5b. "However large it claims to be": claims at and past the edge of a 64-bit length are still the JSON 413. */
static void test_body_limit_any_claimed_size(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, START_MONEY);
    const char *claims[] = {"65537", "4294967296", "18446744073709551615"};
    for (size_t k = 0; k < sizeof claims / sizeof claims[0]; k++)
        claimed_size_413(s, 0, u.key, claims[k]);
    /* A claim that does not fit in 64 bits is refused by libmicrohttpd itself before ticketd sees the request
     * (docs/DECISIONS.md: its own answers cannot be JSON): still a 413 at once, the connection closed, nothing done. */
    const char *huge[] = {"18446744073709551616", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        int fd = raw_connect(s, 0);
        ensure(fd >= 0, "connect: %s", strerror(errno));
        const char *head = fmt("POST /user/charge HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                               "Content-Length: %s\r\n\r\n{\"amount\":", u.key, huge[k]);
        ensure(raw_send(fd, head, strlen(head)), "send");
        struct raw_resp r;
        raw_read(fd, 3000, false, &r);
        close(fd);
        ensure(r.status == 413 && !r.timed_out, "Content-Length %s: HTTP %d%s: %.200s", huge[k], r.status,
               r.timed_out ? " (no close)" : "", r.buf);
        free(r.buf);
    }
    ensure(balance(s, &u) == START_MONEY, "the oversized claims changed the balance");
    ensure(ledger_total(s, &u) == 1, "the oversized claims wrote ledger entries");
}

/* ---- 6. HEAD ------------------------------------------------------------------------------------------------ */

/* HEAD path on instance 0 over a fresh connection that the server closes after the answer. */
static void raw_head(struct srv *s, const char *path, const char *extra_header, struct raw_resp *r)
{
    int fd = raw_connect(s, 0);
    ensure(fd >= 0, "connect to %s: %s", s->base_urls[0], strerror(errno));
    const char *req = fmt("HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s\r\n", path,
                          extra_header ? extra_header : "", extra_header ? "\r\n" : "");
    ensure(raw_send(fd, req, strlen(req)), "send HEAD %s", path);
    raw_read(fd, 3000, true, r);
    close(fd);
}

static void check_head(struct srv *s, const char *path, const char *token, const char *key, bool same_length)
{
    struct hdrs h = {.token = token, .key = key};
    struct resp g = http_at(s, 0, "GET", path, &h, NULL);
    ensure(g.status != 0, "GET %s: %s", path, g.raw);
    char extra[160] = "";
    if (token)
        snprintf(extra, sizeof extra, "queue-token: %s", token);
    else if (key)
        snprintf(extra, sizeof extra, "Authorization: Bearer %s", key);
    struct raw_resp r;
    raw_head(s, path, extra[0] ? extra : NULL, &r);
    ensure(r.status == g.status, "HEAD %s answered %d, GET %ld (%.200s)", path, r.status, g.status, r.buf);
    ensure(r.head_len > 0 && !r.timed_out, "HEAD %s: the connection was not closed after the head (%s)", path,
           r.buf);
    ensure(r.len == r.head_len, "HEAD %s sent %zu bytes of body: %.200s", path, r.len - r.head_len, raw_body(&r));
    ensure(r.content_length >= 0, "HEAD %s: no Content-Length header:\n%s", path, r.buf);
    if (same_length)
        ensure(r.content_length == (long)g.raw_len, "HEAD %s: Content-Length %ld, the GET body has %zu bytes",
               path, r.content_length, g.raw_len);
    resp_free(&g);
    free(r.buf);
}

static void test_head(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    token_issue(s, &u, "ACTIVE", 201);
    check_head(s, "/health", NULL, NULL, true);
    check_head(s, "/openapi.json", NULL, NULL, true);
    check_head(s, "/concert/available-dates", u.token, NULL, true);
    check_head(s, "/concert/available-dates?concertId=1", u.token, NULL, false);
    check_head(s, "/user/check", NULL, u.key, true);
    check_head(s, "/metrics", NULL, NULL, false);
    check_head(s, "/concert/available-dates", NULL, NULL, false); /* 401 without a token: the same status as GET */
}

/* ---- 7. query integers ---------------------------------------------------------------------------------------- */

static void test_query_integers(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0"));
    struct user u;
    user_new(s, &u);
    charge(s, &u, START_MONEY);
    token_issue(s, &u, "ACTIVE", 201);
    char sched[ID_MAX];
    pick_schedule(s, &u, 1, sched);

    const char *bad[] = {"+5", "%2B5", "%205", "5%20", "5x", "", "0", "101", "-1", "99999999999999999999",
                         "0x5", "5.0", "1e1", "%2D1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp r = http(s, "GET", fmt("/user/history?limit=%s", bad[i]), AUTH(u.key), NULL);
        assert_err(r, 400, "INVALID_ARGUMENT");
        resp_free(&r);
    }
    struct resp r = http(s, "GET", "/user/history?limit=5", AUTH(u.key), NULL);
    json_t *d = assert_ok(r, 200);
    ensure(json_is_array(d) && json_array_size(d) == 1, "history?limit=5: %s", r.raw);
    resp_free(&r);
    r = http(s, "GET", "/user/history?limit=100", AUTH(u.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);

    char bad_ids[5][ID_MAX + 8];
    snprintf(bad_ids[0], sizeof bad_ids[0], "+%s", sched);
    snprintf(bad_ids[1], sizeof bad_ids[1], "%%2B%s", sched);
    snprintf(bad_ids[2], sizeof bad_ids[2], "%%20%s", sched);
    snprintf(bad_ids[3], sizeof bad_ids[3], "%sx", sched);
    bad_ids[4][0] = '\0';
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        r = http(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", bad_ids[i]), TOKEN(u.token), NULL);
        assert_err(r, 400, "INVALID_ARGUMENT");
        resp_free(&r);
    }
    r = http(s, "GET", "/concert/available-seats?concertScheduleId=+1", TOKEN(u.token), NULL);
    assert_err(r, 400, "INVALID_ARGUMENT");
    resp_free(&r);
    r = http(s, "GET", fmt("/concert/available-seats?concertScheduleId=%s", sched), TOKEN(u.token), NULL);
    assert_ok(r, 200);
    resp_free(&r);
}

/* ---- 8. connections per address ------------------------------------------------------------------------------------ */

static const char PARTIAL[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"; /* no blank line: the request goes on */
static const char FULL_CLOSE[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/* A full GET /health on a new connection to instance 0: the status, 0 when there was no answer. */
static int raw_health(struct srv *s, struct raw_resp *r, int *connect_errno)
{
    *connect_errno = 0;
    int fd = raw_connect(s, 0);
    if (fd < 0) {
        *connect_errno = errno;
        memset(r, 0, sizeof *r);
        r->buf = strdup("");
        return 0;
    }
    bool sent = raw_send(fd, FULL_CLOSE, sizeof FULL_CLOSE - 1);
    raw_read(fd, 2000, false, r);
    close(fd);
    if (!sent && r->status == 0)
        r->reset = true;
    return r->status;
}

static void test_connection_cap(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--max-connections-per-ip", "4"));
    http_close_idle(); /* this thread's kept-alive connections would count too */
    sleep_ms(200);
    int idle[4];
    for (int i = 0; i < 4; i++) {
        idle[i] = raw_connect(s, 0);
        ensure(idle[i] >= 0, "idle connection %d refused: %s", i + 1, strerror(errno));
        ensure(raw_send(idle[i], PARTIAL, sizeof PARTIAL - 1), "send a partial request on connection %d", i + 1);
    }
    sleep_ms(300); /* the server has accepted all four */

    struct raw_resp r;
    int cerr;
    int st = raw_health(s, &r, &cerr);
    bool closed = cerr != 0 || r.eof || r.reset;
    ensure(st == 0, "a 5th connection from the same address was served (HTTP %d) with --max-connections-per-ip 4",
           st);
    ensure(closed, "a 5th connection was neither refused nor closed within 2 s (it hangs; %zu bytes: %s)", r.len,
           r.buf);
    print_message("    5th connection: %s\n", cerr ? strerror(cerr) : r.reset ? "reset" : "closed without a response");
    free(r.buf);

    /* one of them goes: a new connection is served */
    close(idle[0]);
    int64_t until = mono_ms() + 2000;
    r.buf = NULL;
    do {
        free(r.buf);
        sleep_ms(100);
        st = raw_health(s, &r, &cerr);
    } while (st != 200 && mono_ms() < until);
    ensure(st == 200, "after closing one of 4 connections a new one is still not served (last %d: %s)", st,
           r.buf);
    free(r.buf);

    /* the idle ones were live all along: finishing a partial request answers it */
    ensure(raw_send(idle[1], "\r\n", 2), "finish the partial request");
    raw_read(idle[1], 2000, false, &r);
    ensure(r.status == 200, "the finished partial request answered %d: %s", r.status, r.buf);
    free(r.buf);
    for (int i = 1; i < 4; i++)
        close(idle[i]);
}

/* ---- 8b. a full batch of events on one event thread ----------------------------------------------------------
 * libmicrohttpd 0.9.75 drains epoll in batches of 128 and, after a full batch, asked again with its blocking
 * timeout before handling what it had read off the kernel's list (src/http/epoll_drain.c). Made to happen on
 * purpose: one event thread, 128 kept-alive connections, the server stopped (SIGSTOP) while each gets a request,
 * then let go — the kernel's ready list holds exactly 128 events. Every request must be answered at once. */
#define FULL_BATCH 128

static bool proc_stopped(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return p && p[1] == ' ' && p[2] == 'T';
}

static void test_full_event_batch(void **state)
{
    (void)state;
    static const char GET_HEALTH[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--threads", "1"));
    srv_require_local(s);
    ensure(s->pid > 0, "the first instance's process id is known");
    int fd[FULL_BATCH];
    struct raw_resp r;
    for (int i = 0; i < FULL_BATCH; i++) { /* each accepted, answered once, then idle on the one event thread */
        fd[i] = raw_connect(s, 0);
        ensure(fd[i] >= 0, "connection %d: %s", i, strerror(errno));
        ensure(raw_send(fd[i], GET_HEALTH, sizeof GET_HEALTH - 1), "first request on connection %d", i);
        raw_read(fd[i], 5000, false, &r);
        ensure(r.status == 200, "first request on connection %d answered %d", i, r.status);
        free(r.buf);
    }
    for (int round = 0; round < 3; round++) {
        ensure(kill(s->pid, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
        int64_t until = mono_ms() + 5000;
        while (!proc_stopped(s->pid) && mono_ms() < until)
            sleep_ms(5);
        bool stopped = proc_stopped(s->pid);
        for (int i = 0; stopped && i < FULL_BATCH; i++)
            ensure(raw_send(fd[i], GET_HEALTH, sizeof GET_HEALTH - 1), "request on connection %d", i);
        sleep_ms(50); /* every request is in its socket before the thread runs again */
        ensure(kill(s->pid, SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
        ensure(stopped, "the server did not stop within 5 s");
        int answered = 0;
        int64_t t0 = mono_ms();
        for (int i = 0; i < FULL_BATCH; i++) {
            int left = (int)(t0 + 5000 - mono_ms());
            raw_read(fd[i], left > 0 ? left : 1, false, &r);
            answered += r.status == 200;
            free(r.buf);
        }
        print_message("    round %d: %d of %d requests answered in %lld ms\n", round + 1, answered, FULL_BATCH,
                      (long long)(mono_ms() - t0));
        ensure(answered == FULL_BATCH, "a full batch of %d events: only %d answered within 5 s", FULL_BATCH, answered);
    }
    for (int i = 0; i < FULL_BATCH; i++)
        close(fd[i]);
}

/* ---- 9. rate limits: a made-up credential does not buy a fresh budget -------------------------------------------------- */

static void random_key(char out[SECRET_MAX])
{
    static const char hex[] = "0123456789abcdef";
    strcpy(out, "tk_");
    for (int i = 0; i < 32; i++)
        out[3 + i] = hex[rand() % 16];
    out[35] = '\0';
}

#define ADDRESS_BUDGET(secs) (2 * 5 + (int)(5 * (secs)) + 1)

static void test_forged_credentials_share_a_budget(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "5", "--rate-burst", "5"));
    srand((unsigned)now_ms() ^ (unsigned)getpid());
    struct user u;
    user_new(s, &u); /* one request of this address's budget */
    token_issue(s, &u, "ACTIVE", 201); /* one of u's own */

    enum { N = 30 };
    int n401 = 0, n429 = 0;
    int64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        char forged[SECRET_MAX];
        random_key(forged);
        struct resp r = http(s, "GET", "/user/check", AUTH(forged), NULL);
        if (r.status == 429) {
            assert_err(r, 429, "RATE_LIMITED");
            n429++;
        } else {
            assert_err(r, 401, "UNAUTHORIZED");
            n401++;
        }
        resp_free(&r);
    }
    double secs = (double)(mono_ms() - t0) / 1000.0;
    print_message("    %d made-up API keys in %.2f s: %d 401, %d 429\n", N, secs, n401, n429);
    ensure(n429 >= 1, "%d requests with %d different made-up API keys in %.2f s: never 429 (rate 5/s, burst 5)", N,
           N, secs);
    /* One address's budget, whichever way it is counted (a token bucket: burst + rate x T; a fixed one-second
     * window, docs/DECISIONS.md: max(rate, burst) per window, and T may straddle a window's end): far below 30. */
    ensure(n401 <= ADDRESS_BUDGET(secs), "%d made-up keys were answered 401 in %.2f s: more than one address's "
           "budget (rate 5/s, burst 5: at most %d)", n401, secs, ADDRESS_BUDGET(secs));

    /* a verified user has its own budget, whatever the address spent */
    struct resp r = http(s, "GET", "/user/check", AUTH(u.key), NULL);
    assert_ok(r, 200);
    resp_free(&r);

    /* made-up queue tokens (on a gated route and on /queue/status) count against the address too */
    sleep_ms(1100); /* the address's budget is whole again */
    n401 = n429 = 0;
    t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        char forged[SECRET_MAX];
        random_key(forged);
        const char *tok = forged + 3; /* 32 hex digits: the shape of a real token */
        struct resp c = http(s, "GET", i % 2 ? "/queue/status" : "/concert/available-dates", TOKEN(tok), NULL);
        if (c.status == 429) {
            assert_err(c, 429, "RATE_LIMITED");
            n429++;
        } else {
            assert_err(c, 401, "UNAUTHORIZED");
            n401++;
        }
        resp_free(&c);
    }
    secs = (double)(mono_ms() - t0) / 1000.0;
    print_message("    %d made-up queue tokens in %.2f s: %d 401, %d 429\n", N, secs, n401, n429);
    ensure(n429 >= 1, "%d requests with different made-up queue tokens in %.2f s: never 429", N, secs);
    ensure(n401 <= ADDRESS_BUDGET(secs), "%d made-up queue tokens were answered 401 in %.2f s (at most %d)", n401,
           secs, ADDRESS_BUDGET(secs));
    /* and a valid token is its user's budget, not the address's */
    r = http(s, "GET", "/concert/available-dates", TOKEN(u.token), NULL);
    assert_ok(r, 200);
    resp_free(&r);

    /* creating users: one address, whatever Authorization it sends */
    sleep_ms(1100);
    int n201 = 0;
    n429 = 0;
    t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        char forged[SECRET_MAX];
        random_key(forged);
        struct resp c = http(s, "POST", "/users", AUTH(forged), fmt("{\"name\":\"forger-%d\"}", i));
        if (c.status == 429) {
            assert_err(c, 429, "RATE_LIMITED");
            n429++;
        } else {
            assert_ok(c, 201);
            n201++;
        }
        resp_free(&c);
    }
    secs = (double)(mono_ms() - t0) / 1000.0;
    print_message("    %d POST /users with made-up keys in %.2f s: %d 201, %d 429\n", N, secs, n201, n429);
    ensure(n429 >= 1, "%d POST /users from one address in %.2f s: never 429", N, secs);
    ensure(n201 <= ADDRESS_BUDGET(secs), "%d users created from one address in %.2f s (rate 5/s, burst 5: at most "
           "%d)", n201, secs, ADDRESS_BUDGET(secs));
}

/* ---- 10. the executor's metrics ------------------------------------------------------------------------------------------ */

/* The value of an unlabelled series in a Prometheus text; -1 when absent. */
static double metric_value(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static double metric_sum(struct srv *s, const char *name)
{
    double sum = 0;
    for (int i = 0; i < s->n_base_urls; i++) {
        struct resp r = http_at(s, i, "GET", "/metrics", NULL, NULL);
        ensure(r.status == 200, "GET /metrics on %s: HTTP %ld", s->base_urls[i], r.status);
        double v = metric_value(r.raw, name);
        ensure(v >= 0, "GET /metrics on %s has no series %s", s->base_urls[i], name);
        sum += v;
        resp_free(&r);
    }
    return sum;
}

static void test_metrics_executor(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--rate-limit", "0", "--workers", "1", "--executor-queue-max", "2",
                                   "--request-timeout-ms", "5000"));
    for (int i = 0; i < s->n_base_urls; i++) {
        struct resp r = http_at(s, i, "GET", "/metrics", NULL, NULL);
        ensure(r.status == 200, "GET /metrics: HTTP %ld", r.status);
        const char *must[] = {"ticketd_executor_queue_length", "ticketd_executor_wait_seconds_bucket",
                              "ticketd_executor_rejected_total", "ticketd_executor_deadline_expired_total",
                              "ticketd_executor_wait_seconds_bucket{le=\"+Inf\"}"};
        for (size_t k = 0; k < sizeof must / sizeof must[0]; k++)
            ensure(strstr(r.raw, must[k]) != NULL, "GET /metrics on %s lacks %s", s->base_urls[i], must[k]);
        resp_free(&r);
    }
    double rejected0 = metric_sum(s, "ticketd_executor_rejected_total");
    ensure(rejected0 == 0, "ticketd_executor_rejected_total is %g before any overload", rejected0);

    struct user payer;
    user_new(s, &payer);
    charge(s, &payer, START_MONEY);
    int fast = 0;
    int ok = queue_full_burst(s, &payer, 12, 2000, &fast);
    double rejected = metric_sum(s, "ticketd_executor_rejected_total");
    print_message("    ticketd_executor_rejected_total (all instances): %g; quick 503s seen: %d\n", rejected, fast);
    ensure(fast >= 1, "no charge was refused at once (1 worker, queue 2)");
    ensure(rejected >= fast, "ticketd_executor_rejected_total is %g after %d queue-full refusals", rejected, fast);
    ensure(rejected <= 12 - ok, "ticketd_executor_rejected_total is %g, more than the %d refused charges", rejected,
           12 - ok);
    ensure(metric_sum(s, "ticketd_executor_queue_length") == 0, "the executor queue is not empty after the burst");
    ensure(balance(s, &payer) == START_MONEY + (int64_t)CHARGE_WON * ok, "balance after the burst");
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const char *only = getenv("TICKETD_TEST_FILTER"); /* e.g. "test_deadline" or "test_stall*" */
    if (only && *only)
        cmocka_set_test_filter(only);
    const struct CMUnitTest tests[] = {
        API_TEST(test_stall_sqlite_or_pg),
        API_TEST(test_stall_more_writers_than_workers),
        API_TEST(test_stall_pending_idempotency),
        API_TEST(test_deadline),
        API_TEST(test_queue_full),
        API_TEST(test_body_limits),
        API_TEST(test_body_limit_any_claimed_size),
        API_TEST(test_keyed_writes_under_contention),
        API_TEST(test_head),
        API_TEST(test_query_integers),
        API_TEST(test_connection_cap),
        API_TEST(test_full_event_batch),
        API_TEST(test_forged_credentials_share_a_budget),
        API_TEST(test_metrics_executor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
