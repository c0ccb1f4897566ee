/* parse.c — strict request parsing (one JSON object, known keys only, typed fields), the response
 * envelope ({"success":true,"data":…} / {"success":false,"code","message"}) and the list helper every JSON array
 * of the API is rendered with (api_list_sep). */
#include "api/api.h"

#include <string.h>
#include "util/money.h"
#include "util/ids.h"

int api_fail(struct api_response *resp, int err, const char *message)
{
    TK_ASSERT(err < 0);
    resp->body.len = 0;
    if (resp->body.p)
        resp->body.p[0] = 0;
    resp->static_body = NULL;
    resp->etag = NULL;
    resp->csp = NULL;
    resp->content_type = NULL;
    resp->status = tk_err_status(err);
    resp->err = err;
    buf_printf(&resp->body, "{\"success\":false,\"code\":\"%s\",\"message\":", tk_err_code(err));
    buf_json_str(&resp->body, message ? message : tk_err_message(err));
    buf_append(&resp->body, "}", 1);
    return err;
}

void api_ok_open(struct api_response *resp, int status)
{
    resp->status = status;
    buf_append(&resp->body, "{\"success\":true,\"data\":", 23);
}

void api_ok_close(struct api_response *resp) { buf_append(&resp->body, "}", 1); }

void api_json_time(struct buf *b, int64_t ms)
{
    if (!ms) {
        buf_append(b, "null", 4);
        return;
    }
    char t[32];
    clock_format_rfc3339(ms, t, sizeof t);
    buf_printf(b, "\"%s\"", t);
}

void api_json_id(struct buf *b, int64_t id) { buf_printf(b, "\"%lld\"", (long long)id); }

void api_list_sep(struct api_list *l)
{
    if (l->n++)
        buf_append(l->b, ",", 1);
}

int api_body_object(const struct api_request *req, struct api_response *resp, const char *const *allowed,
                    bool empty_ok, json_t **out)
{
    if (req->body_len == 0) {
        if (!empty_ok)
            return api_fail(resp, TK_ERR_INVALID, "a JSON object body is required");
        *out = json_object();
        return *out ? TK_OK : api_fail(resp, TK_ERR_NOMEM, NULL);
    }
    if (memchr(req->body, 0, req->body_len))
        return api_fail(resp, TK_ERR_INVALID, "malformed JSON: the body contains a NUL byte");
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char msg[200];
        snprintf(msg, sizeof msg, "malformed JSON: %s", jerr.text);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return api_fail(resp, TK_ERR_INVALID, "the body must be a JSON object");
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field '%.64s'", key);
            json_decref(root);
            return api_fail(resp, TK_ERR_INVALID, msg);
        }
    }
    *out = root;
    return TK_OK;
}

int api_field_id(json_t *obj, const char *name, bool required, int64_t *out, struct api_response *resp)
{
    json_t *v = json_object_get(obj, name);
    char msg[128];
    if (!v) {
        if (!required)
            return TK_ERR_NOT_FOUND;
        snprintf(msg, sizeof msg, "'%s' is required", name);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    if (!json_is_string(v) || id_parse(json_string_value(v), out) < 0) {
        snprintf(msg, sizeof msg, "'%s' must be an id: a string of decimal digits", name);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    return TK_OK;
}

int api_field_amount(json_t *obj, const char *name, int64_t *out, struct api_response *resp)
{
    json_t *v = json_object_get(obj, name);
    char msg[128];
    snprintf(msg, sizeof msg, "'%s' must be an integer number of won in %d..%lld", name, MONEY_AMOUNT_MIN_WON,
             (long long)MONEY_AMOUNT_MAX_WON);
    if (!v || !json_is_integer(v))
        return api_fail(resp, TK_ERR_INVALID, msg);
    int64_t amount = (int64_t)json_integer_value(v);
    if (money_check_amount(amount) < 0)
        return api_fail(resp, TK_ERR_INVALID, msg);
    *out = amount;
    return TK_OK;
}

int api_query_id(const struct api_request *req, const char *name, bool required, int64_t *out,
                 struct api_response *resp)
{
    const char *v = req->query(req->ctx, name);
    char msg[128];
    if (!v) {
        if (!required)
            return TK_ERR_NOT_FOUND;
        snprintf(msg, sizeof msg, "query parameter '%s' is required", name);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    if (id_parse(v, out) < 0) {
        snprintf(msg, sizeof msg, "query parameter '%s' must be an id: decimal digits", name);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    return TK_OK;
}

int api_query_int(const struct api_request *req, const char *name, int64_t min, int64_t max, int64_t def,
                  int64_t *out, struct api_response *resp)
{
    const char *v = req->query(req->ctx, name);
    if (!v) {
        *out = def;
        return TK_OK;
    }
    if (uint_parse(v, min, max, out) < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "query parameter '%s' must be an integer in %lld..%lld (decimal digits only)", name,
                 (long long)min, (long long)max);
        return api_fail(resp, TK_ERR_INVALID, msg);
    }
    return TK_OK;
}

int api_field_int(json_t *obj, const char *name, int64_t min, int64_t max, bool required, int64_t *out,
                  struct api_response *resp)
{
    json_t *v = json_object_get(obj, name);
    char msg[160];
    if (!v && !required)
        return TK_ERR_NOT_FOUND;
    snprintf(msg, sizeof msg, "'%s' must be an integer in %lld..%lld", name, (long long)min, (long long)max);
    if (!v || !json_is_integer(v))
        return api_fail(resp, TK_ERR_INVALID, msg);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return api_fail(resp, TK_ERR_INVALID, msg);
    *out = (int64_t)x;
    return TK_OK;
}

int api_field_time(json_t *obj, const char *name, bool required, int64_t *out, struct api_response *resp)
{
    json_t *v = json_object_get(obj, name);
    char msg[160];
    if (!v && !required)
        return TK_ERR_NOT_FOUND;
    snprintf(msg, sizeof msg, "'%s' must be an RFC 3339 time, e.g. \"2026-12-24T19:00:00Z\"", name);
    if (!v || !json_is_string(v) || clock_parse_rfc3339(json_string_value(v), out) < 0)
        return api_fail(resp, TK_ERR_INVALID, msg);
    return TK_OK;
}

int api_field_str(json_t *obj, const char *name, bool required, const char **out, struct api_response *resp)
{
    json_t *v = json_object_get(obj, name);
    char msg[128];
    if (!v && !required)
        return TK_ERR_NOT_FOUND;
    snprintf(msg, sizeof msg, "'%s' must be a string", name);
    if (!v || !json_is_string(v))
        return api_fail(resp, TK_ERR_INVALID, msg);
    *out = json_string_value(v);
    return TK_OK;
}
