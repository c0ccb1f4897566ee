/* test_routes.c — the route table (src/api/router.c) and the OpenAPI document compiled into the binary
 * (docs/openapi.json) describe the same API: every route is documented with its method, and every documented
 * operation is routed (path parameters compared by position, whatever their names). Also: each page and static
 * file the route table serves exists in the compiled-in web/ table. */
#include "unit.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "api/api.h"
#include "api/web_assets.h"

extern const char openapi_doc[];
extern const size_t openapi_doc_len;

/* "/admin/sales/{saleId}" -> "/admin/sales/{}" */
static void shape(const char *path, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < n; p++) {
        out[o++] = *p;
        if (*p == '{') {
            while (*p && *p != '}')
                p++;
            if (!*p)
                break;
            if (o + 1 < n)
                out[o++] = '}';
        }
    }
    out[o] = 0;
}

static json_t *load_doc(void)
{
    json_error_t e;
    json_t *doc = json_loadb(openapi_doc, openapi_doc_len, 0, &e);
    if (!doc)
        fail_msg("openapi.json: %s at line %d", e.text, e.line);
    return doc;
}

static bool documented(json_t *paths, const char *method, const char *route_path)
{
    char want[256], got[256], lower[16];
    shape(route_path, want, sizeof want);
    snprintf(lower, sizeof lower, "%s", method);
    for (char *c = lower; *c; c++)
        *c = (char)(*c - 'A' + 'a');
    const char *key;
    json_t *ops;
    json_object_foreach(paths, key, ops) {
        shape(key, got, sizeof got);
        if (strcmp(got, want) == 0 && json_object_get(ops, lower))
            return true;
    }
    return false;
}

static void every_route_is_documented(void **state)
{
    (void)state;
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    for (int i = 0; i < API_ROUTE_COUNT; i++)
        if (!documented(paths, API_ROUTES[i].method, API_ROUTES[i].path))
            fail_msg("%s %s is routed but not in docs/openapi.json", API_ROUTES[i].method, API_ROUTES[i].path);
    json_decref(doc);
}

static void every_documented_operation_is_routed(void **state)
{
    (void)state;
    static const char *const METHODS[] = {"get", "post", "put", "patch", "delete"};
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    const char *key;
    json_t *ops;
    json_object_foreach(paths, key, ops) {
        char got[256], want[256];
        shape(key, got, sizeof got);
        for (size_t m = 0; m < sizeof METHODS / sizeof METHODS[0]; m++) {
            if (!json_object_get(ops, METHODS[m]))
                continue;
            bool found = false;
            for (int i = 0; i < API_ROUTE_COUNT && !found; i++) {
                shape(API_ROUTES[i].path, want, sizeof want);
                found = strcmp(want, got) == 0 && strcasecmp(API_ROUTES[i].method, METHODS[m]) == 0;
            }
            if (!found)
                fail_msg("docs/openapi.json documents %s %s, which no route serves", METHODS[m], key);
        }
    }
    json_decref(doc);
}

static void pages_are_compiled_in(void **state)
{
    (void)state;
    assert_true(web_asset_count >= 4);
    const char *must[] = {"index.html", "admin.html", "api.js", "i18n.js", "app.css"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        const struct web_asset *a = api_web_asset(must[i]);
        if (!a)
            fail_msg("web/%s is not compiled in", must[i]);
        assert_true(a->len > 0 && a->data[a->len] == 0);
        assert_int_equal(strlen(a->etag), 18); /* "\"" + 16 hex + "\"" */
    }
    assert_null(api_web_asset("../CMakeLists.txt"));
    assert_null(api_web_asset(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_documented),
        cmocka_unit_test(every_documented_operation_is_routed),
        cmocka_unit_test(pages_are_compiled_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
