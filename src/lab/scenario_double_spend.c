/* scenario_double_spend.c — the double spend: one payer holds two seats; the even requests pay reservation
 * 1 with ONE Idempotency-Key through the API's own claim protocol (core/idempotency.c), the odd ones pay
 * reservation 2 with no key, through booking_pay. Invariant: exactly one debit per reservation, and the
 * balance equals its ledger. */
#include "lab/scenario.h"

#include <stdio.h>

#define OPENING 1000000
#define IDEM_KEY "double-spend"

struct double_spend_state {
    int64_t payer;
    int64_t keyed, unkeyed; /* the reservations: paid with the key, and without one */
    int64_t price;
};

static int double_spend_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)p;
    struct double_spend_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    s->payer = labdb_new_user(db, OPENING, now);
    int64_t s1 = labdb_new_seat(db, now), s2 = labdb_new_seat(db, now);
    if (!s->payer || !s1 || !s2)
        return TK_ERR_INTERNAL;
    struct tk_hold h;
    struct tk_hold_req hr = {.user_id = s->payer, .seat_id = s1, .now_ms = now, .hold_ms = 600000, .max_holds = 4};
    TK_TRY(store_hold_create(st, TK_WRITE_ATOMIC, &hr, &h));
    s->keyed = h.reservation_id;
    s->price = h.price_won;
    hr.seat_id = s2;
    TK_TRY(store_hold_create(st, TK_WRITE_ATOMIC, &hr, &h));
    s->unkeyed = h.reservation_id;
    return TK_OK;
}

/* Pays the keyed reservation the way the API does: the first request claims the key and pays, the others
 * wait for it (TK_ERR_BUSY: run again) and get its answer back, which charges nothing. A re-run keeps the
 * claim it took (keep->claim). */
static int pay_keyed(const struct lab_env *env, const struct double_spend_state *s, struct lab_keep *keep)
{
    struct tk_app *app = env->app;
    struct tk_payment pay;
    struct idem_call call = {.user_id = s->payer, .key = IDEM_KEY, .hash = "lab"};
    if (!keep->claim) {
        enum idem_verdict v;
        int rc = idem_begin(app, &call, &v);
        idem_call_free(&call);
        TK_TRY(rc); /* TK_ERR_BUSY: the first is still paying; run again */
        if (v != IDEM_RUN)
            return TK_ERR_ALREADY_PAID; /* a replay of the first answer: nothing charged */
        keep->claim = call.claim;
    }
    call.claim = keep->claim;
    call.ref = (struct tk_idem_ref){.user_id = s->payer, .key = IDEM_KEY, .claim = keep->claim};
    int rc = booking_pay(app, s->payer, NULL, s->keyed, 0, &call.ref, &pay);
    if (rc == TK_ERR_BUSY)
        return rc; /* still ours: paid on the next run */
    if (idem_finish(app, &call, true, rc == TK_OK ? 200 : 409, "{}", 2, "") < 0)
        fprintf(stderr, "lab: the double-spend key's answer was not kept\n");
    return rc;
}

static int double_spend_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    const struct double_spend_state *s = env->state;
    if (i % 2 == 0)
        return pay_keyed(env, s, keep);
    struct tk_payment pay;
    return booking_pay(env->app, s->payer, NULL, s->unkeyed, 0, NULL, &pay);
}

static void double_spend_warm_up(const struct lab_env *env, int64_t ghost)
{
    struct tk_payment pay;
    int rc = booking_pay(env->app, ghost, NULL, ghost, 0, NULL, &pay);
    (void)rc; /* NOT_FOUND: nothing changed */
}

static bool double_spend_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final,
                               json_t *expected)
{
    (void)p;
    const struct double_spend_state *s = state;
    int64_t a = labdb_balance(db, s->payer);
    int64_t debits =
        labdb_value(db, "SELECT COUNT(*) FROM ledger WHERE user_id = %lld AND kind = 'PAYMENT'", (long long)s->payer);
    int64_t e = OPENING - 2 * s->price;
    json_object_set_new(final, "balance", json_integer(a));
    json_object_set_new(final, "payment_debits", json_integer(debits));
    json_object_set_new(expected, "balance", json_integer(e));
    json_object_set_new(expected, "payment_debits", json_integer(2)); /* one keyed, one unkeyed */
    return a == e && debits == 2 && labdb_ledger_sum(db, s->payer) == a;
}

const struct lab_scenario LAB_SCENARIO_DOUBLE_SPEND = {
    .name = "double-spend",
    .default_requests = 20,
    .state_size = sizeof(struct double_spend_state),
    .setup = double_spend_setup,
    .request = double_spend_request,
    .warm_up = double_spend_warm_up,
    .check = double_spend_check,
};
