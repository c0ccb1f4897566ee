/* fuzz_headers.c — fuzzes what the API reads from request lines and headers before any handler runs:
 * api_route_find (api/router.c) on a method and path, idem_key_check and idem_request_hash
 * (core/idempotency.c) on an Idempotency-Key and the request fingerprint, and account_check_name
 * (core/accounts.c, the UTF-8 name rule), whose accepted names must survive buf_json_str as JSON.
 * Input: METHOD, PATH and the rest (the body), split on the first two NULs or newlines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"

/* Returns a NUL-terminated copy of the bytes up to the next NUL or '\n' and moves *p past it. */
static char *take_part(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *s = *p;
    while (*p < end && **p != 0 && **p != '\n')
        (*p)++;
    char *out = malloc((size_t)(*p - s) + 1);
    if (!out)
        abort();
    memcpy(out, s, (size_t)(*p - s));
    out[*p - s] = 0;
    if (*p < end)
        (*p)++;
    return out;
}

/* The reference rule of idem_key_check: 1–128 bytes of printable ASCII. */
static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return false;
    return true;
}

/* The oracle's own reading of a route pattern: "{id}" stands for one non-empty segment of fewer than 48 bytes. */
static bool model_match(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = 0;
            while (path[n] && path[n] != '/')
                n++;
            if (n == 0 || n >= 48)
                return false;
            pattern += 4;
            path += n;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == 0 && *path == 0;
}

static void check_route(const char *method, const char *path)
{
    int route = -1;
    int rc = api_route_find(method, path, &route);
    const char *as = strcmp(method, "HEAD") == 0 ? "GET" : method; /* HEAD is served by the GET route */
    bool path_known = false;
    for (int i = 0; i < API_ROUTE_COUNT; i++)
        path_known |= model_match(API_ROUTES[i].path, path);
    if (rc == TK_OK) {
        if (route < 0 || route >= API_ROUTE_COUNT || strcmp(API_ROUTES[route].method, as) != 0 ||
            !model_match(API_ROUTES[route].path, path))
            __builtin_trap();
    } else if (rc != (path_known ? TK_ERR_METHOD : TK_ERR_NOT_FOUND)) {
        __builtin_trap();
    }
}

static void check_name(const char *name)
{
    if (account_check_name(name) != TK_OK)
        return;
    /* An accepted name is echoed in responses: its JSON form must read back as the same string. */
    struct buf b = {0};
    buf_json_str(&b, name);
    json_error_t jerr;
    json_t *v = json_loadb(b.p, b.len, JSON_DECODE_ANY, &jerr);
    if (!v || !json_is_string(v) || strcmp(json_string_value(v), name) != 0)
        __builtin_trap();
    json_decref(v);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *method = take_part(&p, end);
    char *path = take_part(&p, end);
    const char *body = (const char *)p;
    size_t body_len = (size_t)(end - p);

    check_route(method, path);
    check_route("GET", path);
    check_route("POST", path);

    const char *parts[] = {method, path};
    for (int i = 0; i < 2; i++) {
        if ((idem_key_check(parts[i]) == TK_OK) != key_ok(parts[i]))
            __builtin_trap();
        check_name(parts[i]);
    }
    if (idem_key_check(NULL) != TK_ERR_INVALID || account_check_name(NULL) != TK_ERR_INVALID)
        __builtin_trap();

    /* The fingerprint: 64 lowercase hex digits, a pure function of (method, path, body). */
    char h1[65], h2[65];
    idem_request_hash(method, path, body, body_len, h1);
    idem_request_hash(method, path, body, body_len, h2);
    if (strlen(h1) != 64 || strspn(h1, "0123456789abcdef") != 64 || strcmp(h1, h2) != 0)
        __builtin_trap();
    if (body_len) {
        idem_request_hash(method, path, body, body_len - 1, h2);
        if (strcmp(h1, h2) == 0)
            __builtin_trap(); /* a different body, a different request */
    }

    free(method);
    free(path);
    return 0;
}
