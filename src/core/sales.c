/* sales.c — the sales every instance knows: a copy of the store's sales table, at most SALES_REFRESH_MS old, from
 * which each sale's waiting room gets its live settings (struct wr_room) on every call. A PATCH on any instance is
 * written to the store; every instance reads it within SALES_REFRESH_MS (the contract asks for 1 s), and the one
 * that took the PATCH at once. Also here: the gate (a sale's token admits only to its concert, and a concert with
 * a sale admits only its sale's tokens), the public state names (SCHEDULED before opensAt), and SOLD_OUT, which the
 * sweep sets when every seat of an OPEN or PAUSED sale's concert is sold.
 * Limits: SALES_MAX sales are known (more are not served: their rooms answer NOT_FOUND, logged once). */
#include "core/app.h"
#include "core/states.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tk_sales {
    pthread_mutex_t mu;
    struct tk_sale *items; /* by id */
    int count;
    int64_t loaded_at_ms; /* 0: never */
    bool refreshing;
    bool warned_full;
};

int sales_new(struct tk_sales **out)
{
    struct tk_sales *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return TK_OK;
}

void sales_free(struct tk_sales *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->items);
    free(s);
}

struct collect {
    struct tk_sale *items;
    int count;
};

static int collect_fn(void *arg, const struct tk_sale *row)
{
    struct collect *c = arg;
    if (c->count < SALES_MAX)
        c->items[c->count++] = *row;
    return TK_OK;
}

int sales_refresh(struct tk_app *app, bool force)
{
    struct tk_sales *s = app->sales;
    if (!s)
        return TK_OK; /* an app without sales (the lab, tools): every concert is the site-wide room's */
    int64_t now = app_now_ms(app);
    pthread_mutex_lock(&s->mu);
    bool due = force || s->loaded_at_ms == 0 || now - s->loaded_at_ms >= SALES_REFRESH_MS;
    if (!due || (s->refreshing && s->loaded_at_ms != 0 && !force)) { /* fresh, or someone is at it: use the copy */
        pthread_mutex_unlock(&s->mu);
        return TK_OK;
    }
    s->refreshing = true;
    pthread_mutex_unlock(&s->mu);

    struct collect c = {.items = malloc(sizeof(struct tk_sale) * SALES_MAX)};
    int rc = c.items ? store_sales_list(app->store, SALES_MAX + 1, collect_fn, &c) : TK_ERR_NOMEM;
    pthread_mutex_lock(&s->mu);
    s->refreshing = false;
    if (rc == TK_OK) {
        free(s->items);
        s->items = c.items;
        s->count = c.count;
        s->loaded_at_ms = now;
        if (c.count == SALES_MAX && !s->warned_full) {
            s->warned_full = true;
            fprintf(stderr, "ticketd: more than %d sales: only the first %d are served\n", SALES_MAX, SALES_MAX);
        }
    } else {
        free(c.items);
    }
    bool have_copy = s->loaded_at_ms != 0;
    pthread_mutex_unlock(&s->mu);
    /* a store blip: keep serving the last copy (it is at most one refresh older); without one, fail */
    return rc == TK_OK || have_copy ? TK_OK : rc;
}

/* The copy is usable without a store read: TK_ERR_BUSY when a refresh is due and nobody is at it. */
static int copy_ready(struct tk_app *app)
{
    struct tk_sales *s = app->sales;
    int64_t now = app_now_ms(app);
    pthread_mutex_lock(&s->mu);
    bool due = s->loaded_at_ms == 0 || now - s->loaded_at_ms >= SALES_REFRESH_MS;
    bool ok = !due || (s->refreshing && s->loaded_at_ms != 0); /* sales_refresh would use the copy too */
    pthread_mutex_unlock(&s->mu);
    return ok ? TK_OK : TK_ERR_BUSY;
}

/* may_read: refresh the copy when due (a store read); else TK_ERR_BUSY when it would have to. */
static int find_in(struct tk_app *app, bool may_read, bool by_concert, int64_t key, struct tk_sale *out)
{
    TK_TRY(may_read ? sales_refresh(app, false) : copy_ready(app));
    struct tk_sales *s = app->sales;
    if (!s)
        return TK_ERR_NOT_FOUND;
    int rc = TK_ERR_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->count; i++) {
        if ((by_concert ? s->items[i].concert_id : s->items[i].id) == key) {
            *out = s->items[i];
            rc = TK_OK;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int find(struct tk_app *app, bool by_concert, int64_t key, struct tk_sale *out)
{
    return find_in(app, true, by_concert, key, out);
}

int sales_get(struct tk_app *app, int64_t sale_id, struct tk_sale *out) { return find(app, false, sale_id, out); }

int sales_by_concert(struct tk_app *app, int64_t concert_id, struct tk_sale *out)
{
    return find(app, true, concert_id, out);
}

int sales_each(struct tk_app *app, tk_sale_fn fn, void *arg)
{
    TK_TRY(sales_refresh(app, false));
    struct tk_sales *s = app->sales;
    if (!s)
        return TK_OK;
    pthread_mutex_lock(&s->mu);
    int n = s->count;
    struct tk_sale *copy = n ? malloc(sizeof *copy * (size_t)n) : NULL;
    if (copy)
        memcpy(copy, s->items, sizeof *copy * (size_t)n);
    pthread_mutex_unlock(&s->mu);
    if (n && !copy)
        return TK_ERR_NOMEM;
    int rc = TK_OK;
    for (int i = 0; i < n && rc == TK_OK; i++)
        rc = fn(arg, &copy[i]);
    free(copy);
    return rc;
}

bool sales_any(struct tk_app *app)
{
    if (!app->sales)
        return false;
    if (sales_refresh(app, false) < 0)
        return true; /* unknown: take the careful path */
    pthread_mutex_lock(&app->sales->mu);
    bool any = app->sales->count > 0;
    pthread_mutex_unlock(&app->sales->mu);
    return any;
}

/* sales_any without a store read: true ("take the careful path") when the copy is due for a refresh. */
static bool sales_any_cached(struct tk_app *app)
{
    if (copy_ready(app) < 0)
        return true;
    pthread_mutex_lock(&app->sales->mu);
    bool any = app->sales->count > 0;
    pthread_mutex_unlock(&app->sales->mu);
    return any;
}

void sale_room_of(struct tk_app *app, const struct tk_sale *sale, struct wr_room *out)
{
    static const enum wr_mode MODE[] = {[SALE_OPEN] = WR_OPEN, [SALE_PAUSED] = WR_PAUSED, [SALE_CLOSED] = WR_CLOSED,
                                        [SALE_SOLD_OUT] = WR_CLOSED};
    *out = (struct wr_room){
        .id = sale->id,
        .policy = {.max_active = sale->max_active, .admit_per_sec = sale->admit_per_sec,
                   .token_ms = (int64_t)sale->token_seconds * 1000, .idle_ms = app->site_room.policy.idle_ms,
                   .opens_at_ms = sale->opens_at_ms, .mode = MODE[sale->state]},
    };
}

static int room_in(struct tk_app *app, bool may_read, int64_t room_id, struct wr_room *out, struct tk_sale *sale)
{
    if (room_id == 0) {
        *out = app->site_room;
        return TK_OK;
    }
    struct tk_sale s;
    TK_TRY(find_in(app, may_read, false, room_id, &s));
    sale_room_of(app, &s, out);
    if (sale)
        *sale = s;
    return TK_OK;
}

int sales_room(struct tk_app *app, int64_t room_id, struct wr_room *out, struct tk_sale *sale)
{
    return room_in(app, true, room_id, out, sale);
}

int sales_room_cached(struct tk_app *app, int64_t room_id, struct wr_room *out, struct tk_sale *sale)
{
    return room_in(app, false, room_id, out, sale);
}

const char *sale_state_public(const struct tk_sale *s, int64_t now_ms)
{
    if ((s->state == SALE_OPEN || s->state == SALE_PAUSED) && now_ms < s->opens_at_ms)
        return "SCHEDULED";
    return store_sale_state_name(s->state);
}

static int gate_in(struct tk_app *app, bool may_read, int64_t room_id, int64_t concert_id)
{
    struct tk_sale s;
    int rc = find_in(app, may_read, true, concert_id, &s);
    if (rc == TK_ERR_NOT_FOUND)
        return room_id == 0 ? TK_OK : TK_ERR_FORBIDDEN; /* no sale: the site-wide room's */
    TK_TRY(rc);
    return s.id == room_id ? TK_OK : TK_ERR_FORBIDDEN;
}

int sale_gate(struct tk_app *app, int64_t room_id, int64_t concert_id) { return gate_in(app, true, room_id, concert_id); }

int sale_gate_cached(struct tk_app *app, int64_t room_id, int64_t concert_id)
{
    return gate_in(app, false, room_id, concert_id);
}

int sale_gate_owner(struct tk_app *app, int64_t room_id, enum tk_owner_kind kind, int64_t id)
{
    if (room_id == 0 && !sales_any(app))
        return TK_OK; /* no sale anywhere: every concert is the site-wide room's (part 1, no extra read) */
    int64_t concert_id;
    /* A schedule's concert never changes: the read cache remembers it (core/seatmap.h). */
    if (kind == OWNER_SCHEDULE && app->seatmap && seatmap_concert_of(app->seatmap, id, &concert_id))
        return sale_gate(app, room_id, concert_id);
    int rc = store_owner_concert(app->store, kind, id, &concert_id);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_OK; /* the operation itself answers 404 */
    TK_TRY(rc);
    if (kind == OWNER_SCHEDULE && app->seatmap)
        seatmap_note_concert(app->seatmap, id, concert_id);
    return sale_gate(app, room_id, concert_id);
}

int sale_gate_schedule_cached(struct tk_app *app, int64_t room_id, int64_t schedule_id)
{
    if (room_id == 0 && !sales_any_cached(app))
        return TK_OK;
    int64_t concert_id;
    if (!app->seatmap || !seatmap_concert_of(app->seatmap, schedule_id, &concert_id))
        return TK_ERR_BUSY;
    return sale_gate_cached(app, room_id, concert_id);
}

/* The sweep's part: SOLD_OUT once every seat of the concert (dates not yet started) is sold. */
static int sold_out_fn(void *arg, const struct tk_sale *s)
{
    struct tk_app *app = arg;
    if (s->state != SALE_OPEN && s->state != SALE_PAUSED)
        return TK_OK;
    struct tk_seat_counts n;
    TK_TRY(store_seat_counts(app->store, s->concert_id, app_now_ms(app), &n));
    if (n.sold == 0 || n.free > 0 || n.held > 0)
        return TK_OK;
    struct tk_sale_patch p = {.has_state = true, .state = SALE_SOLD_OUT,
                              .state_from_mask = sale_from_mask(SALE_SOLD_OUT, SALE_BY_SERVER)};
    struct tk_sale out;
    int rc = store_sale_update(app->store, s->id, &p, &out);
    if (rc == TK_OK)
        fprintf(stderr, "ticketd: sale %lld is sold out\n", (long long)s->id);
    return rc == TK_ERR_CONFLICT ? TK_OK : rc; /* CONFLICT: the organizer changed it meanwhile */
}

int sales_sweep(struct tk_app *app)
{
    TK_TRY(sales_refresh(app, false));
    int rc = sales_each(app, sold_out_fn, app);
    return rc;
}

int sale_check_settings(int max_active, int admit_per_sec, int token_seconds)
{
    if (max_active < 1 || max_active > SALE_MAX_ACTIVE_MAX || admit_per_sec < 1 ||
        admit_per_sec > SALE_ADMIT_PER_SEC_MAX || token_seconds < SALE_TOKEN_SECONDS_MIN ||
        token_seconds > SALE_TOKEN_SECONDS_MAX)
        return TK_ERR_INVALID;
    return TK_OK;
}

int sale_create(struct tk_app *app, const struct tk_sale *in, struct tk_sale *out)
{
    TK_TRY(sale_check_settings(in->max_active, in->admit_per_sec, in->token_seconds));
    if (in->state != SALE_OPEN && in->state != SALE_PAUSED)
        return TK_ERR_INVALID;
    TK_TRY(store_sale_create(app->store, in, out));
    int rrc = sales_refresh(app, true); /* this instance knows at once; the others within SALES_REFRESH_MS */
    (void)rrc;
    return TK_OK;
}

int sale_patch(struct tk_app *app, int64_t sale_id, const struct tk_sale_patch *in, struct tk_sale *out)
{
    struct tk_sale_patch patch = *in;
    const struct tk_sale_patch *p = &patch;
    if (p->has_state) {
        patch.state_from_mask = sale_from_mask(p->state, SALE_BY_ORGANIZER);
        if (patch.state_from_mask == 0)
            return TK_ERR_INVALID; /* SOLD_OUT: the server's to set */
    }
    if ((p->has_max_active && sale_check_settings(p->max_active, 1, SALE_TOKEN_SECONDS_MIN) < 0) ||
        (p->has_admit_per_sec && sale_check_settings(1, p->admit_per_sec, SALE_TOKEN_SECONDS_MIN) < 0))
        return TK_ERR_INVALID;
    TK_TRY(store_sale_update(app->store, sale_id, p, out));
    int rrc = sales_refresh(app, true);
    (void)rrc;
    return TK_OK;
}
