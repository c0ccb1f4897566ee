/* queue.c — POST /queue/issue and GET /queue/status. */
#include "api/api.h"

static void render_ticket(struct api_response *resp, int status, const struct tk_ticket *t)
{
    api_ok_open(resp, status);
    buf_printf(&resp->body, "{\"token\":\"%s\",\"userId\":", t->token);
    api_json_id(&resp->body, t->user_id);
    buf_printf(&resp->body, ",\"status\":\"%s\",\"position\":%lld,\"estimatedWaitSeconds\":%lld,\"expiresAt\":",
               token_state_name(t->state), (long long)t->position, (long long)t->estimated_wait_s);
    api_json_time(&resp->body, t->expires_at_ms);
    buf_append(&resp->body, "}", 1);
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
    int rc = w->ops->issue(w, req->user_id, app_now_ms(api->app), &t, &created);
    if (rc == TK_ERR_UNAVAILABLE)
        return api_fail(resp, rc, "the waiting room is full; retry later");
    TK_TRY(rc);
    render_ticket(resp, created ? 201 : 200, &t);
    return TK_OK;
}

int api_queue_status(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    const char *token = req->header(req->ctx, "queue-token");
    struct tk_waitroom *w = api->app->waitroom;
    struct tk_ticket t;
    int rc = waitroom_token_well_formed(token) ? w->ops->status(w, token, app_now_ms(api->app), &t) : TK_ERR_NOT_FOUND;
    /* the token is the client's identity; an unknown one counts against the address */
    TK_TRY(api_within_budget(api, req, rc == TK_OK ? t.user_id : 0, resp));
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing or unknown queue-token");
    TK_TRY(rc);
    render_ticket(resp, 200, &t);
    return TK_OK;
}
