/* fuzz_json_body.c — fuzzes the strict JSON body parser (api/parse.c): the input is a request body; it goes
 * through api_body_object with the allowed keys the handlers use, then, when it is accepted, through
 * api_field_id and api_field_amount the way the handlers read their fields. Every error path must leave a
 * complete error response that is valid JSON, and nothing may leak (ASan's leak check is on). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "api/api.h"
#include "util/money.h"

static const char *const ALLOWED[] = {"seatId", "seatIds", "amount", "toUserId", "userId", "name",
                                      "reservationId", NULL};

/* An error response is an error envelope; a success leaves the response untouched. */
static void check_resp(int rc, struct api_response *resp)
{
    if (rc == TK_OK || rc == TK_ERR_NOT_FOUND)
        return;
    if (resp->status < 400 || resp->status > 599 || resp->body.len == 0 ||
        strncmp(resp->body.p, "{\"success\":false", 16) != 0)
        __builtin_trap();
    /* The message quotes the input (an unknown key, jansson's error text): the envelope must stay valid JSON. */
    json_error_t jerr;
    json_t *env = json_loadb(resp->body.p, resp->body.len, 0, &jerr);
    if (!env) {
        fprintf(stderr, "fuzz_json_body: error response is not valid JSON (%s): %.*s\n", jerr.text,
                (int)resp->body.len, resp->body.p);
        __builtin_trap();
    }
    json_decref(env);
    resp->body.len = 0;
    resp->status = 0;
    resp->err = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The adapter hands the body over as bytes with a length (not NUL-terminated): so does this. */
    struct api_request req = {.method = "POST", .path = "/fuzz", .body = (const char *)data, .body_len = size};
    struct api_response resp = {0};
    json_t *obj = NULL;
    bool empty_ok = size % 2 == 0; /* both settings of the flag, chosen by the input */
    int rc = api_body_object(&req, &resp, ALLOWED, empty_ok, &obj);
    check_resp(rc, &resp);
    if (rc == TK_OK) {
        if (!json_is_object(obj))
            __builtin_trap();
        int64_t v = 0;
        const char *ids[] = {"seatId", "toUserId", "userId", "reservationId"};
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            v = 0;
            rc = api_field_id(obj, ids[i], i % 2 == 0, &v, &resp);
            if (rc == TK_OK && (v < 1 || v > 999999999999999999LL))
                __builtin_trap();
            check_resp(rc, &resp);
        }
        v = 0;
        rc = api_field_amount(obj, "amount", &v, &resp);
        if (rc == TK_OK && (v < MONEY_AMOUNT_MIN_WON || v > MONEY_AMOUNT_MAX_WON))
            __builtin_trap();
        check_resp(rc, &resp);
        json_decref(obj);
    } else if (obj) {
        __builtin_trap(); /* an error must not hand out an object */
    }
    buf_free(&resp.body);
    return 0;
}
