/* booking.c — seat holds and payments.
 *
 * A hold is keyed by seat in the lock strategy (the race is for the seat); a payment by the payer (the
 * money is the payer's; the seat is guarded inside the store's one transaction by the hold it must match
 * and by payments.seat_id being UNIQUE). After a payment commits, the payer's queue token expires: if that
 * step failed the payment would still stand, and the token would lapse by itself within token_seconds.
 * Each committed hold, payment, cancel, refund and cancelled date bumps the read cache's versions
 * (core/seatmap.h) before it returns, so this instance never answers its own client's next seat read from a page
 * read before the write.
 */
#include "core/app.h"

#include "util/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/states.h"

struct hold_op {
    struct tk_app *app;
    struct tk_hold_req req;
    struct tk_hold *out;
};

static int hold_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence; /* the product tables take writes whose safety needs no fence (see docs/LAB.md) */
    struct hold_op *op = arg;
    struct tk_store *st = op->app->store;
    op->req.now_ms = app_now_ms(op->app);
    return store_hold_create(st, mode, &op->req, op->out);
}

int booking_hold(struct tk_app *app, int64_t user_id, int64_t seat_id, const struct tk_idem_ref *idem,
                 struct tk_hold *out)
{
    struct hold_op op = {
        .app = app,
        .req = {.idem = idem, .user_id = user_id, .seat_id = seat_id, .hold_ms = app->hold_ms, .max_holds = app->max_holds_per_user},
        .out = out,
    };
    if (app->seats_taken && seatcache_busy(app->seats_taken, seat_id, app_now_ms(app))) {
        APP_COUNT(app, holds_refused_cached, 1);
        return TK_ERR_SEAT_UNAVAILABLE; /* known taken until a later time: no round trip */
    }
    char key[LOCK_KEY_MAX];
    snprintf(key, sizeof key, "seat:%lld", (long long)seat_id);
    int rc = strategy_run(app->strategy, key, hold_write, &op);
    int64_t trust = app_now_ms(app) + 100; /* SEATCACHE_TRUST_MS: a cancel or refund frees seats early */
    if (app->seats_taken && rc == TK_OK)
        seatcache_note(app->seats_taken, seat_id, out->expires_at_ms < trust ? out->expires_at_ms : trust);
    if (app->seats_taken && rc == TK_ERR_SEAT_UNAVAILABLE && out->busy_until_ms > 0)
        seatcache_note(app->seats_taken, seat_id, out->busy_until_ms < trust ? out->busy_until_ms : trust);
    TK_TRY(rc);
    if (app->seatmap && out->schedule_id > 0) /* before the 201: this instance's next read shows the seat gone */
        seatmap_changed_schedule(app->seatmap, out->schedule_id);
    else if (app->seatmap)
        seatmap_changed_all(app->seatmap);
    APP_COUNT(app, holds_created, 1);
    return TK_OK;
}

struct pay_op {
    struct tk_app *app;
    struct tk_pay_req req;
    struct tk_payment *out;
};

static int pay_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)fence; /* the product tables take writes whose safety needs no fence (see docs/LAB.md) */
    (void)mode; /* a payment touches several rows: always one transaction with conditional writes */
    struct pay_op *op = arg;
    struct tk_store *st = op->app->store;
    op->req.now_ms = app_now_ms(op->app);
    return store_payment_create(st, &op->req, op->out);
}

int booking_pay(struct tk_app *app, int64_t user_id, const char *queue_token, int64_t reservation_id,
                int64_t seat_id, const struct tk_idem_ref *idem, struct tk_payment *out)
{
    TK_ASSERT((reservation_id > 0) != (seat_id > 0));
    struct pay_op op = {
        .app = app,
        .req = {.idem = idem, .user_id = user_id, .reservation_id = reservation_id, .seat_id = seat_id},
        .out = out,
    };
    char key[LOCK_KEY_MAX];
    snprintf(key, sizeof key, "user:%lld", (long long)user_id);
    TK_TRY(strategy_run(app->strategy, key, pay_write, &op));
    APP_COUNT(app, payments, 1);
    if (app->seatmap) /* the payment names no schedule: every cached page of this instance is re-read */
        seatmap_changed_all(app->seatmap);
    if (app->seats_taken)
        seatcache_note(app->seats_taken, out->seat_id, app_now_ms(app) + 100); /* sold, until a refund */
    APP_COUNT(app, payments_won, (uint64_t)out->amount_won);
    if (queue_token) { /* after the commit: wait in place, never hand the paid request back to run again */
        exec_no_defer_begin();
        int64_t room_id;
        struct wr_room room;
        int frc = waitroom_token_room(queue_token, &room_id);
        if (frc == TK_OK)
            frc = sales_room(app, room_id, &room, NULL);
        if (frc == TK_OK)
            frc = app->waitroom->ops->finish(app->waitroom, &room, queue_token, app_now_ms(app));
        exec_no_defer_end();
        if (frc < 0)
            fprintf(stderr, "ticketd: payment %lld committed, but its queue token could not be expired: %s\n",
                    (long long)out->payment_id, tk_err_code(frc));
    }
    return TK_OK;
}

/* ---------- orders (issue 11): several seats, cancel, refund, a cancelled date ---------- */

_Static_assert(HOLD_SEATS_MAX <= STRATEGY_KEYS_MAX, "a multi-seat hold takes one lock per seat");

/* The negative seat cache can no longer trust a hold (or a sale) to last: a cancel or a refund frees seats early,
 * on any instance. So an entry is trusted for at most SEATCACHE_TRUST_MS, the staleness the contract allows reads. */
#define SEATCACHE_TRUST_MS 100

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int booking_hold_seats(struct tk_app *app, int64_t user_id, const int64_t *seat_ids, int nseats,
                       const struct tk_idem_ref *idem, struct tk_hold *out)
{
    int max = app->max_holds_per_user < HOLD_SEATS_MAX ? app->max_holds_per_user : HOLD_SEATS_MAX;
    if (nseats < 1 || nseats > max)
        return TK_ERR_INVALID;
    int64_t ids[HOLD_SEATS_MAX];
    memcpy(ids, seat_ids, (size_t)nseats * sizeof ids[0]);
    qsort(ids, (size_t)nseats, sizeof ids[0], cmp_id);
    for (int i = 1; i < nseats; i++)
        if (ids[i] == ids[i - 1])
            return TK_ERR_INVALID;
    struct hold_op op = {
        .app = app,
        .req = {.idem = idem, .user_id = user_id, .seat_id = ids[0], .seat_ids = ids, .nseats = nseats,
                .hold_ms = app->hold_ms, .max_holds = app->max_holds_per_user},
        .out = out,
    };
    out->nunavailable = 0;
    int64_t now = app_now_ms(app);
    if (app->seats_taken) { /* every seat known taken: no round trip */
        for (int i = 0; i < nseats; i++)
            if (seatcache_busy(app->seats_taken, ids[i], now))
                out->unavailable[out->nunavailable++] = ids[i];
        if (out->nunavailable) {
            APP_COUNT(app, holds_refused_cached, 1);
            return TK_ERR_SEAT_UNAVAILABLE;
        }
    }
    char keybuf[HOLD_SEATS_MAX][LOCK_KEY_MAX];
    const char *keys[HOLD_SEATS_MAX];
    for (int i = 0; i < nseats; i++) {
        snprintf(keybuf[i], sizeof keybuf[i], "seat:%lld", (long long)ids[i]);
        keys[i] = keybuf[i];
    }
    int rc = nseats == 1 ? strategy_run(app->strategy, keys[0], hold_write, &op)
                         : strategy_run_keys(app->strategy, keys, nseats, hold_write, &op);
    if (app->seats_taken && rc == TK_OK)
        for (int i = 0; i < nseats; i++)
            seatcache_note(app->seats_taken, ids[i], now + SEATCACHE_TRUST_MS);
    if (app->seats_taken && rc == TK_ERR_SEAT_UNAVAILABLE && nseats == 1 && out->busy_until_ms > 0)
        seatcache_note(app->seats_taken, ids[0],
                       out->busy_until_ms < now + SEATCACHE_TRUST_MS ? out->busy_until_ms : now + SEATCACHE_TRUST_MS);
    TK_TRY(rc);
    if (app->seatmap && out->schedule_id > 0) /* as booking_hold: this instance's next read shows the seats gone */
        seatmap_changed_schedule(app->seatmap, out->schedule_id);
    else if (app->seatmap)
        seatmap_changed_all(app->seatmap);
    APP_COUNT(app, holds_created, 1);
    return TK_OK;
}

int booking_cancel(struct tk_app *app, int64_t user_id, int64_t reservation_id)
{
    TK_TRY(store_hold_cancel(app->store, user_id, reservation_id, app_now_ms(app), hold_from_mask(HOLD_CANCELLED)));
    if (app->seatmap) /* before the 200: this instance's next read shows the seats free (the cancel names no date) */
        seatmap_changed_all(app->seatmap);
    return TK_OK;
}

int booking_refund(struct tk_app *app, int64_t user_id, int64_t payment_id, const struct tk_idem_ref *idem,
                   struct tk_payment *out)
{
    struct tk_refund_req req = {.idem = idem, .payment_id = payment_id, .user_id = user_id,
                                .cutoff_ms = app->refund_cutoff_ms, .now_ms = app_now_ms(app),
                                .from_mask = payment_from_mask(PAYMENT_REFUNDED)};
    TK_TRY(store_payment_refund(app->store, &req, out));
    if (app->seatmap) /* the seats are free: this instance's next read shows them so */
        seatmap_changed_all(app->seatmap);
    payment_transition(&(enum tk_payment_state){PAYMENT_PAID}, out->state); /* a refund only ever moves PAID -> REFUNDED */
    return TK_OK;
}

int booking_payments(struct tk_app *app, const struct tk_payment_filter *f, int limit, tk_payment_fn fn, void *arg)
{
    if (limit < 1 || limit > PAYMENTS_LIST_MAX)
        return TK_ERR_INVALID;
    return store_payments_list(app->store, f, limit, fn, arg);
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

int booking_cancel_schedule(struct tk_app *app, int64_t schedule_id, int *refunded)
{
    *refunded = 0;
    TK_TRY(store_schedule_cancel(app->store, schedule_id, app_now_ms(app)));
    if (app->seatmap) /* no longer listed, its seat map 404 */
        seatmap_changed_schedule(app->seatmap, schedule_id);
    int batch = env_int("TICKETD_CANCEL_BATCH", CANCEL_BATCH);
    int crash_after = env_int("TICKETD_TEST_CANCEL_CRASH_AFTER", 0);
    if (batch < 1)
        batch = 1;
    unsigned from = payment_from_mask(PAYMENT_REFUNDED);
    for (int batches = 1;; batches++) {
        int n = 0;
        TK_TRY(store_schedule_refund_batch(app->store, schedule_id, batch, app_now_ms(app), from, &n));
        *refunded += n;
        if (app->seatmap && n > 0) /* each committed batch freed seats */
            seatmap_changed_schedule(app->seatmap, schedule_id);
        static int crashed; /* the test hook fires once per process */
        if (crash_after > 0 && batches >= crash_after && !__atomic_exchange_n(&crashed, 1, __ATOMIC_SEQ_CST)) {
            fprintf(stderr, "ticketd: TICKETD_TEST_CANCEL_CRASH_AFTER=%d: stopping mid-cancel\n", crash_after);
            return TK_ERR_UNAVAILABLE; /* what a process killed here leaves: the committed batches, nothing else */
        }
        if (n < batch)
            break; /* fewer than a batch: nothing PAID is left (another instance may be refunding its share) */
    }
    return TK_OK;
}
