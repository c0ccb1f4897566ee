/* scenario_race.c — `--scenario race`: --users users, each with an ACTIVE token (setup), hold one of --seats
 * seats of one date at the same moment, user i seat i mod seats, one shot each as a stampede is (no
 * Idempotency-Key). Check: the users' checks, exactly min(users, seats) holds, each seat won gone from
 * available-seats. */
#include "load/catalogue.h"
#include "load/scenario.h"
#include "load/user.h"

static int race_setup(struct load_run *r)
{
    if (load_pick_seats(r, 1, r->o->seats) < 0)
        return -1;
    return load_users_create(r, true); /* each user queues to ACTIVE as soon as it exists */
}

static void race_start(struct load_run *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->users[i].state == U_ACTIVE)
            load_user_hold(&r->users[i], r->users[i].index % r->nseats, false);
}

static void race_next(struct load_user *u)
{
    if (load_user_queue_next(u))
        return;
    if (u->state == U_HELD || u->state == U_REFUSED)
        u->state = U_DONE; /* one shot; U_ACTIVE waits for the start */
}

static json_t *race_check(struct load_run *r, bool *ok)
{
    json_t *c = load_users_check(r, ok);
    int expect = r->n < r->nseats ? r->n : r->nseats;
    json_object_set_new(c, "expected_holds", json_integer(expect));
    if (r->holds != expect)
        *ok = false;
    load_users_check_listed(r, c, ok);
    return c;
}

const struct load_scenario LOAD_SCENARIO_RACE = {
    .name = "race", .setup = race_setup, .start = race_start, .next = race_next, .check = race_check};
