/* report.c — the lab's reports (report.h): the JSON of one run, and the --all matrix as Markdown, JSON and an
 * SVG chart. It only formats: the figures come from the runner (runner.h), the invariant from the check. */
#include "lab/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "util/stats.h"

static const char *store_name(const struct lab_opts *o) { return strncmp(o->db, "sqlite:", 7) ? "postgres" : "sqlite"; }

static const char *failure_name(int slot)
{
    if (slot == LAB_FAIL_CONFLICT)
        return "conflict_retries_exhausted";
    if (slot == LAB_FAIL_BUSY)
        return "busy";
    if (slot == LAB_FAIL_QUEUE_FULL)
        return "queue_full";
    return tk_err_code(-slot);
}

/* {"<cause>": count} of the failed requests, causes with the same code string summed. */
static json_t *failures_json(const struct lab_stats *st)
{
    json_t *f = json_object();
    for (int k = 0; k < LAB_FAIL__COUNT && f; k++) {
        if (!st->failures[k])
            continue;
        const char *name = failure_name(k);
        json_t *had = json_object_get(f, name);
        json_int_t n = (json_int_t)st->failures[k] + (had ? json_integer_value(had) : 0);
        json_object_set_new(f, name, json_integer(n));
    }
    return f;
}

/* Percentile p of sorted samples. */
static double pct(const struct lab_samples *s, double p) { return stats_percentile(s->v, s->n, p); }

json_t *report_json(const struct lab_opts *o, const struct lab_result *res)
{
    const struct lab_stats *st = &res->st;
    double secs = st->elapsed_s; /* connections are made and warmed before the clock starts */
    json_t *rep = json_object();
    if (!rep)
        return NULL;
    json_object_set_new(rep, "scenario", json_string(res->sc->name));
    json_object_set_new(rep, "strategy", json_string(res->stg.name));
    json_object_set_new(rep, "store", json_string(store_name(o)));
    json_object_set_new(rep, "total_requests", json_integer(res->requests));
    json_object_set_new(rep, "concurrency", json_integer(res->concurrency));
    json_object_set_new(rep, "processes", json_integer(res->procs));
    json_object_set_new(rep, "db_pool", json_integer(res->db_pool));
    json_object_set_new(rep, "success_count", json_integer((json_int_t)st->success));
    json_object_set_new(rep, "refused_count", json_integer((json_int_t)st->refused));
    json_object_set_new(rep, "failed_count", json_integer((json_int_t)st->failed));
    json_object_set_new(rep, "retry_count", json_integer((json_int_t)res->lock.retries));
    json_object_set_new(rep, "conflict_count", json_integer((json_int_t)res->lock.conflicts));
    json_object_set_new(rep, "lock_failure_count", json_integer((json_int_t)res->lock.lock_failures));
    json_object_set_new(rep, "failures", failures_json(st));
    json_object_set_new(rep, "total_execution_time", json_real(secs));
    json_object_set_new(rep, "throughput_per_sec", json_real(secs > 0 ? res->requests / secs : 0));
    json_t *lat = json_object();
    json_object_set_new(lat, "p50", json_real(pct(&st->lat, 50)));
    json_object_set_new(lat, "p95", json_real(pct(&st->lat, 95)));
    json_object_set_new(lat, "p99", json_real(pct(&st->lat, 99)));
    json_object_set_new(lat, "max", json_real(st->lat.n ? st->lat.v[st->lat.n - 1] : 0));
    json_object_set_new(rep, "latency_ms", lat);
    json_t *wait = json_object();
    json_object_set_new(wait, "p50", json_real(pct(&st->wait, 50)));
    json_object_set_new(wait, "p99", json_real(pct(&st->wait, 99)));
    json_object_set_new(rep, "pool_wait_ms", wait);
    json_object_set(rep, "final_balances", res->final);
    json_object_set(rep, "expected_balances", res->expected);
    json_object_set_new(rep, "invariant_ok", json_boolean(res->invariant_ok));
    json_object_set_new(rep, "final_lock_count", json_integer(res->lock_count));
    return rep;
}

/* ---------- --all: the matrix, as Markdown, JSON and SVG ---------- */

struct report_matrix {
    const char *dir;
    FILE *md;
    json_t *reports;
};

static void write_svg(const char *path, json_t *reports)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    size_t n = json_array_size(reports);
    double max_t = 0;
    for (size_t i = 0; i < n; i++) {
        double t = json_real_value(json_object_get(json_array_get(reports, i), "total_execution_time"));
        max_t = t > max_t ? t : max_t;
    }
    int row_h = 16, left = 250, width = 900, height = (int)n * row_h + 60;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>\n",
            width, height);
    fprintf(f, "<text x='10' y='16' font-size='13'>ticketd lab: time per scenario and strategy (bar, log scale); "
               "green = invariant held, red = broken; label = successes/requests</text>\n");
    double lmin = log10(1e-4), lmax = log10(max_t > 1e-4 ? max_t : 1e-3);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(reports, i);
        double t = json_real_value(json_object_get(r, "total_execution_time"));
        bool ok = json_is_true(json_object_get(r, "invariant_ok"));
        double frac = t > 0 ? (log10(t > 1e-4 ? t : 1e-4) - lmin) / (lmax - lmin + 1e-9) : 0;
        int y = 30 + (int)i * row_h, w = (int)(frac * (width - left - 150)) + 2;
        fprintf(f, "<text x='10' y='%d'>%s / %s</text>\n", y + 11,
                json_string_value(json_object_get(r, "scenario")), json_string_value(json_object_get(r, "strategy")));
        fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='%s'/>\n", left, y + 2, w, row_h - 4,
                ok ? "#3a9a5b" : "#c8453b");
        fprintf(f, "<text x='%d' y='%d'>%.4f s  %lld/%lld</text>\n", left + w + 6, y + 11, t,
                (long long)json_integer_value(json_object_get(r, "success_count")),
                (long long)json_integer_value(json_object_get(r, "total_requests")));
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* "UNAVAILABLE:3 busy:1", or "" */
static void failures_text(json_t *failures, char *out, size_t n)
{
    const char *k;
    json_t *v;
    size_t at = 0;
    out[0] = 0;
    json_object_foreach(failures, k, v)
    {
        int w = snprintf(out + at, n - at, "%s%s:%lld", at ? " " : "", k, (long long)json_integer_value(v));
        if (w < 0 || (size_t)w >= n - at)
            break;
        at += (size_t)w;
    }
}

struct report_matrix *report_matrix_open(const struct lab_opts *o)
{
    if (mkdir(o->out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "lab: cannot create %s: %s\n", o->out, strerror(errno));
        return NULL;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/report.md", o->out);
    struct report_matrix *m = calloc(1, sizeof *m);
    FILE *md = m ? fopen(path, "w") : NULL;
    if (!md) {
        fprintf(stderr, "lab: cannot write %s: %s\n", path, m ? strerror(errno) : "out of memory");
        free(m);
        return NULL;
    }
    m->dir = o->out;
    m->md = md;
    m->reports = json_array();
    fprintf(md, "# ticketd lab — every scenario × strategy\n\nstore: `%s`; redis: `%s`; redlock nodes: `%s`\n\n",
            store_name(o), o->redis ? o->redis : "-", o->redis_nodes ? o->redis_nodes : "-");
    fprintf(md, "| scenario | strategy | requests | conc. | db pool | procs | success | refused | failed | retries | "
                "conflicts | lock failures | time (s) | ops/s | p50 ms | p99 ms | pool wait p99 ms | failures | "
                "invariant |\n");
    fprintf(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    return m;
}

void report_matrix_skip(struct report_matrix *m, const char *scenario, const char *strategy, const char *why)
{
    fprintf(m->md, "| %s | %s | | | | | | | | | | | | | | | | | n/a: %s |\n", scenario, strategy, why);
}

void report_matrix_failed(struct report_matrix *m, const char *scenario, const char *strategy)
{
    fprintf(m->md, "| %s | %s | | | | | | | | | | | | | | | | | **could not run** |\n", scenario, strategy);
}

static long long int_field(json_t *rep, const char *key)
{
    return (long long)json_integer_value(json_object_get(rep, key));
}

void report_matrix_add(struct report_matrix *m, json_t *rep, bool anomaly_expected)
{
    bool ok = json_is_true(json_object_get(rep, "invariant_ok"));
    json_t *lat = json_object_get(rep, "latency_ms"), *wait = json_object_get(rep, "pool_wait_ms");
    char fails[256];
    failures_text(json_object_get(rep, "failures"), fails, sizeof fails);
    fprintf(m->md,
            "| %s | %s | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %.4f | %.0f | "
            "%.2f | %.2f | %.2f | %s | %s |\n",
            json_string_value(json_object_get(rep, "scenario")), json_string_value(json_object_get(rep, "strategy")),
            int_field(rep, "total_requests"), int_field(rep, "concurrency"), int_field(rep, "db_pool"),
            int_field(rep, "processes"), int_field(rep, "success_count"), int_field(rep, "refused_count"),
            int_field(rep, "failed_count"), int_field(rep, "retry_count"), int_field(rep, "conflict_count"),
            int_field(rep, "lock_failure_count"), json_real_value(json_object_get(rep, "total_execution_time")),
            json_real_value(json_object_get(rep, "throughput_per_sec")), json_real_value(json_object_get(lat, "p50")),
            json_real_value(json_object_get(lat, "p99")), json_real_value(json_object_get(wait, "p99")), fails,
            ok ? "ok" : anomaly_expected ? "broken (expected)" : "**broken**");
    json_array_append_new(m->reports, rep);
}

int report_matrix_close(struct report_matrix *m)
{
    int rc = 0;
    char path[512];
    fclose(m->md);
    snprintf(path, sizeof path, "%s/report.json", m->dir);
    if (json_dump_file(m->reports, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
        fprintf(stderr, "lab: cannot write %s\n", path);
        rc = -1;
    }
    snprintf(path, sizeof path, "%s/chart.svg", m->dir);
    write_svg(path, m->reports);
    json_decref(m->reports);
    free(m);
    return rc;
}
