/* concerts.c — GET /concerts (the public catalogue, each concert with its sale), /concert/available-dates,
 * /concert/available-seats and /concert/seat-map (gated: a token sees only the concerts of its room, core/sales.c
 * sale_gate). The seat map is available-seats' other view of a date: every seat with FREE, HELD or SOLD.
 * Rows stream from the store's visitors straight into the response buffer.
 *
 * The gated reads answer from the instance's read cache (core/seatmap.h: at most 100 ms stale, never served
 * past that, and invalidated at once by this instance's own writes). The gate always runs first, per request.
 * A seats (or seat-map) page is the whole response body; a dates page is every listed date with its concert,
 * filtered per request by the token's room. A miss reads the store, answers from what it read and publishes it. A hit can
 * also be answered on the event thread (api_dispatch_inline) when nothing on its way needs a backing service. */
#include "api/api.h"

#include <stdlib.h>
#include "util/clock.h"
#include "util/exec.h"
#include "util/ids.h"

static int concert_row(void *arg, const struct tk_concert *row)
{
    struct api_list *c = arg;
    api_list_sep(c);
    buf_append(c->b, "{\"concertId\":", 13);
    api_json_id(c->b, row->id);
    buf_append(c->b, ",\"name\":", 8);
    buf_json_str(c->b, row->name);
    struct tk_sale sale;
    int rc = sales_by_concert(c->api->app, row->id, &sale);
    if (rc == TK_OK) {
        buf_append(c->b, ",\"sale\":{\"saleId\":", 18);
        api_json_id(c->b, sale.id);
        buf_printf(c->b, ",\"state\":\"%s\",\"opensAt\":", sale_state_public(&sale, app_now_ms(c->api->app)));
        api_json_time(c->b, sale.opens_at_ms);
        buf_append(c->b, "}}", 2);
    } else if (rc == TK_ERR_NOT_FOUND) {
        buf_append(c->b, ",\"sale\":null}", 13);
    } else {
        return rc;
    }
    return TK_OK;
}

int api_concerts(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body, .api = api};
    struct tk_store *st = api->app->store;
    TK_TRY(store_concerts_list(st, concert_row, &c));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

void api_schedule_json(struct buf *b, const struct tk_schedule *row)
{
    char date[16];
    clock_format_date(row->starts_at_ms, date, sizeof date);
    buf_append(b, "{\"scheduleId\":", 14);
    api_json_id(b, row->id);
    buf_append(b, ",\"concertId\":", 13);
    api_json_id(b, row->concert_id);
    buf_append(b, ",\"concertName\":", 15);
    buf_json_str(b, row->concert_name);
    buf_printf(b, ",\"date\":\"%s\",\"startsAt\":", date);
    api_json_time(b, row->starts_at_ms);
    buf_printf(b, ",\"totalSeats\":%d,\"reservedSeats\":%d,\"availableSeats\":%d}", row->total_seats,
               row->reserved_seats, row->total_seats - row->reserved_seats);
}

/* ---- available-dates ---- */

/* Every listed date (no gate), rendered: the page a cache entry keeps. */
struct dates_read {
    struct buf items;
    struct seatmap_row *rows;
    int nrows, cap;
    bool oom;
};

static int dates_read_row(void *arg, const struct tk_schedule *row)
{
    struct dates_read *d = arg;
    if (d->nrows == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        struct seatmap_row *p = realloc(d->rows, sizeof *p * (size_t)cap);
        if (!p) {
            d->oom = true;
            return TK_ERR_NOMEM;
        }
        d->rows = p;
        d->cap = cap;
    }
    size_t off = d->items.len;
    api_schedule_json(&d->items, row);
    d->rows[d->nrows++] = (struct seatmap_row){.concert_id = row->concert_id, .off = (uint32_t)off,
                                               .len = (uint32_t)(d->items.len - off)};
    return TK_OK;
}

/* The response for a token of room room_id from a dates page: the dates its room may see. may_read: the gate may
 * refresh the sales copy (a worker); else TK_ERR_BUSY when it would have to, with resp left untouched. */
static int dates_respond(struct tk_api *api, int64_t room_id, bool may_read, const char *bytes,
                         const struct seatmap_row *rows, int nrows, struct api_response *resp)
{
    struct api_response r = {0};
    api_ok_open(&r, 200);
    struct buf b = r.body;
    buf_append(&b, "[", 1);
    int64_t last_concert = 0;
    int last_gate = TK_OK;
    struct api_list items = {.b = &b};
    for (int i = 0; i < nrows; i++) {
        if (i == 0 || rows[i].concert_id != last_concert) {
            last_concert = rows[i].concert_id;
            last_gate = may_read ? sale_gate(api->app, room_id, last_concert)
                                 : sale_gate_cached(api->app, room_id, last_concert);
        }
        if (last_gate == TK_ERR_FORBIDDEN)
            continue; /* another room's concert: not listed for this token */
        if (last_gate < 0) {
            buf_free(&b);
            return last_gate;
        }
        api_list_sep(&items);
        buf_append(&b, bytes + rows[i].off, rows[i].len);
    }
    buf_append(&b, "]", 1);
    r.body = b;
    api_ok_close(&r);
    buf_free(&resp->body);
    resp->body = r.body;
    resp->status = r.status;
    return TK_OK;
}

/* What the next look-up does after a WAIT: off a worker exec_defer_us slept; on one it handed the request back. */
static unsigned lookup_flags(void) { return exec_attempt() >= SEATMAP_WAIT_TRIES ? SEATMAP_NO_WAIT : 0; }

/* A look-up on a worker: HIT or MISS (a WAIT re-schedules the request: TK_ERR_BUSY). A refresh the event thread
 * claimed for this request is made here: the page it found due (or missing) is read now. */
static int lookup(struct seatmap *m, struct api_request *req, enum seatmap_kind kind, int64_t id,
                  const struct seatmap_page **pg, struct seatmap_fill *fill, enum seatmap_verdict *v)
{
    if (req->cache_claim.claim && req->cache_claim.kind == kind && req->cache_claim.id == id) {
        *fill = req->cache_claim; /* its stamp is the event thread's time: earlier than this read, conservative */
        req->cache_claim.claim = 0;
        *pg = NULL;
        *v = SEATMAP_MISS;
        return TK_OK;
    }
    *v = seatmap_get(m, kind, id, clock_mono_ns(), lookup_flags(), pg, fill);
    if (*v == SEATMAP_WAIT) {
        TK_TRY(exec_defer_us(SEATMAP_WAIT_US)); /* TK_ERR_BUSY on a worker: run again shortly */
        *v = seatmap_get(m, kind, id, clock_mono_ns(), SEATMAP_NO_WAIT, pg, fill); /* off a worker: slept */
    }
    return TK_OK;
}

/* The read of fill failed (the store is down): releases its claim and returns the page it was refreshing ahead if
 * that is still within the bound (a reference), else NULL — a page past the bound is never served. */
static const struct seatmap_page *refresh_failed(struct seatmap *m, const struct seatmap_fill *fill)
{
    seatmap_abandon(m, fill);
    const struct seatmap_page *pg;
    struct seatmap_fill f;
    return seatmap_get(m, fill->kind, fill->id, clock_mono_ns(), SEATMAP_PEEK, &pg, &f) == SEATMAP_HIT ? pg : NULL;
}

int api_available_dates(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t concert_id = 0;
    int rc = api_query_id(req, "concertId", false, &concert_id, resp);
    if (rc < 0 && rc != TK_ERR_NOT_FOUND)
        return rc;
    if (concert_id) {
        rc = sale_gate(api->app, req->room_id, concert_id);
        if (rc == TK_ERR_FORBIDDEN)
            return api_fail(resp, rc, req->room_id ? "this queue token admits only to its own sale's concert"
                                                   : "this concert has a sale of its own: queue for it");
        TK_TRY(rc);
    }
    struct seatmap *m = api->app->seatmap;
    const struct seatmap_page *pg = NULL;
    struct seatmap_fill fill = {0};
    enum seatmap_verdict v = SEATMAP_MISS;
    if (m)
        TK_TRY(lookup(m, req, SEATMAP_DATES, concert_id, &pg, &fill, &v));
    if (v == SEATMAP_HIT) {
        rc = dates_respond(api, req->room_id, true, pg->bytes, pg->rows, pg->nrows, resp);
        seatmap_page_release(pg);
        return rc;
    }
    struct dates_read d = {0};
    struct tk_schedule_filter f = {.concert_id = concert_id, .now_ms = app_now_ms(api->app)};
    rc = store_schedules_list(api->app->store, &f, dates_read_row, &d);
    if (rc == TK_OK && (d.oom || d.items.oom))
        rc = TK_ERR_NOMEM;
    if (rc == TK_OK) {
        if (m)
            seatmap_put(m, &fill, d.items.p ? d.items.p : "", d.items.len, d.rows, d.nrows);
        rc = dates_respond(api, req->room_id, true, d.items.p, d.rows, d.nrows, resp);
    } else if (m && (pg = refresh_failed(m, &fill)) != NULL) {
        rc = dates_respond(api, req->room_id, true, pg->bytes, pg->rows, pg->nrows, resp);
        seatmap_page_release(pg);
    }
    buf_free(&d.items);
    free(d.rows);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such concert");
    return rc;
}

/* ---- available-seats and seat-map: one date's seats, two views ---- */

static const char *const SEAT_STATUS_NAMES[] = {[SEAT_FREE] = "FREE", [SEAT_HELD] = "HELD", [SEAT_SOLD] = "SOLD"};

static void seat_json(struct buf *b, const struct tk_seat *row)
{
    buf_printf(b, "{\"seatId\":\"%lld\",\"seatNumber\":%d,\"price\":%lld,\"category\":", (long long)row->id,
               row->seat_number, (long long)row->price_won);
    if (row->category[0])
        buf_json_str(b, row->category);
    else
        buf_append(b, "null", 4);
}

static int seat_row(void *arg, const struct tk_seat *row)
{
    struct api_list *c = arg;
    api_list_sep(c);
    seat_json(c->b, row);
    buf_append(c->b, "}", 1);
    return TK_OK;
}

static int seat_map_row(void *arg, const struct tk_seat *row)
{
    struct api_list *c = arg;
    api_list_sep(c);
    seat_json(c->b, row);
    TK_ASSERT(row->status >= SEAT_FREE && row->status <= SEAT_SOLD);
    buf_printf(c->b, ",\"status\":\"%s\"}", SEAT_STATUS_NAMES[row->status]);
    return TK_OK;
}

/* A view of one date's seats: its cache kind, its store read and its row. Both are gated alike (api_gate of the
 * schedule) and cached alike: the page is the whole response body, versioned with the schedule. */
struct seats_view {
    enum seatmap_kind kind;
    int (*read)(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg);
    tk_seat_fn row;
    const char *not_found;
};
static const struct seats_view SEATS_AVAILABLE = {SEATMAP_SEATS, store_seats_available, seat_row,
                                                   "no such concert schedule"};
static const struct seats_view SEAT_MAP = {SEATMAP_MAP, store_seat_map, seat_map_row,
                                            "no such concert schedule (or it was cancelled)"};

static void seats_respond(const struct seatmap_page *pg, struct api_response *resp)
{
    resp->status = 200;
    buf_append(&resp->body, pg->bytes, pg->len);
}

static int seats_view(struct tk_api *api, struct api_request *req, struct api_response *resp,
                      const struct seats_view *view)
{
    int64_t schedule_id = 0;
    TK_TRY(api_query_id(req, "concertScheduleId", true, &schedule_id, resp));
    TK_TRY(api_gate(api, req, OWNER_SCHEDULE, schedule_id, resp));
    struct seatmap *m = api->app->seatmap;
    const struct seatmap_page *pg = NULL;
    struct seatmap_fill fill = {0};
    enum seatmap_verdict v = SEATMAP_MISS;
    if (m)
        TK_TRY(lookup(m, req, view->kind, schedule_id, &pg, &fill, &v));
    if (v == SEATMAP_HIT) {
        seats_respond(pg, resp);
        seatmap_page_release(pg);
        return TK_OK;
    }
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body};
    int rc = view->read(api->app->store, schedule_id, app_now_ms(api->app), view->row, &c);
    if (rc == TK_OK) {
        buf_append(&resp->body, "]", 1);
        api_ok_close(resp);
        if (resp->body.oom)
            rc = TK_ERR_NOMEM;
    }
    if (m && rc == TK_OK) {
        seatmap_put(m, &fill, resp->body.p, resp->body.len, NULL, 0); /* the whole body is the page */
    } else if (m && (pg = refresh_failed(m, &fill)) != NULL) {
        resp->body.len = 0; /* what was rendered before the failure */
        seats_respond(pg, resp);
        seatmap_page_release(pg);
        rc = TK_OK;
    }
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, view->not_found);
    return rc;
}

int api_available_seats(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return seats_view(api, req, resp, &SEATS_AVAILABLE);
}

int api_seat_map(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return seats_view(api, req, resp, &SEAT_MAP);
}

/* ---- cache hits on the event thread (api_dispatch_inline): TK_OK answered, TK_ERR_BUSY not (resp untouched) ---- */

static int query_id_quiet(const struct api_request *req, const char *name, int64_t *out)
{
    const char *v = req->query(req->ctx, name);
    return v ? id_parse(v, out) : TK_ERR_NOT_FOUND;
}

/* A hit to answer here, or false: then a refresh claimed here goes with the request to its worker. */
static bool inline_hit(struct seatmap *m, struct api_request *req, enum seatmap_kind kind, int64_t id,
                       const struct seatmap_page **pg)
{
    struct seatmap_fill fill;
    enum seatmap_verdict v = seatmap_get(m, kind, id, clock_mono_ns(), SEATMAP_INLINE, pg, &fill);
    if (v == SEATMAP_MISS && fill.claim)
        req->cache_claim = fill;
    return v == SEATMAP_HIT;
}

static int seats_view_inline(struct tk_api *api, struct api_request *req, struct api_response *resp,
                             const struct seats_view *view)
{
    struct seatmap *m = api->app->seatmap;
    int64_t schedule_id;
    if (!m || query_id_quiet(req, "concertScheduleId", &schedule_id) < 0 ||
        sale_gate_schedule_cached(api->app, req->room_id, schedule_id) != TK_OK)
        return TK_ERR_BUSY; /* a 400, a 403, or a gate that needs the store: the worker answers it */
    const struct seatmap_page *pg;
    if (!inline_hit(m, req, view->kind, schedule_id, &pg))
        return TK_ERR_BUSY;
    if (api_within_budget(api, req, req->user_id, resp) == TK_OK) /* else the 429 is the answer */
        seats_respond(pg, resp);
    seatmap_page_release(pg);
    APP_COUNT(api->app, seatmap_hits_inline, 1);
    return TK_OK;
}

int api_available_seats_inline(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return seats_view_inline(api, req, resp, &SEATS_AVAILABLE);
}

int api_seat_map_inline(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return seats_view_inline(api, req, resp, &SEAT_MAP);
}

int api_available_dates_inline(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct seatmap *m = api->app->seatmap;
    int64_t concert_id = 0;
    if (!m)
        return TK_ERR_BUSY;
    int qrc = query_id_quiet(req, "concertId", &concert_id);
    if ((qrc < 0 && qrc != TK_ERR_NOT_FOUND) || (concert_id && sale_gate_cached(api->app, req->room_id, concert_id) != TK_OK))
        return TK_ERR_BUSY;
    const struct seatmap_page *pg;
    if (!inline_hit(m, req, SEATMAP_DATES, concert_id, &pg))
        return TK_ERR_BUSY;
    struct api_response r = {0};
    int rc = dates_respond(api, req->room_id, false, pg->bytes, pg->rows, pg->nrows, &r);
    seatmap_page_release(pg);
    if (rc < 0) {
        buf_free(&r.body);
        return TK_ERR_BUSY; /* a gate needed the store after all */
    }
    if (api_within_budget(api, req, req->user_id, resp) < 0) { /* the 429 is the answer */
        buf_free(&r.body);
        return TK_OK;
    }
    buf_free(&resp->body);
    resp->body = r.body;
    resp->status = 200;
    APP_COUNT(api->app, seatmap_hits_inline, 1);
    return TK_OK;
}
