/* fuzz_router.c — fuzzes the whole API below HTTP: api_route_find + api_dispatch (authentication, the
 * Idempotency-Key protocol, every handler, the core rules and the SQLite store) on a real in-process app,
 * wired as tests/unit/test_booking.c wires it (SQLite file on tmpfs, in-process waiting room, the atomic
 * strategy, a fake clock). Two users, A and B, exist with money and ACTIVE queue tokens, so inputs can get
 * past authentication and reach the handlers. Every response must be complete: a status in 100..599 and a
 * body; a JSON body must be the envelope {"success":…} (true exactly when the status is below 400) and
 * valid JSON. A violation is a __builtin_trap(), which libFuzzer reports as a crash.
 *
 * Input layout (missing bytes count as 0, missing lines as ""):
 *   byte 0   method: GET, POST, DELETE, PATCH (b % 4)
 *   byte 1   path: API_ROUTES[b % (API_ROUTE_COUNT + 1)].path, or the PATH line when that is API_ROUTE_COUNT
 *   byte 2   Authorization (b % 4): absent, "Bearer <A's key>", "Bearer <B's key>", the AUTH line
 *   byte 3   queue-token (b % 4): absent, A's live token, B's live token, the TOKEN line
 *   byte 4   Idempotency-Key (b % 4): absent, "k-1", "k-2", the KEY line
 *   byte 5   time: the fake clock moves (b % 16) * 40 s before the request; with bit 0x40, sweep_once runs
 *   then five lines ending in '\n': PATH, AUTH, TOKEN, KEY, QUERY ("name=value&name=value", no escapes),
 *   and the rest is the body (raw bytes, not NUL-terminated, as the HTTP adapter hands it over).
 * Printable seeds are easy to write: '0'..'?' select 0..15 in bytes 1..5 (and '0'..'3' the method).
 *
 * State carries over between inputs (users, holds, payments, idempotency records) like a running server;
 * the world is rebuilt every WORLD_RUNS_MAX inputs or when the fake clock nears the first concert date, so
 * the catalogue never runs out. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "api/api.h"

#define T0_MS 1800000000000LL             /* 2027-01-15T08:00:00Z, as in the unit tests */
#define WORLD_CLOCK_MAX_MS (3 * 86400000LL) /* the first demo date is 7 days after T0 */
#define WORLD_RUNS_MAX 20000
#define FUZZ_ADMIN_KEY "fuzz-admin-key-0123456789abcdef" /* the organizer API is on: an AUTH line can carry it */
#define QUERY_ARGS_MAX 8

struct world {
    char dir[64];
    struct tk_clock clock;
    struct tk_app app;
    struct tk_api api;
    struct seatcache seats;
    char auth[2][API_KEY_LEN + 16]; /* "Bearer <key>" of users A and B */
    int64_t user_id[2];
    int runs;
};

static struct world W;

#define CHECK(e) ((e) ? (void)0 : (fprintf(stderr, "fuzz_router: setup failed: %s\n", #e), abort()))

static void remove_db_dir(const char *dir)
{
    char path[320];
    const char *files[] = {"t.db", "t.db-wal", "t.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* A crash ends the process without atexit: remove what dead runs left behind (tk-fuzz-<pid>-*). */
static void remove_stale_dirs(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = 0;
        if (sscanf(e->d_name, "tk-fuzz-%ld-", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char dir[300];
            snprintf(dir, sizeof dir, "%s/%s", tmp, e->d_name);
            remove_db_dir(dir);
        }
    }
    closedir(d);
}

static void world_open(struct world *w)
{
    memset(w, 0, sizeof *w);
    /* A file, not :memory:, so the store's pool connections share one database; tmpfs keeps fsync cheap. */
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale_dirs(tmp);
    snprintf(w->dir, sizeof w->dir, "%s/tk-fuzz-%ld-XXXXXX", tmp, (long)getpid());
    CHECK(mkdtemp(w->dir) != NULL);
    char url[128], err[256] = "";
    snprintf(url, sizeof url, "sqlite:%s/t.db", w->dir);
    clock_fake_init(&w->clock, T0_MS);
    struct tk_app *a = &w->app;
    CHECK(store_open(url, 3, &a->store, err, sizeof err) == TK_OK);
    CHECK(store_migrate(a->store) == TK_OK);
    bool seeded = false;
    CHECK(store_seed_demo(a->store, T0_MS, &seeded) == TK_OK && seeded);
    CHECK(strategy_open("atomic", 5, &a->strategy, err, sizeof err) == TK_OK);
    struct admission_policy p = {.max_active = 100, .admit_per_sec = 100, .token_ms = 600000, .idle_ms = 60000};
    CHECK(waitroom_mem_open(1000, &a->waitroom) == TK_OK);
    a->site_room = (struct wr_room){.id = 0, .policy = p};
    CHECK(sales_new(&a->sales) == TK_OK);
    snprintf(w->api.admin_key, sizeof w->api.admin_key, "%s", FUZZ_ADMIN_KEY);
    CHECK(seatcache_init(&w->seats) == TK_OK);
    a->seats_taken = &w->seats;
    a->clock = &w->clock;
    a->hold_ms = 300000;
    a->order_hold_ms = 600000; /* the shop's routes */
    a->max_holds_per_user = 4;
    a->idempotency_ttl_ms = 86400000;
    w->api.app = a;
    const char *names[2] = {"fuzz-a", "fuzz-b"};
    for (int i = 0; i < 2; i++) {
        struct tk_user u;
        char key[API_KEY_LEN + 1];
        CHECK(account_create(a, names[i], &u, key) == TK_OK);
        snprintf(w->auth[i], sizeof w->auth[i], "Bearer %s", key);
        w->user_id[i] = u.id;
        int64_t balance;
        CHECK(wallet_charge(a, u.id, 1000000, NULL, &balance, NULL) == TK_OK);
    }
}

static void world_close(struct world *w)
{
    seatcache_free(&w->seats);
    waitroom_free(w->app.waitroom);
    sales_free(w->app.sales);
    strategy_free(w->app.strategy);
    store_close(w->app.store);
    remove_db_dir(w->dir);
}

static void world_exit(void) { world_close(&W); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    world_open(&W);
    atexit(world_exit);
    return 0;
}

/* ---- the decoded input ---- */

struct input {
    const uint8_t *p, *end;
    const char *auth, *token, *key;
    char *line[5]; /* PATH, AUTH, TOKEN, KEY, QUERY: owned */
    const char *arg_name[QUERY_ARGS_MAX], *arg_value[QUERY_ARGS_MAX];
    int args;
};

static unsigned take_byte(struct input *in) { return in->p < in->end ? *in->p++ : 0; }

/* A NUL-terminated copy of the bytes up to the next '\n' (an embedded NUL simply ends the string early). */
static char *take_line(struct input *in)
{
    const uint8_t *s = in->p;
    while (in->p < in->end && *in->p != '\n')
        in->p++;
    size_t n = (size_t)(in->p - s);
    char *out = malloc(n + 1);
    CHECK(out != NULL);
    memcpy(out, s, n);
    out[n] = 0;
    if (in->p < in->end)
        in->p++;
    return out;
}

/* Splits QUERY in place into name=value pairs. */
static void split_query(struct input *in, char *q)
{
    for (char *save = NULL, *pair = strtok_r(q, "&", &save); pair && in->args < QUERY_ARGS_MAX;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq++ = 0;
        in->arg_name[in->args] = pair;
        in->arg_value[in->args++] = eq ? eq : "";
    }
}

/* Header names are case-insensitive, as libmicrohttpd looks them up. */
static const char *header_of(void *ctx, const char *name)
{
    struct input *in = ctx;
    if (strcasecmp(name, "Authorization") == 0)
        return in->auth;
    if (strcasecmp(name, "queue-token") == 0)
        return in->token;
    if (strcasecmp(name, "Idempotency-Key") == 0)
        return in->key;
    return NULL;
}

static const char *query_of(void *ctx, const char *name)
{
    struct input *in = ctx;
    for (int i = 0; i < in->args; i++)
        if (strcmp(in->arg_name[i], name) == 0)
            return in->arg_value[i];
    return NULL;
}

/* The live token of user i (issue returns the live one, or a new one once it expired or was used to pay). */
static const char *live_token(int i, char out[TOKEN_HEX_LEN + 1])
{
    struct tk_waitroom *wr = W.app.waitroom;
    struct tk_ticket t;
    bool created;
    if (wr->ops->issue(wr, &W.app.site_room, W.user_id[i], app_now_ms(&W.app), &t, &created) != TK_OK)
        return NULL;
    memcpy(out, t.token, TOKEN_HEX_LEN + 1);
    return out;
}

/* The response must be one the adapter can send as it is. */
static void check_response(const struct api_response *resp)
{
    if (resp->status < 100 || resp->status > 599 || resp->body.oom)
        __builtin_trap();
    if (resp->stream) { /* an event stream (GET /queue/events): its first bytes must be one status event */
        struct buf first = {0};
        (void)resp->stream->next(resp->stream, &W.api, &first);
        bool ok = resp->status == 200 && first.len > 20 && memcmp(first.p, "event: status\ndata: {", 21) == 0;
        buf_free(&first);
        resp->stream->free(resp->stream);
        if (!ok)
            __builtin_trap();
        return;
    }
    if (resp->static_body) { /* a constant document (GET /openapi.json, the pages; 304: empty) */
        if (resp->static_len == 0 && resp->status != 304)
            __builtin_trap();
        return;
    }
    if (resp->body.len == 0 || !resp->body.p)
        __builtin_trap();
    if (resp->content_type) /* not JSON (GET /metrics): non-empty is all there is to check */
        return;
    if (resp->body.len < 11 || memcmp(resp->body.p, "{\"success\":", 11) != 0)
        __builtin_trap();
    json_error_t jerr;
    json_t *root = json_loadb(resp->body.p, resp->body.len, 0, &jerr);
    if (!root) {
        fprintf(stderr, "fuzz_router: response is not valid JSON (%s): %.*s\n", jerr.text, (int)resp->body.len,
                resp->body.p);
        __builtin_trap();
    }
    json_t *ok = json_object_get(root, "success");
    if (!json_is_boolean(ok) || json_is_true(ok) != (resp->status < 400))
        __builtin_trap();
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const METHODS[] = {"GET", "POST", "DELETE", "PATCH"};
    if (W.runs++ >= WORLD_RUNS_MAX || app_now_ms(&W.app) - T0_MS > WORLD_CLOCK_MAX_MS) {
        world_close(&W);
        world_open(&W);
    }

    struct input in = {.p = data, .end = data + size};
    unsigned sel[6];
    for (int i = 0; i < 6; i++)
        sel[i] = take_byte(&in);
    for (int i = 0; i < 5; i++)
        in.line[i] = take_line(&in);
    const char *body = (const char *)in.p;
    size_t body_len = (size_t)(in.end - in.p);

    clock_fake_advance(&W.clock, (int64_t)(sel[5] % 16) * 40000);
    if (sel[5] & 0x40) {
        int rc = sweep_once(&W.app);
        (void)rc; /* a sweep may fail like any store call; what matters is the requests after it */
    }

    const char *method = METHODS[sel[0] % 4];
    unsigned p = sel[1] % (unsigned)(API_ROUTE_COUNT + 1);
    const char *path = p < (unsigned)API_ROUTE_COUNT ? API_ROUTES[p].path : in.line[0];
    unsigned a = sel[2] % 4, t = sel[3] % 4, k = sel[4] % 4;
    in.auth = a == 0 ? NULL : a == 3 ? in.line[1] : W.auth[a - 1];
    char tok[TOKEN_HEX_LEN + 1];
    in.token = t == 0 ? NULL : t == 3 ? in.line[2] : live_token((int)t - 1, tok);
    in.key = k == 0 ? NULL : k == 1 ? "k-1" : k == 2 ? "k-2" : in.line[3];
    split_query(&in, in.line[4]);

    int route = -1;
    if (api_route_find(method, path, &route) == TK_OK) {
        struct api_request req = {
            .method = method,
            .path = path,
            .body = body_len ? body : NULL,
            .body_len = body_len,
            .header = header_of,
            .query = query_of,
            .ctx = &in,
        };
        struct api_response resp = {0};
        api_dispatch(&W.api, route, &req, &resp);
        if (getenv("FUZZ_VERBOSE")) /* to see what a seed reaches: FUZZ_VERBOSE=1 build-fuzz/fuzz_router FILE */
            fprintf(stderr, "%s %s -> %d %.*s\n", method, path, resp.status,
                    resp.static_body ? 40 : (int)resp.body.len, resp.static_body ? resp.static_body : resp.body.p);
        check_response(&resp);
        buf_free(&resp.body);
    }
    for (int i = 0; i < 5; i++)
        free(in.line[i]);
    return 0;
}
