/* queue.c — POST /queue/issue, GET /queue/status, and GET /queue/events (the status pushed as Server-Sent Events). */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#define EVENTS_POLL_MS 250
#define EVENTS_POSITION_EVERY_MS 1000 /* a position change is pushed at most once a second */
#define EVENTS_COMMENT_EVERY_MS 15000

/* The ticket's JSON object (the data of /queue/status). */
static void ticket_json(struct buf *b, const struct tk_ticket *t)
{
    buf_printf(b, "{\"token\":\"%s\",\"userId\":", t->token);
    api_json_id(b, t->user_id);
    buf_printf(b, ",\"status\":\"%s\",\"position\":", token_state_name(t->state));
    if (t->position < 0) /* the room has not opened: no place yet */
        buf_append(b, "null", 4);
    else
        buf_printf(b, "%lld", (long long)t->position);
    buf_append(b, ",\"estimatedWaitSeconds\":", 24);
    if (t->estimated_wait_s < 0)
        buf_append(b, "null", 4);
    else
        buf_printf(b, "%lld", (long long)t->estimated_wait_s);
    buf_append(b, ",\"expiresAt\":", 13);
    api_json_time(b, t->expires_at_ms);
    buf_append(b, "}", 1);
}

static void render_ticket(struct api_response *resp, int status, const struct tk_ticket *t)
{
    api_ok_open(resp, status);
    ticket_json(&resp->body, t);
    api_ok_close(resp);
}

int api_queue_issue(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const NONE[] = {NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, NONE, true, &body));
    json_decref(body);
    struct tk_waitroom *w = api->app->waitroom;
    struct tk_ticket t;
    bool created = false;
    int rc = w->ops->issue(w, &api->app->site_room, req->user_id, app_now_ms(api->app), &t, &created);
    if (rc == TK_ERR_UNAVAILABLE)
        return api_fail(resp, rc, "the waiting room is full; retry later");
    TK_TRY(rc);
    render_ticket(resp, created ? 201 : 200, &t);
    return TK_OK;
}

/* The token of a status request: the queue-token header, or ?token= (EventSource cannot set headers). */
static const char *request_token(const struct api_request *req)
{
    const char *token = req->header(req->ctx, "queue-token");
    return token ? token : req->query(req->ctx, "token");
}

/* The status of the request's token, any state, after counting the request against its client: the token's user
 * (the token is the client's identity), or the address when the token is unknown (then 401). */
static int token_status(struct tk_api *api, struct api_request *req, struct api_response *resp, struct tk_ticket *t)
{
    const char *token = request_token(req);
    struct tk_waitroom *w = api->app->waitroom;
    int rc = waitroom_token_well_formed(token) ? w->ops->status(w, &api->app->site_room, token, app_now_ms(api->app), t) : TK_ERR_NOT_FOUND;
    TK_TRY(api_within_budget(api, req, rc == TK_OK ? t->user_id : 0, resp));
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing or unknown queue token (queue-token or ?token=)");
    return rc;
}

int api_queue_status(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    struct tk_ticket t;
    TK_TRY(token_status(api, req, resp, &t));
    render_ticket(resp, 200, &t);
    return TK_OK;
}

/* ---- GET /queue/events ---- */

struct events_stream {
    struct api_stream base; /* first */
    char token[TOKEN_MAX_LEN + 1];
    bool sent_any;
    int last_state;
    int64_t last_position;
    int64_t last_event_ms, last_bytes_ms;
};

static void events_emit(struct buf *out, const struct tk_ticket *t)
{
    buf_append(out, "event: status\ndata: {\"success\":true,\"data\":", 43);
    ticket_json(out, t);
    buf_append(out, "}\n\n", 3);
}

/* Each call reads the token's status (which also counts as the waiter's poll, so an open stream keeps its place)
 * and pushes it when it changed: the state at once, the position at most once a second. */
static enum api_stream_verdict events_next(struct api_stream *base, struct tk_api *api, struct buf *out)
{
    struct events_stream *es = (struct events_stream *)base;
    struct tk_app *app = api->app;
    int64_t now = app_now_ms(app);
    struct tk_ticket t;
    int rc = app->waitroom->ops->status(app->waitroom, &app->site_room, es->token, now, &t);
    if (rc == TK_ERR_NOT_FOUND) { /* forgotten (expired long ago): nothing more will happen */
        buf_append(out, ": the token is no longer known\n\n", 34);
        return API_STREAM_END;
    }
    if (rc == TK_OK) {
        bool changed = !es->sent_any || (int)t.state != es->last_state ||
                       (t.position != es->last_position && now - es->last_event_ms >= EVENTS_POSITION_EVERY_MS);
        if (changed) {
            events_emit(out, &t);
            es->sent_any = true;
            es->last_state = (int)t.state;
            es->last_position = t.position;
            es->last_event_ms = es->last_bytes_ms = now;
            if (t.state == TOKEN_ACTIVE || t.state == TOKEN_EXPIRED)
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
    TK_TRY(token_status(api, req, resp, &t));
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
