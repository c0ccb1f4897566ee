/* admin.c — the organizer API (Authorization: Bearer <adminKey>, router.c AUTH_ADMIN): concerts, dates with priced
 * seats, sales with their live controls and figures, and the lists the organizer's page reads (GET /admin/schedules,
 * GET /admin/sales). The rules are core's (core/catalog.c, core/sales.c); this file reads JSON and renders it.
 * Limits: SCHEDULE_SEATS_MAX seats and SCHEDULE_PRICE_RANGES_MAX price ranges a date; SALES_MAX sales listed. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

int api_admin_concerts(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"name", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    const char *name = NULL;
    int rc = api_field_str(body, "name", true, &name, resp);
    struct tk_concert c;
    if (rc == TK_OK) {
        rc = catalog_concert_create(api->app, name, &c);
        if (rc == TK_ERR_INVALID)
            rc = api_fail(resp, rc, "'name' must be 1..64 characters");
    }
    json_decref(body);
    TK_TRY(rc);
    api_ok_open(resp, 201);
    buf_append(&resp->body, "{\"concertId\":", 13);
    api_json_id(&resp->body, c.id);
    buf_append(&resp->body, ",\"name\":", 8);
    buf_json_str(&resp->body, c.name);
    buf_append(&resp->body, "}", 1);
    api_ok_close(resp);
    return TK_OK;
}

/* Reads "prices": [{"fromSeat", "toSeat", "price", "category"?}] into ranges (at most SCHEDULE_PRICE_RANGES_MAX). */
static int read_prices(json_t *body, struct tk_price_range *ranges, int *n, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"fromSeat", "toSeat", "price", "category", NULL};
    json_t *arr = json_object_get(body, "prices");
    if (!arr || !json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > SCHEDULE_PRICE_RANGES_MAX)
        return api_fail(resp, TK_ERR_INVALID, "'prices' must be an array of 1..100 {fromSeat, toSeat, price, category?}");
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item))
            return api_fail(resp, TK_ERR_INVALID, "each price range must be an object");
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v) {
            bool known = false;
            for (int k = 0; ALLOWED[k]; k++)
                known |= strcmp(key, ALLOWED[k]) == 0;
            if (!known)
                return api_fail(resp, TK_ERR_INVALID, "a price range has an unknown field");
        }
        struct tk_price_range *r = &ranges[i];
        int64_t from, to, price;
        TK_TRY(api_field_int(item, "fromSeat", 1, SCHEDULE_SEATS_MAX, true, &from, resp));
        TK_TRY(api_field_int(item, "toSeat", 1, SCHEDULE_SEATS_MAX, true, &to, resp));
        TK_TRY(api_field_amount(item, "price", &price, resp));
        const char *cat = NULL;
        json_t *cv = json_object_get(item, "category");
        if (cv && !json_is_null(cv)) {
            TK_TRY(api_field_str(item, "category", true, &cat, resp));
            if (account_check_name(cat) < 0)
                return api_fail(resp, TK_ERR_INVALID, "'category' must be 1..64 characters");
        }
        *r = (struct tk_price_range){.from_seat = (int)from, .to_seat = (int)to, .price_won = price};
        snprintf(r->category, sizeof r->category, "%s", cat ? cat : "");
    }
    *n = (int)json_array_size(arr);
    return TK_OK;
}

int api_admin_schedules(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"concertId", "startsAt", "seatCount", "prices", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    struct tk_price_range *ranges = calloc(SCHEDULE_PRICE_RANGES_MAX, sizeof *ranges);
    struct tk_schedule_new in = {.seat_count = 50, .ranges = ranges};
    int64_t seat_count = 50;
    int rc = ranges ? TK_OK : api_fail(resp, TK_ERR_NOMEM, NULL);
    if (rc == TK_OK)
        rc = api_field_id(body, "concertId", true, &in.concert_id, resp);
    if (rc == TK_OK)
        rc = api_field_time(body, "startsAt", true, &in.starts_at_ms, resp);
    if (rc == TK_OK) {
        rc = api_field_int(body, "seatCount", 1, SCHEDULE_SEATS_MAX, false, &seat_count, resp);
        rc = rc == TK_ERR_NOT_FOUND ? TK_OK : rc;
    }
    if (rc == TK_OK)
        rc = read_prices(body, ranges, &in.nranges, resp);
    json_decref(body);
    in.seat_count = (int)seat_count;
    struct tk_schedule out;
    if (rc == TK_OK) {
        rc = catalog_schedule_create(api->app, &in, &out);
        if (rc == TK_ERR_INVALID)
            rc = api_fail(resp, rc, "'startsAt' must be in the future and 'prices' must cover seats 1..seatCount "
                                    "exactly once, each price 1..1000000000");
        else if (rc == TK_ERR_NOT_FOUND)
            rc = api_fail(resp, rc, "no such concert");
    }
    free(ranges);
    TK_TRY(rc);
    api_ok_open(resp, 201);
    api_schedule_json(&resp->body, &out);
    api_ok_close(resp);
    return TK_OK;
}

/* ---- GET /admin/schedules?concertId= : every date of a concert not cancelled, oldest first ---- */

static int schedule_row(void *arg, const struct tk_schedule *row)
{
    struct api_list *l = arg;
    api_list_sep(l);
    api_schedule_json(l->b, row);
    return TK_OK;
}

int api_admin_schedules_list(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct tk_schedule_filter f = {.now_ms = app_now_ms(api->app), .every = true};
    TK_TRY(api_query_id(req, "concertId", true, &f.concert_id, resp));
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list l = {.b = &resp->body};
    int rc = store_schedules_list(api->app->store, &f, schedule_row, &l);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such concert");
    TK_TRY(rc);
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

void api_sale_json(struct tk_api *api, struct buf *b, const struct tk_sale *s)
{
    buf_append(b, "{\"saleId\":", 10);
    api_json_id(b, s->id);
    buf_append(b, ",\"concertId\":", 13);
    api_json_id(b, s->concert_id);
    buf_printf(b, ",\"state\":\"%s\",\"opensAt\":", sale_state_public(s, app_now_ms(api->app)));
    api_json_time(b, s->opens_at_ms);
    buf_printf(b, ",\"maxActive\":%d,\"admitPerSec\":%d,\"tokenSeconds\":%d", s->max_active, s->admit_per_sec,
               s->token_seconds);
}

static void render_sale(struct tk_api *api, struct api_response *resp, int status, const struct tk_sale *s)
{
    api_ok_open(resp, status);
    api_sale_json(api, &resp->body, s);
    buf_append(&resp->body, "}", 1);
    api_ok_close(resp);
}

int api_admin_sales_create(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"concertId", "opensAt", "maxActive", "admitPerSec", "tokenSeconds", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    const struct wr_room *site = &api->app->site_room;
    int64_t max_active = site->policy.max_active, rate = site->policy.admit_per_sec,
            token_s = site->policy.token_ms / 1000, opens_at = app_now_ms(api->app);
    struct tk_sale in = {.state = SALE_OPEN};
    int rc = api_field_id(body, "concertId", true, &in.concert_id, resp);
    if (rc == TK_OK && (rc = api_field_time(body, "opensAt", false, &opens_at, resp)) == TK_ERR_NOT_FOUND)
        rc = TK_OK;
    if (rc == TK_OK &&
        (rc = api_field_int(body, "maxActive", 1, SALE_MAX_ACTIVE_MAX, false, &max_active, resp)) == TK_ERR_NOT_FOUND)
        rc = TK_OK;
    if (rc == TK_OK &&
        (rc = api_field_int(body, "admitPerSec", 1, SALE_ADMIT_PER_SEC_MAX, false, &rate, resp)) == TK_ERR_NOT_FOUND)
        rc = TK_OK;
    if (rc == TK_OK && (rc = api_field_int(body, "tokenSeconds", SALE_TOKEN_SECONDS_MIN, SALE_TOKEN_SECONDS_MAX,
                                           false, &token_s, resp)) == TK_ERR_NOT_FOUND)
        rc = TK_OK;
    json_decref(body);
    TK_TRY(rc);
    in.opens_at_ms = opens_at;
    in.max_active = (int)(max_active > SALE_MAX_ACTIVE_MAX ? SALE_MAX_ACTIVE_MAX : max_active);
    in.admit_per_sec = (int)(rate > SALE_ADMIT_PER_SEC_MAX ? SALE_ADMIT_PER_SEC_MAX : rate);
    in.token_seconds = (int)(token_s < SALE_TOKEN_SECONDS_MIN ? SALE_TOKEN_SECONDS_MIN : token_s);
    struct tk_sale out;
    rc = sale_create(api->app, &in, &out);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such concert");
    if (rc == TK_ERR_INVALID)
        return api_fail(resp, rc, "this concert has a sale already (change it with PATCH /admin/sales/{saleId})");
    TK_TRY(rc);
    render_sale(api, resp, 201, &out);
    return TK_OK;
}

/* ---- GET /admin/sales: every sale, newest first (the store visits them by id: collected, then reversed) ---- */

struct sales_read {
    struct tk_sale *rows; /* SALES_MAX */
    int n;
};

static int sale_collect(void *arg, const struct tk_sale *s)
{
    struct sales_read *r = arg;
    if (r->n < SALES_MAX)
        r->rows[r->n++] = *s;
    return TK_OK;
}

int api_admin_sales_list(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    struct sales_read r = {.rows = malloc(sizeof *r.rows * SALES_MAX)};
    if (!r.rows)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    int rc = store_sales_list(api->app->store, SALES_MAX, sale_collect, &r); /* the store's state, not the copy */
    if (rc == TK_OK) {
        api_ok_open(resp, 200);
        buf_append(&resp->body, "[", 1);
        struct api_list l = {.b = &resp->body};
        for (int i = r.n - 1; i >= 0; i--) {
            api_list_sep(&l);
            api_sale_json(api, l.b, &r.rows[i]);
            buf_append(l.b, "}", 1);
        }
        buf_append(&resp->body, "]", 1);
        api_ok_close(resp);
    }
    free(r.rows);
    return rc;
}

int api_admin_sale_patch(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t sale_id;
    TK_TRY(api_path_id(req, &sale_id, resp));
    static const char *const ALLOWED[] = {"maxActive", "admitPerSec", "state", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    struct tk_sale_patch p = {0};
    int64_t v;
    int rc = api_field_int(body, "maxActive", 1, SALE_MAX_ACTIVE_MAX, false, &v, resp);
    if (rc == TK_OK)
        p.has_max_active = true, p.max_active = (int)v;
    if (rc == TK_OK || rc == TK_ERR_NOT_FOUND) {
        rc = api_field_int(body, "admitPerSec", 1, SALE_ADMIT_PER_SEC_MAX, false, &v, resp);
        if (rc == TK_OK)
            p.has_admit_per_sec = true, p.admit_per_sec = (int)v;
    }
    if (rc == TK_OK || rc == TK_ERR_NOT_FOUND) {
        const char *st = NULL;
        rc = api_field_str(body, "state", false, &st, resp);
        if (rc == TK_OK) {
            static const char *const SETTABLE[] = {"OPEN", "PAUSED", "CLOSED"};
            static const enum tk_sale_state AS[] = {SALE_OPEN, SALE_PAUSED, SALE_CLOSED};
            for (int i = 0; i < 3; i++)
                if (strcmp(st, SETTABLE[i]) == 0)
                    p.has_state = true, p.state = AS[i];
            if (!p.has_state)
                rc = api_fail(resp, TK_ERR_INVALID, "'state' must be OPEN, PAUSED or CLOSED");
        }
    }
    json_decref(body);
    if (rc < 0 && rc != TK_ERR_NOT_FOUND)
        return rc;
    if (!p.has_max_active && !p.has_admit_per_sec && !p.has_state)
        return api_fail(resp, TK_ERR_INVALID, "send any of 'maxActive', 'admitPerSec', 'state'");
    struct tk_sale out;
    rc = sale_patch(api->app, sale_id, &p, &out);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such sale");
    TK_TRY(rc);
    render_sale(api, resp, 200, &out);
    return TK_OK;
}

int api_sale_stats(struct tk_api *api, const struct tk_sale *sale, struct api_sale_stats *out)
{
    struct tk_app *app = api->app;
    struct wr_room room;
    sale_room_of(app, sale, &room);
    out->sale = *sale;
    int64_t now = app_now_ms(app);
    TK_TRY(app->waitroom->ops->stats(app->waitroom, &room, now, &out->ws));
    return store_seat_counts(app->store, sale->concert_id, now, &out->seats);
}

struct collect_stats {
    struct tk_api *api;
    struct api_sale_stats *out;
    int n, max;
};

static int collect_stats_fn(void *arg, const struct tk_sale *s)
{
    struct collect_stats *c = arg;
    if (c->n >= c->max)
        return TK_OK;
    TK_TRY(api_sale_stats(c->api, s, &c->out[c->n]));
    c->n++;
    return TK_OK;
}

int api_sales_stats(struct tk_api *api, struct api_sale_stats *out, int max)
{
    struct collect_stats c = {.api = api, .out = out, .max = max};
    TK_TRY(sales_each(api->app, collect_stats_fn, &c));
    return c.n;
}

void api_render_sale_metrics(struct buf *b, const struct api_sale_stats *s, int n)
{
    static const struct {
        const char *name, *type, *help;
    } SERIES[] = {
        {"ticketd_sale_waiting", "gauge", "Tokens waiting in the sale's line (pre-queue included)."},
        {"ticketd_sale_active", "gauge", "ACTIVE tokens of the sale."},
        {"ticketd_sale_admitted_total", "counter", "Tokens of the sale made ACTIVE."},
        {"ticketd_sale_admitted_last_minute", "gauge", "Admissions in the last 60 s."},
        {"ticketd_sale_abandoned_total", "counter", "Waiters dropped for not polling."},
        {"ticketd_sale_queue_wait_p50_seconds", "gauge", "Median time in line of admitted tokens."},
        {"ticketd_sale_queue_wait_p95_seconds", "gauge", "95th percentile of the time in line."},
        {"ticketd_sale_seats_free", "gauge", "Free seats of the sale's concert."},
        {"ticketd_sale_seats_held", "gauge", "Held seats of the sale's concert."},
        {"ticketd_sale_seats_sold", "gauge", "Sold seats of the sale's concert."},
    };
    for (size_t k = 0; k < sizeof SERIES / sizeof SERIES[0]; k++) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", SERIES[k].name, SERIES[k].help, SERIES[k].name, SERIES[k].type);
        for (int i = 0; i < n; i++) {
            const struct api_sale_stats *x = &s[i];
            long long v[] = {x->ws.waiting, x->ws.active, (long long)x->ws.admitted_total, x->ws.admitted_last_minute,
                             (long long)x->ws.abandoned_total, x->ws.wait_p50_s, x->ws.wait_p95_s, x->seats.free,
                             x->seats.held, x->seats.sold};
            if (v[k] < 0)
                continue; /* no figure yet (a percentile before any admission) */
            buf_printf(b, "%s{sale=\"%lld\"} %lld\n", SERIES[k].name, (long long)x->sale.id, v[k]);
        }
    }
}

int api_admin_sale_get(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t sale_id;
    TK_TRY(api_path_id(req, &sale_id, resp));
    /* the organizer reads the store's state, not this instance's copy (up to SALES_REFRESH_MS old): a sale created,
     * PATCHed or sold out through another instance shows at once (one read of the sales table per GET) */
    TK_TRY(sales_refresh(api->app, true));
    struct tk_sale sale;
    int rc = sales_get(api->app, sale_id, &sale);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such sale");
    TK_TRY(rc);
    struct api_sale_stats st;
    TK_TRY(api_sale_stats(api, &sale, &st));
    api_ok_open(resp, 200);
    struct buf *b = &resp->body;
    api_sale_json(api, b, &sale);
    buf_printf(b, ",\"stats\":{\"waiting\":%lld,\"active\":%lld,\"admittedTotal\":%llu,\"admittedLastMinute\":%lld,"
                  "\"abandoned\":%llu,\"queueWaitP50Seconds\":",
               (long long)st.ws.waiting, (long long)st.ws.active, (unsigned long long)st.ws.admitted_total,
               (long long)st.ws.admitted_last_minute, (unsigned long long)st.ws.abandoned_total);
    if (st.ws.wait_p50_s < 0)
        buf_append(b, "null", 4);
    else
        buf_printf(b, "%lld", (long long)st.ws.wait_p50_s);
    buf_append(b, ",\"queueWaitP95Seconds\":", 23);
    if (st.ws.wait_p95_s < 0)
        buf_append(b, "null", 4);
    else
        buf_printf(b, "%lld", (long long)st.ws.wait_p95_s);
    buf_printf(b, ",\"seatsFree\":%lld,\"seatsHeld\":%lld,\"seatsSold\":%lld}}", (long long)st.seats.free,
               (long long)st.seats.held, (long long)st.seats.sold);
    api_ok_close(resp);
    return TK_OK;
}
