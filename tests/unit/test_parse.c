/* test_parse.c — request parsing: ids, names, JSON bodies, fields, query arguments, and the envelope. */
#include "unit.h"
#include <string.h>
#include "api/api.h"
#include "util/ids.h"

static void ids(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(id_parse("17", &v), TK_OK);
    assert_int_equal(v, 17);
    assert_int_equal(id_parse("999999999999999999", &v), TK_OK);
    const char *bad[] = {"", "0", "007", "-1", "+1", " 1", "1 ", "1a", "abc", "1.0", "1000000000000000000", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(id_parse(bad[i], &v), TK_ERR_INVALID);
    assert_int_equal(id_parse(NULL, &v), TK_ERR_INVALID);
}

static void query_integers(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(uint_parse("5", 1, 100, &v), TK_OK);
    assert_int_equal(v, 5);
    assert_int_equal(uint_parse("100", 1, 100, &v), TK_OK);
    assert_int_equal(uint_parse("0", 0, 100, &v), TK_OK);
    assert_int_equal(v, 0);
    const char *bad[] = {"", "+5", " 5", "5 ", "5x", "-1", "0", "101", "1e2", "0x10", "99999999999999999999", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(uint_parse(bad[i], 1, 100, &v), TK_ERR_INVALID);
    assert_int_equal(uint_parse(NULL, 1, 100, &v), TK_ERR_INVALID);
}

/* A message that quotes a request cut in the middle of a character must still be valid JSON (found by
 * fuzz_json_body: jansson's error text ended on the first byte of 'é'). */
static void json_strings_are_valid_utf8(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},         /* well-formed: kept */
        {"near '\"\\u9\xc3'", "\"near '\\\"\\\\u9\xef\xbf\xbd'\""}, /* a cut 2-byte sequence */
        {"\xff\xfe", "\"\xef\xbf\xbd\xef\xbf\xbd\""}, /* never UTF-8 */
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* a surrogate */
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""}, /* overlong */
        {"\xf0\x9f\x8e\xab", "\"\xf0\x9f\x8e\xab\""}, /* 4 bytes: kept */
        {"a\x01", "\"a\\u0001\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b = {0};
        buf_json_str(&b, cases[i][0]);
        buf_append(&b, "", 1);
        assert_string_equal(b.p, cases[i][1]);
        json_error_t e;
        json_t *j = json_loads(b.p, JSON_DECODE_ANY, &e);
        assert_non_null(j);
        json_decref(j);
        buf_free(&b);
    }
}

static void names(void **state)
{
    (void)state;
    assert_int_equal(account_check_name("kim"), TK_OK);
    assert_int_equal(account_check_name("김민준"), TK_OK); /* 3 characters, 9 bytes */
    char long_ok[65], too_long[66];
    memset(long_ok, 'a', 64);
    long_ok[64] = 0;
    memset(too_long, 'a', 65);
    too_long[65] = 0;
    assert_int_equal(account_check_name(long_ok), TK_OK);
    assert_int_equal(account_check_name(too_long), TK_ERR_INVALID);
    /* 64 Hangul syllables are 64 characters (192 bytes): allowed */
    char hangul[64 * 3 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(hangul, "가");
    assert_int_equal(account_check_name(hangul), TK_OK);
    assert_int_equal(account_check_name(""), TK_ERR_INVALID);
    assert_int_equal(account_check_name("a\nb"), TK_ERR_INVALID);
    assert_int_equal(account_check_name("a\x7f"), TK_ERR_INVALID);
    assert_int_equal(account_check_name("\xc3\x28"), TK_ERR_INVALID); /* malformed UTF-8 */
    assert_int_equal(account_check_name("\xc0\xaf"), TK_ERR_INVALID); /* overlong */
    assert_int_equal(account_check_name(NULL), TK_ERR_INVALID);
}

/* A fake request: the body and one query argument. */
static const char *fake_query_value;
static const char *fake_query(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return fake_query_value;
}

static struct api_request req_with(const char *body)
{
    struct api_request r = {.method = "POST", .path = "/x", .body = body, .body_len = body ? strlen(body) : 0,
                            .query = fake_query};
    return r;
}

static int parse_amount(const char *body, int64_t *amount, struct api_response *resp)
{
    static const char *const ALLOWED[] = {"amount", "userId", NULL};
    struct api_request r = req_with(body);
    json_t *obj = NULL;
    int rc = api_body_object(&r, resp, ALLOWED, false, &obj);
    if (rc < 0)
        return rc;
    rc = api_field_amount(obj, "amount", amount, resp);
    json_decref(obj);
    return rc;
}

static void amounts(void **state)
{
    (void)state;
    struct {
        const char *body;
        int rc;
        int64_t value;
    } rows[] = {
        {"{\"amount\":1}", TK_OK, 1},
        {"{\"amount\":1000000000}", TK_OK, 1000000000},
        {"{\"amount\":0}", TK_ERR_INVALID, 0},
        {"{\"amount\":-1}", TK_ERR_INVALID, 0},
        {"{\"amount\":1000000001}", TK_ERR_INVALID, 0},
        {"{\"amount\":1.5}", TK_ERR_INVALID, 0},
        {"{\"amount\":1.0}", TK_ERR_INVALID, 0},
        {"{\"amount\":1e3}", TK_ERR_INVALID, 0},
        {"{\"amount\":\"100\"}", TK_ERR_INVALID, 0},
        {"{\"amount\":true}", TK_ERR_INVALID, 0},
        {"{\"amount\":null}", TK_ERR_INVALID, 0},
        {"{\"amount\":99999999999999999999}", TK_ERR_INVALID, 0},
        {"{}", TK_ERR_INVALID, 0},
        {"{\"amount\":5,\"ammount\":5}", TK_ERR_INVALID, 0}, /* unknown field */
        {"{\"amount\":5,\"amount\":6}", TK_ERR_INVALID, 0},  /* duplicate key */
        {"[1]", TK_ERR_INVALID, 0},
        {"{\"amount\":", TK_ERR_INVALID, 0},
        {"", TK_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct api_response resp = {0};
        int64_t v = 0;
        int rc = parse_amount(rows[i].body, &v, &resp);
        assert_int_equal(rc, rows[i].rc);
        if (rc == TK_OK) {
            assert_int_equal(v, rows[i].value);
            assert_int_equal(resp.status, 0);
        } else {
            assert_int_equal(resp.status, 400);
            assert_non_null(strstr(resp.body.p, "\"code\":\"INVALID_ARGUMENT\""));
            assert_non_null(strstr(resp.body.p, "\"success\":false"));
        }
        buf_free(&resp.body);
    }
}

static void nul_byte_refused(void **state)
{
    (void)state;
    static const char *const ALLOWED[] = {"amount", NULL};
    static const char body[] = "{\"amount\":1\0}";
    struct api_request r = {.method = "POST", .path = "/x", .body = body, .body_len = sizeof body - 1};
    struct api_response resp = {0};
    json_t *obj = NULL;
    assert_int_equal(api_body_object(&r, &resp, ALLOWED, false, &obj), TK_ERR_INVALID);
    assert_null(obj);
    assert_int_equal(resp.status, 400);
    buf_free(&resp.body);
}

static void id_fields(void **state)
{
    (void)state;
    static const char *const ALLOWED[] = {"seatId", NULL};
    const char *good = "{\"seatId\":\"42\"}";
    const char *bad[] = {"{\"seatId\":42}", "{\"seatId\":\"x\"}", "{\"seatId\":\"\"}", "{\"seatId\":null}", NULL};
    struct api_request r = req_with(good);
    struct api_response resp = {0};
    json_t *obj = NULL;
    int64_t id = 0;
    assert_int_equal(api_body_object(&r, &resp, ALLOWED, false, &obj), TK_OK);
    assert_int_equal(api_field_id(obj, "seatId", true, &id, &resp), TK_OK);
    assert_int_equal(id, 42);
    json_decref(obj);
    for (int i = 0; bad[i]; i++) {
        r = req_with(bad[i]);
        assert_int_equal(api_body_object(&r, &resp, ALLOWED, false, &obj), TK_OK);
        assert_int_equal(api_field_id(obj, "seatId", true, &id, &resp), TK_ERR_INVALID);
        assert_int_equal(resp.status, 400);
        json_decref(obj);
    }
    /* optional and absent */
    r = req_with("{}");
    assert_int_equal(api_body_object(&r, &resp, ALLOWED, false, &obj), TK_OK);
    assert_int_equal(api_field_id(obj, "seatId", false, &id, &resp), TK_ERR_NOT_FOUND);
    json_decref(obj);
    /* an empty body is {} only where allowed */
    r = req_with(NULL);
    assert_int_equal(api_body_object(&r, &resp, ALLOWED, true, &obj), TK_OK);
    json_decref(obj);
    assert_int_equal(api_body_object(&r, &resp, ALLOWED, false, &obj), TK_ERR_INVALID);
    buf_free(&resp.body);
}

static void query_ids(void **state)
{
    (void)state;
    struct api_request r = req_with(NULL);
    struct api_response resp = {0};
    int64_t id = 0;
    fake_query_value = NULL;
    assert_int_equal(api_query_id(&r, "concertScheduleId", false, &id, &resp), TK_ERR_NOT_FOUND);
    assert_int_equal(api_query_id(&r, "concertScheduleId", true, &id, &resp), TK_ERR_INVALID);
    fake_query_value = "12";
    assert_int_equal(api_query_id(&r, "concertScheduleId", true, &id, &resp), TK_OK);
    assert_int_equal(id, 12);
    fake_query_value = "12abc";
    assert_int_equal(api_query_id(&r, "concertScheduleId", true, &id, &resp), TK_ERR_INVALID);
    buf_free(&resp.body);
}

static void envelope(void **state)
{
    (void)state;
    struct api_response resp = {0};
    api_ok_open(&resp, 201);
    buf_append(&resp.body, "[]", 2);
    api_ok_close(&resp);
    assert_string_equal(resp.body.p, "{\"success\":true,\"data\":[]}");
    /* a failure replaces whatever was written */
    assert_int_equal(api_fail(&resp, TK_ERR_SEAT_UNAVAILABLE, "taken \"now\""), TK_ERR_SEAT_UNAVAILABLE);
    assert_int_equal(resp.status, 409);
    assert_string_equal(resp.body.p,
                        "{\"success\":false,\"code\":\"SEAT_UNAVAILABLE\",\"message\":\"taken \\\"now\\\"\"}");
    json_t *j = json_loads(resp.body.p, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    buf_free(&resp.body);
}

static void routes(void **state)
{
    (void)state;
    int r = -1;
    assert_int_equal(api_route_find("POST", "/reservation", &r), TK_OK);
    assert_string_equal(API_ROUTES[r].path, "/reservation");
    assert_int_equal(API_ROUTES[r].auth, AUTH_QUEUE);
    assert_int_equal(api_route_find("GET", "/reservation", &r), TK_ERR_METHOD);
    assert_int_equal(api_route_find("GET", "/nope", &r), TK_ERR_NOT_FOUND);
    assert_int_equal(api_route_find("POST", "/user/charge", &r), TK_OK);
    assert_int_equal(API_ROUTES[r].auth, AUTH_BEARER);
    assert_int_equal(api_route_find("POST", "/users", &r), TK_OK);
    assert_int_equal(API_ROUTES[r].auth, AUTH_NONE);
    assert_string_equal(api_route_names()[API_ROUTE_UNMATCHED], "unmatched");
}

static void head_is_get(void **state)
{
    (void)state;
    int r = -1, g = -1;
    assert_int_equal(api_route_find("HEAD", "/health", &r), TK_OK);
    assert_int_equal(api_route_find("GET", "/health", &g), TK_OK);
    assert_int_equal(r, g);
    assert_int_equal(api_route_find("HEAD", "/reservation", &r), TK_ERR_METHOD);
    assert_true(API_ROUTES[g].inline_ok);
    assert_int_equal(api_route_find("POST", "/user/charge", &r), TK_OK);
    assert_false(API_ROUTES[r].inline_ok); /* touches the store: runs on the executor */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids),      cmocka_unit_test(names),    cmocka_unit_test(amounts), cmocka_unit_test(nul_byte_refused),
        cmocka_unit_test(id_fields),
        cmocka_unit_test(query_ids), cmocka_unit_test(envelope), cmocka_unit_test(routes),
        cmocka_unit_test(query_integers), cmocka_unit_test(json_strings_are_valid_utf8), cmocka_unit_test(head_is_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
