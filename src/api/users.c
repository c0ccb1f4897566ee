/* users.c — POST /users, POST /user/charge, GET /user/check. */
#include "api/api.h"

static void render_balance(struct api_response *resp, int status, int64_t user_id, int64_t balance)
{
    resp->body.len = 0;
    api_ok_open(resp, status);
    buf_append(&resp->body, "{\"userId\":", 10);
    api_json_id(&resp->body, user_id);
    buf_printf(&resp->body, ",\"balance\":%lld}", (long long)balance);
    api_ok_close(resp);
}

int api_users_create(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"name", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    json_t *name = json_object_get(body, "name");
    if (!json_is_string(name) || account_check_name(json_string_value(name)) < 0) {
        json_decref(body);
        return api_fail(resp, TK_ERR_INVALID, "'name' must be a string of 1..64 characters without control characters");
    }
    int brc = api_within_action_budget(api, req, API_ACTION_SIGNUP, resp);
    if (brc < 0) {
        json_decref(body);
        return brc;
    }
    struct tk_user u;
    char key[API_KEY_LEN + 1];
    int rc = account_create(api->app, json_string_value(name), &u, key);
    json_decref(body);
    TK_TRY(rc);
    api_ok_open(resp, 201);
    buf_append(&resp->body, "{\"userId\":", 10);
    api_json_id(&resp->body, u.id);
    buf_append(&resp->body, ",\"name\":", 8);
    buf_json_str(&resp->body, u.name);
    buf_printf(&resp->body, ",\"apiKey\":\"%s\",\"balance\":0}", key);
    api_ok_close(resp);
    return TK_OK;
}

/* An optional userId must be the caller's own. `rc` is the parse result (TK_ERR_NOT_FOUND: absent);
 * the id is read only after parsing, through the pointer. */
static int check_same_user(int rc, const int64_t *given, int64_t caller, struct api_response *resp)
{
    if (rc == TK_ERR_NOT_FOUND)
        return TK_OK;
    TK_TRY(rc);
    return *given == caller ? TK_OK : api_fail(resp, TK_ERR_FORBIDDEN, "userId is not yours");
}

int api_user_charge(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"amount", "userId", NULL};
    json_t *body;
    TK_TRY(api_body_object(req, resp, ALLOWED, false, &body));
    int64_t given = 0, amount = 0, balance = 0;
    int rc = api_field_id(body, "userId", false, &given, resp);
    rc = check_same_user(rc, &given, req->user_id, resp);
    if (rc == TK_OK)
        rc = api_field_amount(body, "amount", &amount, resp);
    json_decref(body);
    TK_TRY(rc);
    int64_t entry_id = 0;
    rc = wallet_charge(api->app, req->user_id, amount, req->idem, &balance, &entry_id);
    if (rc == TK_ERR_OVERFLOW)
        return api_fail(resp, rc, "the balance would overflow; nothing was charged");
    TK_TRY(rc);
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "ledger:%lld", (long long)entry_id);
    api_render_charge(resp, req->user_id, balance);
    return TK_OK;
}

void api_render_charge(struct api_response *resp, int64_t user_id, int64_t balance_won)
{
    render_balance(resp, 200, user_id, balance_won);
}

int api_user_check(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    int64_t given = 0, balance = 0;
    int rc = api_query_id(req, "userId", false, &given, resp);
    TK_TRY(check_same_user(rc, &given, req->user_id, resp));
    TK_TRY(wallet_balance(api->app, req->user_id, &balance));
    render_balance(resp, 200, req->user_id, balance);
    return TK_OK;
}
