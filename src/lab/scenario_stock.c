/* scenario_stock.c — the stock decrement, as the shop runs it: every request is one buyer ordering one unit of
 * ONE shop option, through core/shop.c shop_order_create — the code POST /orders runs: strategy_run_keys_fenced
 * on the option's key with the strategy's write mode, then the store's order transaction, whose decrement rule
 * has one home per store (sqlite.c shop_take, pg_schema.h tk_shop_take); fenced strategies' tokens are checked
 * on the option row. The scenario's rows are its own product with one option of --stock units and one buyer.
 * Invariant (read from the shop's tables): units ordered = min(stock, requests) = stock − stock left, stock
 * never below 0, and the option's on hand + reserved + sold = everything stocked. Also one of the serial
 * writer's hot keys: the lab's `serial` (no strategy of `serve`) batches orders on the same rows itself. */
#include "lab/scenario.h"

#include <stdio.h>
#include <stdlib.h>

#define PRICE 1000
#define HOLD_MS 600000 /* the orders outlive the run: every unit ordered stays reserved */

struct stock_state {
    int64_t option; /* the shop option every buyer orders */
    int64_t user;   /* the buyer (one user: the shop limits neither orders nor units per user) */
    int64_t start;  /* units in stock at the start (--stock, else one per request) */
};

static int64_t stock_start(const struct lab_params *p) { return p->stock > 0 ? p->stock : p->requests; }

static int stock_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    struct stock_state *s = state;
    int64_t now = clock_now_ms(clock_real());
    s->start = stock_start(p);
    s->user = labdb_new_user(db, 0, now);
    if (!s->user)
        return TK_ERR_INTERNAL;
    /* through the store, not the core: --stock may pass the organizer's OPTION_STOCK_MAX */
    struct tk_option_new opt = {.name = "lab unit", .price_won = PRICE, .stock = s->start};
    struct tk_product_new in = {.name = "lab stock", .noptions = 1, .options = &opt};
    struct tk_product *prod = malloc(sizeof *prod);
    if (!prod)
        return TK_ERR_NOMEM;
    int rc = store_product_create(st, &in, now, prod);
    if (rc == TK_OK)
        s->option = prod->options[0].id;
    free(prod);
    return rc;
}

/* Buys one unit: the shop's POST /orders path. */
static int stock_buy(const struct lab_env *env, int64_t user, int64_t option)
{
    struct tk_order_line line = {.option_id = option, .quantity = 1};
    struct tk_order *o = malloc(sizeof *o);
    if (!o)
        return TK_ERR_NOMEM;
    int rc = shop_order_create(env->app, user, &line, 1, NULL, o);
    free(o);
    return rc; /* OUT_OF_STOCK: sold out, a refusal */
}

static int stock_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)i;
    (void)keep;
    const struct stock_state *s = env->state;
    return stock_buy(env, s->user, s->option);
}

static void stock_warm_up(const struct lab_env *env, int64_t ghost)
{
    const struct stock_state *s = env->state;
    int rc = stock_buy(env, s->user, ghost);
    (void)rc; /* no such option: NOT_FOUND, nothing changed */
}

static bool stock_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected)
{
    const struct stock_state *s = state;
    long long opt = (long long)s->option;
    int64_t left = labdb_value(db, "SELECT stock FROM product_options WHERE id = %lld", opt);
    int64_t stocked = labdb_value(db, "SELECT stocked FROM product_options WHERE id = %lld", opt);
    int64_t units = labdb_value(db, "SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE option_id = %lld "
                                    "AND state IN ('RESERVED', 'SOLD')", opt);
    int64_t orders = labdb_value(db, "SELECT COUNT(*) FROM order_items WHERE option_id = %lld "
                                     "AND state IN ('RESERVED', 'SOLD')", opt);
    int64_t sold = s->start < p->requests ? s->start : p->requests;
    json_object_set_new(final, "stock", json_integer(left));
    json_object_set_new(final, "sold", json_integer(units));
    json_object_set_new(final, "orders", json_integer(orders));
    json_object_set_new(expected, "stock", json_integer(s->start - sold));
    json_object_set_new(expected, "sold", json_integer(sold));
    json_object_set_new(expected, "orders", json_integer(sold));
    return left == s->start - sold && units == sold && orders == sold && left >= 0 && left + units == stocked;
}

/* n purchases at once (the lab's `serial` writer, inside its one transaction): take what is left, up to n, in one
 * UPDATE of the option row, and n orders of one unit with their items in two statements — the rows POST /orders
 * writes, so the same invariant (and `ticketd reconcile`) holds; the first `take` requests bought a unit, the
 * rest are refused (sold out). */
static int stock_serial_batch(void *state, struct labdb *db, int n, int *rcs)
{
    const struct stock_state *s = state;
    int64_t now = clock_now_ms(clock_real()), left = 0;
    bool pg = labdb_is_pg(db);
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT stock FROM product_options WHERE id = %lld%s", (long long)s->option,
             pg ? " FOR UPDATE" : ""); /* several writer processes (--procs): one at a time on the row */
    TK_TRY(labdb_int(db, sql, &left));
    int64_t take = left < n ? left : n;
    if (take > 0) {
        snprintf(sql, sizeof sql,
                 "UPDATE product_options SET stock = stock - %lld, version = version + 1 WHERE id = %lld "
                 "AND stock >= %lld",
                 (long long)take, (long long)s->option, (long long)take);
        int64_t changed = 0;
        TK_TRY(labdb_exec(db, sql, &changed));
        if (changed != 1)
            return TK_ERR_CONFLICT; /* rolls the batch back */
        if (pg) {
            snprintf(sql, sizeof sql,
                     "WITH o AS (INSERT INTO orders(user_id, status, total, created_at, expires_at) "
                     "SELECT %lld, 'PENDING', %d, %lld, %lld FROM generate_series(1, %lld) RETURNING id) "
                     "INSERT INTO order_items(order_id, option_id, product_id, quantity, price, state, expires_at) "
                     "SELECT o.id, x.id, x.product_id, 1, x.price, 'RESERVED', %lld FROM o, product_options x "
                     "WHERE x.id = %lld",
                     (long long)s->user, PRICE, (long long)now, (long long)(now + HOLD_MS), (long long)take,
                     (long long)(now + HOLD_MS), (long long)s->option);
            TK_TRY(labdb_exec(db, sql, NULL));
        } else { /* no DML in a CTE: the batch's orders are the ids past the largest before it (one writer) */
            int64_t before = labdb_value(db, "SELECT COALESCE(MAX(id), 0) FROM orders");
            if (before < 0)
                return TK_ERR_INTERNAL;
            snprintf(sql, sizeof sql,
                     "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %lld) "
                     "INSERT INTO orders(user_id, status, total, created_at, expires_at) "
                     "SELECT %lld, 'PENDING', %d, %lld, %lld FROM g",
                     (long long)take, (long long)s->user, PRICE, (long long)now, (long long)(now + HOLD_MS));
            TK_TRY(labdb_exec(db, sql, NULL));
            snprintf(sql, sizeof sql,
                     "INSERT INTO order_items(order_id, option_id, product_id, quantity, price, state, expires_at) "
                     "SELECT o.id, x.id, x.product_id, 1, x.price, 'RESERVED', %lld FROM orders o, product_options x "
                     "WHERE o.id > %lld AND x.id = %lld",
                     (long long)(now + HOLD_MS), (long long)before, (long long)s->option);
            TK_TRY(labdb_exec(db, sql, NULL));
        }
    }
    for (int i = 0; i < n; i++)
        rcs[i] = i < take ? TK_OK : TK_ERR_OUT_OF_STOCK;
    return TK_OK;
}

const struct lab_scenario LAB_SCENARIO_STOCK = {
    .name = "stock",
    .default_requests = 1000,
    .state_size = sizeof(struct stock_state),
    .setup = stock_setup,
    .request = stock_request,
    .warm_up = stock_warm_up,
    .check = stock_check,
    .serial_batch = stock_serial_batch,
};
