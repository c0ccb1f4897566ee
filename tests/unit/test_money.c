/* test_money.c — amounts, overflow and underflow rules, and the error-to-status table. */
#include "unit.h"
#include "util/money.h"
#include "util/err.h"
#include "util/clock.h"

static void amount_range(void **state)
{
    (void)state;
    assert_int_equal(money_check_amount(1), TK_OK);
    assert_int_equal(money_check_amount(1000000000), TK_OK);
    assert_int_equal(money_check_amount(0), TK_ERR_INVALID);
    assert_int_equal(money_check_amount(-1), TK_ERR_INVALID);
    assert_int_equal(money_check_amount(1000000001), TK_ERR_INVALID);
    assert_int_equal(money_check_amount(INT64_MIN), TK_ERR_INVALID);
}

static void credit_overflow(void **state)
{
    (void)state;
    int64_t out = -7;
    assert_int_equal(money_credit(100, 50, &out), TK_OK);
    assert_int_equal(out, 150);
    assert_int_equal(money_credit(INT64_MAX - 10, 10, &out), TK_OK);
    assert_int_equal(out, INT64_MAX);
    out = -7;
    assert_int_equal(money_credit(INT64_MAX - 10, 11, &out), TK_ERR_OVERFLOW);
    assert_int_equal(out, -7); /* untouched on error */
}

static void debit_underflow(void **state)
{
    (void)state;
    int64_t out = -7;
    assert_int_equal(money_debit(100, 100, &out), TK_OK);
    assert_int_equal(out, 0);
    out = -7;
    assert_int_equal(money_debit(99, 100, &out), TK_ERR_INSUFFICIENT_BALANCE);
    assert_int_equal(out, -7);
}

static void error_table(void **state)
{
    (void)state;
    struct { int err, status; const char *code; } rows[] = {
        {TK_OK, 200, "OK"},
        {TK_ERR_INVALID, 400, "INVALID_ARGUMENT"},
        {TK_ERR_OVERFLOW, 400, "INVALID_ARGUMENT"},
        {TK_ERR_UNAUTHORIZED, 401, "UNAUTHORIZED"},
        {TK_ERR_NOT_ADMITTED, 403, "NOT_ADMITTED"},
        {TK_ERR_FORBIDDEN, 403, "FORBIDDEN"},
        {TK_ERR_NOT_FOUND, 404, "NOT_FOUND"},
        {TK_ERR_METHOD, 405, "METHOD_NOT_ALLOWED"},
        {TK_ERR_SEAT_UNAVAILABLE, 409, "SEAT_UNAVAILABLE"},
        {TK_ERR_HOLD_EXPIRED, 409, "HOLD_EXPIRED"},
        {TK_ERR_INSUFFICIENT_BALANCE, 409, "INSUFFICIENT_BALANCE"},
        {TK_ERR_ALREADY_PAID, 409, "ALREADY_PAID"},
        {TK_ERR_HOLD_LIMIT, 409, "HOLD_LIMIT"},
        {TK_ERR_IDEMPOTENCY_KEY_REUSED, 409, "IDEMPOTENCY_KEY_REUSED"},
        {TK_ERR_PAYLOAD_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE"},
        {TK_ERR_RATE_LIMITED, 429, "RATE_LIMITED"},
        {TK_ERR_UNAVAILABLE, 503, "UNAVAILABLE"},
        {TK_ERR_CONFLICT, 503, "UNAVAILABLE"},
        {TK_ERR_NOMEM, 500, "INTERNAL"},
        {TK_ERR_INTERNAL, 500, "INTERNAL"},
        {-999, 500, "INTERNAL"}, /* out of the table: an internal error, never a crash */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(tk_err_status(rows[i].err), rows[i].status);
        assert_string_equal(tk_err_code(rows[i].err), rows[i].code);
        assert_non_null(tk_err_message(rows[i].err));
    }
}

static void times(void **state)
{
    (void)state;
    char buf[32];
    clock_format_rfc3339(1798137000000LL, buf, sizeof buf); /* 2026-12-24T18:30:00Z */
    assert_string_equal(buf, "2026-12-24T18:30:00Z");
    clock_format_rfc3339(1798137000250LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-12-24T18:30:00.250Z");
    clock_format_rfc3339(1798137000999LL, buf, sizeof buf); /* never rounded up or down */
    assert_string_equal(buf, "2026-12-24T18:30:00.999Z");
    clock_format_date(1798137000999LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-12-24");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amount_range),
        cmocka_unit_test(credit_overflow),
        cmocka_unit_test(debit_underflow),
        cmocka_unit_test(error_table),
        cmocka_unit_test(times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
