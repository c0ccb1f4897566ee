/* concerts.c — GET /concerts (the public catalogue, each concert with its sale), /concert/available-dates and
 * /concert/available-seats (gated: a token sees only the concerts of its room, core/sales.c sale_gate).
 * Rows stream from the store's visitors straight into the response buffer. */
#include "api/api.h"

struct list_ctx {
    struct buf *b;
    int n;
    struct tk_api *api;
    int64_t room_id;
    int err;
};

static void list_sep(struct list_ctx *c)
{
    if (c->n++)
        buf_append(c->b, ",", 1);
}

static int concert_row(void *arg, const struct tk_concert *row)
{
    struct list_ctx *c = arg;
    list_sep(c);
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
    struct list_ctx c = {.b = &resp->body, .api = api};
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

static int schedule_row(void *arg, const struct tk_schedule *row)
{
    struct list_ctx *c = arg;
    int gate = sale_gate(c->api->app, c->room_id, row->concert_id);
    if (gate == TK_ERR_FORBIDDEN)
        return TK_OK; /* another room's concert: not listed for this token */
    TK_TRY(gate);
    list_sep(c);
    api_schedule_json(c->b, row);
    return TK_OK;
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
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct list_ctx c = {.b = &resp->body, .api = api, .room_id = req->room_id};
    struct tk_store *st = api->app->store;
    rc = store_schedules_available(st, concert_id, app_now_ms(api->app), schedule_row, &c);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such concert");
    TK_TRY(rc);
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

static int seat_row(void *arg, const struct tk_seat *row)
{
    struct list_ctx *c = arg;
    list_sep(c);
    buf_printf(c->b, "{\"seatId\":\"%lld\",\"seatNumber\":%d,\"price\":%lld,\"category\":", (long long)row->id,
               row->seat_number, (long long)row->price_won);
    if (row->category[0])
        buf_json_str(c->b, row->category);
    else
        buf_append(c->b, "null", 4);
    buf_append(c->b, "}", 1);
    return TK_OK;
}

int api_available_seats(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t schedule_id = 0;
    TK_TRY(api_query_id(req, "concertScheduleId", true, &schedule_id, resp));
    TK_TRY(api_gate(api, req, OWNER_SCHEDULE, schedule_id, resp));
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct list_ctx c = {.b = &resp->body};
    struct tk_store *st = api->app->store;
    int rc = store_seats_available(st, schedule_id, app_now_ms(api->app), seat_row, &c);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such concert schedule");
    TK_TRY(rc);
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}
