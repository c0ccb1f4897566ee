/* scenario_multi_race.c — `--scenario multi-race` (issue 11): --users users, each with an ACTIVE token (setup),
 * hold --hold-seats K (default 4) of --seats seats of one date in ONE request ({"seatIds": […]}) at the same
 * moment; user i's seats are drawn from i (distinct, in the order drawn), so the sets overlap and most users
 * lose. One shot each, no Idempotency-Key. Check: the users' failures; no seat in two holds; every 201 holds all
 * K seats it asked for; every 409 SEAT_UNAVAILABLE names the taken seats (unavailableSeatIds) and holds none:
 * after the race available-seats lists exactly the contested seats no 201 took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "load/catalogue.h"
#include "load/scenario.h"
#include "load/user.h"

#define HOLD_SEATS_MAX 10 /* the API's limit (max_holds_per_user is at most this) */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 88172645463325252ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* User i's seats: k distinct indices into r->seat_ids, drawn from i. */
static void picks(const struct load_run *r, int i, int *out)
{
    int k = r->o->hold_seats < r->nseats ? r->o->hold_seats : r->nseats;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    for (int a = 0; a < k; a++) {
        bool dup;
        do {
            out[a] = (int)(xorshift(&rng) % (uint64_t)r->nseats);
            dup = false;
            for (int b = 0; b < a; b++)
                dup |= out[b] == out[a];
        } while (dup);
    }
}

static int k_of(const struct load_run *r) { return r->o->hold_seats < r->nseats ? r->o->hold_seats : r->nseats; }

static int multi_setup(struct load_run *r)
{
    if (load_pick_seats(r, 1, r->o->seats) < 0)
        return -1;
    return load_users_create(r, true); /* each user queues to ACTIVE as soon as it exists */
}

static void fail(struct load_user *u, struct load_call *c, const char *what)
{
    if (u->state != U_FAILED && ++u->r->failed_users <= 5)
        fprintf(stderr, "load: user %d: %s: HTTP %ld %s\n", u->index, what, c->status, c->resp ? c->resp : "");
    u->state = U_FAILED;
}

static void on_held(struct load_call *c)
{
    struct load_user *u = c->u;
    struct load_run *r = u->r;
    const char *code = c->json ? load_error_code(c->json) : NULL;
    if (c->status == 201 && c->json) {
        json_t *seats = json_object_get(json_object_get(c->json, "data"), "seats");
        if ((int)json_array_size(seats) != k_of(r)) {
            fail(u, c, "a 201 that does not hold every seat asked for");
        } else {
            snprintf(u->reservation_id, sizeof u->reservation_id, "%s", load_data_str(c->json, "reservationId"));
            u->state = U_HELD;
            r->holds++;
        }
    } else if (c->status == 409 && code && strcmp(code, "SEAT_UNAVAILABLE") == 0) {
        if (json_array_size(json_object_get(c->json, "unavailableSeatIds")) < 1 && k_of(r) > 1) {
            fail(u, c, "a 409 that names no taken seat");
        } else {
            r->holds_conflict++;
            u->state = U_DONE; /* refused whole: it holds nothing */
        }
    } else {
        fail(u, c, "hold");
    }
    load_call_free(c);
}

static void hold(struct load_user *u)
{
    int idx[HOLD_SEATS_MAX];
    picks(u->r, u->index, idx);
    char body[HOLD_SEATS_MAX * (LOAD_ID_MAX + 3) + 16];
    int n = snprintf(body, sizeof body, "{\"seatIds\":[");
    for (int a = 0; a < k_of(u->r); a++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s\"%s\"", a ? "," : "", u->r->seat_ids[idx[a]]);
    snprintf(body + n, sizeof body - (size_t)n, "]}");
    struct load_call *c = load_call_new(u, "POST", "/reservation", on_held);
    snprintf(c->token_hdr, sizeof c->token_hdr, "%s", u->token);
    c->body = strdup(body);
    if (!c->body) {
        fprintf(stderr, "load: out of memory\n");
        exit(2);
    }
    load_engine_enqueue(&u->r->e, c);
}

static void multi_start(struct load_run *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->users[i].state == U_ACTIVE)
            hold(&r->users[i]);
}

static void multi_next(struct load_user *u)
{
    (void)load_user_queue_next(u); /* U_ACTIVE waits for the start; a hold's answer settles the user */
}

struct listed {
    const struct load_run *r;
    const int *won_by; /* per contested seat: the winning user, or -1 */
    int won_but_free, listed;
    bool *seen;
};

static void count_listed(const char *seat_id, void *arg)
{
    struct listed *l = arg;
    for (int s = 0; s < l->r->nseats; s++)
        if (strcmp(l->r->seat_ids[s], seat_id) == 0) {
            l->seen[s] = true;
            l->listed++;
            l->won_but_free += l->won_by[s] >= 0;
        }
}

static json_t *multi_check(struct load_run *r, bool *ok)
{
    json_t *c = json_object();
    *ok = r->failed_users == 0;
    int k = k_of(r);
    int *won_by = malloc((size_t)r->nseats * sizeof *won_by);
    bool *seen = calloc((size_t)r->nseats, sizeof *seen);
    if (!won_by || !seen) {
        fprintf(stderr, "load: out of memory\n");
        exit(2);
    }
    for (int s = 0; s < r->nseats; s++)
        won_by[s] = -1;
    int twice = 0, held_seats = 0, idx[HOLD_SEATS_MAX];
    for (int i = 0; i < r->n; i++) {
        if (r->users[i].state != U_HELD)
            continue;
        picks(r, i, idx);
        for (int a = 0; a < k; a++) {
            twice += won_by[idx[a]] >= 0;
            won_by[idx[a]] = i;
            held_seats++;
        }
    }
    json_object_set_new(c, "seats_per_hold", json_integer(k));
    json_object_set_new(c, "holds", json_integer(r->holds));
    json_object_set_new(c, "seats_held", json_integer(held_seats));
    json_object_set_new(c, "seats_won_twice", json_integer(twice));
    json_object_set_new(c, "hold_conflicts", json_integer(r->holds_conflict));
    json_object_set_new(c, "failed_users", json_integer(r->failed_users));
    *ok = *ok && twice == 0 && r->holds >= 1;
    /* every refused hold left its free seats free: the listing shows exactly the seats no 201 took (after the
     * 100 ms an instance may trust its taken-seat cache) */
    usleep(150000);
    char token[LOAD_TOKEN_MAX];
    if (load_browse_token(&r->o->net, "load-checker", true, token, sizeof token) < 0 || !token[0]) {
        json_object_set_new(c, "seats_listed_free", json_string("not checked: no ACTIVE token"));
    } else {
        struct listed l = {.r = r, .won_by = won_by, .seen = seen};
        (void)load_listed_seats(&r->o->net, token, 1000000, 1000000, count_listed, &l);
        int free_but_unlisted = 0;
        for (int s = 0; s < r->nseats; s++)
            free_but_unlisted += won_by[s] < 0 && !seen[s];
        json_object_set_new(c, "seats_listed_free", json_integer(l.listed));
        json_object_set_new(c, "seats_won_but_listed_free", json_integer(l.won_but_free));
        json_object_set_new(c, "seats_not_won_but_not_listed", json_integer(free_but_unlisted));
        *ok = *ok && l.won_but_free == 0 && free_but_unlisted == 0;
    }
    free(won_by);
    free(seen);
    return c;
}

const struct load_scenario LOAD_SCENARIO_MULTI_RACE = {.name = "multi-race",
                                                       .setup = multi_setup,
                                                       .start = multi_start,
                                                       .next = multi_next,
                                                       .check = multi_check};
