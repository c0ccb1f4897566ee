/* seat_race.c — N users race for ONE seat through POST /reservation.
 *
 *   seat_race --url http://127.0.0.1:P --users N [--connections C] [--cold] [--timeout S]
 *
 * Setup (untimed): create N users (POST /users), issue each a queue token (POST /queue/issue; start the
 * server with --max-active >= N so every token is ACTIVE at once), read the first available date and pick
 * its first available seat. Setup requests run in parallel through the same libcurl multi handle as the
 * race, so up to C keep-alive connections are already open when the race starts (a real crowd has been
 * browsing before the sale opens). With --cold every race request opens a fresh connection instead, so
 * the timing includes TCP connects.
 *
 * Timed part: all N users POST /reservation {"seatId"} for that seat at once, at most C in flight
 * (default min(N, 1000)). wall_seconds runs from just before the first request is handed to libcurl to
 * the moment the last response is read; each request's latency runs from when it was handed to libcurl
 * (all at t0 when C >= N) to when its response was read.
 *
 * Then the end state is checked through the API: the seat is no longer in available-seats and the date's
 * availableSeats dropped by exactly one. One JSON object goes to stdout (progress to stderr).
 * Exit status: 0 correct; 1 not exactly one 201, any 5xx, any transport error or a wrong end state;
 * 2 usage or setup failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_USERS 100000
#define DEFAULT_CONN_CAP 1000
#define SETUP_DEADLINE_S 300.0

struct req {
    char *url;
    char *body;                 /* NULL: GET */
    struct curl_slist *headers; /* owned */
    long status;                /* 0: transport error */
    CURLcode cc;
    char *resp;
    size_t len, cap;
    double start, end; /* seconds, monotonic */
    long new_conns;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("seat_race: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        die(2, "out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p)
        die(2, "out of memory");
    memcpy(p, s, n);
    return p;
}

static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die(2, "vsnprintf failed");
    char *p = malloc((size_t)n + 1);
    if (!p)
        die(2, "out of memory");
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct req *r = userp;
    size_t n = size * nmemb;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->resp, cap);
        if (!p)
            return 0; /* makes libcurl fail the transfer */
        r->resp = p;
        r->cap = cap;
    }
    memcpy(r->resp + r->len, data, n);
    r->len += n;
    r->resp[r->len] = '\0';
    return n;
}

static void req_init(struct req *r, const char *base, const char *path, const char *body)
{
    memset(r, 0, sizeof *r);
    r->url = xprintf("%s%s", base, path);
    r->body = body ? xstrdup(body) : NULL;
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
}

static void req_header(struct req *r, const char *fmt, const char *value)
{
    char *h = xprintf(fmt, value);
    r->headers = curl_slist_append(r->headers, h);
    free(h);
}

static void req_free(struct req *r)
{
    free(r->url);
    free(r->body);
    free(r->resp);
    curl_slist_free_all(r->headers);
    memset(r, 0, sizeof *r);
}

/* Runs reqs[0..n) through multi handle m with at most par transfers in flight. Each request gets its own
 * easy handle (connections stay in m's cache and are reused across handles). Every transfer is bounded by
 * timeout_s, so the loop ends. Returns the wall time from the first hand-off to the last response. */
static double run_all(CURLM *m, struct req *reqs, size_t n, size_t par, bool fresh, long timeout_s)
{
    size_t next = 0, inflight = 0, done = 0;
    double first = 0, last = 0;
    CURL **easies = xcalloc(n, sizeof *easies);

    while (done < n) {
        double t = 0;
        while (inflight < par && next < n) {
            struct req *r = &reqs[next];
            CURL *e = curl_easy_init();
            if (!e)
                die(2, "curl_easy_init failed");
            curl_easy_setopt(e, CURLOPT_URL, r->url);
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
            if (r->body)
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
            curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
            curl_easy_setopt(e, CURLOPT_PRIVATE, r);
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
            curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
            curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
            if (fresh) {
                curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
            }
            if (t == 0)
                t = now_s();
            r->start = t;
            if (next == 0)
                first = t;
            easies[next] = e;
            CURLMcode mc = curl_multi_add_handle(m, e);
            if (mc != CURLM_OK)
                die(2, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
            next++;
            inflight++;
        }

        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK)
            die(2, "curl_multi_perform: %s", curl_multi_strerror(mc));

        CURLMsg *msg;
        int left;
        bool progressed = false;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            double te = now_s();
            CURL *e = msg->easy_handle;
            struct req *r = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
            r->cc = msg->data.result;
            r->end = te;
            if (r->cc == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
            else
                r->status = 0;
            curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &r->new_conns);
            curl_multi_remove_handle(m, e);
            curl_easy_cleanup(e);
            easies[r - reqs] = NULL;
            inflight--;
            done++;
            last = te;
            progressed = true;
        }
        if (done < n && !progressed && !(inflight < par && next < n)) {
            mc = curl_multi_poll(m, NULL, 0, 100, NULL);
            if (mc != CURLM_OK)
                die(2, "curl_multi_poll: %s", curl_multi_strerror(mc));
        }
    }
    free(easies);
    return last - first;
}

/* Parses a {"success":true,"data":…} envelope; returns a new reference to data or NULL. */
static json_t *envelope_data(const struct req *r)
{
    if (!r->resp)
        return NULL;
    json_error_t err;
    json_t *root = json_loadb(r->resp, r->len, 0, &err);
    if (!root)
        return NULL;
    json_t *data = json_object_get(root, "data");
    json_t *ok = json_object_get(root, "success");
    if (!data || !json_is_true(ok)) {
        json_decref(root);
        return NULL;
    }
    json_incref(data);
    json_decref(root);
    return data;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void setup_fail(const char *what, const struct req *r)
{
    die(2, "setup: %s failed: HTTP %ld, curl %s, body %.300s", what, r->status, curl_easy_strerror(r->cc),
        r->resp ? r->resp : "");
}

static void usage(void)
{
    fprintf(stderr, "usage: seat_race --url http://127.0.0.1:PORT --users N [--connections C] [--cold] "
                    "[--timeout SECONDS]\n");
    exit(2);
}

static long parse_long(const char *s, long lo, long hi, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die(2, "%s must be an integer in %ld..%ld", name, lo, hi);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static double round3(double x)
{
    return (double)(long long)(x * 1000.0 + 0.5) / 1000.0;
}

static double round6(double x)
{
    return (double)(long long)(x * 1e6 + 0.5) / 1e6;
}

/* availableSeats of schedule sched in an available-dates list; 0 if the date is no longer listed. */
static long long avail_of(json_t *dates, const char *sched)
{
    size_t i;
    json_t *d;
    json_array_foreach(dates, i, d)
    {
        const char *s = jstr(d, "scheduleId");
        if (s && strcmp(s, sched) == 0)
            return json_integer_value(json_object_get(d, "availableSeats"));
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long users = 0, conns = 0, timeout_s = 60;
    bool cold = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--cold") == 0) {
            cold = true;
        } else if (i + 1 < argc && strcmp(a, "--url") == 0) {
            url = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--users") == 0) {
            users = parse_long(argv[++i], 1, MAX_USERS, "--users");
        } else if (i + 1 < argc && strcmp(a, "--connections") == 0) {
            conns = parse_long(argv[++i], 1, MAX_USERS, "--connections");
        } else if (i + 1 < argc && strcmp(a, "--timeout") == 0) {
            timeout_s = parse_long(argv[++i], 1, 3600, "--timeout");
        } else {
            usage();
        }
    }
    if (!url || users == 0)
        usage();
    if (conns == 0)
        conns = users < DEFAULT_CONN_CAP ? users : DEFAULT_CONN_CAP;
    if (conns > users)
        conns = users;

    /* The command line, exactly as given, for the report. */
    size_t cmdlen = 1;
    for (int i = 0; i < argc; i++)
        cmdlen += strlen(argv[i]) + 1;
    char *cmdline = xcalloc(cmdlen, 1);
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(cmdline, " ");
        strcat(cmdline, argv[i]);
    }

    /* Trim a trailing slash so paths join cleanly. */
    char *base = xstrdup(url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die(2, "curl_global_init failed");
    CURLM *m = curl_multi_init();
    if (!m)
        die(2, "curl_multi_init failed");
    /* Keep every connection the setup opens, so the race can reuse them. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns + 8);

    size_t n = (size_t)users, par = (size_t)conns;
    struct req *reqs = xcalloc(n, sizeof *reqs);
    char **keys = xcalloc(n, sizeof *keys);
    char **tokens = xcalloc(n, sizeof *tokens);
    char **uids = xcalloc(n, sizeof *uids);
    double setup_t0 = now_s();

    /* 1. users */
    long pid = (long)getpid();
    for (size_t i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"name\":\"race-%ld-%zu\"}", pid, i);
        req_init(&reqs[i], base, "/users", body);
    }
    run_all(m, reqs, n, par, false, timeout_s);
    for (size_t i = 0; i < n; i++) {
        json_t *d = envelope_data(&reqs[i]);
        if (reqs[i].status != 201 || !d || !jstr(d, "apiKey") || !jstr(d, "userId"))
            setup_fail("POST /users", &reqs[i]);
        keys[i] = xstrdup(jstr(d, "apiKey"));
        uids[i] = xstrdup(jstr(d, "userId"));
        json_decref(d);
        req_free(&reqs[i]);
    }
    if (now_s() - setup_t0 > SETUP_DEADLINE_S)
        die(2, "setup: took longer than %.0f s", SETUP_DEADLINE_S);

    /* 2. queue tokens: all must be ACTIVE */
    for (size_t i = 0; i < n; i++) {
        req_init(&reqs[i], base, "/queue/issue", "{}");
        req_header(&reqs[i], "Authorization: Bearer %s", keys[i]);
    }
    run_all(m, reqs, n, par, false, timeout_s);
    for (size_t i = 0; i < n; i++) {
        json_t *d = envelope_data(&reqs[i]);
        if ((reqs[i].status != 201 && reqs[i].status != 200) || !d || !jstr(d, "token"))
            setup_fail("POST /queue/issue", &reqs[i]);
        const char *st = jstr(d, "status");
        if (!st || strcmp(st, "ACTIVE") != 0)
            die(2, "setup: token of user %zu is %s, not ACTIVE (start the server with --max-active >= %ld)", i,
                st ? st : "?", users);
        tokens[i] = xstrdup(jstr(d, "token"));
        json_decref(d);
        req_free(&reqs[i]);
    }

    /* 3. first available date, its first available seat */
    struct req q;
    req_init(&q, base, "/concert/available-dates", NULL);
    req_header(&q, "queue-token: %s", tokens[0]);
    run_all(m, &q, 1, 1, false, timeout_s);
    json_t *dates = envelope_data(&q);
    if (q.status != 200 || !json_is_array(dates) || json_array_size(dates) == 0)
        setup_fail("GET /concert/available-dates (or no date has a free seat)", &q);
    char *sched = xstrdup(jstr(json_array_get(dates, 0), "scheduleId") ? jstr(json_array_get(dates, 0), "scheduleId")
                                                                           : "");
    long long avail_before = avail_of(dates, sched);
    json_decref(dates);
    req_free(&q);

    char *seats_path = xprintf("/concert/available-seats?concertScheduleId=%s", sched);
    req_init(&q, base, seats_path, NULL);
    req_header(&q, "queue-token: %s", tokens[0]);
    run_all(m, &q, 1, 1, false, timeout_s);
    json_t *seats = envelope_data(&q);
    if (q.status != 200 || !json_is_array(seats) || json_array_size(seats) == 0 ||
        !jstr(json_array_get(seats, 0), "seatId"))
        setup_fail("GET /concert/available-seats", &q);
    char *seat = xstrdup(jstr(json_array_get(seats, 0), "seatId"));
    json_decref(seats);
    req_free(&q);
    double setup_s = now_s() - setup_t0;
    fprintf(stderr, "seat_race: setup %.2f s: %zu users with ACTIVE tokens; racing for seat %s of schedule %s\n",
            setup_s, n, seat, sched);

    /* 4. the race */
    char *rbody = xprintf("{\"seatId\":\"%s\"}", seat);
    for (size_t i = 0; i < n; i++) {
        req_init(&reqs[i], base, "/reservation", rbody);
        req_header(&reqs[i], "queue-token: %s", tokens[i]);
    }
    double wall = run_all(m, reqs, n, par, cold, timeout_s);

    /* 5. tally */
    long counts[600] = {0};
    long transport_errors = 0, five_xx = 0, new_conns = 0;
    double *lat = xcalloc(n, sizeof *lat);
    json_t *winners = json_array();
    for (size_t i = 0; i < n; i++) {
        struct req *r = &reqs[i];
        lat[i] = (r->end - r->start) * 1000.0;
        new_conns += r->new_conns;
        if (r->status == 0) {
            transport_errors++;
            continue;
        }
        if (r->status >= 100 && r->status < 600)
            counts[r->status]++;
        if (r->status >= 500)
            five_xx++;
        if (r->status == 201) {
            json_t *d = envelope_data(r);
            json_t *w = json_pack("{s:s, s:s?}", "userId", uids[i], "reservationId", d ? jstr(d, "reservationId") : NULL);
            json_array_append_new(winners, w);
            json_decref(d);
        }
    }
    qsort(lat, n, sizeof *lat, cmp_double);

    /* 6. end state through the API */
    req_init(&q, base, seats_path, NULL);
    req_header(&q, "queue-token: %s", tokens[0]);
    run_all(m, &q, 1, 1, false, timeout_s);
    seats = envelope_data(&q);
    bool seat_gone = false;
    if (q.status == 200 && json_is_array(seats)) {
        seat_gone = true;
        size_t i;
        json_t *s;
        json_array_foreach(seats, i, s)
        {
            const char *id = jstr(s, "seatId");
            if (id && strcmp(id, seat) == 0)
                seat_gone = false;
        }
    } else {
        fprintf(stderr, "seat_race: end-state check: available-seats answered HTTP %ld\n", q.status);
    }
    json_decref(seats);
    req_free(&q);

    req_init(&q, base, "/concert/available-dates", NULL);
    req_header(&q, "queue-token: %s", tokens[0]);
    run_all(m, &q, 1, 1, false, timeout_s);
    dates = envelope_data(&q);
    long long avail_after = -1;
    if (q.status == 200 && json_is_array(dates))
        avail_after = avail_of(dates, sched);
    else
        fprintf(stderr, "seat_race: end-state check: available-dates answered HTTP %ld\n", q.status);
    json_decref(dates);
    req_free(&q);

    long n201 = counts[201];
    bool correct = n201 == 1 && five_xx == 0 && transport_errors == 0 && seat_gone && avail_after == avail_before - 1;

    json_t *sc = json_object();
    for (int s = 100; s < 600; s++) {
        if (counts[s]) {
            char k[8];
            snprintf(k, sizeof k, "%d", s);
            json_object_set_new(sc, k, json_integer(counts[s]));
        }
    }
    if (transport_errors)
        json_object_set_new(sc, "transport_error", json_integer(transport_errors));

    json_t *out = json_pack(
        "{s:s, s:I, s:I, s:b, s:s, s:s, s:f, s:f, s:o, s:f, s:f, s:f, s:f, s:I, s:I, s:o, s:b, s:I, s:I, s:b}",
        "command", cmdline, "users", (json_int_t)users, "connections", (json_int_t)conns, "cold", cold,
        "scheduleId", sched, "seatId", seat, "setup_seconds", round3(setup_s), "wall_seconds", round6(wall),
        "status_counts", sc, "p50_ms", round3(pct(lat, n, 50)), "p95_ms", round3(pct(lat, n, 95)), "p99_ms",
        round3(pct(lat, n, 99)), "max_ms", round3(n ? lat[n - 1] : 0), "new_connections_during_race",
        (json_int_t)new_conns, "winners", (json_int_t)json_array_size(winners), "winner_details", winners,
        "seat_gone_from_available_seats", seat_gone, "available_seats_before", (json_int_t)avail_before,
        "available_seats_after", (json_int_t)avail_after, "correct", correct);
    if (!out)
        die(2, "json_pack failed");
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(out);

    for (size_t i = 0; i < n; i++) {
        req_free(&reqs[i]);
        free(keys[i]);
        free(tokens[i]);
        free(uids[i]);
    }
    free(reqs);
    free(keys);
    free(tokens);
    free(uids);
    free(lat);
    free(rbody);
    free(seats_path);
    free(seat);
    free(sched);
    free(base);
    free(cmdline);
    curl_multi_cleanup(m);
    curl_global_cleanup();

    if (n201 != 1 || five_xx > 0 || transport_errors > 0)
        return 1;
    return correct ? 0 : 1;
}
