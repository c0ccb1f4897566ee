/* queue.c — POST /queue/issue, GET /queue/status, and GET /queue/events (the status pushed as Server-Sent Events).
 * A token belongs to one room: the site-wide one (no concertId, or a concert without a sale) or a sale's; its
 * status carries the sale's fields (saleId, concertId, saleState, opensAt; null for the site-wide room). */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#define EVENTS_POLL_MS 250
#define EVENTS_POSITION_EVERY_MS 1000 /* a position change is pushed at most once a second */
#define EVENTS_COMMENT_EVERY_MS 15000

static void json_int_or_null(struct buf *b, int64_t v)
{
    if (v < 0)
        buf_append(b, "null", 4);
    else
        buf_printf(b, "%lld", (long long)v);
}

/* The ticket's JSON object (the data of /queue/status); sale NULL for the site-wide room. */
static void ticket_json(struct tk_api *api, struct buf *b, const struct tk_ticket *t, const struct tk_sale *sale)
{
    buf_append(b, "{\"token\":", 9);
    buf_json_str(b, t->token);
    buf_append(b, ",\"userId\":", 10);
    api_json_id(b, t->user_id);
    buf_printf(b, ",\"status\":\"%s\",\"position\":", token_state_name(t->state));
    json_int_or_null(b, t->position);
    buf_append(b, ",\"estimatedWaitSeconds\":", 24);
    json_int_or_null(b, t->estimated_wait_s);
    buf_append(b, ",\"expiresAt\":", 13);
    api_json_time(b, t->expires_at_ms);
    if (sale) {
        buf_append(b, ",\"saleId\":", 10);
        api_json_id(b, sale->id);
        buf_append(b, ",\"concertId\":", 13);
        api_json_id(b, sale->concert_id);
        buf_printf(b, ",\"saleState\":\"%s\",\"opensAt\":", sale_state_public(sale, app_now_ms(api->app)));
        api_json_time(b, sale->opens_at_ms);
    } else {
        static const char NO_SALE[] = ",\"saleId\":null,\"concertId\":null,\"saleState\":null,\"opensAt\":null";
        buf_append(b, NO_SALE, sizeof NO_SALE - 1);
    }
    buf_append(b, "}", 1);
}

static void render_ticket(struct tk_api *api, struct api_response *resp, int status, const struct tk_ticket *t,
                          const struct tk_sale *sale)
{
    api_ok_open(resp, status);
    ticket_json(api, &resp->body, t, sale);
    api_ok_close(resp);
}

static int no_schedule(void *arg, const struct tk_schedule *s)
{
    (void)arg;
    (void)s;
    return TK_OK;
}

int api_queue_issue(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"concertId", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, true, &body));
    int64_t concert_id = 0;
    int rc = api_field_id(body, "concertId", false, &concert_id, resp);
    json_decref(body);
    if (rc < 0 && rc != TK_ERR_NOT_FOUND)
        return rc;
    TK_TRY(api_within_action_budget(api, req, API_ACTION_ISSUE, resp));
    struct tk_app *app = api->app;
    struct wr_room room = app->site_room;
    struct tk_sale sale;
    bool has_sale = false;
    if (concert_id) {
        rc = sales_by_concert(app, concert_id, &sale);
        if (rc == TK_ERR_NOT_FOUND) { /* a sale created on another instance in the last 500 ms: read them now */
            TK_TRY(sales_refresh(app, true));
            rc = sales_by_concert(app, concert_id, &sale);
        }
        if (rc == TK_OK) {
            has_sale = true;
            sale_room_of(app, &sale, &room);
        } else if (rc == TK_ERR_NOT_FOUND) { /* no sale: the site-wide room serves, if the concert exists */
            struct tk_schedule_filter f = {.concert_id = concert_id, .now_ms = app_now_ms(app)};
            rc = store_schedules_list(app->store, &f, no_schedule, NULL);
            if (rc == TK_ERR_NOT_FOUND)
                return api_fail(resp, rc, "no such concert");
            TK_TRY(rc);
        } else {
            return rc;
        }
    }
    struct tk_waitroom *w = app->waitroom;
    struct tk_ticket t;
    bool created = false;
    rc = w->ops->issue(w, &room, req->user_id, app_now_ms(app), &t, &created);
    if (rc == TK_ERR_UNAVAILABLE)
        return api_fail(resp, rc, "the waiting room is full; retry later");
    if (rc == TK_ERR_SALE_CLOSED)
        return api_fail(resp, rc, has_sale && sale.state == SALE_SOLD_OUT ? "the sale is sold out" : "the sale is closed");
    TK_TRY(rc);
    render_ticket(api, resp, created ? 201 : 200, &t, has_sale ? &sale : NULL);
    return TK_OK;
}

/* The token of a status request: the queue-token header, or ?token= (EventSource cannot set headers). */
static const char *request_token(const struct api_request *req)
{
    const char *token = req->header(req->ctx, "queue-token");
    return token ? token : req->query(req->ctx, "token");
}

/* A token's status, any state, with its sale (has_sale false for the site-wide room). */
static int lookup(struct tk_api *api, const char *token, struct tk_ticket *t, struct tk_sale *sale, bool *has_sale)
{
    struct wr_room room;
    sale->id = 0;
    int rc = api_token_room(api, token, &room, sale);
    if (rc == TK_ERR_UNAUTHORIZED)
        return TK_ERR_NOT_FOUND;
    TK_TRY(rc);
    *has_sale = room.id != 0;
    return api->app->waitroom->ops->status(api->app->waitroom, &room, token, app_now_ms(api->app), t);
}

/* The status of the request's token, after counting the request against its client: the token's user (the token is
 * the client's identity), or the address when the token is unknown (then 401). */
static int token_status(struct tk_api *api, struct api_request *req, struct api_response *resp, struct tk_ticket *t,
                        struct tk_sale *sale, bool *has_sale)
{
    const char *token = request_token(req);
    int rc = lookup(api, token, t, sale, has_sale);
    TK_TRY(api_within_budget(api, req, rc == TK_OK ? t->user_id : 0, resp));
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing or unknown queue token (queue-token or ?token=)");
    return rc;
}

int api_queue_status(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct tk_ticket t;
    struct tk_sale sale;
    bool has_sale = false;
    TK_TRY(token_status(api, req, resp, &t, &sale, &has_sale));
    render_ticket(api, resp, 200, &t, has_sale ? &sale : NULL);
    return TK_OK;
}

/* ---- GET /queue/events ---- */

struct events_stream {
    struct api_stream base; /* first */
    char token[TOKEN_MAX_LEN + 1];
    bool sent_any;
    int last_state;
    char last_sale_state[16];
    int64_t last_position;
    int64_t last_event_ms, last_bytes_ms;
};

static void events_emit(struct tk_api *api, struct buf *out, const struct tk_ticket *t, const struct tk_sale *sale)
{
    buf_append(out, "event: status\ndata: {\"success\":true,\"data\":", 43);
    ticket_json(api, out, t, sale);
    buf_append(out, "}\n\n", 3);
}

/* Each call reads the token's status (which also counts as the waiter's poll, so an open stream keeps its place)
 * and pushes it when it changed: the state or the sale's state at once, the position at most once a second. The
 * stream ends after an event showing ACTIVE, EXPIRED, CLOSED or SOLD_OUT. */
static enum api_stream_verdict events_next(struct api_stream *base, struct tk_api *api, struct buf *out)
{
    struct events_stream *es = (struct events_stream *)base;
    int64_t now = app_now_ms(api->app);
    struct tk_ticket t;
    struct tk_sale sale;
    bool has_sale = false;
    int rc = lookup(api, es->token, &t, &sale, &has_sale);
    if (rc == TK_ERR_NOT_FOUND) { /* forgotten (expired long ago): nothing more will happen */
        buf_append(out, ": the token is no longer known\n\n", 34);
        return API_STREAM_END;
    }
    if (rc == TK_OK && has_sale && t.state == TOKEN_EXPIRED && (sale.state == SALE_OPEN || sale.state == SALE_PAUSED)) {
        /* The stream's last event: say why it ended with the sale's current state. This instance's copy can be up
         * to SALES_REFRESH_MS old while another instance, which saw CLOSED or SOLD_OUT, already expired the waiter
         * in the shared room (one store read per stream end; a failed read keeps the copy). */
        struct tk_sale fresh;
        if (sales_refresh(api->app, true) == TK_OK && sales_get(api->app, sale.id, &fresh) == TK_OK)
            sale = fresh;
    }
    if (rc == TK_OK) {
        const char *sale_state = has_sale ? sale_state_public(&sale, now) : "";
        bool changed = !es->sent_any || (int)t.state != es->last_state || strcmp(sale_state, es->last_sale_state) != 0 ||
                       (t.position != es->last_position && now - es->last_event_ms >= EVENTS_POSITION_EVERY_MS);
        if (changed) {
            events_emit(api, out, &t, has_sale ? &sale : NULL);
            es->sent_any = true;
            es->last_state = (int)t.state;
            snprintf(es->last_sale_state, sizeof es->last_sale_state, "%s", sale_state);
            es->last_position = t.position;
            es->last_event_ms = es->last_bytes_ms = now;
            if (t.state == TOKEN_ACTIVE || t.state == TOKEN_EXPIRED || strcmp(sale_state, "CLOSED") == 0 ||
                strcmp(sale_state, "SOLD_OUT") == 0)
                return API_STREAM_END;
            return API_STREAM_MORE;
        }
    } /* else the waiting room is unreachable for now: keep the stream, say nothing new */
    if (now - es->last_bytes_ms >= EVENTS_COMMENT_EVERY_MS) {
        buf_append(out, ": keep-alive\n\n", 15);
        es->last_bytes_ms = now;
    }
    return API_STREAM_MORE;
}

static void events_free(struct api_stream *st) { free(st); }

int api_queue_events(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct tk_ticket t;
    struct tk_sale sale;
    bool has_sale = false;
    TK_TRY(token_status(api, req, resp, &t, &sale, &has_sale));
    struct events_stream *es = calloc(1, sizeof *es);
    if (!es)
        return api_fail(resp, TK_ERR_NOMEM, NULL);
    es->base = (struct api_stream){.next = events_next, .free = events_free, .poll_ms = EVENTS_POLL_MS};
    snprintf(es->token, sizeof es->token, "%s", t.token);
    es->last_bytes_ms = app_now_ms(api->app);
    resp->status = 200;
    resp->content_type = "text/event-stream";
    resp->cache_control = "no-cache";
    resp->stream = &es->base;
    return TK_OK;
}
