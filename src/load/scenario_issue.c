/* scenario_issue.c — `--scenario issue`: --users users each POST /queue/issue once and poll until ACTIVE (the
 * token issue rate). Creating the users is setup; the measured part starts at the first issue. Check: the
 * users' checks, and tokens_active. */
#include "load/scenario.h"
#include "load/user.h"

static int issue_setup(struct load_run *r) { return load_users_create(r, false); }

static void issue_next(struct load_user *u)
{
    if (!load_user_queue_next(u) && u->state == U_ACTIVE)
        u->state = U_DONE;
}

static json_t *issue_check(struct load_run *r, bool *ok)
{
    json_t *c = load_users_check(r, ok);
    int active = 0;
    for (int i = 0; i < r->n; i++)
        active += r->users[i].state == U_DONE;
    json_object_set_new(c, "tokens_active", json_integer(active));
    return c;
}

const struct load_scenario LOAD_SCENARIO_ISSUE = {
    .name = "issue", .setup = issue_setup, .start = load_users_start, .next = issue_next, .check = issue_check};
