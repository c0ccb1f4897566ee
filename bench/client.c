/* client.c — the benchmark drivers' HTTP client (see client.h). Limits: at most `par` transfers in flight, each
 * bounded by the caller's timeout; a response body grows as needed (the drivers read small JSON). */
#define _POSIX_C_SOURCE 200809L

#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(client_prog, stderr);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        die(2, "out of memory");
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p)
        die(2, "out of memory");
    memcpy(p, s, n);
    return p;
}

char *xprintf(const char *fmt, ...)
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

size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
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

void req_init(struct req *r, const char *base, const char *path, const char *body)
{
    memset(r, 0, sizeof *r);
    r->url = xprintf("%s%s", base, path);
    r->body = body ? xstrdup(body) : NULL;
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
}

void req_header(struct req *r, const char *fmt, const char *value)
{
    char *h = xprintf(fmt, value);
    r->headers = curl_slist_append(r->headers, h);
    free(h);
}

void req_free(struct req *r)
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
double run_all(CURLM *m, struct req *reqs, size_t n, size_t par, bool fresh, long timeout_s)
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
json_t *envelope_data(const struct req *r)
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

const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void setup_fail(const char *what, const struct req *r)
{
    die(2, "setup: %s failed: HTTP %ld, curl %s, body %.300s", what, r->status, curl_easy_strerror(r->cc),
        r->resp ? r->resp : "");
}


long parse_long(const char *s, long lo, long hi, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die(2, "%s must be an integer in %ld..%ld", name, lo, hi);
    return v;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
double pct(const double *v, size_t n, double p)
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

double round3(double x)
{
    return (double)(long long)(x * 1000.0 + 0.5) / 1000.0;
}

double round6(double x)
{
    return (double)(long long)(x * 1e6 + 0.5) / 1e6;
}

/* availableSeats of schedule sched in an available-dates list; 0 if the date is no longer listed. */

char *command_line(int argc, char **argv, const char *secret_flag)
{
    size_t cmdlen = 1;
    for (int i = 0; i < argc; i++)
        cmdlen += strlen(argv[i]) + 4;
    char *cmdline = xcalloc(cmdlen, 1);
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(cmdline, " ");
        bool secret = i > 0 && secret_flag && strcmp(argv[i - 1], secret_flag) == 0;
        strcat(cmdline, secret ? "…" : argv[i]);
    }
    return cmdline;
}

char *base_url(const char *url)
{
    char *base = xstrdup(url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    return base;
}

CURLM *multi_open(long conns)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die(2, "curl_global_init failed");
    CURLM *m = curl_multi_init();
    if (!m)
        die(2, "curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns + 8);
    return m;
}
