/* scenario_transfer.c — the bank transfer of the issue: every request moves 10,000 won from account a to
 * account b through wallet_transfer (two rows, one ledger entry each). Invariant: both balances are exactly
 * what the requests moved, and each equals its ledger. Also one of the serial writer's hot keys. */
#include "lab/scenario.h"

#include <stdio.h>

#define AMOUNT 10000
#define B_OPENING 100000

struct transfer_state {
    int64_t a, b;
    int64_t start_balance; /* a's opening balance: exactly enough for every request */
};

static int transfer_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)st;
    struct transfer_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    s->start_balance = (int64_t)p->requests * AMOUNT;
    s->a = labdb_new_user(db, s->start_balance, now);
    s->b = labdb_new_user(db, B_OPENING, now);
    return s->a && s->b ? TK_OK : TK_ERR_INTERNAL;
}

static int transfer_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)i;
    (void)keep;
    const struct transfer_state *s = env->state;
    struct tk_transfer t;
    return wallet_transfer(env->app, s->a, s->b, AMOUNT, NULL, &t);
}

static void transfer_warm_up(const struct lab_env *env, int64_t ghost)
{
    struct tk_transfer t;
    int rc = wallet_transfer(env->app, ghost, ghost + 1, 1, NULL, &t);
    (void)rc; /* NOT_FOUND: nothing changed */
}

static bool transfer_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final,
                           json_t *expected)
{
    const struct transfer_state *s = state;
    int64_t a = labdb_balance(db, s->a), b = labdb_balance(db, s->b);
    int64_t ea = s->start_balance - (int64_t)p->requests * AMOUNT, eb = B_OPENING + (int64_t)p->requests * AMOUNT;
    json_object_set_new(final, "account_a", json_integer(a));
    json_object_set_new(final, "account_b", json_integer(b));
    json_object_set_new(expected, "account_a", json_integer(ea));
    json_object_set_new(expected, "account_b", json_integer(eb));
    return a == ea && b == eb && labdb_ledger_sum(db, s->a) == a && labdb_ledger_sum(db, s->b) == b;
}

/* n transfers at once: one debit and one credit for the batch, then a transfer row and its two ledger
 * entries per request, each entry with the balance after that request. */
static int transfer_serial_batch(void *state, struct labdb *db, int n, int *rcs)
{
    const struct transfer_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    int64_t total = (int64_t)n * AMOUNT, changed = 0;
    char sql[512];
    snprintf(sql, sizeof sql, "UPDATE users SET balance = balance - %lld WHERE id = %lld AND balance >= %lld",
             (long long)total, (long long)s->a, (long long)total);
    TK_TRY(labdb_exec(db, sql, &changed));
    if (changed != 1) {
        for (int i = 0; i < n; i++)
            rcs[i] = TK_ERR_SEAT_UNAVAILABLE; /* refused whole: not enough money for the batch (never here) */
        return TK_OK;
    }
    snprintf(sql, sizeof sql, "UPDATE users SET balance = balance + %lld WHERE id = %lld", (long long)total,
             (long long)s->b);
    TK_TRY(labdb_exec(db, sql, NULL));
    int64_t ba = 0, bb = 0;
    char q[128];
    snprintf(q, sizeof q, "SELECT balance FROM users WHERE id = %lld", (long long)s->a);
    TK_TRY(labdb_int(db, q, &ba));
    snprintf(q, sizeof q, "SELECT balance FROM users WHERE id = %lld", (long long)s->b);
    TK_TRY(labdb_int(db, q, &bb));
    for (int i = 0; i < n; i++) { /* one transfer row and its two entries each */
        int64_t tid = 0;
        snprintf(sql, sizeof sql,
                 "INSERT INTO transfers(from_user, to_user, amount, created_at) VALUES (%lld, %lld, %d, %lld) "
                 "RETURNING id",
                 (long long)s->a, (long long)s->b, AMOUNT, (long long)now);
        TK_TRY(labdb_int(db, sql, &tid));
        snprintf(sql, sizeof sql,
                 "INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) VALUES "
                 "(%lld, 'TRANSFER_OUT', %d, %lld, 'transfer:%lld', %lld), "
                 "(%lld, 'TRANSFER_IN', %d, %lld, 'transfer:%lld', %lld)",
                 (long long)s->a, -AMOUNT, (long long)(ba + (int64_t)(n - 1 - i) * AMOUNT), (long long)tid,
                 (long long)now, (long long)s->b, AMOUNT, (long long)(bb - (int64_t)(n - 1 - i) * AMOUNT),
                 (long long)tid, (long long)now);
        TK_TRY(labdb_exec(db, sql, NULL));
        rcs[i] = TK_OK;
    }
    return TK_OK;
}

const struct lab_scenario LAB_SCENARIO_TRANSFER = {
    .name = "transfer",
    .default_requests = 10,
    .state_size = sizeof(struct transfer_state),
    .setup = transfer_setup,
    .request = transfer_request,
    .warm_up = transfer_warm_up,
    .check = transfer_check,
    .serial_batch = transfer_serial_batch,
};
