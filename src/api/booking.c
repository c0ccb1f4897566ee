/* booking.c — POST /reservation (hold a seat) and POST /payment (pay a hold). */
#include "api/api.h"

int api_reservation(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"seatId", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t seat_id = 0;
    int rc = api_field_id(body, "seatId", true, &seat_id, resp);
    json_decref(body);
    TK_TRY(rc);
    TK_TRY(api_gate(api, req, OWNER_SEAT, seat_id, resp));
    struct tk_hold h;
    rc = booking_hold(api->app, req->user_id, seat_id, req->idem, &h);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such seat");
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
    buf_append(&resp->body, "}", 1);
    api_ok_close(resp);
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
    buf_printf(&resp->body, ",\"date\":\"%s\",\"amount\":%lld,\"status\":\"PAID\",\"balance\":%lld}", date,
               (long long)p->amount_won, (long long)p->balance_won);
    api_ok_close(resp);
}
