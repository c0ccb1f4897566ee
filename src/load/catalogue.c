/* catalogue.c — the catalogue as `ticketd load` reads it for setup and checks (see catalogue.h). */
#include "load/catalogue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int load_browse_token(const struct load_net *net, const char *name, bool need_active, char *token, size_t len)
{
    json_t *j = NULL;
    char body[96], key[LOAD_KEY_MAX] = "";
    token[0] = 0;
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    bool ok = load_fetch(net, "POST", "/users", NULL, NULL, body, &j) == 201;
    if (ok)
        snprintf(key, sizeof key, "%s", load_data_str(j, "apiKey"));
    json_decref(j);
    j = NULL;
    ok = ok && load_fetch(net, "POST", "/queue/issue", key, NULL, NULL, &j) / 100 == 2 &&
         (!need_active || strcmp(load_data_str(j, "status"), "ACTIVE") == 0);
    if (ok)
        snprintf(token, len, "%s", load_data_str(j, "token"));
    json_decref(j);
    return ok ? 0 : -1;
}

int load_listed_seats(const struct load_net *net, const char *token, int dates_max, int per_date_max,
                      void (*fn)(const char *seat_id, void *arg), void *arg)
{
    json_t *j = NULL;
    if (load_fetch(net, "GET", "/concert/available-dates", NULL, token, NULL, &j) != 200) {
        json_decref(j);
        return -1;
    }
    json_t *dates = json_object_get(j, "data");
    for (size_t d = 0; d < json_array_size(dates) && (int)d < dates_max; d++) {
        char path[128];
        snprintf(path, sizeof path, "/concert/available-seats?concertScheduleId=%s",
                 json_string_value(json_object_get(json_array_get(dates, d), "scheduleId")));
        json_t *s = NULL;
        if (load_fetch(net, "GET", path, NULL, token, NULL, &s) == 200) {
            json_t *seats = json_object_get(s, "data");
            for (size_t k = 0; k < json_array_size(seats) && (int)k < per_date_max; k++)
                fn(json_string_value(json_object_get(json_array_get(seats, k), "seatId")), arg);
        }
        json_decref(s);
    }
    json_decref(j);
    return 0;
}

static void add_seat(const char *seat_id, void *arg)
{
    struct load_run *r = arg;
    snprintf(r->seat_ids[r->nseats++], LOAD_ID_MAX, "%s", seat_id);
}

int load_pick_seats(struct load_run *r, int dates, int per_date_max)
{
    char token[LOAD_TOKEN_MAX];
    r->seat_ids = calloc((size_t)dates * (size_t)per_date_max + 1, sizeof *r->seat_ids);
    if (!r->seat_ids || load_browse_token(&r->o->net, "load-browser", false, token, sizeof token) < 0 ||
        load_listed_seats(&r->o->net, token, dates, per_date_max, add_seat, r) < 0) {
        fprintf(stderr, "load: could not read the catalogue from %s\n", r->o->net.urls[0]);
        return -1;
    }
    return r->nseats > 0 ? 0 : -1;
}
