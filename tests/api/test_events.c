/* test_events.c — GET /queue/events (Server-Sent Events) over HTTP, and that open streams hold no thread:
 *   - a waiter's stream shows WAITING with its position at once, then ACTIVE, then ends by itself;
 *   - ?token= and the queue-token header both work; an unknown or missing token is the 401 JSON envelope;
 *   - --max-streams is a per-instance limit: the next stream is 429 RATE_LIMITED;
 *   - an open stream counts as polling: an idle waiter with a stream keeps its place, one without loses it;
 *   - 400 streams open on one instance with 2 workers: every stream gets its first event, the server's thread
 *     count does not grow, and /health and a charge still answer at once.
 * Run three ways like every API program (embedded, PostgreSQL + Redis with 1 and 3 instances); streams go to the
 * first instance so per-instance limits are exact. */
#include "harness.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

void user_new(struct srv *s, struct user *u);
void users_new_many(struct srv *s, struct user *u, int n);
void token_issue(struct srv *s, struct user *u, const char *want_status, long want_http);
long token_state(struct srv *s, const char *token, char status[16]);
int64_t charge(struct srv *s, const struct user *u, int64_t amount);

struct stream {
    char url[512];
    char hdr[160];
    char *body;
    size_t len, cap;
    long status;
    bool done;     /* the server ended the response */
    int64_t first_byte_ms, ended_ms;
    CURL *easy;
    struct curl_slist *headers;
};

static size_t on_bytes(char *p, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    size_t k = size * n;
    if (st->len + k + 1 > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4096;
        while (cap < st->len + k + 1)
            cap *= 2;
        st->body = realloc(st->body, cap);
        ensure(st->body != NULL, "out of memory");
        st->cap = cap;
    }
    if (!st->first_byte_ms && k)
        st->first_byte_ms = now_ms();
    memcpy(st->body + st->len, p, k);
    st->len += k;
    st->body[st->len] = 0;
    return k;
}

/* Runs the streams until each ends or stop_after_ms passes (then they are closed by the client). */
static void run_streams(struct stream *st, int n, int stop_after_ms)
{
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (int i = 0; i < n; i++) {
        st[i].easy = curl_easy_init();
        curl_easy_setopt(st[i].easy, CURLOPT_URL, st[i].url);
        curl_easy_setopt(st[i].easy, CURLOPT_WRITEFUNCTION, on_bytes);
        curl_easy_setopt(st[i].easy, CURLOPT_WRITEDATA, &st[i]);
        curl_easy_setopt(st[i].easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(st[i].easy, CURLOPT_FORBID_REUSE, 1L);
        if (st[i].hdr[0]) {
            st[i].headers = curl_slist_append(NULL, st[i].hdr);
            curl_easy_setopt(st[i].easy, CURLOPT_HTTPHEADER, st[i].headers);
        }
        curl_multi_add_handle(m, st[i].easy);
    }
    int64_t until = now_ms() + stop_after_ms;
    int running = 1;
    while (running && now_ms() < until) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (int i = 0; i < n; i++)
                if (st[i].easy == msg->easy_handle && msg->data.result == CURLE_OK) {
                    st[i].done = true;
                    st[i].ended_ms = now_ms();
                }
        }
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    for (int i = 0; i < n; i++) {
        curl_easy_getinfo(st[i].easy, CURLINFO_RESPONSE_CODE, &st[i].status);
        curl_multi_remove_handle(m, st[i].easy);
        curl_easy_cleanup(st[i].easy);
        curl_slist_free_all(st[i].headers);
    }
    curl_multi_cleanup(m);
}

static void stream_for(struct stream *st, const struct srv *s, const char *token, bool by_header)
{
    memset(st, 0, sizeof *st);
    if (by_header) {
        snprintf(st->url, sizeof st->url, "%s/queue/events", s->base_urls[0]);
        snprintf(st->hdr, sizeof st->hdr, "queue-token: %s", token);
    } else {
        snprintf(st->url, sizeof st->url, "%s/queue/events?token=%s", s->base_urls[0], token);
    }
}

/* The status objects the stream carried, in order ("event: status" + "data: {envelope}"). */
static int events_of(const struct stream *st, json_t **out, int max)
{
    int n = 0;
    const char *p = st->body ? st->body : "";
    while ((p = strstr(p, "event: status\ndata: ")) && n < max) {
        p += strlen("event: status\ndata: ");
        const char *end = strstr(p, "\n\n");
        ensure(end != NULL, "an event without its blank line: %s", st->body);
        json_error_t e;
        json_t *env = json_loadb(p, (size_t)(end - p), 0, &e);
        ensure(env && json_is_true(json_object_get(env, "success")), "event data is not the envelope: %.*s",
               (int)(end - p), p);
        out[n++] = env;
        p = end;
    }
    return n;
}

static const char *ev_status(json_t *env) { return jstr(json_object_get(env, "data"), "status"); }

static void test_waiting_then_active(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--max-active", "1", "--token-seconds", "2", "--rate-limit", "0"));
    struct user a, b;
    user_new(s, &a);
    user_new(s, &b);
    token_issue(s, &a, "ACTIVE", 201);
    token_issue(s, &b, "WAITING", 201);
    struct stream st[2];
    stream_for(&st[0], s, b.token, false);
    run_streams(st, 1, 8000);
    ensure(st[0].status == 200, "GET /queue/events: HTTP %ld", st[0].status);
    ensure(st[0].done, "the stream did not end by itself after ACTIVE: %s", st[0].body ? st[0].body : "");
    json_t *ev[16];
    int n = events_of(&st[0], ev, 16);
    ensure(n >= 2, "%d events: %s", n, st[0].body);
    ensure(strcmp(ev_status(ev[0]), "WAITING") == 0 && jint(json_object_get(ev[0], "data"), "position") == 1,
           "first event: %s", st[0].body);
    ensure(strcmp(ev_status(ev[n - 1]), "ACTIVE") == 0, "last event is not ACTIVE: %s", st[0].body);
    ensure(strcmp(jstr(json_object_get(ev[n - 1], "data"), "token"), b.token) == 0, "another token's events");
    for (int i = 0; i < n; i++)
        json_decref(ev[i]);
    free(st[0].body);

    /* the header works too; an ACTIVE token's stream is one event and the end */
    stream_for(&st[1], s, b.token, true);
    run_streams(&st[1], 1, 5000);
    n = events_of(&st[1], ev, 16);
    ensure(st[1].status == 200 && st[1].done && n == 1 && strcmp(ev_status(ev[0]), "ACTIVE") == 0,
           "an ACTIVE token's stream: HTTP %ld, %d events: %s", st[1].status, n, st[1].body);
    json_decref(ev[0]);
    free(st[1].body);
    srv_stop(s);
}

static void test_unknown_token(void **state)
{
    (void)state;
    struct srv *s = srv_start(NO_ARGS);
    struct resp r = http(s, "GET", "/queue/events?token=0123456789abcdef0123456789abcdef", NULL, NULL);
    assert_err(r, 401, "UNAUTHORIZED");
    resp_free(&r);
    r = http(s, "GET", "/queue/events", NULL, NULL);
    assert_err(r, 401, "UNAUTHORIZED");
    resp_free(&r);
    r = http(s, "GET", "/queue/events?token=%00zz", NULL, NULL);
    assert_err(r, 401, "UNAUTHORIZED");
    resp_free(&r);
    srv_stop(s);
}

static void test_max_streams(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--max-active", "1", "--max-streams", "2", "--rate-limit", "0"));
    struct user u[4];
    for (int i = 0; i < 4; i++)
        user_new(s, &u[i]);
    token_issue(s, &u[0], "ACTIVE", 201);
    for (int i = 1; i < 4; i++)
        token_issue(s, &u[i], "WAITING", 201);
    /* three at once on one instance: two are served, the third is refused (a stream a client closes is noticed at
     * its next event or keep-alive, so the first try is the exact one) */
    struct stream more[3];
    for (int i = 0; i < 3; i++)
        stream_for(&more[i], s, u[i + 1].token, false);
    run_streams(more, 3, 1500);
    int n429 = 0, n200 = 0;
    for (int i = 0; i < 3; i++) {
        n429 += more[i].status == 429;
        n200 += more[i].status == 200;
        ensure(more[i].status == 200 || more[i].status == 429, "stream %d: HTTP %ld", i, more[i].status);
        if (more[i].status == 429)
            ensure(more[i].body && strstr(more[i].body, "\"RATE_LIMITED\""), "429 body: %s", more[i].body);
        if (more[i].status == 200)
            ensure(more[i].body && strstr(more[i].body, "event: status"), "200 without an event: %s", more[i].body);
        free(more[i].body);
    }
    bool refused = n200 == 2 && n429 == 1;
    ensure(refused, "three streams at once with --max-streams 2: %d × 200, %d × 429", n200, n429);
    srv_stop(s);
}

static void test_stream_counts_as_polling(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--max-active", "1", "--idle-seconds", "1", "--token-seconds", "600",
                                   "--rate-limit", "0"));
    struct user a, b, c;
    user_new(s, &a);
    user_new(s, &b);
    user_new(s, &c);
    token_issue(s, &a, "ACTIVE", 201);
    token_issue(s, &b, "WAITING", 201);
    token_issue(s, &c, "WAITING", 201);
    struct stream st;
    stream_for(&st, s, b.token, false);
    run_streams(&st, 1, 3500); /* b only listens; c does nothing at all */
    ensure(st.status == 200, "HTTP %ld", st.status);
    char status[16];
    long pos = token_state(s, b.token, status);
    ensure(strcmp(status, "WAITING") == 0 && pos == 1, "b, listening, should still wait first: %s %ld", status, pos);
    struct resp r = http(s, "GET", "/queue/status", TOKEN(c.token), NULL);
    ensure(r.status == 401 || (r.status == 200 && strcmp(jstr(json_object_get(r.json, "data"), "status"), "EXPIRED") == 0),
           "c, silent for 3.5 s with --idle-seconds 1, should have lost its place: %s", r.raw);
    resp_free(&r);
    free(st.body);
    srv_stop(s);
}

static int threads_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ensure(f != NULL, "cannot read %s", path);
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

#define MANY 400
static void test_streams_hold_no_thread(void **state)
{
    (void)state;
    struct srv *s = srv_start(ARGS("--max-active", "1", "--token-seconds", "600", "--workers", "2",
                                   "--rate-limit", "0"));
    struct user *u = calloc(MANY + 1, sizeof *u);
    struct stream *st = calloc(MANY, sizeof *st);
    ensure(u && st, "out of memory");
    users_new_many(s, u, MANY + 1);
    token_issue(s, &u[0], "ACTIVE", 201);
    for (int i = 1; i <= MANY; i++)
        token_issue(s, &u[i], "WAITING", 201);
    int before = s->pid ? threads_of(s->pid) : -1;
    for (int i = 0; i < MANY; i++)
        stream_for(&st[i], s, u[i + 1].token, false);
    /* open them all for 4 s; meanwhile, from another thread of this process, nothing: the checks come after */
    run_streams(st, MANY, 4000);
    int first = 0;
    for (int i = 0; i < MANY; i++) {
        first += st[i].status == 200 && st[i].first_byte_ms && strstr(st[i].body, "\"WAITING\"") != NULL;
        free(st[i].body);
    }
    ensure(first == MANY, "%d of %d streams got their first event", first, MANY);
    /* the streams are closed now; open them again and check the server while they are open */
    for (int i = 0; i < MANY; i++)
        stream_for(&st[i], s, u[i + 1].token, false);
    pid_t child = fork();
    ensure(child >= 0, "fork");
    if (child == 0) { /* keeps the streams open while the parent probes the server */
        run_streams(st, MANY, 6000);
        _exit(0);
    }
    sleep_ms(2500);
    if (s->pid) {
        int during = threads_of(s->pid);
        ensure(during <= before, "the server had %d threads before the streams and %d with %d open", before, during,
               MANY);
    }
    int64_t t0 = now_ms();
    struct resp r = http(s, "GET", "/health", NULL, NULL);
    int64_t health_ms = now_ms() - t0;
    assert_ok(r, 200);
    resp_free(&r);
    t0 = now_ms();
    ensure(charge(s, &u[0], 100) == 100, "a charge with %d streams open", MANY);
    int64_t charge_ms = now_ms() - t0;
    ensure(health_ms < 250 && charge_ms < 1000, "with %d streams open: /health %lld ms, a charge %lld ms", MANY,
           (long long)health_ms, (long long)charge_ms);
    r = http(s, "GET", "/metrics", NULL, NULL);
    ensure(r.status == 200 && strstr(r.raw, "ticketd_streams_open"), "metrics: no ticketd_streams_open");
    resp_free(&r);
    int wstatus = 0;
    waitpid(child, &wstatus, 0);
    free(u);
    free(st);
    srv_stop(s);
}

int main(int argc, char **argv)
{
    harness_init(argc, argv);
    const struct CMUnitTest tests[] = {
        API_TEST(test_waiting_then_active), API_TEST(test_unknown_token), API_TEST(test_max_streams),
        API_TEST(test_stream_counts_as_polling), API_TEST(test_streams_hold_no_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
