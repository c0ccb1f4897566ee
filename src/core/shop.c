/* shop.c — the shop's rules (issue 12): products with options, a cart per user, orders that reserve the stock
 * of every item or of none and lapse after order_hold_ms, payment from the wallet with one ORDER_PAYMENT entry,
 * and the top products from daily sales aggregates (kept up by the payment's own transaction).
 *
 * What is decided here: the limits (items, quantities, names, prices, stock, date ranges), the order of the
 * items (by option id: the order the store writes them in and the order every answer lists them in), what a
 * lapsed order reads as (EXPIRED by time, whatever the sweep) and which lock keys a write takes:
 *   - an order runs under the keys of its options, "option:<id>" zero-padded so that strcmp order is id order,
 *     with every key's own fencing token (strategy_run_keys_fenced): two orders never wait on each other in a
 *     cycle, in the external locks as in the rows;
 *   - the organizer's change of an option under that option's key (it must not slip between an unsafe-mode
 *     order's read and write);
 *   - a payment under the payer's key, "user:<id>", like a seat payment: the money is the payer's.
 * The store does the atomic part in one transaction with the strategy's write mode (store.h order_create); the
 * decrement rule itself has one home per store (sqlite.c shop_take, pg_schema.h tk_shop_take). The lab's
 * `stock` scenario calls shop_order_create on its own product, so the lab measures what POST /orders runs. */
#include "core/app.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/exec.h"
#include "util/hmap.h"
#include "util/money.h"

#define DAY_MS 86400000LL

/* Order states (store.h enum tk_order_state) as data: PENDING -> PAID, PENDING -> EXPIRED; nothing leaves PAID
 * or EXPIRED. The stores carry a move out as a conditional update (… WHERE status = 'PENDING'); here is what an
 * order reads as. */
static const bool ORDER_MOVES[3][3] = {
    [ORDER_PENDING] = {[ORDER_PAID] = true, [ORDER_EXPIRED] = true},
};

enum tk_order_state shop_order_state(const struct tk_order *o, int64_t now_ms)
{
    if (o->state == ORDER_PENDING && o->expires_at_ms <= now_ms) {
        TK_ASSERT(ORDER_MOVES[ORDER_PENDING][ORDER_EXPIRED]);
        return ORDER_EXPIRED; /* by time: a lapsed order reads EXPIRED before any sweep marks it */
    }
    return o->state;
}

/* ---- products ---- */

int shop_check_product(const struct tk_product_new *in)
{
    if (!in->name || account_check_name(in->name) < 0)
        return TK_ERR_INVALID;
    if (in->noptions < 1 || in->noptions > PRODUCT_OPTIONS_MAX)
        return TK_ERR_INVALID;
    for (int i = 0; i < in->noptions; i++) {
        const struct tk_option_new *o = &in->options[i];
        if (!o->name || account_check_name(o->name) < 0 || money_check_amount(o->price_won) < 0 || o->stock < 0 ||
            o->stock > OPTION_STOCK_MAX)
            return TK_ERR_INVALID;
    }
    return TK_OK;
}

int shop_product_create(struct tk_app *app, const struct tk_product_new *in, struct tk_product *out)
{
    TK_TRY(shop_check_product(in));
    return store_product_create(app->store, in, app_now_ms(app), out);
}

int shop_products(struct tk_app *app, tk_product_fn fn, void *arg)
{
    return store_products_list(app->store, app_now_ms(app), SHOP_PRODUCTS_LIST_MAX, fn, arg);
}

int shop_product(struct tk_app *app, int64_t product_id, struct tk_product *out)
{
    return store_product_get(app->store, product_id, app_now_ms(app), out);
}

/* The lock key of an option: zero-padded, so that strcmp order (the strategy's) is id order (the rows'). */
static void option_key(int64_t option_id, char key[LOCK_KEY_MAX])
{
    snprintf(key, LOCK_KEY_MAX, "option:%020lld", (long long)option_id);
}

struct option_op {
    struct tk_app *app;
    const struct tk_option_patch *p;
    struct tk_option *out;
};

static int option_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)mode; /* always one transaction holding the row: a restock is rare and must never be lost */
    struct option_op *op = arg;
    return store_option_update(op->app->store, op->p, fence, app_now_ms(op->app), op->out);
}

int shop_option_update(struct tk_app *app, const struct tk_option_patch *p, struct tk_option *out)
{
    if (!p->has_stock && !p->has_price)
        return TK_ERR_INVALID;
    if (p->has_stock && (p->stock < 0 || p->stock > OPTION_STOCK_MAX))
        return TK_ERR_INVALID;
    if (p->has_price && money_check_amount(p->price_won) < 0)
        return TK_ERR_INVALID;
    char key[LOCK_KEY_MAX];
    option_key(p->option_id, key);
    struct option_op op = {.app = app, .p = p, .out = out};
    return strategy_run(app->strategy, key, option_write, &op);
}

/* ---- the cart ---- */

int shop_cart_add(struct tk_app *app, int64_t user_id, int64_t option_id, int quantity, struct tk_cart_item *out)
{
    memset(out, 0, sizeof *out);
    if (quantity < 1 || quantity > ORDER_QUANTITY_MAX)
        return TK_ERR_INVALID;
    return store_cart_add(app->store, user_id, option_id, quantity, app_now_ms(app), out);
}

int shop_cart_list(struct tk_app *app, int64_t user_id, tk_cart_fn fn, void *arg)
{
    return store_cart_list(app->store, user_id, fn, arg);
}

int shop_cart_remove(struct tk_app *app, int64_t user_id, int64_t cart_item_id)
{
    return store_cart_remove(app->store, user_id, cart_item_id);
}

/* ---- orders ---- */

struct order_op {
    struct tk_app *app;
    struct tk_order_req req;
    struct tk_order *out;
};

static int order_write(void *arg, enum tk_write_mode mode, const int64_t *fences)
{
    struct order_op *op = arg;
    op->req.now_ms = app_now_ms(op->app);
    memcpy(op->req.fences, fences, sizeof op->req.fences[0] * (size_t)op->req.nitems);
    return store_order_create(op->app->store, mode, &op->req, op->out);
}

static int line_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct tk_order_line *)a)->option_id, y = ((const struct tk_order_line *)b)->option_id;
    return (x > y) - (x < y);
}

/* Runs an order prepared in op->req (items, cart lines) under the keys of its options. */
static int order_run(struct tk_app *app, struct order_op *op)
{
    struct tk_order_req *r = &op->req;
    TK_ASSERT(app->order_hold_ms > 0);
    if (r->nitems < 1 || r->nitems > ORDER_ITEMS_MAX)
        return TK_ERR_INVALID;
    for (int i = 0; i < r->nitems; i++)
        if (r->items[i].option_id < 1 || r->items[i].quantity < 1 || r->items[i].quantity > ORDER_QUANTITY_MAX)
            return TK_ERR_INVALID;
    qsort(r->items, (size_t)r->nitems, sizeof r->items[0], line_cmp); /* id order: the rows' and the answer's */
    for (int i = 1; i < r->nitems; i++)
        if (r->items[i].option_id == r->items[i - 1].option_id)
            return TK_ERR_INVALID; /* an option twice: ambiguous, refused (docs/DECISIONS.md "Shop") */
    r->hold_ms = app->order_hold_ms;
    char keys[ORDER_ITEMS_MAX][LOCK_KEY_MAX];
    const char *kp[ORDER_ITEMS_MAX];
    for (int i = 0; i < r->nitems; i++) {
        option_key(r->items[i].option_id, keys[i]);
        kp[i] = keys[i];
    }
    memset(op->out, 0, sizeof *op->out);
    return strategy_run_keys_fenced(app->strategy, kp, r->nitems, order_write, op);
}

/* ---- the combiner of a hot option ----
 * A flash sale is thousands of one-item orders of ONE option: one at a time, each would lock the option's row and
 * hold it through its own commit's flush, so the row, not the machine, would set the pace (shared/LIMITS.md: a hot
 * row tops out at a few thousand commits a second; one statement standing for many operations is worth ~85×).
 * So under the atomic mode without an external lock, the single-item orders of one option that meet in this
 * process are reserved together: the first becomes the leader, takes every waiting order of that option (at most
 * ORDER_BATCH_MAX, first come first served) and runs them as ONE store transaction with the same rule; the others
 * wait for its answer — as long as they would otherwise wait on the row lock — and whoever comes meanwhile forms the
 * next batch. Each order is still reserved whole or refused, and still records its own Idempotency-Key effect. */
#define BATCH_STRIPES 256 /* an option's waiters meet in its stripe; two options sharing one only take turns */
struct batch_wait {
    struct batch_wait *next;
    int64_t option_id;
    struct tk_order_batch_item item;
    bool done;
};
struct batch_stripe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch_wait *head;
    bool leading;
};
struct shop_batcher {
    struct batch_stripe s[BATCH_STRIPES];
};

int shop_batcher_new(struct shop_batcher **out)
{
    struct shop_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return TK_ERR_NOMEM;
    for (int i = 0; i < BATCH_STRIPES; i++) {
        pthread_mutex_init(&b->s[i].mu, NULL);
        pthread_cond_init(&b->s[i].cv, NULL);
    }
    *out = b;
    return TK_OK;
}

void shop_batcher_free(struct shop_batcher *b)
{
    if (!b)
        return;
    for (int i = 0; i < BATCH_STRIPES; i++) {
        TK_ASSERT(!b->s[i].head && !b->s[i].leading);
        pthread_mutex_destroy(&b->s[i].mu);
        pthread_cond_destroy(&b->s[i].cv);
    }
    free(b);
}

static bool batchable(const struct tk_app *app, int n)
{
    return app->shop_batcher && n == 1 && app->strategy->ops->mode == TK_WRITE_ATOMIC && !app->strategy->ops->try_lock;
}

/* One pass: waits in the option's stripe until a batch (led by this request or another) has decided this order. */
static int batch_once(struct tk_app *app, int64_t user_id, const struct tk_order_line *line,
                      const struct tk_idem_ref *idem, struct tk_order *out)
{
    struct batch_stripe *s = &app->shop_batcher->s[hash_u64((uint64_t)line->option_id) & (BATCH_STRIPES - 1)];
    struct batch_wait me = {.option_id = line->option_id,
                            .item = {.idem = idem, .user_id = user_id, .quantity = line->quantity, .out = out}};
    pthread_mutex_lock(&s->mu);
    struct batch_wait **tail = &s->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &me;
    while (!me.done) {
        if (s->leading) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        s->leading = true; /* lead: take the waiting orders of this option, first come first served */
        struct batch_wait *taken[ORDER_BATCH_MAX];
        struct tk_order_batch_item items[ORDER_BATCH_MAX];
        int n = 0;
        for (struct batch_wait **pp = &s->head; *pp && n < ORDER_BATCH_MAX;) {
            if ((*pp)->option_id == me.option_id) {
                taken[n] = *pp;
                items[n] = (*pp)->item;
                n++;
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
        pthread_mutex_unlock(&s->mu);
        int rc = store_order_batch(app->store, me.option_id, app_now_ms(app), app->order_hold_ms, items, n);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++) {
            taken[i]->item.rc = rc < 0 ? rc : items[i].rc;
            taken[i]->done = true;
        }
        s->leading = false;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return me.item.rc;
}

static int order_batched(struct tk_app *app, int64_t user_id, const struct tk_order_line *line,
                         const struct tk_idem_ref *idem, struct tk_order *out)
{
    TK_ASSERT(app->order_hold_ms > 0);
    if (line->option_id < 1 || line->quantity < 1 || line->quantity > ORDER_QUANTITY_MAX)
        return TK_ERR_INVALID;
    for (;;) {
        int rc = batch_once(app, user_id, line, idem, out);
        if (rc != TK_ERR_BUSY)
            return rc;
        /* the batch's transaction met a lock held elsewhere and changed nothing: this request waits its turn like
         * any other (on a worker: re-scheduled, TK_ERR_BUSY; off one: slept, then tried again) */
        TK_TRY(exec_defer_backoff(1000, 50000));
    }
}

int shop_order_create(struct tk_app *app, int64_t user_id, const struct tk_order_line *lines, int n,
                      const struct tk_idem_ref *idem, struct tk_order *out)
{
    if (n < 1 || n > ORDER_ITEMS_MAX)
        return TK_ERR_INVALID;
    if (batchable(app, n))
        return order_batched(app, user_id, lines, idem, out);
    struct order_op *op = calloc(1, sizeof *op);
    if (!op)
        return TK_ERR_NOMEM;
    op->app = app;
    op->out = out;
    op->req.idem = idem;
    op->req.user_id = user_id;
    op->req.nitems = n;
    memcpy(op->req.items, lines, sizeof lines[0] * (size_t)n);
    int rc = order_run(app, op);
    free(op);
    return rc;
}

struct cart_read {
    struct tk_order_req *req;
};

static int cart_line(void *arg, const struct tk_cart_item *c)
{
    struct tk_order_req *r = ((struct cart_read *)arg)->req;
    if (r->ncart >= CART_ITEMS_MAX)
        return TK_OK; /* a cart never holds more (the store's limit); ignore rather than fail */
    r->items[r->nitems++] = (struct tk_order_line){.option_id = c->option_id, .quantity = c->quantity};
    r->cart[r->ncart++] = (struct tk_cart_take){.cart_item_id = c->id, .quantity = c->quantity};
    return TK_OK;
}

int shop_order_from_cart(struct tk_app *app, int64_t user_id, const struct tk_idem_ref *idem, struct tk_order *out)
{
    struct order_op *op = calloc(1, sizeof *op);
    if (!op)
        return TK_ERR_NOMEM;
    op->app = app;
    op->out = out;
    op->req.idem = idem;
    op->req.user_id = user_id;
    struct cart_read cr = {.req = &op->req};
    int rc = store_cart_list(app->store, user_id, cart_line, &cr);
    if (rc == TK_OK)
        rc = op->req.nitems ? order_run(app, op) : TK_ERR_INVALID; /* an empty cart orders nothing */
    free(op);
    return rc;
}

struct pay_op {
    struct tk_app *app;
    struct tk_order_pay_req req;
    struct tk_order *out;
};

static int pay_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)mode;  /* a payment touches several rows: always one transaction of conditional writes */
    (void)fence; /* the money rows take writes whose safety needs no fence (see docs/LAB.md) */
    struct pay_op *op = arg;
    op->req.now_ms = app_now_ms(op->app);
    return store_order_pay(op->app->store, &op->req, op->out);
}

int shop_order_pay(struct tk_app *app, int64_t user_id, int64_t order_id, const struct tk_idem_ref *idem,
                   struct tk_order *out)
{
    struct pay_op op = {.app = app, .req = {.idem = idem, .user_id = user_id, .order_id = order_id}, .out = out};
    char key[LOCK_KEY_MAX];
    snprintf(key, sizeof key, "user:%lld", (long long)user_id);
    return strategy_run(app->strategy, key, pay_write, &op);
}

int shop_order_get(struct tk_app *app, int64_t user_id, int64_t order_id, struct tk_order *out)
{
    return store_order_get(app->store, user_id, order_id, out);
}

/* ---- popular products ---- */

int shop_popular(struct tk_app *app, int64_t from_day, int64_t to_day, tk_popular_fn fn, void *arg)
{
    if (from_day > to_day || to_day - from_day + 1 > SHOP_POPULAR_DAYS_MAX)
        return TK_ERR_INVALID;
    return store_popular(app->store, from_day, to_day, SHOP_POPULAR_TOP, fn, arg);
}

int shop_parse_day(const char *s, int64_t *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return TK_ERR_INVALID;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return TK_ERR_INVALID;
    char t[32];
    snprintf(t, sizeof t, "%sT00:00:00Z", s);
    int64_t ms;
    TK_TRY(clock_parse_rfc3339(t, &ms));
    char back[16];
    clock_format_date(ms, back, sizeof back); /* a real calendar date: 2027-02-30 does not come back the same */
    if (strcmp(back, s) != 0)
        return TK_ERR_INVALID;
    *day = store_day_of(ms);
    return TK_OK;
}

void shop_format_day(int64_t day, char *buf, int buflen) { clock_format_date(day * DAY_MS, buf, buflen); }

/* ---- the sweep ---- */

#define SHOP_SWEEP_ORDERS_PER_RUN 256

int shop_sweep(struct tk_app *app)
{
    int expired = 0;
    return store_orders_expire_due(app->store, app_now_ms(app), SHOP_SWEEP_ORDERS_PER_RUN, &expired);
}
