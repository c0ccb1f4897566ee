/* client.h — the benchmark drivers' HTTP client (bench/seat_race.c, bench/flash_sale.c): requests run through one
 * libcurl multi handle with a cap on transfers in flight, the response envelope, argument parsing and the
 * percentile helpers. Benchmark-only code, linked into those two tools. */
#ifndef TK_BENCH_CLIENT_H
#define TK_BENCH_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

extern const char *client_prog; /* the tool's name, for messages */

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

double now_s(void);
void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void *xcalloc(size_t n, size_t sz);
char *xstrdup(const char *s);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void req_init(struct req *r, const char *base, const char *path, const char *body);
void req_header(struct req *r, const char *fmt, const char *value);
void req_free(struct req *r);
/* Runs reqs[0..n) through multi handle m with at most par transfers in flight (fresh: a new connection each);
 * every transfer bounded by timeout_s. Returns the wall time from the first hand-off to the last response. */
double run_all(CURLM *m, struct req *reqs, size_t n, size_t par, bool fresh, long timeout_s);
/* Parses a {"success":true,"data":…} envelope; returns a new reference to data or NULL. */
json_t *envelope_data(const struct req *r);
const char *jstr(json_t *obj, const char *key);
void setup_fail(const char *what, const struct req *r) __attribute__((noreturn));
long parse_long(const char *s, long lo, long hi, const char *name);
int cmp_double(const void *a, const void *b);
double pct(const double *v, size_t n, double p); /* nearest-rank percentile of sorted v[0..n) */
double round3(double x);
/* The command line for the report, the value after `secret_flag` (NULL: none) shown as "…". */
char *command_line(int argc, char **argv, const char *secret_flag);
/* url without trailing slashes, so paths join cleanly. */
char *base_url(const char *url);
/* curl's global state and a multi handle that keeps up to conns + 8 connections (the setup's, for the race). */
CURLM *multi_open(long conns);
double round6(double x);

#endif
