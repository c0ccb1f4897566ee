/* catalog.c — the organizer's catalogue: concerts and dates with their priced seats, checked here before the store
 * writes them (core knows the rules, the store only stores). Limits: SCHEDULE_SEATS_MAX seats a date,
 * SCHEDULE_PRICE_RANGES_MAX price ranges. */
#include "core/app.h"

#include <stdlib.h>
#include <string.h>

int catalog_concert_create(struct tk_app *app, const char *name, struct tk_concert *out)
{
    TK_TRY(account_check_name(name)); /* the same rule as a user's name: 1..64 printable characters */
    return store_concert_create(app->store, name, out);
}

int catalog_check_schedule(const struct tk_schedule_new *in, int64_t now_ms)
{
    if (in->seat_count < 1 || in->seat_count > SCHEDULE_SEATS_MAX)
        return TK_ERR_INVALID;
    if (in->starts_at_ms <= now_ms)
        return TK_ERR_INVALID;
    if (in->nranges < 1 || in->nranges > SCHEDULE_PRICE_RANGES_MAX)
        return TK_ERR_INVALID;
    /* every seat 1..seat_count covered exactly once */
    unsigned char *seen = calloc((size_t)in->seat_count + 1, 1);
    if (!seen)
        return TK_ERR_NOMEM;
    int covered = 0, rc = TK_OK;
    for (int i = 0; i < in->nranges && rc == TK_OK; i++) {
        const struct tk_price_range *r = &in->ranges[i];
        if (r->from_seat < 1 || r->to_seat > in->seat_count || r->from_seat > r->to_seat || r->price_won < 1 ||
            r->price_won > 1000000000) {
            rc = TK_ERR_INVALID;
            break;
        }
        for (int s = r->from_seat; s <= r->to_seat; s++) {
            if (seen[s]) {
                rc = TK_ERR_INVALID;
                break;
            }
            seen[s] = 1;
            covered++;
        }
    }
    free(seen);
    if (rc == TK_OK && covered != in->seat_count)
        rc = TK_ERR_INVALID;
    return rc;
}

int catalog_schedule_create(struct tk_app *app, const struct tk_schedule_new *in, struct tk_schedule *out)
{
    TK_TRY(catalog_check_schedule(in, app_now_ms(app)));
    TK_TRY(store_schedule_create(app->store, in, out));
    if (app->seatmap) /* a new date: this instance's cached date lists go at once (the others' within the bound) */
        seatmap_changed_schedule(app->seatmap, out->id);
    return TK_OK;
}
