/* flash_sale.c — N buyers order one unit each of ONE shop option with stock S, all at once, through POST /orders.
 *
 *   flash_sale --url http://127.0.0.1:P --admin-key KEY --buyers N --stock S [--connections C] [--timeout S]
 *
 * Setup (untimed): the organizer creates a product with one option of S units (POST /admin/products), then N
 * users are created (POST /users) through the same libcurl multi handle as the sale, so up to C keep-alive
 * connections are already open when it starts (a crowd waiting for the sale to open).
 *
 * Timed part: all N buyers POST /orders {"items":[{"optionId","quantity":1}]} at once, at most C in flight
 * (default min(N, 1000)). wall_seconds ("time to settle") runs from just before the first request is handed to
 * libcurl to the moment the last response is read; each request's latency from when it was handed to libcurl.
 *
 * Then the end state is read through the API: the option's stock is S − orders. Correct: exactly min(S, N)
 * orders (201), the rest 409 OUT_OF_STOCK, no 5xx, no transport error, the stock left as it must be. One JSON
 * object goes to stdout (progress to stderr). Exit status: 0 correct; 1 not; 2 usage or setup failure.
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
    fputs("flash_sale: ", stderr);
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
    fprintf(stderr, "usage: flash_sale --url http://127.0.0.1:PORT --admin-key KEY --buyers N --stock S "
                    "[--connections C] [--timeout SECONDS]\n");
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


int main(int argc, char **argv)
{
    const char *url = NULL, *admin_key = NULL;
    long buyers = 0, stock = -1, conns = 0, timeout_s = 120;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && strcmp(a, "--url") == 0)
            url = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--admin-key") == 0)
            admin_key = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--buyers") == 0)
            buyers = parse_long(argv[++i], 1, MAX_USERS, "--buyers");
        else if (i + 1 < argc && strcmp(a, "--stock") == 0)
            stock = parse_long(argv[++i], 0, 1000000000, "--stock");
        else if (i + 1 < argc && strcmp(a, "--connections") == 0)
            conns = parse_long(argv[++i], 1, MAX_USERS, "--connections");
        else if (i + 1 < argc && strcmp(a, "--timeout") == 0)
            timeout_s = parse_long(argv[++i], 1, 3600, "--timeout");
        else
            usage();
    }
    if (!url || !admin_key || buyers == 0 || stock < 0)
        usage();
    if (conns == 0)
        conns = buyers < DEFAULT_CONN_CAP ? buyers : DEFAULT_CONN_CAP;
    if (conns > buyers)
        conns = buyers;
    size_t cmdlen = 1;
    for (int i = 0; i < argc; i++)
        cmdlen += strlen(argv[i]) + 1;
    char *cmdline = xcalloc(cmdlen, 1);
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(cmdline, " ");
        strcat(cmdline, strcmp(argv[i - (i > 0)], "--admin-key") == 0 && i > 0 ? "…" : argv[i]);
    }
    char *base = xstrdup(url);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die(2, "curl_global_init failed");
    CURLM *m = curl_multi_init();
    if (!m)
        die(2, "curl_multi_init failed");
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns + 8);
    size_t n = (size_t)buyers, par = (size_t)conns;
    double setup_t0 = now_s();

    /* 1. the product */
    struct req q;
    char *pbody = xprintf("{\"name\":\"Flash sale %ld\",\"options\":[{\"name\":\"Limited\",\"price\":1000,"
                          "\"stock\":%ld}]}", (long)getpid(), stock);
    req_init(&q, base, "/admin/products", pbody);
    req_header(&q, "Authorization: Bearer %s", admin_key);
    run_all(m, &q, 1, 1, false, timeout_s);
    json_t *d = envelope_data(&q);
    if (q.status != 201 || !d)
        setup_fail("POST /admin/products", &q);
    char *product = xstrdup(jstr(d, "productId"));
    char *option = xstrdup(jstr(json_array_get(json_object_get(d, "options"), 0), "optionId"));
    json_decref(d);
    req_free(&q);

    /* 2. the buyers */
    struct req *reqs = xcalloc(n, sizeof *reqs);
    char **keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"name\":\"buyer-%ld-%zu\"}", (long)getpid(), i);
        req_init(&reqs[i], base, "/users", body);
    }
    run_all(m, reqs, n, par, false, timeout_s);
    for (size_t i = 0; i < n; i++) {
        d = envelope_data(&reqs[i]);
        if (reqs[i].status != 201 || !d || !jstr(d, "apiKey"))
            setup_fail("POST /users (start the servers with --signup-rate 0)", &reqs[i]);
        keys[i] = xstrdup(jstr(d, "apiKey"));
        json_decref(d);
        req_free(&reqs[i]);
    }
    double setup_s = now_s() - setup_t0;
    fprintf(stderr, "flash_sale: setup %.2f s: %zu buyers, option %s with %ld units\n", setup_s, n, option, stock);

    /* 3. the sale */
    char *obody = xprintf("{\"items\":[{\"optionId\":\"%s\",\"quantity\":1}]}", option);
    for (size_t i = 0; i < n; i++) {
        req_init(&reqs[i], base, "/orders", obody);
        req_header(&reqs[i], "Authorization: Bearer %s", keys[i]);
    }
    double wall = run_all(m, reqs, n, par, false, timeout_s);

    /* 4. tally */
    long counts[600] = {0}, transport_errors = 0, five_xx = 0, not_oos = 0;
    double *lat = xcalloc(n, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        struct req *r = &reqs[i];
        lat[i] = (r->end - r->start) * 1000.0;
        if (r->status == 0) {
            transport_errors++;
            continue;
        }
        if (r->status >= 100 && r->status < 600)
            counts[r->status]++;
        if (r->status >= 500)
            five_xx++;
        if (r->status == 409 && (!r->resp || !strstr(r->resp, "\"OUT_OF_STOCK\"")))
            not_oos++;
    }
    qsort(lat, n, sizeof *lat, cmp_double);

    /* 5. the end state through the API */
    char *ppath = xprintf("/products/%s", product);
    req_init(&q, base, ppath, NULL);
    req_header(&q, "Authorization: Bearer %s", keys[0]);
    run_all(m, &q, 1, 1, false, timeout_s);
    d = envelope_data(&q);
    long long left = -1;
    if (q.status == 200 && d)
        left = json_integer_value(json_object_get(json_array_get(json_object_get(d, "options"), 0), "stock"));
    json_decref(d);
    req_free(&q);

    long want = stock < buyers ? stock : buyers;
    bool correct = counts[201] == want && counts[409] == buyers - want && not_oos == 0 && five_xx == 0 &&
                   transport_errors == 0 && left == stock - counts[201];
    json_t *sc = json_object();
    for (int s = 100; s < 600; s++)
        if (counts[s]) {
            char k[8];
            snprintf(k, sizeof k, "%d", s);
            json_object_set_new(sc, k, json_integer(counts[s]));
        }
    if (transport_errors)
        json_object_set_new(sc, "transport_error", json_integer(transport_errors));
    json_t *out = json_pack("{s:s, s:I, s:I, s:I, s:s, s:f, s:f, s:f, s:o, s:f, s:f, s:f, s:f, s:I, s:I, s:b}",
                            "command", cmdline, "buyers", (json_int_t)buyers, "stock", (json_int_t)stock,
                            "connections", (json_int_t)conns, "optionId", option, "setup_seconds", round3(setup_s),
                            "wall_seconds", round6(wall), "orders_per_sec", round3(wall > 0 ? (double)n / wall : 0),
                            "status_counts", sc, "p50_ms", round3(pct(lat, n, 50)), "p95_ms",
                            round3(pct(lat, n, 95)), "p99_ms", round3(pct(lat, n, 99)), "max_ms",
                            round3(n ? lat[n - 1] : 0), "orders", (json_int_t)counts[201], "stock_left",
                            (json_int_t)left, "correct", correct);
    if (!out)
        die(2, "json_pack failed");
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", text);
    free(text);
    json_decref(out);
    for (size_t i = 0; i < n; i++) {
        req_free(&reqs[i]);
        free(keys[i]);
    }
    free(reqs);
    free(keys);
    free(lat);
    free(obody);
    free(pbody);
    free(ppath);
    free(product);
    free(option);
    free(base);
    free(cmdline);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return correct ? 0 : 1;
}
