/* booking.c — POST /reservation (hold one seat or several), POST /payment (pay a hold), and the orders routes:
 * DELETE /reservation/{id}, POST /payments/{id}/refund, POST /admin/payments/{id}/refund, GET /user/payments,
 * GET /admin/payments (the organizer's list: everyone's, or one date's), POST /admin/schedules/{id}/cancel. */
#include "api/api.h"

#include <string.h>
#include "util/ids.h"
#include "core/states.h"

/* {"seatIds": [...]}: 1..limit ids (duplicates are refused by booking_hold_seats). */
static int seat_ids_field(json_t *body, int64_t *ids, int *n, int limit, struct api_response *resp)
{
    json_t *arr = json_object_get(body, "seatIds");
    if (!json_is_array(arr))
        return api_fail(resp, TK_ERR_INVALID, "'seatIds' must be an array of seat ids");
    size_t len = json_array_size(arr);
    if (len < 1 || (int)len > limit) {
        char msg[96];
        snprintf(msg, sizeof msg, "'seatIds' must hold 1..%d seat ids", limit);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || id_parse(json_string_value(v), &ids[i]) < 0)
            return api_fail(resp, TK_ERR_INVALID, "'seatIds' must be an array of seat ids (decimal strings)");
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return api_fail(resp, TK_ERR_INVALID, "'seatIds' names a seat twice");
    }
    *n = (int)len;
    return TK_OK;
}

static int fail_unavailable(struct api_response *resp, const struct tk_hold *h)
{
    (void)api_fail(resp, TK_ERR_SEAT_UNAVAILABLE,
                   h->nunavailable > 1 ? "some of these seats are taken: nothing was held" : NULL);
    if (resp->body.len > 0 && !resp->body.oom) {
        resp->body.len--; /* reopen the envelope for the list */
        buf_append(&resp->body, ",\"unavailableSeatIds\":[", 23);
        for (int i = 0; i < h->nunavailable; i++) {
            if (i)
                buf_append(&resp->body, ",", 1);
            api_json_id(&resp->body, h->unavailable[i]);
        }
        buf_append(&resp->body, "]}", 2);
    }
    return TK_ERR_SEAT_UNAVAILABLE;
}

int api_reservation(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"seatId", "seatIds", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t seat_id = 0, ids[HOLD_SEATS_MAX];
    int n = 0, rc;
    bool multi = json_object_get(body, "seatIds") != NULL;
    if (multi && json_object_get(body, "seatId")) {
        json_decref(body);
        return api_fail(resp, TK_ERR_INVALID, "send one of 'seatId' and 'seatIds'");
    }
    int limit = api->app->max_holds_per_user < HOLD_SEATS_MAX ? api->app->max_holds_per_user : HOLD_SEATS_MAX;
    rc = multi ? seat_ids_field(body, ids, &n, limit, resp) : api_field_id(body, "seatId", true, &seat_id, resp);
    json_decref(body);
    TK_TRY(rc);
    if (!multi) {
        ids[0] = seat_id;
        n = 1;
    }
    TK_TRY(api_gate(api, req, OWNER_SEAT, ids[0], resp));
    struct tk_hold h;
    rc = multi ? booking_hold_seats(api->app, req->user_id, ids, n, req->idem, &h)
               : booking_hold(api->app, req->user_id, seat_id, req->idem, &h);
    if (rc == TK_ERR_SEAT_UNAVAILABLE && multi)
        return fail_unavailable(resp, &h);
    if (rc == TK_ERR_INVALID)
        return api_fail(resp, rc, "the seats must be of one date");
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, multi ? "no such seat (one of seatIds)" : "no such seat");
    if (rc == TK_ERR_HOLD_LIMIT) {
        char msg[96];
        snprintf(msg, sizeof msg, "you already hold %d seats", api->app->max_holds_per_user);
        return api_fail(resp, rc, msg);
    }
    TK_TRY(rc);
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "reservation:%lld", (long long)h.reservation_id);
    api_render_hold(resp, &h);
    return TK_OK;
}

void api_render_hold(struct api_response *resp, const struct tk_hold *h)
{
    resp->body.len = 0;
    api_ok_open(resp, 201);
    buf_append(&resp->body, "{\"reservationId\":", 17);
    api_json_id(&resp->body, h->reservation_id);
    buf_append(&resp->body, ",\"seatId\":", 10);
    api_json_id(&resp->body, h->seat_id);
    buf_printf(&resp->body, ",\"seatNumber\":%d,\"scheduleId\":", h->seat_number);
    api_json_id(&resp->body, h->schedule_id);
    buf_printf(&resp->body, ",\"price\":%lld,\"status\":\"HELD\",\"expiresAt\":", (long long)h->price_won);
    api_json_time(&resp->body, h->expires_at_ms);
    api_render_seats(&resp->body, h->seats, h->nseats);
    buf_printf(&resp->body, ",\"amount\":%lld}", (long long)(h->nseats ? h->amount_won : h->price_won));
    api_ok_close(resp);
}

void api_render_seats(struct buf *b, const struct tk_hold_seat *seats, int n)
{
    buf_append(b, ",\"seats\":[", 10);
    for (int i = 0; i < n; i++) {
        buf_append(b, i ? ",{\"seatId\":" : "{\"seatId\":", i ? 11 : 10);
        api_json_id(b, seats[i].seat_id);
        buf_printf(b, ",\"seatNumber\":%d,\"price\":%lld,\"category\":", seats[i].seat_number,
                   (long long)seats[i].price_won);
        if (seats[i].category[0])
            buf_json_str(b, seats[i].category);
        else
            buf_append(b, "null", 4);
        buf_append(b, "}", 1);
    }
    buf_append(b, "]", 1);
}

int api_payment(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"reservationId", "seatId", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t reservation_id = 0, seat_id = 0;
    int r1 = api_field_id(body, "reservationId", false, &reservation_id, resp);
    int r2 = r1 == TK_OK || r1 == TK_ERR_NOT_FOUND ? api_field_id(body, "seatId", false, &seat_id, resp) : r1;
    json_decref(body);
    if (r1 == TK_ERR_INVALID || r2 == TK_ERR_INVALID)
        return TK_ERR_INVALID;
    if ((r1 == TK_OK) == (r2 == TK_OK))
        return api_fail(resp, TK_ERR_INVALID, "send exactly one of 'reservationId' and 'seatId'");
    TK_TRY(api_gate(api, req, reservation_id ? OWNER_RESERVATION : OWNER_SEAT,
                    reservation_id ? reservation_id : seat_id, resp));
    struct tk_payment p;
    int rc = booking_pay(api->app, req->user_id, req->queue_token, reservation_id, seat_id, req->idem, &p);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, seat_id ? "you hold no reservation on this seat" : "no such reservation");
    if (rc == TK_ERR_FORBIDDEN)
        return api_fail(resp, rc, "this reservation belongs to someone else");
    TK_TRY(rc);
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "payment:%lld", (long long)p.payment_id);
    api_render_payment(resp, &p);
    return TK_OK;
}

void api_render_payment(struct api_response *resp, const struct tk_payment *p)
{
    char date[16];
    clock_format_date(p->starts_at_ms, date, sizeof date);
    resp->body.len = 0;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"paymentId\":", 13);
    api_json_id(&resp->body, p->payment_id);
    buf_append(&resp->body, ",\"reservationId\":", 17);
    api_json_id(&resp->body, p->reservation_id);
    buf_append(&resp->body, ",\"seatId\":", 10);
    api_json_id(&resp->body, p->seat_id);
    buf_printf(&resp->body, ",\"seatNumber\":%d,\"concertName\":", p->seat_number);
    buf_json_str(&resp->body, p->concert_name);
    buf_printf(&resp->body, ",\"date\":\"%s\",\"amount\":%lld,\"status\":\"%s\",\"balance\":%lld", date,
               (long long)p->amount_won, payment_state_name(p->state), (long long)p->balance_won);
    api_render_seats(&resp->body, p->seats, p->nseats);
    buf_append(&resp->body, "}", 1);
    api_ok_close(resp);
}

/* ---------- orders (issue 11) ---------- */

int api_reservation_cancel(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    TK_TRY(api_gate(api, req, OWNER_RESERVATION, id, resp));
    int rc = booking_cancel(api->app, req->user_id, id);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such reservation");
    if (rc == TK_ERR_FORBIDDEN)
        return api_fail(resp, rc, "this reservation belongs to someone else");
    TK_TRY(rc);
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"reservationId\":", 17);
    api_json_id(&resp->body, id);
    buf_append(&resp->body, ",\"status\":\"CANCELLED\"}", 22);
    api_ok_close(resp);
    return TK_OK;
}

static int refund(struct tk_api *api, struct api_request *req, struct api_response *resp, int64_t user_id)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    if (req->body_len > 0) {
        static const char *const NONE[] = {NULL};
        json_t *body;
        TK_TRY(api_body_object(req, resp, NONE, true, &body));
        json_decref(body);
    }
    struct tk_payment p;
    int rc = booking_refund(api->app, user_id, id, req->idem, &p);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such payment");
    if (rc == TK_ERR_FORBIDDEN)
        return api_fail(resp, rc, "this payment belongs to someone else");
    TK_TRY(rc);
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "refund:%lld", (long long)id);
    api_render_payment(resp, &p);
    return TK_OK;
}

int api_payment_refund(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return refund(api, req, resp, req->user_id);
}

int api_admin_payment_refund(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    return refund(api, req, resp, 0);
}

/* A payments-list item: GET /user/payments' fields; the organizer's list (GET /admin/payments) adds whose it is
 * and of which date. */
static void payment_item_json(struct buf *b, const struct tk_payment *p, bool organizer)
{
    buf_append(b, "{\"paymentId\":", 13);
    api_json_id(b, p->payment_id);
    buf_append(b, ",\"reservationId\":", 17);
    api_json_id(b, p->reservation_id);
    if (organizer) {
        buf_append(b, ",\"userId\":", 10);
        api_json_id(b, p->user_id);
        buf_append(b, ",\"scheduleId\":", 14);
        api_json_id(b, p->schedule_id);
    }
    api_render_seats(b, p->seats, p->nseats);
    buf_printf(b, ",\"amount\":%lld,\"status\":\"%s\",\"createdAt\":", (long long)p->amount_won,
               payment_state_name(p->state));
    api_json_time(b, p->created_at_ms);
    buf_append(b, "}", 1);
}

static int user_payment_row(void *arg, const struct tk_payment *p)
{
    struct api_list *l = arg;
    api_list_sep(l);
    payment_item_json(l->b, p, false);
    return TK_OK;
}

static int admin_payment_row(void *arg, const struct tk_payment *p)
{
    struct api_list *l = arg;
    api_list_sep(l);
    payment_item_json(l->b, p, true);
    return TK_OK;
}

/* The list of the payments f matches, limit from ?limit= (1..PAYMENTS_LIST_MAX, default def). */
static int payments_respond(struct tk_api *api, struct api_request *req, struct api_response *resp,
                            const struct tk_payment_filter *f, int64_t def, tk_payment_fn row)
{
    int64_t limit;
    TK_TRY(api_query_int(req, "limit", 1, PAYMENTS_LIST_MAX, def, &limit, resp));
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list l = {.b = &resp->body};
    TK_TRY(booking_payments(api->app, f, (int)limit, row, &l));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}

int api_user_payments(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    TK_ASSERT(req->user_id > 0); /* AUTH_BEARER: a filter of 0 would be everyone's */
    struct tk_payment_filter f = {.user_id = req->user_id};
    return payments_respond(api, req, resp, &f, 20, user_payment_row);
}

int api_admin_payments(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct tk_payment_filter f = {0};
    int rc = api_query_id(req, "scheduleId", false, &f.schedule_id, resp);
    if (rc < 0 && rc != TK_ERR_NOT_FOUND)
        return rc;
    if (f.schedule_id) { /* an unknown date is a 404, not an empty list (a cancelled one still lists) */
        int64_t concert_id;
        rc = store_owner_concert(api->app->store, OWNER_SCHEDULE, f.schedule_id, &concert_id);
        if (rc == TK_ERR_NOT_FOUND)
            return api_fail(resp, rc, "no such schedule");
        TK_TRY(rc);
    }
    return payments_respond(api, req, resp, &f, ADMIN_PAYMENTS_DEFAULT, admin_payment_row);
}

int api_admin_schedule_cancel(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t id;
    TK_TRY(api_path_id(req, &id, resp));
    int refunded = 0;
    int rc = booking_cancel_schedule(api->app, id, &refunded);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such schedule");
    TK_TRY(rc);
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"scheduleId\":", 14);
    api_json_id(&resp->body, id);
    buf_printf(&resp->body, ",\"refunded\":%d}", refunded);
    api_ok_close(resp);
    return TK_OK;
}
