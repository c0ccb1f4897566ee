/* booking.c — seat holds and payments.
 *
 * A hold is keyed by seat in the lock strategy (the race is for the seat); a payment by the payer (the
 * money is the payer's; the seat is guarded inside the store's one transaction by the hold it must match
 * and by payments.seat_id being UNIQUE). After a payment commits, the payer's queue token expires: if that
 * step failed the payment would still stand, and the token would lapse by itself within token_seconds.
 * Each committed hold and payment bumps the read cache's versions (core/seatmap.h) before it returns, so this
 * instance never answers its own client's next seat read from a page read before the write.
 */
#include "core/app.h"

#include "util/exec.h"

#include <stdio.h>

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
    if (app->seats_taken && rc == TK_OK)
        seatcache_note(app->seats_taken, seat_id, out->expires_at_ms);
    if (app->seats_taken && rc == TK_ERR_SEAT_UNAVAILABLE && out->busy_until_ms > 0)
        seatcache_note(app->seats_taken, seat_id, out->busy_until_ms);
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
        seatcache_note(app->seats_taken, out->seat_id, INT64_MAX); /* sold: forever */
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
