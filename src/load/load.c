/* load.c — the command line of `ticketd load` (see load.h): flags and their limits, the scenario by name from
 * the registry, then one run: setup, the measured part, the scenario's check, the summary and the exit code
 * (0 correct, 1 a check failed, a 5xx or the deadline, 2 bad flags or a setup that could not start). The engine
 * is engine.c, the scenarios scenario_*.c, the summary report.c. */
#include "load/load.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "load/engine.h"
#include "load/report.h"
#include "load/scenario.h"
#include "util/clock.h"

static void usage(void)
{
    char names[128];
    fprintf(stderr,
            "usage: ticketd load --scenario %s --url URL [--url URL…] [options]\n"
            "  --users N          simulated users (default 1000; at most 2000000); sale-*: users 1..N made beforehand\n"
            "  --connections C    requests in flight at most (default 256; at most 4096)\n"
            "  --requests N       seats: requests to send (default 100000)\n"
            "  --seats S          race, multi-race: seats contested on one date (default 50)\n"
            "  --hold-seats K     multi-race: seats each user holds in one request (default 4; at most 10)\n"
            "  --schedules D      flow: dates to buy on (default 4)\n"
            "  --seconds T        overall deadline (default 60; at most 3600)\n"
            "  --timeout-ms MS    per request (default 5000)\n"
            "  --retries R        on timeout or 503, same Idempotency-Key (default 5; at most 20)\n"
            "  --charge WON       flow: each user's wallet charge (default 1000000)\n"
            "  --concert ID       sale-issue: the sale's concert\n"
            "  --tokens FILE      sale-issue: writes the tokens (one a line); sale-poll, sale-open: reads them\n"
            "  --opens-at MS      sale-open: the sale's opensAt, ms since the epoch\n"
            "  --after-ms MS      sale-open: how long to keep polling after opensAt (default 3000)\n"
            "  --sample S         sale-open: tokens polled, spread over the file (default 10000)\n",
            load_scenario_names(names, sizeof names));
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

/* Reads the flags into o; false on an unknown flag, a missing value or a value out of range. */
static bool parse_flags(int argc, char **argv, struct load_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        int charge = 0;
        char *end;
        if (strcmp(a, "--scenario") == 0 && v)
            o->scenario = v;
        else if (strcmp(a, "--url") == 0 && v && o->net.nurls < LOAD_URLS_MAX)
            o->net.urls[o->net.nurls++] = argv[i + 1];
        else if (strcmp(a, "--users") == 0 && v)
            ok = parse_int(v, 1, 2000000, &o->users);
        else if (strcmp(a, "--connections") == 0 && v)
            ok = parse_int(v, 1, 4096, &o->net.connections);
        else if (strcmp(a, "--requests") == 0 && v)
            ok = parse_int(v, 1, 10000000, &o->requests);
        else if (strcmp(a, "--seats") == 0 && v)
            ok = parse_int(v, 1, 50, &o->seats);
        else if (strcmp(a, "--hold-seats") == 0 && v)
            ok = parse_int(v, 1, 10, &o->hold_seats);
        else if (strcmp(a, "--schedules") == 0 && v)
            ok = parse_int(v, 1, 6, &o->schedules);
        else if (strcmp(a, "--seconds") == 0 && v)
            ok = parse_int(v, 1, 3600, &o->seconds);
        else if (strcmp(a, "--timeout-ms") == 0 && v)
            ok = parse_int(v, 10, 60000, &o->net.timeout_ms);
        else if (strcmp(a, "--retries") == 0 && v)
            ok = parse_int(v, 0, 20, &o->net.retries);
        else if (strcmp(a, "--concert") == 0 && v)
            o->concert = v;
        else if (strcmp(a, "--tokens") == 0 && v)
            o->tokens_file = v;
        else if (strcmp(a, "--opens-at") == 0 && v)
            ok = (o->opens_at_ms = strtoll(v, &end, 10)) > 0 && !*end;
        else if (strcmp(a, "--after-ms") == 0 && v)
            ok = parse_int(v, 0, 600000, &o->after_ms);
        else if (strcmp(a, "--sample") == 0 && v)
            ok = parse_int(v, 1, 2000000, &o->sample);
        else if (strcmp(a, "--charge") == 0 && v)
            ok = parse_int(v, 1, 1000000000, &charge), o->charge_won = charge;
        else
            ok = false;
        if (!ok)
            return false;
        i++;
    }
    return true;
}

int load_main(int argc, char **argv)
{
    struct load_opts o = {.scenario = "race",
                          .net = {.connections = 256, .timeout_ms = 5000, .retries = 5, .backoff_base_ms = 20,
                                  .backoff_cap_ms = 1000},
                          .users = 1000, .requests = 100000, .seats = 50, .hold_seats = 4, .schedules = 4, .seconds = 60,
                          .charge_won = 1000000, .after_ms = 3000, .sample = 10000};
    const struct load_scenario *sc = NULL;
    if (!parse_flags(argc, argv, &o) || !o.net.nurls || !(sc = load_scenario_find(o.scenario))) {
        usage();
        return 2;
    }
    struct load_run r = {.o = &o, .sc = sc};
    if (load_engine_open(&r.e, &o.net) < 0) {
        fprintf(stderr, "load: out of memory\n");
        return 2;
    }
    int64_t t0 = clock_mono_ns();
    load_engine_restart(&r.e, o.seconds); /* setup runs under the deadline too */
    int exit_code = 2;
    if (sc->setup(&r) < 0)
        goto out;
    double setup_s = (double)(clock_mono_ns() - t0) / 1e9;
    int64_t t1 = clock_mono_ns();
    sc->start(&r);
    load_engine_run(&r.e);
    double wall_s = (double)(clock_mono_ns() - t1) / 1e9;
    bool correct = true;
    json_t *check = sc->check(&r, &correct);
    if (load_stats_5xx(&r.e.st) || r.e.out_of_time)
        correct = false;
    if (r.e.out_of_time)
        json_object_set_new(check, "deadline_hit", json_true());
    load_report_print(&o, argc, argv, wall_s, setup_s, &r.e.st, check, correct);
    exit_code = correct ? 0 : 1;
out:
    if (sc->cleanup)
        sc->cleanup(&r);
    load_engine_close(&r.e);
    free(r.users);
    free(r.seat_ids);
    return exit_code;
}
