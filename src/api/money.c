/* money.c — POST /transfers and GET /user/history (the ledger, newest first). */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

int api_transfers(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"toUserId", "amount", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t to = 0, amount = 0;
    int rc = api_field_id(body, "toUserId", true, &to, resp);
    if (rc == TK_OK)
        rc = api_field_amount(body, "amount", &amount, resp);
    json_decref(body);
    TK_TRY(rc);
    if (to == req->user_id)
        return api_fail(resp, TK_ERR_INVALID, "'toUserId' must be another user");
    struct tk_transfer t;
    rc = wallet_transfer(api->app, req->user_id, to, amount, req->idem, &t);
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, rc, "no such user");
    if (rc == TK_ERR_OVERFLOW)
        return api_fail(resp, rc, "the recipient's balance would overflow; nothing was moved");
    TK_TRY(rc);
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "transfer:%lld", (long long)t.transfer_id);
    api_render_transfer(resp, &t);
    return TK_OK;
}

void api_render_transfer(struct api_response *resp, const struct tk_transfer *t)
{
    resp->body.len = 0;
    api_ok_open(resp, 200);
    buf_append(&resp->body, "{\"transferId\":", 14);
    api_json_id(&resp->body, t->transfer_id);
    buf_append(&resp->body, ",\"fromUserId\":", 14);
    api_json_id(&resp->body, t->from_user_id);
    buf_append(&resp->body, ",\"toUserId\":", 12);
    api_json_id(&resp->body, t->to_user_id);
    buf_printf(&resp->body, ",\"amount\":%lld,\"balance\":%lld}", (long long)t->amount_won,
               (long long)t->from_balance_won);
    api_ok_close(resp);
}

static int entry_row(void *arg, const struct tk_ledger_entry *e)
{
    struct api_list *c = arg;
    api_list_sep(c);
    buf_append(c->b, "{\"entryId\":", 11);
    api_json_id(c->b, e->id);
    buf_printf(c->b, ",\"kind\":\"%s\",\"amount\":%lld,\"balanceAfter\":%lld,\"ref\":", e->kind,
               (long long)e->amount_won, (long long)e->balance_after_won);
    if (e->ref[0])
        buf_json_str(c->b, e->ref);
    else
        buf_append(c->b, "null", 4);
    buf_append(c->b, ",\"createdAt\":", 13);
    api_json_time(c->b, e->created_at_ms);
    buf_append(c->b, "}", 1);
    return TK_OK;
}

int api_user_history(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t limit;
    TK_TRY(api_query_int(req, "limit", 1, HISTORY_LIMIT_MAX, 20, &limit, resp));
    api_ok_open(resp, 200);
    buf_append(&resp->body, "[", 1);
    struct api_list c = {.b = &resp->body};
    TK_TRY(wallet_history(api->app, req->user_id, (int)limit, entry_row, &c));
    buf_append(&resp->body, "]", 1);
    api_ok_close(resp);
    return TK_OK;
}
