/*
 * harness.h — shared library of the black-box HTTP API tests of ticketd.
 *
 * It starts real `ticketd serve` processes (or, when TICKETD_TEST_URLS is set,
 * uses already running instances), sends HTTP requests with libcurl, parses
 * bodies with jansson, and offers helpers for the booking flow and for the
 * response envelope of ../../shared/API.md. Every assertion goes through
 * cmocka, so a failing helper fails the test that called it.
 *
 * Ownership: a `struct resp` owns its json, body and headers; free it with
 * resp_free(). Servers are owned by the harness: srv_stop() or
 * srv_stop_all() (the teardown of every test, see API_TEST) ends them.
 */
#ifndef TICKETD_TESTS_API_HARNESS_H
#define TICKETD_TESTS_API_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#define SRV_URLS_MAX 16
#define ID_MAX 32      /* ids are at most 18 digits */
#define SECRET_MAX 80  /* API keys and queue tokens */

/* A server under test: one started child, or the external TICKETD_TEST_URLS. */
struct srv {
    char base_urls[SRV_URLS_MAX][128]; /* "http://127.0.0.1:PORT", no trailing slash */
    int n_base_urls;
    pid_t more_pids[SRV_URLS_MAX];     /* shared mode: instances 2..N */
    int n_more;
    char db_url[512];                  /* what --db says: "sqlite:PATH" or "postgres://…/tk_api_…" */
    char pg_db[64];                    /* shared mode: the fresh PostgreSQL database, dropped at stop */
    unsigned rr_next;                  /* round-robin cursor over base_urls */
    bool external;                     /* true: nothing started, nothing to stop */
    pid_t pid;                         /* the child, 0 when external */
    char dir[256];                     /* private temp dir, "" when external */
    char db_path[320];                 /* SQLite file, "" when external */
    char log_path[320];                /* the child's stdout+stderr */
    char **cmd[SRV_URLS_MAX];          /* each instance's command line (owned copies), for srv_restart() */
    int n_instances;                   /* started instances (1 + n_more while they run) */
};

/* Request headers. Unset members are not sent. */
struct hdrs {
    const char *key;     /* "Authorization: Bearer <key>" */
    const char *token;   /* "queue-token: <token>" */
    const char *idem;    /* "Idempotency-Key: <idem>" */
    const char *raw[4];  /* further raw header lines, "Name: value" */
    bool chunked;        /* send the body with Transfer-Encoding: chunked */
};

struct resp {
    long status;       /* 0 when the transport failed */
    json_t *json;      /* the parsed body, NULL when it is not JSON */
    char *raw;         /* the body, NUL terminated, never NULL */
    size_t raw_len;
    char *headers;     /* the raw response header lines, never NULL */
    char ctype[128];   /* Content-Type, "" when absent */
    char what[256];    /* "METHOD /path" for failure messages */
};

/* One prepared request for http_multi(). */
struct mreq {
    const char *method;
    char path[256];
    struct hdrs h;
    char body[256];    /* "" sends no body */
};

struct user {
    char id[ID_MAX];
    char key[SECRET_MAX];
    char token[SECRET_MAX]; /* the last queue token issued, "" before */
};

struct seat {
    char id[ID_MAX];
    long number;
    int64_t price;
};

/* ---- set-up ---------------------------------------------------------- */

/* Reads argv[1] (the ticketd binary) and initialises libcurl. Call first in main. */
void harness_init(int argc, char **argv);

/* Starts `ticketd serve --port P --db sqlite:<tmp> <extra_args...>` and waits for
 * GET /health to answer 200 (at most 10 s; the test fails otherwise). With
 * TICKETD_TEST_URLS set it starts nothing and returns those URLs; a test that
 * needs flags other than "--rate-limit 0" is then skipped. Never returns NULL.
 *
 * Shared mode (TICKETD_TEST_SHARED=N, with TICKETD_TEST_PG and TICKETD_TEST_REDIS from
 * scripts/services.sh): N instances on a fresh PostgreSQL database and a fresh Redis key
 * prefix, with the same extra_args, requests spread round-robin over them. The same tests,
 * the same assertions; a missing service fails the test. */
struct srv *srv_start(const char *const *extra_args);

/* SIGTERM, wait (SIGKILL after 5 s), remove the temp dir, free. NULL is a no-op. */
void srv_stop(struct srv *s);

/* The organizer's side, for the part-2 tests: this test process's admin key (32 random hex digits, drawn once),
 * srv_start with the organizer API on (--admin-key, on every instance) and the per-client request budget off
 * (--rate-limit 0; the tests poll a lot from one address) plus `more` (NULL-terminated, may be NULL), and a
 * request with that key. random_hex writes n_hex random hex digits and a NUL (from /dev/urandom). */
const char *harness_admin_key(void);
struct srv *srv_start_admin(const char *const *more);
struct resp http_admin(struct srv *s, const char *method, const char *path, const char *body);
void random_hex(char *out, int n_hex);
/* ms since the epoch as RFC 3339 UTC with milliseconds (a fmt() string). */
const char *time_rfc3339(int64_t ms);
/* Waits ms for a sales write to reach every instance (nothing to wait for with one: it refreshes at once). */
void srv_spread(const struct srv *s, int ms);
/* POST /admin/concerts {"name"}: checks the answer and copies the new concert's id. */
void admin_concert_new(struct srv *s, const char *name, char id[ID_MAX]);

/* Crash and restart, for crash tests: srv_kill9() SIGKILLs every instance (nothing flushed, no clean shutdown)
 * and reaps it; the database, the Redis keys and the log stay. srv_restart() starts every instance again with its
 * command line (same ports, same database, the environment of the test at that moment) and waits for /health.
 * Not with TICKETD_TEST_URLS (the test fails). A thread that talked to the killed server must call
 * http_close_idle() before the restart (its kept-alive connection would hold the port); srv_kill9 does it for
 * the calling thread. */
void srv_kill9(struct srv *s);
void srv_restart(struct srv *s);

/* Stops every server still running; cmocka teardown signature. */
int srv_stop_all(void **state);

/* Skips the test unless it runs against a server started here (SQLite or shared mode). */
void srv_require_local(const struct srv *s);

/* Every one of n responses is 2xx–4xx: no server error, no transport failure (status 0). */
void assert_no_5xx(const struct resp *r, int n);

/* Runs one SQL statement directly on the server's database (SQLite file or PostgreSQL), for what the
 * API cannot do (corrupting a row for reconcile, a balance near INT64_MAX). expect_changes >= 0: the
 * statement must change exactly that many rows. */
void srv_sql(struct srv *s, const char *sql, int expect_changes);
/* The integer the query's first column of its first row holds (SQLite file or PostgreSQL); the test fails
 * when the query fails or finds no row. */
int64_t srv_sql_int(struct srv *s, const char *sql);
/* "sqlite" or "postgres": what GET /health reports as the store; "off" or "up" for redis. */
const char *srv_store_name(const struct srv *s);
const char *srv_redis_state(const struct srv *s);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_ARGS ((const char *const[]){NULL})
#define API_TEST(f) cmocka_unit_test_teardown(f, srv_stop_all)

/* ---- HTTP ------------------------------------------------------------ */

/* body may be NULL (no body). */
struct resp http(struct srv *s, const char *method, const char *path,
                 const struct hdrs *h, const char *body);
/* The same with a body of len raw bytes (may be invalid UTF-8 or contain NULs). */
struct resp http_raw(struct srv *s, const char *method, const char *path,
                     const struct hdrs *h, const void *body, size_t len);
/* The same as http(), sent to instance i (0 .. srv_instances(s) - 1) instead of the next one round-robin. */
struct resp http_on(struct srv *s, int i, const char *method, const char *path, const struct hdrs *h,
                    const char *body);
int srv_instances(const struct srv *s);
/* Sends all n requests at once over the multi interface; out[i] answers reqs[i]. */
void http_multi(struct srv *s, const struct mreq *reqs, int n, struct resp *out);
void resp_free(struct resp *r);
/* Closes the connections the calling thread's http() keeps alive (the next http() opens a new one); call it
 * before counting connections, and at the end of a thread that used http(). */
void http_close_idle(void);
/* Copies header `name` (last occurrence, case-insensitive) into out; false when absent. */
bool resp_header(const struct resp *r, const char *name, char *out, size_t n);

#define AUTH(k) (&(struct hdrs){.key = (k)})
#define TOKEN(t) (&(struct hdrs){.token = (t)})

/* printf into one of 16 rotating thread-local buffers (for paths and bodies). */
const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* ---- envelope assertions ---------------------------------------------- */

/* Status, Content-Type JSON, success:true; returns data (owned by r). */
json_t *assert_ok_at(const struct resp *r, long status, const char *file, int line);
/* Status, Content-Type JSON, success:false, the code, a non-empty message. */
void assert_err_at(const struct resp *r, long status, const char *code,
                   const char *file, int line);
#define assert_ok(r, st) assert_ok_at(&(r), (st), __FILE__, __LINE__)
#define assert_err(r, st, code) assert_err_at(&(r), (st), (code), __FILE__, __LINE__)

/* Fails with the message unless cond holds. */
#define ensure(cond, ...) do { if (!(cond)) fail_msg(__VA_ARGS__); } while (0)

/* Members of a JSON object; the test fails when missing or of another type. */
const char *jstr(const json_t *o, const char *key);
int64_t jint(const json_t *o, const char *key);

/* ---- values ---------------------------------------------------------- */

int64_t now_ms(void);
void sleep_ms(int ms);
/* Milliseconds since the epoch of an RFC 3339 UTC time; -1 when malformed. */
int64_t rfc3339_ms(const char *s);
bool is_id(const char *s);               /* 1..18 digits, no leading zero */
bool is_hex(const char *s, size_t len);  /* exactly len hex digits */
void copy_str(char *dst, size_t n, const char *src);

/* ---- the read cache ------------------------------------------------------ */

/* available-dates and available-seats may answer from a cache at most 100 ms stale (shared/API.md): an
 * instance sees its own writes at once, another instance's (and srv_sql's) within that bound. Waits until
 * every such write this program made is older than the bound plus a margin, so that a read shows it. The
 * helpers below that read seats or dates (pick_schedule, seats_list, seat_free, schedule_free) call it; a test
 * reading those routes with http() after a write through another instance calls it itself. */
#define READ_CACHE_BOUND_MS 100
void reads_settle(void);

/* ---- booking flow (each asserts its own success) ------------------------ */

void user_new(struct srv *s, struct user *u);
/* Creates n users at once over the multi interface. */
void users_new_many(struct srv *s, struct user *u, int n);
int64_t charge(struct srv *s, const struct user *u, int64_t amount); /* new balance */
int64_t balance(struct srv *s, const struct user *u);
/* POST /queue/issue: stores the token in u->token, asserts the status
 * ("ACTIVE"/"WAITING") and the HTTP status (201 new, 200 existing). */
void token_issue(struct srv *s, struct user *u, const char *want_status, long want_http);
/* Issues ACTIVE tokens for n users at once. */
void tokens_issue_many(struct srv *s, struct user *u, int n);
/* GET /queue/status: copies status, returns position. */
long token_state(struct srv *s, const char *token, char status[16]);
/* The id of a schedule with at least min_free available seats. */
void pick_schedule(struct srv *s, const struct user *u, long min_free, char sched_id[ID_MAX]);
/* GET /concert/available-seats: fills out (up to max), returns the count. */
int seats_list(struct srv *s, const struct user *u, const char *sched_id, struct seat *out,
               int max);
bool seat_free(struct srv *s, const struct user *u, const char *sched_id, const char *seat_id);
/* availableSeats of the schedule in available-dates, -1 when not listed. */
long schedule_free(struct srv *s, const struct user *u, const char *sched_id);
/* POST /reservation, asserts 201 HELD; copies the reservation id. */
void hold(struct srv *s, const struct user *u, const char *seat_id, char res_id[ID_MAX]);
/* POST /payment by reservation id, asserts 200 PAID; returns the balance after. */
int64_t pay(struct srv *s, const struct user *u, const char *res_id);

#endif
