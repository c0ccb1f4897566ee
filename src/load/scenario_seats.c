/* scenario_seats.c — `--scenario seats`: GET /concert/available-seats of the first date as fast as possible,
 * --requests times with one browsing token (the read throughput). Check: every response a 200. */
#include <stdio.h>
#include "load/catalogue.h"
#include "load/scenario.h"

static int seats_setup(struct load_run *r)
{
    if (load_pick_seats(r, 1, 1) < 0)
        return -1;
    /* one browsing token, many requests; a refusal here shows in the check as non-200 responses */
    (void)load_browse_token(&r->o->net, "load-reader", false, r->read_token, sizeof r->read_token);
    json_t *j = NULL;
    load_fetch(&r->o->net, "GET", "/concert/available-dates", NULL, r->read_token, NULL, &j);
    const char *sid = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "scheduleId"));
    snprintf(r->read_path, sizeof r->read_path, "/concert/available-seats?concertScheduleId=%s", sid ? sid : "1");
    json_decref(j);
    return 0;
}

static void seats_start(struct load_run *r)
{
    for (int i = 0; i < r->o->requests; i++) {
        struct load_call *c = load_call_new(NULL, "GET", r->read_path, load_call_free);
        snprintf(c->token_hdr, sizeof c->token_hdr, "%s", r->read_token);
        load_engine_enqueue(&r->e, c);
    }
}

static json_t *seats_check(struct load_run *r, bool *ok)
{
    const struct load_stats *st = &r->e.st;
    json_t *c = json_object();
    json_object_set_new(c, "non_200", json_integer((json_int_t)(st->requests - st->status[200])));
    *ok = st->status[200] == (uint64_t)r->o->requests;
    return c;
}

const struct load_scenario LOAD_SCENARIO_SEATS = {
    .name = "seats", .setup = seats_setup, .start = seats_start, .check = seats_check};
