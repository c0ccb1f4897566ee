/* fuzz_query.c — fuzzes id parsing from query strings: util/ids.c id_parse directly, and api_query_id
 * (api/parse.c) through a fake query callback, as GET /concert/available-dates?concertId=… reads it.
 * Input: "NAME\0VALUE" (or just VALUE); the callback answers VALUE for NAME, NULL for any other name. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "util/ids.h"

struct fake_query {
    const char *name;
    const char *value;
};

static const char *query_of(void *ctx, const char *name)
{
    struct fake_query *q = ctx;
    return strcmp(q->name, name) == 0 ? q->value : NULL;
}

/* The reference rule of ids.h: 1–18 ASCII digits, no leading zero. */
static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One NUL-terminated copy: "name\0value" splits at the first NUL, C-string style. */
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = 0;
    const char *nul = memchr(in, 0, size);
    struct fake_query q = {.name = "concertId", .value = in};
    if (nul) {
        q.name = in;
        q.value = nul + 1;
    }

    int64_t id = 0;
    int rc = id_parse(q.value, &id);
    if ((rc == TK_OK) != id_ok(q.value) || (rc == TK_OK && id < 1))
        __builtin_trap();

    struct api_request req = {.method = "GET", .path = "/concert/available-dates", .query = query_of, .ctx = &q};
    struct api_response resp = {0};
    const char *names[] = {"concertId", "concertScheduleId", q.name};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int64_t v = 0;
        bool required = i != 1;
        rc = api_query_id(&req, names[i], required, &v, &resp);
        bool present = strcmp(names[i], q.name) == 0;
        if (rc == TK_OK && (!present || v != id))
            __builtin_trap(); /* api_query_id must agree with id_parse */
        if (rc == TK_ERR_NOT_FOUND && (present || required))
            __builtin_trap();
        if (rc < 0 && rc != TK_ERR_NOT_FOUND &&
            (resp.status != 400 || resp.body.len == 0 || strncmp(resp.body.p, "{\"success\":false", 16) != 0))
            __builtin_trap();
        resp.body.len = 0;
    }
    /* query integers (?limit=): plain digits in range, agreeing with a reference reading of the digits */
    int64_t n = 0;
    rc = api_query_int(&req, q.name, 1, 100, 20, &n, &resp);
    bool digits = q.value[0] != 0 && strlen(q.value) <= 18 && strspn(q.value, "0123456789") == strlen(q.value);
    long long ref = digits ? strtoll(q.value, NULL, 10) : -1;
    if ((rc == TK_OK) != (digits && ref >= 1 && ref <= 100) || (rc == TK_OK && n != ref))
        __builtin_trap();
    buf_free(&resp.body);
    free(in);
    return 0;
}
