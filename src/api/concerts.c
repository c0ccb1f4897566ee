/* concerts.c — GET /concerts, /concert/available-dates, /concert/available-seats.
 * Rows stream from the store's visitors straight into the response buffer. */
#include "api/api.h"

struct list_ctx {
    struct buf *b;
    int n;
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
    buf_append(c->b, "}", 1);
    return TK_OK;
}

int api_concerts(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct list_ctx c = {.b = &resp->body};
    struct tk_store *st = api->app->store;
    TK_TRY(store_concerts_list(st, concert_row, &c));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

static int schedule_row(void *arg, const struct tk_schedule *row)
{
    struct list_ctx *c = arg;
    char date[16];
    clock_format_date(row->starts_at_ms, date, sizeof date);
    list_sep(c);
    buf_append(c->b, "{\"scheduleId\":", 14);
    api_json_id(c->b, row->id);
    buf_append(c->b, ",\"concertId\":", 13);
    api_json_id(c->b, row->concert_id);
    buf_append(c->b, ",\"concertName\":", 15);
    buf_json_str(c->b, row->concert_name);
    buf_printf(c->b, ",\"date\":\"%s\",\"startsAt\":", date);
    api_json_time(c->b, row->starts_at_ms);
    buf_printf(c->b, ",\"totalSeats\":%d,\"reservedSeats\":%d,\"availableSeats\":%d}", row->total_seats,
               row->reserved_seats, row->total_seats - row->reserved_seats);
    return TK_OK;
}

int api_available_dates(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t concert_id = 0;
    int rc = api_query_id(req, "concertId", false, &concert_id, resp);
    if (rc < 0 && rc != TK_ERR_NOT_FOUND)
        return rc;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct list_ctx c = {.b = &resp->body};
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
    buf_printf(c->b, "{\"seatId\":\"%lld\",\"seatNumber\":%d,\"price\":%lld}", (long long)row->id, row->seat_number,
               (long long)row->price_won);
    return TK_OK;
}

int api_available_seats(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t schedule_id = 0;
    TK_TRY(api_query_id(req, "concertScheduleId", true, &schedule_id, resp));
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
