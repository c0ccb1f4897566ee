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

const char *client_prog = "seat_race";

static void usage(void)
{
    fprintf(stderr, "usage: seat_race --url http://127.0.0.1:PORT --users N [--connections C] [--cold] "
                    "[--timeout SECONDS]\n");
    exit(2);
}

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

    char *cmdline = command_line(argc, argv, NULL);
    char *base = base_url(url);
    CURLM *m = multi_open(conns);

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
