/* scenario_flow.c — `--scenario flow`: --users users each charge --charge won, queue to ACTIVE, hold a random
 * free seat of --schedules dates (another one, up to 8 seats, when it was taken) and pay it; every write carries
 * an Idempotency-Key, so its retries are safe. Creating the users is setup. Check: the users' checks, every
 * balance = charge - paid and never negative, each seat won gone from available-seats. */
#include "load/catalogue.h"
#include "load/scenario.h"
#include "load/user.h"
#include "util/rand.h"

#define FLOW_SEATS_PER_DATE 50
#define FLOW_HOLD_ATTEMPTS_MAX 8 /* seats a user tries before it gives up */

static int flow_setup(struct load_run *r)
{
    if (load_pick_seats(r, r->o->schedules, FLOW_SEATS_PER_DATE) < 0)
        return -1;
    return load_users_create(r, false);
}

static void hold_random_seat(struct load_user *u)
{
    load_user_hold(u, (int)rand_below((uint64_t)u->r->nseats), true);
}

static void flow_next(struct load_user *u)
{
    switch (u->state) {
    case U_NEW:
        load_user_charge(u);
        return;
    case U_ACTIVE:
        hold_random_seat(u);
        return;
    case U_REFUSED:
        if (++u->attempts < FLOW_HOLD_ATTEMPTS_MAX) {
            u->state = U_ACTIVE;
            hold_random_seat(u); /* another seat */
        } else {
            u->state = U_DONE;
        }
        return;
    case U_HELD:
        load_user_pay(u);
        return;
    default:
        (void)load_user_queue_next(u);
        return;
    }
}

/* Every user's balance, read back: charged - paid, never negative. */
static int balances_wrong(struct load_run *r)
{
    int wrong = 0;
    for (int i = 0; i < r->n; i++) {
        struct load_user *u = &r->users[i];
        if (u->state == U_FAILED || !u->key[0])
            continue;
        json_t *j = NULL;
        if (load_fetch(&r->o->net, "GET", "/user/check", u->key, NULL, NULL, &j) != 200 ||
            load_data_int(j, "balance") != u->charged_won - u->paid_won || load_data_int(j, "balance") < 0)
            wrong++;
        json_decref(j);
    }
    return wrong;
}

static json_t *flow_check(struct load_run *r, bool *ok)
{
    json_t *c = load_users_check(r, ok);
    int wrong = balances_wrong(r);
    json_object_set_new(c, "balances_wrong", json_integer(wrong));
    if (wrong)
        *ok = false;
    load_users_check_listed(r, c, ok);
    return c;
}

const struct load_scenario LOAD_SCENARIO_FLOW = {
    .name = "flow", .setup = flow_setup, .start = load_users_start, .next = flow_next, .check = flow_check};
