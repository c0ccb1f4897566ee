/* scenario_stock.c — the stock decrement: every request buys one unit of ONE row of the lab's own table
 * lab_stock (and records an order in lab_orders) through strategy_run, with the write mode the strategy
 * gives; fenced strategies' tokens are checked on the row. Invariant: sold = min(stock, requests), stock
 * left = the rest, one order per unit sold. Also one of the serial writer's hot keys. */
#include "lab/scenario.h"

#include <stdio.h>

struct stock_state {
    int64_t item;  /* the lab_stock row */
    int64_t start; /* units in stock at the start (--stock, else one per request) */
};

static int64_t stock_start(const struct lab_params *p) { return p->stock > 0 ? p->stock : p->requests; }

static int stock_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)st;
    struct stock_state *s = state;
    char sql[256];
    s->start = stock_start(p);
    snprintf(sql, sizeof sql, "INSERT INTO lab_stock(stock) VALUES (%lld) RETURNING id", (long long)s->start);
    return labdb_int(db, sql, &s->item);
}

struct stock_op {
    struct labdb *db;
    int64_t item;
};

/* The end of a purchase inside its transaction: record the order if the stock row changed, then commit (or
 * roll back on any error). Returns rc, or `lost` when the row did not change. */
static int stock_finish(struct labdb *db, int rc, int64_t changed, int64_t item, int lost)
{
    char sql[96];
    if (rc == TK_OK && changed == 1) {
        snprintf(sql, sizeof sql, "INSERT INTO lab_orders(item) VALUES (%lld)", (long long)item);
        rc = labdb_exec(db, sql, NULL);
    }
    if (rc == TK_OK)
        rc = labdb_commit(db);
    if (rc != TK_OK) {
        labdb_rollback(db);
        return rc;
    }
    return changed == 1 ? TK_OK : lost;
}

/* One purchase, in the mode the strategy gives (a tk_write_fn). */
static int stock_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    struct stock_op *op = arg;
    struct labdb *db = op->db;
    int64_t item = op->item, left = 0, version = 0, changed = 0;
    char sql[256];
    if (mode == TK_WRITE_ATOMIC && labdb_is_pg(db)) { /* one conditional statement, one round trip */
        snprintf(sql, sizeof sql,
                 "WITH s AS (UPDATE lab_stock SET stock = stock - 1 WHERE id = %lld AND stock > 0 RETURNING id) "
                 "INSERT INTO lab_orders(item) SELECT id FROM s",
                 (long long)item);
        TK_TRY(labdb_exec(db, sql, &changed));
        return changed == 1 ? TK_OK : TK_ERR_SEAT_UNAVAILABLE;
    }
    if (mode == TK_WRITE_ATOMIC) { /* SQLite has no DML in a CTE: a short transaction, committed locally */
        TK_TRY(labdb_begin(db));
        snprintf(sql, sizeof sql, "UPDATE lab_stock SET stock = stock - 1 WHERE id = %lld AND stock > 0", (long long)item);
        int rc = labdb_exec(db, sql, &changed);
        return stock_finish(db, rc, changed, item, TK_ERR_SEAT_UNAVAILABLE); /* sold out */
    }
    bool locked_read = mode == TK_WRITE_PESSIMISTIC;
    if (locked_read)
        TK_TRY(labdb_begin(db));
    /* stock and version in one read: one snapshot, or the compare-and-set would pair a stale stock with a
     * fresh version */
    snprintf(sql, sizeof sql, "SELECT stock, version FROM lab_stock WHERE id = %lld%s", (long long)item,
             locked_read && labdb_is_pg(db) ? " FOR UPDATE" : "");
    int rc = labdb_int2(db, sql, &left, &version);
    if (rc != TK_OK || left <= 0) {
        if (locked_read)
            labdb_rollback(db);
        return rc != TK_OK ? rc : TK_ERR_SEAT_UNAVAILABLE;
    }
    if (!locked_read)
        TK_TRY(labdb_begin(db));
    if (mode == TK_WRITE_OPTIMISTIC)
        snprintf(sql, sizeof sql, "UPDATE lab_stock SET stock = %lld, version = version + 1 WHERE id = %lld AND version = %lld",
                 (long long)(left - 1), (long long)item, (long long)version);
    else if (fence > 0) /* fenced: a write with an older token than the last one is refused */
        snprintf(sql, sizeof sql, "UPDATE lab_stock SET stock = %lld, fence = %lld WHERE id = %lld AND fence < %lld",
                 (long long)(left - 1), (long long)fence, (long long)item, (long long)fence);
    else /* a read-then-write: safe only under an external lock (or not at all: `none`) */
        snprintf(sql, sizeof sql, "UPDATE lab_stock SET stock = %lld WHERE id = %lld", (long long)(left - 1),
                 (long long)item);
    rc = labdb_exec(db, sql, &changed);
    return stock_finish(db, rc, changed, item, TK_ERR_CONFLICT); /* lost the race: retried */
}

/* Buys one unit of item under the strategy, on the worker's connection. */
static int stock_buy(const struct lab_env *env, int64_t item)
{
    struct stock_op op = {.db = env->db, .item = item};
    char key[48];
    snprintf(key, sizeof key, "stock:%lld", (long long)item);
    return strategy_run(env->app->strategy, key, stock_write, &op);
}

static int stock_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)i;
    (void)keep;
    const struct stock_state *s = env->state;
    return stock_buy(env, s->item);
}

static void stock_warm_up(const struct lab_env *env, int64_t ghost)
{
    int rc = stock_buy(env, ghost);
    (void)rc; /* no such row: SEAT_UNAVAILABLE, nothing changed */
}

static bool stock_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected)
{
    const struct stock_state *s = state;
    int64_t left = labdb_value(db, "SELECT stock FROM lab_stock WHERE id = %lld", (long long)s->item);
    int64_t orders = labdb_value(db, "SELECT COUNT(*) FROM lab_orders WHERE item = %lld", (long long)s->item);
    int64_t sold = s->start < p->requests ? s->start : p->requests;
    json_object_set_new(final, "stock", json_integer(left));
    json_object_set_new(final, "sold", json_integer(orders));
    json_object_set_new(expected, "stock", json_integer(s->start - sold));
    json_object_set_new(expected, "sold", json_integer(sold));
    return left == s->start - sold && orders == sold && left >= 0;
}

/* n purchases at once: take what is left, up to n, in one UPDATE, and the orders in one statement; the
 * first `take` requests bought a unit, the rest are refused (sold out). */
static int stock_serial_batch(void *state, struct labdb *db, int n, int *rcs)
{
    const struct stock_state *s = state;
    int64_t left = 0;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT stock FROM lab_stock WHERE id = %lld", (long long)s->item);
    TK_TRY(labdb_int(db, sql, &left));
    int64_t take = left < n ? left : n;
    if (take > 0) {
        snprintf(sql, sizeof sql, "UPDATE lab_stock SET stock = stock - %lld WHERE id = %lld AND stock >= %lld",
                 (long long)take, (long long)s->item, (long long)take);
        TK_TRY(labdb_exec(db, sql, NULL));
        if (labdb_is_pg(db))
            snprintf(sql, sizeof sql, "INSERT INTO lab_orders(item) SELECT %lld FROM generate_series(1, %lld)",
                     (long long)s->item, (long long)take);
        else
            snprintf(sql, sizeof sql,
                     "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %lld) "
                     "INSERT INTO lab_orders(item) SELECT %lld FROM g",
                     (long long)take, (long long)s->item);
        TK_TRY(labdb_exec(db, sql, NULL));
    }
    for (int i = 0; i < n; i++)
        rcs[i] = i < take ? TK_OK : TK_ERR_SEAT_UNAVAILABLE;
    return TK_OK;
}

const struct lab_scenario LAB_SCENARIO_STOCK = {
    .name = "stock",
    .default_requests = 1000,
    .worker_db = true,
    .state_size = sizeof(struct stock_state),
    .setup = stock_setup,
    .request = stock_request,
    .warm_up = stock_warm_up,
    .check = stock_check,
    .serial_batch = stock_serial_batch,
};
