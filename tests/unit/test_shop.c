/* test_shop.c — the shop on a store (SQLite by default, PostgreSQL with --pg: testdb.h), with a fake clock:
 *   - store operations in every write mode: all-or-nothing orders (a short item reserves nothing and is named),
 *     unknown options, stock back at exactly order_hold_ms with no sweep (reads, new orders, payment refused),
 *     payment rules (balance, ALREADY_PAID, someone else's, the ledger entry, items, daily aggregates), carts and
 *     their limits, the organizer's stock change and its fence, popular products (order, ties, range), the sweep
 *     (idempotent), and the shop audit of `ticketd reconcile` (clean, then naming a corrupted row);
 *   - core/shop.c as the server wires it: validation, EXPIRED by time, the sweep, and concurrent buyers under
 *     several strategies (threads, off an executor): stock never below zero, never sold twice, and multi-option
 *     orders in opposite orders never deadlock. */
#include "unit.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/app.h"
#include "testdb.h"

static const int64_t T0 = TESTDB_T0;
static const int64_t HOLD = 600000;
static const enum tk_write_mode MODES[] = {TK_WRITE_ATOMIC, TK_WRITE_PESSIMISTIC, TK_WRITE_OPTIMISTIC,
                                           TK_WRITE_UNSAFE};

struct fx {
    struct testdb db;
    struct tk_store *st;
    struct tk_clock clock;
    struct tk_app app;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    testdb_open(&f->db, T0);
    f->st = f->db.st;
    clock_fake_init(&f->clock, T0);
    char err[128];
    assert_int_equal(strategy_open("atomic", 20, &f->app.strategy, err, sizeof err), TK_OK);
    f->app.store = f->st;
    f->app.clock = &f->clock;
    f->app.order_hold_ms = HOLD;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    strategy_free(f->app.strategy);
    testdb_close(&f->db);
    free(f);
    return 0;
}

static int64_t sql_int(struct fx *f, const char *sql) { return testdb_int(&f->db, sql); }

static int64_t user(struct fx *f, const char *key, int64_t balance)
{
    struct tk_user u;
    assert_int_equal(store_user_create(f->st, "buyer", key, T0, &u), TK_OK);
    if (balance) {
        int64_t b;
        assert_int_equal(store_wallet_charge(f->st, TK_WRITE_ATOMIC, u.id, balance, T0, NULL, &b, NULL), TK_OK);
    }
    return u.id;
}

static int64_t balance_of(struct fx *f, int64_t u)
{
    struct tk_user x;
    assert_int_equal(store_user_get(f->st, u, &x), TK_OK);
    return x.balance_won;
}

/* A product with n options, option i priced (i + 1) * 1000 with stock[i]; fills ids. */
static int64_t product(struct fx *f, const char *name, int n, const int64_t *stock, int64_t *ids)
{
    struct tk_option_new o[PRODUCT_OPTIONS_MAX];
    char names[PRODUCT_OPTIONS_MAX][16];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "o%d", i);
        o[i] = (struct tk_option_new){.name = names[i], .price_won = (i + 1) * 1000, .stock = stock[i]};
    }
    struct tk_product_new in = {.name = name, .noptions = n, .options = o};
    struct tk_product *p = malloc(sizeof *p);
    assert_int_equal(store_product_create(f->st, &in, T0, p), TK_OK);
    assert_int_equal(p->noptions, n);
    for (int i = 0; i < n; i++)
        ids[i] = p->options[i].id;
    int64_t id = p->id;
    free(p);
    return id;
}

/* What can be ordered of an option at now, through the product read. */
static int64_t stock_at(struct fx *f, int64_t option, int64_t now)
{
    struct tk_product *p = malloc(sizeof *p);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT product_id FROM product_options WHERE id = %lld", (long long)option);
    assert_int_equal(store_product_get(f->st, sql_int(f, sql), now, p), TK_OK);
    int64_t s = -1;
    for (int i = 0; i < p->noptions; i++)
        if (p->options[i].id == option)
            s = p->options[i].stock;
    free(p);
    return s;
}

static int order(struct fx *f, enum tk_write_mode mode, int64_t u, int n, const int64_t *opts, const int *qty,
                 int64_t now, struct tk_order *out)
{
    struct tk_order_req *r = calloc(1, sizeof *r);
    r->user_id = u;
    r->nitems = n;
    for (int i = 0; i < n; i++)
        r->items[i] = (struct tk_order_line){.option_id = opts[i], .quantity = qty[i]};
    r->now_ms = now;
    r->hold_ms = HOLD;
    int rc = store_order_create(f->st, mode, r, out);
    free(r);
    return rc;
}

static int pay(struct fx *f, int64_t u, int64_t order_id, int64_t now, struct tk_order *out)
{
    struct tk_order_pay_req r = {.user_id = u, .order_id = order_id, .now_ms = now};
    return store_order_pay(f->st, &r, out);
}

struct problems {
    int n;
    char last[512];
};

static int note_problem(void *arg, const char *p)
{
    struct problems *x = arg;
    x->n++;
    snprintf(x->last, sizeof x->last, "%s", p);
    fprintf(stderr, "  audit: %s\n", p);
    return TK_OK;
}

static int audit(struct fx *f, int64_t now, struct problems *p)
{
    memset(p, 0, sizeof *p);
    int n = 0;
    assert_int_equal(reconcile_run(f->st, now, 60000, note_problem, p, &n), TK_OK);
    return n;
}

/* ---- store operations ---- */

static void orders_all_or_nothing_every_mode(void **state)
{
    struct fx *f = *state;
    struct tk_order *o = malloc(sizeof *o);
    for (size_t m = 0; m < 4; m++) {
        char key[16];
        snprintf(key, sizeof key, "tk_a%zu", m);
        int64_t u = user(f, key, 0);
        int64_t ids[3], stock[3] = {10, 5, 3};
        product(f, "shirt", 3, stock, ids);
        /* two items: both reserved, listed by option id, priced when ordered */
        int64_t sorted[2] = {ids[0], ids[1]};
        int qs[2] = {4, 2};
        assert_int_equal(order(f, MODES[m], u, 2, sorted, qs, T0, o), TK_OK);
        assert_int_equal(o->nitems, 2);
        assert_int_equal(o->items[0].option_id, ids[0]);
        assert_int_equal(o->items[0].quantity, 4);
        assert_int_equal(o->items[0].price_won, 1000);
        assert_int_equal(o->items[1].price_won, 2000);
        assert_int_equal(o->total_won, 4 * 1000 + 2 * 2000);
        assert_int_equal(o->expires_at_ms, T0 + HOLD);
        assert_int_equal(o->state, ORDER_PENDING);
        assert_int_equal(stock_at(f, ids[0], T0), 6);
        assert_int_equal(stock_at(f, ids[1], T0), 3);
        /* one item short: nothing reserved, and the short options are named */
        int64_t three[3] = {ids[0], ids[1], ids[2]};
        int q3[3] = {6, 4, 4};
        assert_int_equal(order(f, MODES[m], u, 3, three, q3, T0, o), TK_ERR_OUT_OF_STOCK);
        assert_int_equal(o->nbad, 2);
        assert_int_equal(o->bad_option_ids[0], ids[1]);
        assert_int_equal(o->bad_option_ids[1], ids[2]);
        assert_int_equal(stock_at(f, ids[0], T0), 6); /* the item that fitted was not kept */
        assert_int_equal(stock_at(f, ids[1], T0), 3);
        assert_int_equal(stock_at(f, ids[2], T0), 3);
        /* exactly what is left is fine; then nothing */
        int q1 = 3;
        assert_int_equal(order(f, MODES[m], u, 1, &ids[2], &q1, T0, o), TK_OK);
        q1 = 1;
        assert_int_equal(order(f, MODES[m], u, 1, &ids[2], &q1, T0, o), TK_ERR_OUT_OF_STOCK);
        assert_int_equal(stock_at(f, ids[2], T0), 0);
        /* an unknown option: NOT_FOUND naming it, nothing reserved */
        int64_t ghost[2] = {ids[0], 999999};
        int qg[2] = {1, 1};
        assert_int_equal(order(f, MODES[m], u, 2, ghost, qg, T0, o), TK_ERR_NOT_FOUND);
        assert_int_equal(o->nbad, 1);
        assert_int_equal(o->bad_option_ids[0], 999999);
        assert_int_equal(stock_at(f, ids[0], T0), 6);
    }
    struct problems p;
    assert_int_equal(audit(f, T0, &p), 0);
    free(o);
}

static void expiry_returns_stock_without_a_sweep(void **state)
{
    struct fx *f = *state;
    struct tk_order *o = malloc(sizeof *o), *o2 = malloc(sizeof *o2);
    for (size_t m = 0; m < 4; m++) {
        char key[16];
        snprintf(key, sizeof key, "tk_e%zu", m);
        int64_t u = user(f, key, 1000000);
        int64_t id, stock = 5;
        product(f, "cap", 1, &stock, &id);
        int q = 5;
        assert_int_equal(order(f, MODES[m], u, 1, &id, &q, T0, o), TK_OK);
        assert_int_equal(stock_at(f, id, T0 + HOLD - 1), 0);
        q = 1;
        assert_int_equal(order(f, MODES[m], u, 1, &id, &q, T0 + HOLD - 1, o2), TK_ERR_OUT_OF_STOCK);
        /* at exactly order_hold_ms the units are on hand again, no sweep has run */
        assert_int_equal(stock_at(f, id, T0 + HOLD), 5);
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT stock FROM product_options WHERE id = %lld", (long long)id);
        assert_int_equal(sql_int(f, sql), 0); /* not folded back yet: counted by time */
        q = 4;
        assert_int_equal(order(f, MODES[m], u, 1, &id, &q, T0 + HOLD, o2), TK_OK); /* the next writer folds them back */
        assert_int_equal(stock_at(f, id, T0 + HOLD), 1);
        /* the lapsed order cannot be paid, and nothing was debited */
        struct tk_order paid;
        assert_int_equal(pay(f, u, o->id, T0 + HOLD, &paid), TK_ERR_ORDER_EXPIRED);
        assert_int_equal(balance_of(f, u), 1000000);
        struct problems p;
        assert_int_equal(audit(f, T0 + HOLD, &p), 0);
    }
    /* the sweep marks the lapsed orders EXPIRED (idempotent) and reconcile then finds no stale PENDING order */
    int n = -1;
    assert_int_equal(store_orders_expire_due(f->st, T0 + 2 * HOLD, 100, &n), TK_OK);
    assert_true(n >= 4);
    assert_int_equal(store_orders_expire_due(f->st, T0 + 2 * HOLD, 100, &n), TK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM orders WHERE status = 'PENDING'"), 0);
    assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM order_items WHERE state = 'RESERVED'"), 0);
    struct problems p;
    assert_int_equal(audit(f, T0 + 3 * HOLD, &p), 0);
    free(o);
    free(o2);
}

static void payment_rules(void **state)
{
    struct fx *f = *state;
    int64_t rich = user(f, "tk_rich", 100000), poor = user(f, "tk_poor", 1000), other = user(f, "tk_other", 100000);
    int64_t ids[2], stock[2] = {10, 10};
    int64_t pid = product(f, "mug", 2, stock, ids);
    struct tk_order *o = malloc(sizeof *o), *r = malloc(sizeof *r);
    int q[2] = {3, 1};
    assert_int_equal(order(f, TK_WRITE_ATOMIC, poor, 2, ids, q, T0, o), TK_OK);
    assert_int_equal(o->total_won, 5000);
    assert_int_equal(pay(f, poor, o->id, T0 + 1, r), TK_ERR_INSUFFICIENT_BALANCE);
    assert_int_equal(balance_of(f, poor), 1000);
    assert_int_equal(pay(f, other, o->id, T0 + 1, r), TK_ERR_NOT_FOUND); /* someone else's */
    assert_int_equal(store_order_get(f->st, other, o->id, r), TK_ERR_NOT_FOUND);
    assert_int_equal(pay(f, poor, 999999, T0 + 1, r), TK_ERR_NOT_FOUND);

    assert_int_equal(order(f, TK_WRITE_ATOMIC, rich, 2, ids, q, T0, o), TK_OK);
    assert_int_equal(pay(f, rich, o->id, T0 + 1, r), TK_OK);
    assert_int_equal(r->state, ORDER_PAID);
    assert_int_equal(r->balance_won, 95000);
    assert_int_equal(balance_of(f, rich), 95000);
    assert_int_equal(pay(f, rich, o->id, T0 + 2, r), TK_ERR_ALREADY_PAID);
    assert_int_equal(balance_of(f, rich), 95000);
    assert_int_equal(store_order_get(f->st, rich, o->id, r), TK_OK);
    assert_int_equal(r->state, ORDER_PAID);
    assert_int_equal(r->balance_won, 95000);
    assert_int_equal(r->nitems, 2);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM ledger WHERE user_id = %lld AND kind = 'ORDER_PAYMENT' AND "
                              "amount = -5000 AND ref = 'order:%lld'", (long long)rich, (long long)o->id);
    assert_int_equal(sql_int(f, sql), 1);
    snprintf(sql, sizeof sql, "SELECT units FROM daily_popular_products WHERE product_id = %lld AND day = %lld",
             (long long)pid, (long long)store_day_of(T0 + 1));
    assert_int_equal(sql_int(f, sql), 4);
    /* paid units stay sold after the hold: the stock does not come back */
    assert_int_equal(stock_at(f, ids[0], T0 + 10 * HOLD), 7); /* poor's lapsed 3 are back, rich's 3 are not */
    struct problems p;
    assert_int_equal(audit(f, T0 + 2, &p), 0);
    free(o);
    free(r);
}

struct cart_ctx {
    int n;
    struct tk_cart_item items[CART_ITEMS_MAX + 1];
};

static int cart_row(void *arg, const struct tk_cart_item *it)
{
    struct cart_ctx *c = arg;
    c->items[c->n++] = *it;
    return TK_OK;
}

static void carts(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "tk_cart", 0), v = user(f, "tk_cart2", 0);
    int64_t ids[PRODUCT_OPTIONS_MAX], stock[PRODUCT_OPTIONS_MAX];
    for (int i = 0; i < PRODUCT_OPTIONS_MAX; i++)
        stock[i] = 100;
    product(f, "sticker", PRODUCT_OPTIONS_MAX, stock, ids);
    int64_t extra;
    product(f, "pin", 1, stock, &extra);
    struct tk_cart_item it, it2;
    assert_int_equal(store_cart_add(f->st, u, ids[0], 40, T0, &it), TK_OK);
    assert_int_equal(it.quantity, 40);
    assert_int_equal(store_cart_add(f->st, u, ids[0], 60, T0, &it2), TK_OK); /* adds up, same line */
    assert_int_equal(it2.id, it.id);
    assert_int_equal(it2.quantity, 100);
    assert_int_equal(store_cart_add(f->st, u, ids[0], 1, T0, &it2), TK_ERR_INVALID); /* 101 */
    assert_int_equal(it2.quantity, 100);
    assert_int_equal(store_cart_add(f->st, u, 999999, 1, T0, &it2), TK_ERR_NOT_FOUND);
    for (int i = 1; i < CART_ITEMS_MAX; i++)
        assert_int_equal(store_cart_add(f->st, u, ids[i], 1, T0, &it2), TK_OK);
    assert_int_equal(store_cart_add(f->st, u, extra, 1, T0, &it2), TK_ERR_INVALID); /* a 21st option */
    assert_int_equal(it2.quantity, 0);
    struct cart_ctx c = {0};
    assert_int_equal(store_cart_list(f->st, u, cart_row, &c), TK_OK);
    assert_int_equal(c.n, CART_ITEMS_MAX);
    assert_int_equal(c.items[0].option_id, ids[0]);
    assert_int_equal(c.items[0].price_won, 1000);
    assert_string_equal(c.items[0].product_name, "sticker");
    assert_string_equal(c.items[0].option_name, "o0");
    /* someone else's line: NOT_FOUND, still there */
    assert_int_equal(store_cart_remove(f->st, v, it.id), TK_ERR_NOT_FOUND);
    assert_int_equal(store_cart_remove(f->st, u, c.items[19].id), TK_OK);
    assert_int_equal(store_cart_remove(f->st, u, c.items[19].id), TK_ERR_NOT_FOUND);
    /* an order from the cart empties the lines it read; a line changed since stays */
    struct tk_order_req *r = calloc(1, sizeof *r);
    r->user_id = u;
    r->now_ms = T0;
    r->hold_ms = HOLD;
    for (int i = 0; i < 2; i++) {
        r->items[r->nitems++] = (struct tk_order_line){.option_id = c.items[i].option_id, .quantity = c.items[i].quantity};
        r->cart[r->ncart++] = (struct tk_cart_take){.cart_item_id = c.items[i].id, .quantity = c.items[i].quantity};
    }
    r->cart[1].quantity = 7; /* as if the line had changed since the cart was read */
    struct tk_order *o = malloc(sizeof *o);
    assert_int_equal(store_order_create(f->st, TK_WRITE_ATOMIC, r, o), TK_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_cart_list(f->st, u, cart_row, &c), TK_OK);
    assert_int_equal(c.n, CART_ITEMS_MAX - 2);
    assert_int_equal(c.items[0].option_id, ids[1]);
    free(r);
    free(o);
}

static void organizer_stock_change(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "tk_org", 0);
    int64_t id, stock = 10;
    product(f, "poster", 1, &stock, &id);
    struct tk_order *o = malloc(sizeof *o);
    int q = 4;
    assert_int_equal(order(f, TK_WRITE_ATOMIC, u, 1, &id, &q, T0, o), TK_OK);
    struct tk_option opt;
    struct tk_option_patch p = {.option_id = id, .has_stock = true, .stock = 50};
    assert_int_equal(store_option_update(f->st, &p, 0, T0, &opt), TK_OK);
    assert_int_equal(opt.stock, 50);
    assert_int_equal(opt.price_won, 1000);
    assert_int_equal(stock_at(f, id, T0), 50);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT stocked FROM product_options WHERE id = %lld", (long long)id);
    assert_int_equal(sql_int(f, sql), 54); /* 50 on hand + the 4 still reserved */
    p = (struct tk_option_patch){.option_id = id, .has_price = true, .price_won = 1500};
    assert_int_equal(store_option_update(f->st, &p, 7, T0, &opt), TK_OK);
    assert_int_equal(opt.price_won, 1500);
    assert_int_equal(opt.stock, 50);
    assert_int_equal(store_option_update(f->st, &p, 7, T0, &opt), TK_ERR_CONFLICT); /* not a newer fence */
    assert_int_equal(store_option_update(f->st, &p, 6, T0, &opt), TK_ERR_CONFLICT);
    p.option_id = 999999;
    assert_int_equal(store_option_update(f->st, &p, 0, T0, &opt), TK_ERR_NOT_FOUND);
    /* lapsed units at the time of the change are folded back first: 0 on hand means 0 */
    p = (struct tk_option_patch){.option_id = id, .has_stock = true, .stock = 0};
    assert_int_equal(store_option_update(f->st, &p, 0, T0 + HOLD, &opt), TK_OK);
    assert_int_equal(stock_at(f, id, T0 + HOLD), 0);
    /* the fenced unsafe write is refused under an older token */
    p = (struct tk_option_patch){.option_id = id, .has_stock = true, .stock = 5};
    assert_int_equal(store_option_update(f->st, &p, 0, T0 + HOLD, &opt), TK_OK);
    struct tk_order_req *r = calloc(1, sizeof *r);
    *r = (struct tk_order_req){.user_id = u, .nitems = 1, .now_ms = T0 + HOLD, .hold_ms = HOLD};
    r->items[0] = (struct tk_order_line){.option_id = id, .quantity = 1};
    r->fences[0] = 3; /* older than 7 */
    assert_int_equal(store_order_create(f->st, TK_WRITE_UNSAFE, r, o), TK_ERR_CONFLICT);
    r->fences[0] = 8;
    assert_int_equal(store_order_create(f->st, TK_WRITE_UNSAFE, r, o), TK_OK);
    assert_int_equal(stock_at(f, id, T0 + HOLD), 4);
    struct problems pr;
    assert_int_equal(audit(f, T0 + HOLD, &pr), 0);
    free(r);
    free(o);
}

struct pop_ctx {
    int n;
    struct tk_popular rows[8];
};

static int pop_row(void *arg, const struct tk_popular *p)
{
    struct pop_ctx *c = arg;
    c->rows[c->n++] = *p;
    return TK_OK;
}

static void popular_products(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "tk_pop", 100000000);
    int64_t stock = 1000, opt[7], prod[7];
    for (int i = 0; i < 7; i++) {
        char name[8];
        snprintf(name, sizeof name, "p%d", i);
        prod[i] = product(f, name, 1, &stock, &opt[i]);
    }
    /* units by product: p0 5, p1 9, p2 9, p3 1, p4 7 (on day 1) + 5 (day 3), p5 2, p6 0 */
    const int units[7] = {5, 9, 9, 1, 7, 2, 0};
    const int64_t day = 86400000;
    struct tk_order *o = malloc(sizeof *o), *r = malloc(sizeof *r);
    for (int i = 0; i < 7; i++) {
        if (!units[i])
            continue;
        int q = units[i];
        assert_int_equal(order(f, TK_WRITE_ATOMIC, u, 1, &opt[i], &q, T0 + day, o), TK_OK);
        assert_int_equal(pay(f, u, o->id, T0 + day, r), TK_OK);
    }
    int q = 5;
    assert_int_equal(order(f, TK_WRITE_ATOMIC, u, 1, &opt[4], &q, T0 + 3 * day, o), TK_OK);
    assert_int_equal(pay(f, u, o->id, T0 + 3 * day, r), TK_OK);
    q = 50; /* ordered but never paid: not counted */
    assert_int_equal(order(f, TK_WRITE_ATOMIC, u, 1, &opt[6], &q, T0 + day, o), TK_OK);
    int64_t d1 = store_day_of(T0 + day);
    struct pop_ctx c = {0};
    assert_int_equal(store_popular(f->st, d1, d1 + 2, 5, pop_row, &c), TK_OK);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.rows[0].product_id, prod[4]); /* 12 */
    assert_int_equal(c.rows[0].units, 12);
    assert_int_equal(c.rows[1].product_id, prod[1]); /* 9, tie with p2: lower id first */
    assert_int_equal(c.rows[2].product_id, prod[2]);
    assert_int_equal(c.rows[3].product_id, prod[0]);
    assert_int_equal(c.rows[4].product_id, prod[5]); /* 2 beats p3's 1: the top 5 only */
    assert_string_equal(c.rows[0].name, "p4");
    memset(&c, 0, sizeof c);
    assert_int_equal(store_popular(f->st, d1, d1, 5, pop_row, &c), TK_OK); /* day 1 only: p4 has 7 */
    assert_int_equal(c.rows[0].product_id, prod[1]);
    assert_int_equal(c.rows[2].product_id, prod[4]);
    memset(&c, 0, sizeof c);
    assert_int_equal(store_popular(f->st, d1 + 10, d1 + 20, 5, pop_row, &c), TK_OK); /* an empty range */
    assert_int_equal(c.n, 0);
    /* core: the range rules */
    assert_int_equal(shop_popular(&f->app, d1, d1 + 89, pop_row, &c), TK_OK);
    assert_int_equal(shop_popular(&f->app, d1, d1 + 90, pop_row, &c), TK_ERR_INVALID); /* 91 days */
    assert_int_equal(shop_popular(&f->app, d1 + 1, d1, pop_row, &c), TK_ERR_INVALID);
    int n;
    assert_int_equal(store_orders_expire_due(f->st, T0 + 3 * day, 100, &n), TK_OK); /* p6's lapsed order */
    assert_int_equal(n, 1);
    struct problems p;
    assert_int_equal(audit(f, T0 + 3 * day, &p), 0);
    free(o);
    free(r);
}

static void audit_names_corrupted_rows(void **state)
{
    struct fx *f = *state;
    int64_t u = user(f, "tk_aud", 100000);
    int64_t ids[2], stock[2] = {10, 10};
    int64_t pid = product(f, "bag", 2, stock, ids);
    struct tk_order *o = malloc(sizeof *o), *r = malloc(sizeof *r);
    int q[2] = {1, 2};
    assert_int_equal(order(f, TK_WRITE_ATOMIC, u, 2, ids, q, T0, o), TK_OK);
    assert_int_equal(pay(f, u, o->id, T0, r), TK_OK);
    struct problems p;
    assert_int_equal(audit(f, T0, &p), 0);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE product_options SET stock = stock + 1 WHERE id = %lld", (long long)ids[1]);
    testdb_exec(&f->db, sql);
    assert_int_equal(audit(f, T0, &p), 1);
    char want[64];
    snprintf(want, sizeof want, "product_options.id=%lld:", (long long)ids[1]);
    assert_non_null(strstr(p.last, want));
    snprintf(sql, sizeof sql, "UPDATE product_options SET stock = stock - 1 WHERE id = %lld", (long long)ids[1]);
    testdb_exec(&f->db, sql);
    snprintf(sql, sizeof sql, "UPDATE daily_popular_products SET units = units + 1 WHERE product_id = %lld",
             (long long)pid);
    testdb_exec(&f->db, sql);
    assert_int_equal(audit(f, T0, &p), 1);
    assert_non_null(strstr(p.last, "daily_popular_products"));
    snprintf(sql, sizeof sql, "UPDATE daily_popular_products SET units = units - 1 WHERE product_id = %lld",
             (long long)pid);
    testdb_exec(&f->db, sql);
    snprintf(sql, sizeof sql, "DELETE FROM ledger WHERE ref = 'order:%lld'", (long long)o->id);
    testdb_exec(&f->db, sql);
    assert_true(audit(f, T0, &p) >= 2); /* the balance no longer matches, and the paid order lacks its entry */
    snprintf(want, sizeof want, "orders.id=%lld:", (long long)o->id);
    assert_non_null(strstr(p.last, want));
    free(o);
    free(r);
}

static void batches_of_one_option(void **state)
{
    struct fx *f = *state;
    int64_t id, stock = 5;
    product(f, "batch", 1, &stock, &id);
    int64_t u[4];
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "tk_batch%d", i);
        u[i] = user(f, key, 0);
    }
    /* a claim of user 3, then taken over: its order must be dropped, the others kept */
    struct tk_idem rec = {0};
    assert_int_equal(store_idem_claim(f->st, u[3], "k3", "h", T0, T0 + 86400000, 41, &rec), TK_OK);
    assert_int_equal(store_idem_takeover(f->st, u[3], "k3", 41, 42, T0), TK_OK);
    struct tk_idem_ref lost = {.user_id = u[3], .key = "k3", .claim = 41};
    struct tk_order *o = calloc(5, sizeof *o);
    struct tk_order_batch_item it[5] = {
        {.user_id = u[0], .quantity = 2, .out = &o[0]}, {.user_id = u[1], .quantity = 2, .out = &o[1]},
        {.user_id = u[2], .quantity = 2, .out = &o[2]}, {.idem = &lost, .user_id = u[3], .quantity = 1, .out = &o[3]},
        {.user_id = u[2], .quantity = 1, .out = &o[4]},
    };
    assert_int_equal(store_order_batch(f->st, id, T0, HOLD, it, 5), TK_OK);
    assert_int_equal(it[0].rc, TK_OK);
    assert_int_equal(it[1].rc, TK_OK);
    assert_int_equal(it[2].rc, TK_ERR_OUT_OF_STOCK); /* 2 > the 1 left: refused whole */
    assert_int_equal(o[2].nbad, 1);
    assert_int_equal(o[2].bad_option_ids[0], id);
    assert_int_equal(it[3].rc, TK_ERR_CLAIM_LOST);
    assert_int_equal(it[4].rc, TK_OK); /* first come first served, each whole */
    assert_int_equal(o[0].nitems, 1);
    assert_int_equal(o[0].items[0].option_id, id);
    assert_int_equal(o[0].total_won, 2000);
    assert_int_equal(o[0].expires_at_ms, T0 + HOLD);
    assert_string_equal(o[0].items[0].product_name, "batch");
    struct tk_order r;
    assert_int_equal(store_order_get(f->st, u[0], o[0].id, &r), TK_OK);
    assert_int_equal(r.items[0].quantity, 2);
    assert_int_equal(stock_at(f, id, T0), 0);
    /* sold out: the snapshot decides, nothing written */
    it[0].rc = it[1].rc = -99;
    assert_int_equal(store_order_batch(f->st, id, T0, HOLD, it, 2), TK_OK);
    assert_int_equal(it[0].rc, TK_ERR_OUT_OF_STOCK);
    assert_int_equal(it[1].rc, TK_ERR_OUT_OF_STOCK);
    /* at the hold, the lapsed units are taken again */
    assert_int_equal(store_order_batch(f->st, id, T0 + HOLD, HOLD, it, 2), TK_OK);
    assert_int_equal(it[0].rc, TK_OK);
    assert_int_equal(it[1].rc, TK_OK);
    assert_int_equal(stock_at(f, id, T0 + HOLD), 1);
    assert_int_equal(store_order_batch(f->st, 999999, T0, HOLD, it, 1), TK_OK);
    assert_int_equal(it[0].rc, TK_ERR_NOT_FOUND);
    assert_int_equal(store_idem_release(f->st, u[3], "k3", 42), TK_OK); /* (the test's own claim, never used) */
    struct problems p;
    assert_int_equal(audit(f, T0 + HOLD, &p), 0);
    free(o);
}

/* ---- core/shop.c ---- */

static void core_rules(void **state)
{
    struct fx *f = *state;
    struct tk_app *a = &f->app;
    int64_t u = user(f, "tk_core", 100000);
    int64_t ids[2], stock[2] = {3, 3};
    product(f, "scarf", 2, stock, ids);
    struct tk_order *o = malloc(sizeof *o), *r = malloc(sizeof *r);
    struct tk_order_line l[ORDER_ITEMS_MAX + 1];
    for (int i = 0; i <= ORDER_ITEMS_MAX; i++)
        l[i] = (struct tk_order_line){.option_id = ids[0] + i, .quantity = 1};
    assert_int_equal(shop_order_create(a, u, l, 0, NULL, o), TK_ERR_INVALID);
    assert_int_equal(shop_order_create(a, u, l, ORDER_ITEMS_MAX + 1, NULL, o), TK_ERR_INVALID); /* 21 items */
    struct tk_order_line bad[2] = {{ids[0], 0}, {ids[1], 1}};
    assert_int_equal(shop_order_create(a, u, bad, 2, NULL, o), TK_ERR_INVALID); /* quantity 0 */
    bad[0].quantity = ORDER_QUANTITY_MAX + 1;
    assert_int_equal(shop_order_create(a, u, bad, 2, NULL, o), TK_ERR_INVALID); /* 101 */
    struct tk_order_line dup[2] = {{ids[1], 1}, {ids[1], 1}};
    assert_int_equal(shop_order_create(a, u, dup, 2, NULL, o), TK_ERR_INVALID);
    assert_int_equal(stock_at(f, ids[0], T0), 3);
    assert_int_equal(stock_at(f, ids[1], T0), 3);
    /* items come back by option id whatever the order asked */
    struct tk_order_line two[2] = {{ids[1], 1}, {ids[0], 2}};
    assert_int_equal(shop_order_create(a, u, two, 2, NULL, o), TK_OK);
    assert_int_equal(o->items[0].option_id, ids[0]);
    assert_int_equal(o->items[0].quantity, 2);
    assert_int_equal(shop_order_state(o, T0), ORDER_PENDING);
    /* the fake clock passes the hold: EXPIRED by time, the stock back, payment refused, nothing swept yet */
    clock_fake_advance(&f->clock, HOLD);
    assert_int_equal(shop_order_get(a, u, o->id, r), TK_OK);
    assert_int_equal(r->state, ORDER_PENDING);
    assert_int_equal(shop_order_state(r, app_now_ms(a)), ORDER_EXPIRED);
    assert_int_equal(stock_at(f, ids[0], app_now_ms(a)), 3);
    assert_int_equal(shop_order_pay(a, u, o->id, NULL, r), TK_ERR_ORDER_EXPIRED);
    assert_int_equal(balance_of(f, u), 100000);
    assert_int_equal(shop_sweep(a), TK_OK);
    assert_int_equal(shop_order_get(a, u, o->id, r), TK_OK);
    assert_int_equal(r->state, ORDER_EXPIRED);
    /* a fresh order pays, once */
    assert_int_equal(shop_order_create(a, u, two, 2, NULL, o), TK_OK);
    assert_int_equal(shop_order_pay(a, u, o->id, NULL, r), TK_OK);
    assert_int_equal(r->balance_won, 100000 - 2 * 1000 - 2000);
    assert_int_equal(shop_order_pay(a, u, o->id, NULL, r), TK_ERR_ALREADY_PAID);
    /* the organizer's limits */
    struct tk_option opt;
    struct tk_option_patch p = {.option_id = ids[0]};
    assert_int_equal(shop_option_update(a, &p, &opt), TK_ERR_INVALID); /* nothing to change */
    p = (struct tk_option_patch){.option_id = ids[0], .has_stock = true, .stock = -1};
    assert_int_equal(shop_option_update(a, &p, &opt), TK_ERR_INVALID);
    p = (struct tk_option_patch){.option_id = ids[0], .has_price = true, .price_won = 0};
    assert_int_equal(shop_option_update(a, &p, &opt), TK_ERR_INVALID);
    struct tk_option_new on = {.name = "", .price_won = 1, .stock = 1};
    struct tk_product_new pn = {.name = "x", .noptions = 1, .options = &on};
    assert_int_equal(shop_check_product(&pn), TK_ERR_INVALID);
    on.name = "ok";
    assert_int_equal(shop_check_product(&pn), TK_OK);
    on.stock = OPTION_STOCK_MAX + 1;
    assert_int_equal(shop_check_product(&pn), TK_ERR_INVALID);
    /* dates */
    int64_t d;
    assert_int_equal(shop_parse_day("2027-01-15", &d), TK_OK);
    assert_int_equal(d, store_day_of(T0));
    assert_int_equal(shop_parse_day("2027-02-29", &d), TK_ERR_INVALID);
    assert_int_equal(shop_parse_day("2027-1-15", &d), TK_ERR_INVALID);
    assert_int_equal(shop_parse_day("2027-01-15T00:00:00Z", &d), TK_ERR_INVALID);
    assert_int_equal(shop_parse_day("", &d), TK_ERR_INVALID);
    char buf[16];
    shop_format_day(store_day_of(T0), buf, sizeof buf);
    assert_string_equal(buf, "2027-01-15");
    struct problems pr;
    assert_int_equal(audit(f, app_now_ms(a), &pr), 0);
    free(o);
    free(r);
}

/* ---- concurrent buyers through core/shop.c ---- */

#define BUYERS 8
#define TRIES 40

struct buyer {
    struct fx *f;
    struct tk_app *app;
    int64_t user;
    int64_t opts[2];
    int index;
    int ok, out, other;
};

static void *buyer_main(void *arg)
{
    struct buyer *b = arg;
    struct tk_order *o = malloc(sizeof *o);
    for (int i = 0; i < TRIES; i++) {
        /* half the buyers order (A, B), half (B, A): the lock order must make that harmless */
        struct tk_order_line l[2] = {{b->opts[b->index % 2], 1}, {b->opts[(b->index + 1) % 2], 1}};
        int rc = shop_order_create(b->app, b->user, l, i % 3 == 0 ? 1 : 2, NULL, o);
        if (rc == TK_OK)
            b->ok++;
        else if (rc == TK_ERR_OUT_OF_STOCK)
            b->out++;
        else
            b->other++;
    }
    free(o);
    return NULL;
}

static void concurrent_buyers_every_strategy(void **state)
{
    struct fx *f = *state;
    /* atomic twice: one order at a time, and through the combiner of a hot option (as serve runs it) */
    static const char *const STRATEGIES[] = {"atomic", "atomic", "pessimistic", "optimistic", "mutex"};
    for (size_t s = 0; s < sizeof STRATEGIES / sizeof STRATEGIES[0]; s++) {
        struct tk_app app = f->app;
        char err[128];
        assert_int_equal(strategy_open(STRATEGIES[s], 1000, &app.strategy, err, sizeof err), TK_OK);
        if (s == 1)
            assert_int_equal(shop_batcher_new(&app.shop_batcher), TK_OK);
        int64_t stock[2] = {60, 60}, ids[2];
        product(f, "rush", 2, stock, ids);
        struct buyer b[BUYERS];
        pthread_t t[BUYERS];
        for (int i = 0; i < BUYERS; i++) {
            char key[24];
            snprintf(key, sizeof key, "tk_b%zu_%d", s, i);
            b[i] = (struct buyer){.f = f, .app = &app, .user = user(f, key, 0), .opts = {ids[0], ids[1]}, .index = i};
            assert_int_equal(pthread_create(&t[i], NULL, buyer_main, &b[i]), 0);
        }
        int ok = 0, other = 0;
        for (int i = 0; i < BUYERS; i++) {
            pthread_join(t[i], NULL);
            ok += b[i].ok;
            other += b[i].other;
        }
        if (other)
            fprintf(stderr, "%s: %d orders failed otherwise\n", STRATEGIES[s], other);
        assert_int_equal(other, 0); /* no deadlock, no retry budget exhausted */
        char sql[160];
        for (int k = 0; k < 2; k++) {
            snprintf(sql, sizeof sql, "SELECT COALESCE(SUM(quantity), 0) FROM order_items WHERE option_id = %lld",
                     (long long)ids[k]);
            int64_t sold = sql_int(f, sql);
            assert_true(sold <= 60);                        /* never sold twice */
            assert_int_equal(stock_at(f, ids[k], T0), 60 - sold); /* never below zero, nothing lost */
        }
        assert_true(ok > 0);
        struct problems p;
        assert_int_equal(audit(f, T0, &p), 0);
        shop_batcher_free(app.shop_batcher);
        strategy_free(app.strategy);
    }
}

int main(int argc, char **argv)
{
    testdb_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(orders_all_or_nothing_every_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(expiry_returns_stock_without_a_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(payment_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(carts, setup, teardown),
        cmocka_unit_test_setup_teardown(organizer_stock_change, setup, teardown),
        cmocka_unit_test_setup_teardown(popular_products, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_names_corrupted_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(batches_of_one_option, setup, teardown),
        cmocka_unit_test_setup_teardown(core_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_buyers_every_strategy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
