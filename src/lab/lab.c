/* lab.c — the command line of `ticketd lab` (see lab.h and docs/LAB.md): its flags and their checks, one run
 * printed as JSON, and the --all matrix of every scenario × strategy. The scenarios and strategies come from
 * the tables of scenarios.c, the runs from runner.c, the reports from report.c. */
#include "lab/lab.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lab/report.h"
#include "lab/runner.h"
#include "lab/scenario.h"

/* ---------- --all ---------- */

static int run_all(const struct lab_opts *o)
{
    struct report_matrix *m = report_matrix_open(o);
    if (!m)
        return 2;
    int bad = 0, done = 0, total = 0;
    for (int i = 0; LAB_SCENARIOS[i]; i++)
        total += lab_strategy_count();
    for (int i = 0; LAB_SCENARIOS[i]; i++) {
        const struct lab_scenario *sc = LAB_SCENARIOS[i];
        for (int k = 0; k < lab_strategy_count(); k++) {
            struct lab_strategy stg = lab_strategy_at(k);
            done++;
            const char *na = lab_not_applicable(sc, &stg);
            bool needs_redis = stg.ops && stg.ops->needs_redis &&
                               (!o->redis || (stg.ops->needs_nodes && !o->redis_nodes));
            if (na || needs_redis) {
                fprintf(stderr, "[%d/%d] %s × %s: skipped (%s)\n", done, total, sc->name, stg.name,
                        na ? na : "needs Redis");
                report_matrix_skip(m, sc->name, stg.name, na ? na : "needs --redis");
                continue;
            }
            int n, c;
            lab_run_size(o, sc, &n, &c);
            fprintf(stderr, "[%d/%d] %s × %s (%d requests, %d clients, db pool %d)…\n", done, total, sc->name,
                    stg.name, n, c, o->db_pool);
            struct lab_result res = {0};
            json_t *rep = lab_run_one(o, sc, &stg, n, c, &res) == TK_OK ? report_json(o, &res) : NULL;
            lab_result_free(&res);
            if (!rep) {
                bad++;
                report_matrix_failed(m, sc->name, stg.name);
                continue;
            }
            bool anomaly = lab_anomaly_expected(sc, &stg);
            if (!json_is_true(json_object_get(rep, "invariant_ok")) && !anomaly)
                bad++;
            report_matrix_add(m, rep, anomaly);
        }
    }
    if (report_matrix_close(m) < 0)
        bad++;
    fprintf(stderr, "lab: wrote %s/report.md, report.json, chart.svg%s\n", o->out,
            bad ? " — some runs failed or broke an invariant outside the control group" : "");
    return bad ? 1 : 0;
}

/* ---------- flags ---------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: ticketd lab --scenario S --strategy K [--requests N] [--concurrency C] [--db-pool W] [--procs P]\n"
            "                   [--stock S]\n"
            "       ticketd lab --all --out DIR [--requests N] [--concurrency C] [--db-pool W] [--procs P]\n"
            "  --requests N     requests in the run, 1..%d (default per scenario)\n"
            "  --concurrency C  clients, each with one request in flight at a time, 1..%d (default: N, all at once)\n"
            "  --db-pool W      executor workers = store connections per process, 1..%d (default %d)\n"
            "  --procs P        processes, each with its own executor and C/P clients, 1..%d (default 1)\n"
            "  --stock S        stock scenario: units in stock, 1..%lld (default N); multi-seat: the date's seats (default 50)\n"
            "  store: --db URL (default $TICKETD_DB, else sqlite:ticketd-lab.db); Redis strategies: --redis URL;\n"
            "  redlock: --redis-nodes URL,URL,URL\n"
            "  scenarios:",
            LAB_REQUESTS_MAX, LAB_CONCURRENCY_MAX, LAB_DB_POOL_MAX, LAB_DEFAULT_DB_POOL, LAB_PROCS_MAX, LAB_STOCK_MAX);
    for (int i = 0; LAB_SCENARIOS[i]; i++)
        fprintf(stderr, " %s", LAB_SCENARIOS[i]->name);
    fprintf(stderr, "\n  strategies:");
    for (int i = 0; i < lab_strategy_count(); i++)
        fprintf(stderr, " %s", lab_strategy_at(i).name);
    fprintf(stderr, "\n");
}

/* Parses a whole decimal number in [min, max] (nothing before or after it); false with a message otherwise. */
static bool parse_int(const char *flag, const char *v, long long min, long long max, long long *out)
{
    char *end = NULL;
    long long x = 0;
    errno = 0;
    if (isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1])))
        x = strtoll(v, &end, 10);
    if (!end || *end || errno == ERANGE || x < min || x > max) {
        fprintf(stderr, "lab: %s takes a whole number from %lld to %lld, not '%s'\n", flag, min, max, v);
        return false;
    }
    *out = x;
    return true;
}

int lab_main(int argc, char **argv)
{
    struct lab_opts o = {.procs = 1, .db_pool = LAB_DEFAULT_DB_POOL};
    o.db = getenv("TICKETD_DB") && *getenv("TICKETD_DB") ? getenv("TICKETD_DB") : "sqlite:ticketd-lab.db";
    o.redis = getenv("TICKETD_REDIS") && *getenv("TICKETD_REDIS") ? getenv("TICKETD_REDIS") : NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--all")) {
            o.all = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "lab: unexpected argument '%s'\n", a);
            usage();
            return 2;
        }
        if (!v || !strncmp(v, "--", 2) || !*v) {
            fprintf(stderr, "lab: %s needs a value\n", a);
            usage();
            return 2;
        }
        long long x = 0;
        bool ok = true;
        if (!strcmp(a, "--scenario"))
            o.scenario = v;
        else if (!strcmp(a, "--strategy"))
            o.strategy = v;
        else if (!strcmp(a, "--requests") && (ok = parse_int(a, v, 1, LAB_REQUESTS_MAX, &x)))
            o.requests = (int)x;
        else if (!strcmp(a, "--concurrency") && (ok = parse_int(a, v, 1, LAB_CONCURRENCY_MAX, &x)))
            o.concurrency = (int)x;
        else if (!strcmp(a, "--db-pool") && (ok = parse_int(a, v, 1, LAB_DB_POOL_MAX, &x)))
            o.db_pool = (int)x;
        else if (!strcmp(a, "--procs") && (ok = parse_int(a, v, 1, LAB_PROCS_MAX, &x)))
            o.procs = (int)x;
        else if (!strcmp(a, "--stock") && (ok = parse_int(a, v, 1, LAB_STOCK_MAX, &x)))
            o.stock = x;
        else if (!strcmp(a, "--db"))
            o.db = v;
        else if (!strcmp(a, "--redis"))
            o.redis = v;
        else if (!strcmp(a, "--redis-nodes"))
            o.redis_nodes = v;
        else if (!strcmp(a, "--out"))
            o.out = v;
        else if (ok) {
            fprintf(stderr, "lab: unknown option %s\n", a);
            usage();
            return 2;
        }
        if (!ok)
            return 2;
        i++;
    }
    if (strlen(o.db) >= 1000) {
        fprintf(stderr, "lab: --db is too long\n");
        return 2;
    }
    if (o.all) {
        if (!o.out) {
            fprintf(stderr, "lab: --all needs --out DIR\n");
            usage();
            return 2;
        }
        return run_all(&o);
    }
    if (!o.scenario || !o.strategy) {
        fprintf(stderr, "lab: --scenario and --strategy are required (or --all --out DIR)\n");
        usage();
        return 2;
    }
    const struct lab_scenario *sc = lab_scenario_find(o.scenario);
    struct lab_strategy stg;
    bool known_st = lab_strategy_find(o.strategy, &stg);
    if (!sc || !known_st) {
        fprintf(stderr, "lab: unknown %s '%s'\n", sc ? "strategy" : "scenario", sc ? o.strategy : o.scenario);
        usage();
        return 2;
    }
    const char *na = lab_not_applicable(sc, &stg);
    if (na) {
        fprintf(stderr, "lab: %s × %s is not applicable: %s\n", sc->name, stg.name, na);
        return 2;
    }
    int n, c;
    lab_run_size(&o, sc, &n, &c);
    struct lab_result res = {0};
    json_t *rep = lab_run_one(&o, sc, &stg, n, c, &res) == TK_OK ? report_json(&o, &res) : NULL;
    lab_result_free(&res);
    if (!rep)
        return 2;
    char *s = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
    bool ok = json_is_true(json_object_get(rep, "invariant_ok"));
    json_decref(rep);
    /* the control group and the lost-update demonstrations show their anomaly and exit 0 */
    return s && (ok || lab_anomaly_expected(sc, &stg)) ? 0 : 1;
}
