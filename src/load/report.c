/* report.c — the JSON summary of a `ticketd load` run (see report.h); percentiles come from util/stats.h. */
#include "load/report.h"

#include <stdio.h>
#include <stdlib.h>
#include "util/stats.h"

static double pct(const struct load_stats *st, double p) { return stats_percentile(st->lat_ms, st->nlat, p); }

void load_report_print(const struct load_opts *o, int argc, char **argv, double wall_s, double setup_s,
                       struct load_stats *st, json_t *check, bool correct)
{
    stats_sort(st->lat_ms, st->nlat);
    json_t *r = json_object();
    json_t *cmd = json_array();
    json_array_append_new(cmd, json_string("ticketd"));
    json_array_append_new(cmd, json_string("load"));
    for (int i = 0; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(r, "command", cmd);
    json_object_set_new(r, "scenario", json_string(o->scenario));
    json_t *urls = json_array();
    for (int i = 0; i < o->net.nurls; i++)
        json_array_append_new(urls, json_string(o->net.urls[i]));
    json_object_set_new(r, "urls", urls);
    json_object_set_new(r, "users", json_integer(o->users));
    json_object_set_new(r, "connections", json_integer(o->net.connections));
    json_object_set_new(r, "setup_seconds", json_real(setup_s));
    json_object_set_new(r, "wall_seconds", json_real(wall_s));
    json_object_set_new(r, "requests", json_integer((json_int_t)st->requests));
    json_object_set_new(r, "requests_per_sec", json_real(wall_s > 0 ? (double)st->requests / wall_s : 0));
    json_t *sc = json_object();
    for (int s = 0; s < LOAD_STATUS_SLOTS; s++) {
        if (!st->status[s])
            continue;
        char k[8];
        snprintf(k, sizeof k, "%d", s);
        json_object_set_new(sc, k, json_integer((json_int_t)st->status[s]));
    }
    json_object_set_new(r, "status_counts", sc);
    json_object_set_new(r, "status_5xx", json_integer((json_int_t)load_stats_5xx(st)));
    json_object_set_new(r, "transport_errors", json_integer((json_int_t)st->transport_errors));
    json_object_set_new(r, "retries", json_integer((json_int_t)st->retries));
    json_t *lat = json_object();
    json_object_set_new(lat, "p50", json_real(pct(st, 50)));
    json_object_set_new(lat, "p95", json_real(pct(st, 95)));
    json_object_set_new(lat, "p99", json_real(pct(st, 99)));
    json_object_set_new(lat, "max", json_real(st->nlat ? st->lat_ms[st->nlat - 1] : 0));
    json_object_set_new(r, "latency_ms", lat);
    json_object_set_new(r, "check", check);
    json_object_set_new(r, "correct", json_boolean(correct));
    char *out = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", out);
    free(out);
    json_decref(r);
}
