/* wallet.c — prepaid wallets. Every balance change goes through the lock strategy, keyed by user, and
 * writes one ledger entry in the same transaction (the store guarantees that). */
#include "core/app.h"
#include "util/money.h"

#include <stdio.h>

struct charge_op {
    struct tk_app *app;
    const struct tk_idem_ref *idem;
    int64_t user_id;
    int64_t amount_won;
    int64_t balance_won;
    int64_t entry_id;
};

static int charge_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence; /* the product tables take writes whose safety needs no fence (see docs/LAB.md) */
    struct charge_op *op = arg;
    struct tk_store *st = op->app->store;
    return store_wallet_charge(st, mode, op->user_id, op->amount_won, app_now_ms(op->app), op->idem,
                                  &op->balance_won, &op->entry_id);
}

int wallet_charge(struct tk_app *app, int64_t user_id, int64_t amount_won, const struct tk_idem_ref *idem,
                  int64_t *balance_won, int64_t *entry_id)
{
    TK_TRY(money_check_amount(amount_won));
    struct charge_op op = {.app = app, .idem = idem, .user_id = user_id, .amount_won = amount_won};
    char key[LOCK_KEY_MAX];
    snprintf(key, sizeof key, "user:%lld", (long long)user_id);
    TK_TRY(strategy_run(app->strategy, key, charge_write, &op));
    APP_COUNT(app, charges, 1);
    *balance_won = op.balance_won;
    if (entry_id)
        *entry_id = op.entry_id;
    return TK_OK;
}

struct transfer_op {
    struct tk_app *app;
    const struct tk_idem_ref *idem;
    int64_t from, to, amount_won;
    struct tk_transfer *out;
};

static int transfer_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence; /* the product tables take writes whose safety needs no fence (see docs/LAB.md) */
    struct transfer_op *op = arg;
    struct tk_store *st = op->app->store;
    return store_transfer(st, mode, op->from, op->to, op->amount_won, app_now_ms(op->app), op->idem, op->out);
}

int wallet_transfer(struct tk_app *app, int64_t from_user, int64_t to_user, int64_t amount_won,
                    const struct tk_idem_ref *idem, struct tk_transfer *out)
{
    TK_TRY(money_check_amount(amount_won));
    if (from_user == to_user)
        return TK_ERR_INVALID;
    struct transfer_op op = {.app = app, .idem = idem, .from = from_user, .to = to_user, .amount_won = amount_won, .out = out};
    char k1[LOCK_KEY_MAX], k2[LOCK_KEY_MAX];
    snprintf(k1, sizeof k1, "user:%lld", (long long)from_user);
    snprintf(k2, sizeof k2, "user:%lld", (long long)to_user);
    const char *keys[2] = {k1, k2};
    TK_TRY(strategy_run_keys(app->strategy, keys, 2, transfer_write, &op));
    APP_COUNT(app, transfers, 1);
    return TK_OK;
}

int wallet_history(struct tk_app *app, int64_t user_id, int limit, tk_ledger_fn fn, void *arg)
{
    if (limit < 1 || limit > HISTORY_LIMIT_MAX)
        return TK_ERR_INVALID;
    return store_ledger_list(app->store, user_id, limit, fn, arg);
}

int wallet_balance(struct tk_app *app, int64_t user_id, int64_t *balance_won)
{
    struct tk_user u;
    TK_TRY(store_user_get(app->store, user_id, &u));
    *balance_won = u.balance_won;
    return TK_OK;
}
