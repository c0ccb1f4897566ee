/* load.c — the engine (libcurl multi, retries with backoff and jitter, latency and status accounting) and
 * the scenarios of `ticketd load` (see load.h). */
#include "load/load.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/clock.h"
#include "util/rand.h"
#include "util/stats.h"

#define URLS_MAX 16
#define STATUS_SLOTS 600
#define BODY_MAX (256 * 1024)

/* ---------- options ---------- */

struct opts {
    const char *scenario;
    char *urls[URLS_MAX];
    int nurls;
    int users;
    int connections;
    int requests; /* seats scenario */
    int seats;    /* race: how many seats of the date are contested */
    int schedules;
    int seconds;  /* overall deadline */
    int timeout_ms;
    int retries;
    int backoff_base_ms, backoff_cap_ms;
    int64_t charge_won;
};

/* ---------- the engine ---------- */

struct user;
struct call;
typedef void (*call_done)(struct call *c);

struct call {
    struct user *u;
    char method[8];
    char path[256];
    char auth[80];
    char token_hdr[64];
    char idem[64];
    char *body;
    call_done done;
    int tries;
    int64_t due_ns;     /* when a retry may start */
    int64_t start_ns;
    long status;        /* 0 = transport error or timeout */
    int url_index;      /* the instance it went to */
    bool refused;       /* the connection was refused: that instance is down */
    char *resp;
    size_t resp_len;
    json_t *json;       /* parsed response (NULL if not JSON) */
    struct call *next;  /* in the ready or delayed list */
};

struct stats {
    uint64_t status[STATUS_SLOTS];
    uint64_t transport_errors;
    uint64_t requests;
    uint64_t retries;
    double *lat_ms;
    size_t nlat, caplat;
};

struct engine {
    CURLM *multi;
    const struct opts *o;
    int inflight;
    int rr;
    int64_t url_down_until_ns[URLS_MAX]; /* an instance that refused a connection is skipped for a while */
    struct call *ready_head, *ready_tail;
    struct call *delayed; /* unsorted; scanned each loop (bounded by the number of users) */
    int64_t deadline_ns;
    struct stats st;
    bool out_of_time;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = size * n;
    if (c->resp_len + len > BODY_MAX)
        return 0;
    char *nb = realloc(c->resp, c->resp_len + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + c->resp_len, p, len);
    c->resp = nb;
    c->resp_len += len;
    c->resp[c->resp_len] = 0;
    return len;
}

static void enqueue(struct engine *e, struct call *c)
{
    c->next = NULL;
    if (e->ready_tail)
        e->ready_tail->next = c;
    else
        e->ready_head = c;
    e->ready_tail = c;
}

static struct call *call_new(struct user *u, const char *method, const char *path, call_done done)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "load: out of memory\n");
        exit(2);
    }
    c->u = u;
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->done = done;
    return c;
}

static void call_free(struct call *c)
{
    if (!c)
        return;
    free(c->body);
    free(c->resp);
    json_decref(c->json);
    free(c);
}

static void record_latency(struct stats *st, double ms)
{
    if (st->nlat == st->caplat) {
        size_t cap = st->caplat ? st->caplat * 2 : 4096;
        double *p = realloc(st->lat_ms, cap * sizeof *p);
        if (!p)
            return;
        st->lat_ms = p;
        st->caplat = cap;
    }
    st->lat_ms[st->nlat++] = ms;
}

static void start(struct engine *e, struct call *c)
{
    CURL *h = curl_easy_init();
    char url[512];
    int64_t now = clock_mono_ns();
    int pick = e->rr++ % e->o->nurls;
    for (int k = 0; k < e->o->nurls && e->url_down_until_ns[pick] > now; k++) /* skip instances seen down */
        pick = e->rr++ % e->o->nurls;
    c->url_index = pick;
    snprintf(url, sizeof url, "%s%s", e->o->urls[pick], c->path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char line[160];
    if (c->auth[0]) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->auth);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (c->token_hdr[0]) {
        snprintf(line, sizeof line, "queue-token: %s", c->token_hdr);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (c->idem[0]) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", c->idem);
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    if (c->body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)e->o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    c->resp_len = 0;
    free(c->resp);
    c->resp = NULL;
    json_decref(c->json);
    c->json = NULL;
    c->start_ns = clock_mono_ns();
    curl_multi_add_handle(e->multi, h);
    e->inflight++;
    e->st.requests++;
    /* the header list must live as long as the handle: keep it in the handle's private slot chain */
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    c->next = (struct call *)hdrs; /* borrowed slot while in flight (lists are not used then) */
}

static uint64_t jitter(uint64_t bound) { return rand_below(bound); }

/* A response (or failure) arrived: account for it, retry if it may help, else hand it to the scenario. */
static void finish(struct engine *e, struct call *c, long status)
{
    e->inflight--;
    c->status = status;
    double ms = (double)(clock_mono_ns() - c->start_ns) / 1e6;
    record_latency(&e->st, ms);
    if (status > 0 && status < STATUS_SLOTS)
        e->st.status[status]++;
    else
        e->st.transport_errors++;
    bool retryable = status == 0 || status == 503;
    if (retryable && c->tries < e->o->retries && !e->out_of_time) {
        c->tries++;
        e->st.retries++;
        int64_t us = backoff_full_jitter_us(c->tries, e->o->backoff_base_ms * 1000, e->o->backoff_cap_ms * 1000, jitter);
        c->due_ns = clock_mono_ns() + us * 1000;
        c->next = e->delayed;
        e->delayed = c;
        return;
    }
    if (c->resp)
        c->json = json_loads(c->resp, 0, NULL);
    c->done(c);
}

static void promote_due(struct engine *e)
{
    int64_t now = clock_mono_ns();
    struct call **pp = &e->delayed;
    while (*pp) {
        struct call *c = *pp;
        if (c->due_ns <= now) {
            *pp = c->next;
            enqueue(e, c);
        } else {
            pp = &c->next;
        }
    }
}

/* Runs until no call is ready, delayed or in flight, or the deadline passes. */
static void run(struct engine *e)
{
    for (;;) {
        if (clock_mono_ns() > e->deadline_ns)
            e->out_of_time = true;
        promote_due(e);
        while (!e->out_of_time && e->ready_head && e->inflight < e->o->connections) {
            struct call *c = e->ready_head;
            e->ready_head = c->next;
            if (!e->ready_head)
                e->ready_tail = NULL;
            start(e, c);
        }
        if (!e->inflight && (!e->delayed || e->out_of_time) && (!e->ready_head || e->out_of_time))
            break;
        int running = 0;
        curl_multi_perform(e->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(e->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            struct call *c = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            if (m->data.result == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result == CURLE_COULDNT_CONNECT)
                e->url_down_until_ns[c->url_index] = clock_mono_ns() + 2000000000LL; /* retry it in 2 s */
            curl_multi_remove_handle(e->multi, h);
            curl_slist_free_all((struct curl_slist *)c->next);
            c->next = NULL;
            curl_easy_cleanup(h);
            finish(e, c, status);
        }
        curl_multi_poll(e->multi, NULL, 0, 5, NULL);
    }
}

/* ---------- helpers for scenarios ---------- */

static const char *jstr(json_t *root, const char *field)
{
    json_t *d = json_object_get(root, "data");
    const char *s = json_string_value(json_object_get(d, field));
    return s ? s : "";
}

static int64_t jint(json_t *root, const char *field)
{
    return (int64_t)json_integer_value(json_object_get(json_object_get(root, "data"), field));
}

static const char *jcode(json_t *root) { return json_string_value(json_object_get(root, "code")); }

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* One synchronous request outside the measured part (setup and checks). */
static long sync_req(const struct opts *o, const char *method, const char *path, const char *auth,
                     const char *token, const char *body, json_t **out)
{
    CURL *h = curl_easy_init();
    char url[512], line[160];
    snprintf(url, sizeof url, "%s%s", o->urls[0], path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", auth);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (token) {
        snprintf(line, sizeof line, "queue-token: %s", token);
        hdrs = curl_slist_append(hdrs, line);
    }
    struct call c = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    *out = c.resp ? json_loads(c.resp, 0, NULL) : NULL;
    free(c.resp);
    return status;
}

/* ---------- users ---------- */

enum ustate { U_NEW, U_CHARGED, U_QUEUED, U_ACTIVE, U_HELD, U_PAID, U_DONE, U_FAILED };

struct user {
    struct engine *e;
    int index;
    char key[64];
    char id[24];
    char token[40];
    enum ustate state;
    char seat_id[24];
    char reservation_id[24];
    int64_t charged_won;
    int64_t paid_won;
    int attempts; /* seats tried (flow) */
    int polls;
};

struct scenario_state {
    struct user *users;
    int n;
    /* race / flow: the contested seats */
    char (*seat_ids)[24];
    int nseats;
    int holds, payments;
    int holds_conflict;
    int failed_users;
};

static struct scenario_state SC;

static void step(struct user *u);

static void fail_user(struct user *u, struct call *c, const char *what)
{
    if (u->state != U_FAILED) {
        SC.failed_users++;
        if (SC.failed_users <= 5)
            fprintf(stderr, "load: user %d: %s failed: HTTP %ld %s\n", u->index, what, c ? c->status : 0,
                    c && c->resp ? c->resp : "");
    }
    u->state = U_FAILED;
}

static void on_user_created(struct call *c)
{
    struct user *u = c->u;
    if (c->status != 201 || !c->json) {
        fail_user(u, c, "create user");
    } else {
        snprintf(u->key, sizeof u->key, "%s", jstr(c->json, "apiKey"));
        snprintf(u->id, sizeof u->id, "%s", jstr(c->json, "userId"));
        u->state = U_NEW;
        step(u);
    }
    call_free(c);
}

static void on_charged(struct call *c)
{
    struct user *u = c->u;
    if (c->status != 200) {
        fail_user(u, c, "charge");
    } else {
        u->state = U_CHARGED;
        step(u);
    }
    call_free(c);
}

static void on_queued(struct call *c)
{
    struct user *u = c->u;
    if ((c->status != 200 && c->status != 201) || !c->json) {
        fail_user(u, c, "queue");
    } else {
        snprintf(u->token, sizeof u->token, "%s", jstr(c->json, "token"));
        const char *st = jstr(c->json, "status");
        u->state = strcmp(st, "ACTIVE") == 0 ? U_ACTIVE : U_QUEUED;
        step(u);
    }
    call_free(c);
}

static void on_polled(struct call *c)
{
    struct user *u = c->u;
    if (c->status != 200 || !c->json) {
        fail_user(u, c, "queue status");
    } else if (strcmp(jstr(c->json, "status"), "ACTIVE") == 0) {
        u->state = U_ACTIVE;
        step(u);
    } else if (strcmp(jstr(c->json, "status"), "EXPIRED") == 0) {
        fail_user(u, c, "waiting (token expired)");
    } else {
        u->polls++;
        /* poll again after a short pause: through the retry queue's timer */
        struct call *p = call_new(u, "GET", "/queue/status", on_polled);
        snprintf(p->token_hdr, sizeof p->token_hdr, "%s", u->token);
        p->due_ns = clock_mono_ns() + 200 * 1000000LL;
        p->next = u->e->delayed;
        u->e->delayed = p;
    }
    call_free(c);
}

static void try_hold(struct user *u);

static void on_held(struct call *c)
{
    struct user *u = c->u;
    if (c->status == 201 && c->json) {
        snprintf(u->reservation_id, sizeof u->reservation_id, "%s", jstr(c->json, "reservationId"));
        u->state = U_HELD;
        SC.holds++;
        step(u);
    } else if (c->status == 409 && c->json && jcode(c->json) && strcmp(jcode(c->json), "SEAT_UNAVAILABLE") == 0) {
        SC.holds_conflict++;
        if (strcmp(u->e->o->scenario, "flow") == 0 && ++u->attempts < 8)
            try_hold(u); /* another seat */
        else
            u->state = U_DONE;
    } else {
        fail_user(u, c, "hold");
    }
    call_free(c);
}

static void on_paid(struct call *c)
{
    struct user *u = c->u;
    if (c->status == 200 && c->json) {
        u->paid_won = jint(c->json, "amount");
        u->state = U_PAID;
        SC.payments++;
    } else if (c->status == 409) {
        u->state = U_DONE; /* hold expired or balance: a clean refusal */
    } else {
        fail_user(u, c, "pay");
    }
    call_free(c);
}

static void try_hold(struct user *u)
{
    const char *seat = SC.seat_ids[strcmp(u->e->o->scenario, "race") == 0 ? u->index % SC.nseats
                                                                        : (int)rand_below((uint64_t)SC.nseats)];
    snprintf(u->seat_id, sizeof u->seat_id, "%s", seat);
    struct call *c = call_new(u, "POST", "/reservation", on_held);
    snprintf(c->token_hdr, sizeof c->token_hdr, "%s", u->token);
    c->body = dupf("{\"seatId\":\"%s\"}", seat);
    /* the flow retries holds safely with a key; the race is one shot per user, as a stampede is */
    if (strcmp(u->e->o->scenario, "flow") == 0)
        snprintf(c->idem, sizeof c->idem, "hold-%d-%d", u->index, u->attempts);
    enqueue(u->e, c);
}

/* Advances a user to its next request. */
static void step(struct user *u)
{
    struct engine *e = u->e;
    const char *sc = e->o->scenario;
    struct call *c;
    if (strcmp(sc, "create") == 0)
        return; /* setup: users only */
    switch (u->state) {
    case U_NEW:
        if (strcmp(sc, "flow") == 0) {
            c = call_new(u, "POST", "/user/charge", on_charged);
            snprintf(c->auth, sizeof c->auth, "%s", u->key);
            c->body = dupf("{\"amount\":%lld}", (long long)e->o->charge_won);
            snprintf(c->idem, sizeof c->idem, "charge-%d", u->index);
            u->charged_won = e->o->charge_won;
            enqueue(e, c);
            return;
        }
        u->state = U_CHARGED;
        /* fall through */
    case U_CHARGED:
        c = call_new(u, "POST", "/queue/issue", on_queued);
        snprintf(c->auth, sizeof c->auth, "%s", u->key);
        enqueue(e, c);
        return;
    case U_QUEUED:
        c = call_new(u, "GET", "/queue/status", on_polled);
        snprintf(c->token_hdr, sizeof c->token_hdr, "%s", u->token);
        enqueue(e, c);
        return;
    case U_ACTIVE:
        if (strcmp(sc, "issue") == 0) {
            u->state = U_DONE;
            return;
        }
        try_hold(u);
        return;
    case U_HELD:
        if (strcmp(sc, "flow") != 0) {
            u->state = U_DONE;
            return;
        }
        c = call_new(u, "POST", "/payment", on_paid);
        snprintf(c->token_hdr, sizeof c->token_hdr, "%s", u->token);
        c->body = dupf("{\"reservationId\":\"%s\"}", u->reservation_id);
        snprintf(c->idem, sizeof c->idem, "pay-%d-%s", u->index, u->reservation_id);
        enqueue(e, c);
        return;
    default:
        return;
    }
}

/* ---------- setup: users, and the seats to contest ---------- */

static int setup_users(struct engine *e, int n, bool with_tokens)
{
    SC.users = calloc((size_t)n, sizeof *SC.users);
    SC.n = n;
    if (!SC.users)
        return -1;
    for (int i = 0; i < n; i++) {
        struct user *u = &SC.users[i];
        u->e = e;
        u->index = i;
        u->state = U_FAILED; /* until created */
        struct call *c = call_new(u, "POST", "/users", on_user_created);
        c->body = dupf("{\"name\":\"load-%d\"}", i);
        enqueue(e, c);
    }
    (void)with_tokens;
    return 0;
}

static int pick_seats(const struct opts *o, int schedules, int per_schedule_max)
{
    /* a token to browse with: one extra user */
    json_t *j = NULL;
    char key[64] = "", token[40] = "";
    if (sync_req(o, "POST", "/users", NULL, NULL, "{\"name\":\"load-browser\"}", &j) != 201)
        goto fail;
    snprintf(key, sizeof key, "%s", jstr(j, "apiKey"));
    json_decref(j);
    if (sync_req(o, "POST", "/queue/issue", key, NULL, NULL, &j) / 100 != 2)
        goto fail;
    snprintf(token, sizeof token, "%s", jstr(j, "token"));
    json_decref(j);
    if (sync_req(o, "GET", "/concert/available-dates", NULL, token, NULL, &j) != 200)
        goto fail;
    json_t *dates = json_object_get(j, "data");
    SC.seat_ids = calloc((size_t)schedules * 50 + 1, sizeof *SC.seat_ids);
    for (size_t d = 0; d < json_array_size(dates) && (int)d < schedules; d++) {
        const char *sid = json_string_value(json_object_get(json_array_get(dates, d), "scheduleId"));
        char path[128];
        snprintf(path, sizeof path, "/concert/available-seats?concertScheduleId=%s", sid);
        json_t *s = NULL;
        if (sync_req(o, "GET", path, NULL, token, NULL, &s) != 200) {
            json_decref(s);
            continue;
        }
        json_t *seats = json_object_get(s, "data");
        for (size_t k = 0; k < json_array_size(seats) && (int)k < per_schedule_max; k++)
            snprintf(SC.seat_ids[SC.nseats++], 24, "%s",
                     json_string_value(json_object_get(json_array_get(seats, k), "seatId")));
        json_decref(s);
    }
    json_decref(j);
    return SC.nseats > 0 ? 0 : -1;
fail:
    json_decref(j);
    fprintf(stderr, "load: could not read the catalogue from %s\n", o->urls[0]);
    return -1;
}

/* ---------- report ---------- */

static double pct(const struct stats *st, double p) { return stats_percentile(st->lat_ms, st->nlat, p); }

static void print_report(const struct opts *o, int argc, char **argv, double wall_s, double setup_s,
                         const struct stats *st, json_t *check, bool correct)
{
    stats_sort(st->lat_ms, st->nlat);
    json_t *r = json_object();
    json_t *cmd = json_array();
    json_array_append_new(cmd, json_string("ticketd"));
    json_array_append_new(cmd, json_string("load"));
    for (int i = 0; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(r, "command", cmd);
    json_object_set_new(r, "scenario", json_string(o->scenario));
    json_t *urls = json_array();
    for (int i = 0; i < o->nurls; i++)
        json_array_append_new(urls, json_string(o->urls[i]));
    json_object_set_new(r, "urls", urls);
    json_object_set_new(r, "users", json_integer(o->users));
    json_object_set_new(r, "connections", json_integer(o->connections));
    json_object_set_new(r, "setup_seconds", json_real(setup_s));
    json_object_set_new(r, "wall_seconds", json_real(wall_s));
    json_object_set_new(r, "requests", json_integer((json_int_t)st->requests));
    json_object_set_new(r, "requests_per_sec", json_real(wall_s > 0 ? (double)st->requests / wall_s : 0));
    json_t *sc = json_object();
    uint64_t five = 0;
    for (int s = 0; s < STATUS_SLOTS; s++) {
        if (!st->status[s])
            continue;
        char k[8];
        snprintf(k, sizeof k, "%d", s);
        json_object_set_new(sc, k, json_integer((json_int_t)st->status[s]));
        if (s >= 500)
            five += st->status[s];
    }
    json_object_set_new(r, "status_counts", sc);
    json_object_set_new(r, "status_5xx", json_integer((json_int_t)five));
    json_object_set_new(r, "transport_errors", json_integer((json_int_t)st->transport_errors));
    json_object_set_new(r, "retries", json_integer((json_int_t)st->retries));
    json_t *lat = json_object();
    json_object_set_new(lat, "p50", json_real(pct(st, 50)));
    json_object_set_new(lat, "p95", json_real(pct(st, 95)));
    json_object_set_new(lat, "p99", json_real(pct(st, 99)));
    json_object_set_new(lat, "max", json_real(st->nlat ? st->lat_ms[st->nlat - 1] : 0));
    json_object_set_new(r, "latency_ms", lat);
    json_object_set_new(r, "check", check);
    json_object_set_new(r, "correct", json_boolean(correct));
    char *out = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", out);
    free(out);
    json_decref(r);
}

/* ---------- end-state checks through the API ---------- */

/* Every contested seat that a user holds or bought must be gone from available-seats, and no two users may
 * have bought one seat. Balances of payers must equal charge - paid. */
static json_t *check_state(const struct opts *o, bool *ok)
{
    json_t *c = json_object();
    *ok = true;
    /* one seat, one winner */
    int dup = 0;
    for (int i = 0; i < SC.n; i++) {
        if (SC.users[i].state != U_PAID && SC.users[i].state != U_HELD)
            continue;
        for (int j = i + 1; j < SC.n; j++)
            if ((SC.users[j].state == U_PAID || SC.users[j].state == U_HELD) &&
                strcmp(SC.users[i].seat_id, SC.users[j].seat_id) == 0)
                dup++;
    }
    json_object_set_new(c, "seats_won_twice", json_integer(dup));
    if (dup)
        *ok = false;
    json_object_set_new(c, "holds", json_integer(SC.holds));
    json_object_set_new(c, "hold_conflicts", json_integer(SC.holds_conflict));
    json_object_set_new(c, "payments", json_integer(SC.payments));
    json_object_set_new(c, "failed_users", json_integer(SC.failed_users));
    if (SC.failed_users)
        *ok = false;
    if (strcmp(o->scenario, "race") == 0) {
        int expect = SC.n < SC.nseats ? SC.n : SC.nseats;
        json_object_set_new(c, "expected_holds", json_integer(expect));
        if (SC.holds != expect)
            *ok = false;
    }
    if (strcmp(o->scenario, "flow") == 0) {
        int wrong = 0;
        for (int i = 0; i < SC.n; i++) {
            struct user *u = &SC.users[i];
            if (u->state == U_FAILED || !u->key[0])
                continue;
            json_t *j = NULL;
            if (sync_req(o, "GET", "/user/check", u->key, NULL, NULL, &j) != 200 ||
                jint(j, "balance") != u->charged_won - u->paid_won || jint(j, "balance") < 0)
                wrong++;
            json_decref(j);
        }
        json_object_set_new(c, "balances_wrong", json_integer(wrong));
        if (wrong)
            *ok = false;
    }
    /* every seat won must be gone from available-seats */
    int still_free = 0;
    if (strcmp(o->scenario, "race") == 0 || strcmp(o->scenario, "flow") == 0) {
        json_t *j = NULL;
        char key[64] = "", token[40] = "";
        if (sync_req(o, "POST", "/users", NULL, NULL, "{\"name\":\"load-checker\"}", &j) == 201)
            snprintf(key, sizeof key, "%s", jstr(j, "apiKey"));
        json_decref(j);
        j = NULL;
        if (key[0] && sync_req(o, "POST", "/queue/issue", key, NULL, NULL, &j) / 100 == 2 &&
            strcmp(jstr(j, "status"), "ACTIVE") == 0)
            snprintf(token, sizeof token, "%s", jstr(j, "token"));
        json_decref(j);
        if (token[0]) {
            j = NULL;
            json_t *dates = NULL;
            if (sync_req(o, "GET", "/concert/available-dates", NULL, token, NULL, &dates) == 200) {
                json_t *arr = json_object_get(dates, "data");
                for (size_t d = 0; d < json_array_size(arr); d++) {
                    char path[128];
                    snprintf(path, sizeof path, "/concert/available-seats?concertScheduleId=%s",
                             json_string_value(json_object_get(json_array_get(arr, d), "scheduleId")));
                    json_t *s = NULL;
                    if (sync_req(o, "GET", path, NULL, token, NULL, &s) == 200) {
                        json_t *seats = json_object_get(s, "data");
                        for (size_t k = 0; k < json_array_size(seats); k++) {
                            const char *sid = json_string_value(json_object_get(json_array_get(seats, k), "seatId"));
                            for (int i = 0; i < SC.n; i++)
                                if ((SC.users[i].state == U_PAID || SC.users[i].state == U_HELD) &&
                                    strcmp(SC.users[i].seat_id, sid) == 0)
                                    still_free++;
                        }
                    }
                    json_decref(s);
                }
            }
            json_decref(dates);
            json_object_set_new(c, "seats_won_but_listed_free", json_integer(still_free));
            if (still_free)
                *ok = false;
        } else {
            json_object_set_new(c, "seats_won_but_listed_free", json_string("not checked: no ACTIVE token"));
        }
    }
    return c;
}

/* ---------- main ---------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: ticketd load --scenario seats|issue|race|flow --url URL [--url URL…] [options]\n"
            "  --users N          simulated users (default 1000; at most 200000)\n"
            "  --connections C    requests in flight at most (default 256; at most 4096)\n"
            "  --requests N       seats: requests to send (default 100000)\n"
            "  --seats S          race: seats contested on one date (default 50)\n"
            "  --schedules D      flow: dates to buy on (default 4)\n"
            "  --seconds T        overall deadline (default 60; at most 600)\n"
            "  --timeout-ms MS    per request (default 5000)\n"
            "  --retries R        on timeout or 503, same Idempotency-Key (default 5; at most 20)\n"
            "  --charge WON       flow: each user's wallet charge (default 1000000)\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

int load_main(int argc, char **argv)
{
    struct opts o = {.scenario = "race", .users = 1000, .connections = 256, .requests = 100000, .seats = 50,
                     .schedules = 4, .seconds = 60, .timeout_ms = 5000, .retries = 5, .backoff_base_ms = 20,
                     .backoff_cap_ms = 1000, .charge_won = 1000000};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        int charge = 0;
        if (strcmp(a, "--scenario") == 0 && v)
            o.scenario = v;
        else if (strcmp(a, "--url") == 0 && v && o.nurls < URLS_MAX)
            o.urls[o.nurls++] = argv[i + 1];
        else if (strcmp(a, "--users") == 0 && v)
            ok = parse_int(v, 1, 200000, &o.users);
        else if (strcmp(a, "--connections") == 0 && v)
            ok = parse_int(v, 1, 4096, &o.connections);
        else if (strcmp(a, "--requests") == 0 && v)
            ok = parse_int(v, 1, 10000000, &o.requests);
        else if (strcmp(a, "--seats") == 0 && v)
            ok = parse_int(v, 1, 50, &o.seats);
        else if (strcmp(a, "--schedules") == 0 && v)
            ok = parse_int(v, 1, 6, &o.schedules);
        else if (strcmp(a, "--seconds") == 0 && v)
            ok = parse_int(v, 1, 600, &o.seconds);
        else if (strcmp(a, "--timeout-ms") == 0 && v)
            ok = parse_int(v, 10, 60000, &o.timeout_ms);
        else if (strcmp(a, "--retries") == 0 && v)
            ok = parse_int(v, 0, 20, &o.retries);
        else if (strcmp(a, "--charge") == 0 && v)
            ok = parse_int(v, 1, 1000000000, &charge), o.charge_won = charge;
        else
            ok = false;
        if (!ok) {
            usage();
            return 2;
        }
        i++;
    }
    bool known = false;
    const char *SCEN[] = {"seats", "issue", "race", "flow"};
    for (int i = 0; i < 4; i++)
        known = known || strcmp(o.scenario, SCEN[i]) == 0;
    if (!o.nurls || !known) {
        usage();
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct engine e = {.multi = curl_multi_init(), .o = &o};
    curl_multi_setopt(e.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o.connections);
    /* keep every connection alive between requests: the default cache is smaller than the pool */
    curl_multi_setopt(e.multi, CURLMOPT_MAXCONNECTS, (long)o.connections + 8);
    int64_t t0 = clock_mono_ns();
    e.deadline_ns = t0 + (int64_t)o.seconds * 1000000000LL;
    bool correct = true;
    json_t *check = NULL;
    double setup_s = 0, wall_s = 0;

    if (strcmp(o.scenario, "seats") == 0) {
        if (pick_seats(&o, 1, 1) < 0)
            return 2;
        /* one browsing token, many requests */
        json_t *j = NULL;
        char key[64], token[40];
        sync_req(&o, "POST", "/users", NULL, NULL, "{\"name\":\"load-reader\"}", &j);
        snprintf(key, sizeof key, "%s", jstr(j, "apiKey"));
        json_decref(j);
        sync_req(&o, "POST", "/queue/issue", key, NULL, NULL, &j);
        snprintf(token, sizeof token, "%s", jstr(j, "token"));
        json_decref(j);
        j = NULL;
        sync_req(&o, "GET", "/concert/available-dates", NULL, token, NULL, &j);
        const char *sid = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "scheduleId"));
        char path[128];
        snprintf(path, sizeof path, "/concert/available-seats?concertScheduleId=%s", sid ? sid : "1");
        json_decref(j);
        static struct user reader;
        reader.e = &e;
        setup_s = (double)(clock_mono_ns() - t0) / 1e9;
        int64_t t1 = clock_mono_ns();
        for (int i = 0; i < o.requests; i++) {
            struct call *c = call_new(&reader, "GET", path, (call_done)call_free);
            snprintf(c->token_hdr, sizeof c->token_hdr, "%s", token);
            enqueue(&e, c);
        }
        run(&e);
        wall_s = (double)(clock_mono_ns() - t1) / 1e9;
        check = json_object();
        json_object_set_new(check, "non_200", json_integer((json_int_t)(e.st.requests - e.st.status[200])));
        correct = e.st.status[200] == (uint64_t)o.requests;
    } else {
        if ((strcmp(o.scenario, "race") == 0 && pick_seats(&o, 1, o.seats) < 0) ||
            (strcmp(o.scenario, "flow") == 0 && pick_seats(&o, o.schedules, 50) < 0))
            return 2;
        /* setup: users created (and, for race, queued to ACTIVE) before the measured part */
        if (setup_users(&e, o.users, true) < 0)
            return 2;
        bool race = strcmp(o.scenario, "race") == 0;
        if (race) {
            /* create users, get tokens, stop before holding: run the state machine to U_ACTIVE */
            o.scenario = "issue";
            run(&e);
            o.scenario = "race";
            for (int i = 0; i < SC.n; i++)
                if (SC.users[i].state == U_DONE)
                    SC.users[i].state = U_ACTIVE;
        } else {
            /* issue/flow: creating users is setup; the scenario starts at the first charge/issue */
            struct opts only_create = o;
            only_create.scenario = "create";
            e.o = &only_create;
            run(&e);
            e.o = &o;
        }
        setup_s = (double)(clock_mono_ns() - t0) / 1e9;
        memset(&e.st.status, 0, sizeof e.st.status);
        e.st.requests = e.st.retries = e.st.transport_errors = 0;
        e.st.nlat = 0;
        int64_t t1 = clock_mono_ns();
        e.deadline_ns = t1 + (int64_t)o.seconds * 1000000000LL;
        for (int i = 0; i < SC.n; i++) {
            struct user *u = &SC.users[i];
            if (race && u->state == U_ACTIVE)
                try_hold(u);
            else if (!race && u->key[0] && u->state == U_NEW)
                step(u);
        }
        run(&e);
        wall_s = (double)(clock_mono_ns() - t1) / 1e9;
        check = check_state(&o, &correct);
        if (strcmp(o.scenario, "issue") == 0) {
            int active = 0;
            for (int i = 0; i < SC.n; i++)
                active += SC.users[i].state == U_DONE;
            json_object_set_new(check, "tokens_active", json_integer(active));
        }
    }
    uint64_t five = 0;
    for (int s = 500; s < STATUS_SLOTS; s++)
        five += e.st.status[s];
    if (five || e.out_of_time)
        correct = false;
    if (e.out_of_time)
        json_object_set_new(check, "deadline_hit", json_true());
    print_report(&o, argc, argv, wall_s, setup_s, &e.st, check, correct);
    curl_multi_cleanup(e.multi);
    free(e.st.lat_ms);
    curl_global_cleanup();
    return correct ? 0 : 1;
}
