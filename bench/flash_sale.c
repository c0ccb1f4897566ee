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

#include "client.h"
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

const char *client_prog = "flash_sale";

static void usage(void)
{
    fprintf(stderr, "usage: flash_sale --url http://127.0.0.1:PORT --admin-key KEY --buyers N --stock S "
                    "[--connections C] [--timeout SECONDS]\n");
    exit(2);
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
    char *cmdline = command_line(argc, argv, "--admin-key");
    char *base = base_url(url);
    CURLM *m = multi_open(conns);
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
