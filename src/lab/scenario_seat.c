/* scenario_seat.c — the seat race: every request is a different user holding the SAME seat through
 * booking_hold. Invariant: exactly one hold on the seat. */
#include "lab/scenario.h"

struct seat_state {
    int64_t seat;
    int64_t first_user; /* request i is user first_user + i */
};

static int seat_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)st;
    struct seat_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    s->seat = labdb_new_seat(db, now);
    for (int i = 0; i < p->requests; i++) {
        int64_t u = labdb_new_user(db, 0, now);
        if (!u)
            return TK_ERR_INTERNAL;
        if (i == 0)
            s->first_user = u;
        else if (u != s->first_user + i)
            return TK_ERR_INTERNAL; /* ids must be consecutive for the requests to address them */
    }
    return s->seat ? TK_OK : TK_ERR_INTERNAL;
}

static int seat_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)keep;
    const struct seat_state *s = env->state;
    struct tk_hold h;
    return booking_hold(env->app, s->first_user + i, s->seat, NULL, &h);
}

static void seat_warm_up(const struct lab_env *env, int64_t ghost)
{
    struct tk_hold h;
    int rc = booking_hold(env->app, ghost, ghost, NULL, &h);
    (void)rc; /* NOT_FOUND: nothing changed */
}

static bool seat_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected)
{
    (void)p;
    const struct seat_state *s = state;
    int64_t holders = labdb_value(db, "SELECT COUNT(*) FROM reservations WHERE seat_id = %lld AND status = 'HELD'",
                                  (long long)s->seat);
    json_object_set_new(final, "holders", json_integer(holders));
    json_object_set_new(expected, "holders", json_integer(1));
    return holders == 1;
}

const struct lab_scenario LAB_SCENARIO_SEAT = {
    .name = "seat",
    .default_requests = 100,
    .state_size = sizeof(struct seat_state),
    .setup = seat_setup,
    .request = seat_request,
    .warm_up = seat_warm_up,
    .check = seat_check,
};
