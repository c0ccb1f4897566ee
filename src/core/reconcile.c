/* reconcile.c — `ticketd reconcile`: the store's audit queries (balances vs ledger, seats vs payments,
 * stale holds and claims) plus one check that needs JSON: every stored idempotent 2xx response that
 * reports a balance must report the balance the ledger recorded for that effect. */
#include "core/app.h"

#include <jansson.h>
#include <stdio.h>

struct recon {
    tk_problem_fn fn;
    void *arg;
    int problems;
};

static int count_problem(void *arg, const char *problem)
{
    struct recon *r = arg;
    r->problems++;
    return r->fn(r->arg, problem);
}

static int check_idem(void *arg, const struct tk_idem_audit *row)
{
    struct recon *r = arg;
    char line[400];
    if (!row->effect_found) {
        snprintf(line, sizeof line, "idempotency user %lld key '%.128s': its response refers to %s, which the ledger lacks",
                 (long long)row->user_id, row->key, row->effect_ref);
        return count_problem(r, line);
    }
    if (!row->has_balance)
        return TK_OK;
    json_t *j = json_loads(row->body, 0, NULL);
    json_t *bal = j ? json_object_get(json_object_get(j, "data"), "balance") : NULL;
    int rc = TK_OK;
    if (!json_is_integer(bal) || json_integer_value(bal) != row->balance_after_won) {
        snprintf(line, sizeof line,
                 "idempotency user %lld key '%.128s': the stored response says balance %lld but the ledger entry of %s "
                 "says %lld",
                 (long long)row->user_id, row->key, json_is_integer(bal) ? (long long)json_integer_value(bal) : -1LL,
                 row->effect_ref, (long long)row->balance_after_won);
        rc = count_problem(r, line);
    }
    json_decref(j);
    return rc;
}

int reconcile_run(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg, int *problems)
{
    struct recon r = {.fn = fn, .arg = arg};
    TK_TRY(store_audit(st, now_ms, grace_ms, count_problem, &r));
    TK_TRY(store_idem_audit(st, check_idem, &r));
    TK_TRY(store_shop_audit(st, now_ms, grace_ms, count_problem, &r)); /* the shop: stock, orders, aggregates */
    *problems = r.problems;
    return TK_OK;
}
