/* wallet.c — prepaid wallets. Every balance change goes through the lock strategy, keyed by user, and
 * writes one ledger entry in the same transaction (the store guarantees that). */
#include "core/app.h"
#include "core/money.h"

#include <stdio.h>

struct charge_op {
    struct tk_app *app;
    int64_t user_id;
    int64_t amount_won;
    int64_t balance_won;
};

static int charge_write(void *arg, enum tk_write_mode mode)
{
    struct charge_op *op = arg;
    struct tk_store *st = op->app->store;
    return st->ops->wallet_charge(st, mode, op->user_id, op->amount_won, app_now_ms(op->app), &op->balance_won);
}

int wallet_charge(struct tk_app *app, int64_t user_id, int64_t amount_won, int64_t *balance_won)
{
    TK_TRY(money_check_amount(amount_won));
    struct charge_op op = {.app = app, .user_id = user_id, .amount_won = amount_won};
    char key[LOCK_KEY_MAX];
    snprintf(key, sizeof key, "user:%lld", (long long)user_id);
    TK_TRY(strategy_run(app->strategy, key, charge_write, &op));
    APP_COUNT(app, charges, 1);
    *balance_won = op.balance_won;
    return TK_OK;
}

int wallet_balance(struct tk_app *app, int64_t user_id, int64_t *balance_won)
{
    struct tk_user u;
    TK_TRY(app->store->ops->user_get(app->store, user_id, &u));
    *balance_won = u.balance_won;
    return TK_OK;
}
