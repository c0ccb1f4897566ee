/* err.c — the single table that maps every ticketd error to its HTTP status, code and message. */
#include "util/err.h"

struct err_row {
    int status;
    const char *code;
    const char *message;
};

static const struct err_row ERR_TABLE[TK_ERR__COUNT] = {
    [0] = {200, "OK", "ok"},
    [1] = {400, "INVALID_ARGUMENT", "invalid argument"},
    [2] = {401, "UNAUTHORIZED", "missing or unknown credentials"},
    [3] = {403, "NOT_ADMITTED", "queue token is not active"},
    [4] = {403, "FORBIDDEN", "this resource belongs to someone else"},
    [5] = {404, "NOT_FOUND", "not found"},
    [6] = {409, "SEAT_UNAVAILABLE", "seat is sold or held by an unexpired hold"},
    [7] = {409, "HOLD_EXPIRED", "the hold has expired"},
    [8] = {409, "INSUFFICIENT_BALANCE", "balance is too low"},
    [9] = {409, "ALREADY_PAID", "already paid"},
    [10] = {409, "HOLD_LIMIT", "too many seats held at once"},
    [11] = {409, "IDEMPOTENCY_KEY_REUSED", "idempotency key was used with a different request"},
    [12] = {413, "PAYLOAD_TOO_LARGE", "request body is over 65536 bytes"},
    [13] = {429, "RATE_LIMITED", "too many requests"},
    [14] = {503, "UNAVAILABLE", "a backing service is unavailable; nothing was changed"},
    [15] = {503, "UNAVAILABLE", "too much contention; nothing was changed, retry"},
    [16] = {400, "INVALID_ARGUMENT", "the balance would overflow"},
    [17] = {500, "INTERNAL", "out of memory"},
    [18] = {500, "INTERNAL", "internal error"},
    [19] = {405, "METHOD_NOT_ALLOWED", "method not allowed"},
    [20] = {503, "UNAVAILABLE", "another request with this Idempotency-Key took over; nothing was changed"},
    [21] = {503, "UNAVAILABLE", "the request ran out of time waiting for a busy resource; nothing was changed"},
    [22] = {409, "SALE_CLOSED", "the sale is closed"},
    [23] = {409, "OUT_OF_STOCK", "not enough stock"},
    [24] = {409, "ORDER_EXPIRED", "the order has expired"},
    [25] = {409, "ALREADY_REFUNDED", "already refunded"},
    [26] = {409, "REFUND_CLOSED", "refunds for this date have closed"},
};

static const struct err_row *err_row(int err)
{
    int i = -err;
    if (i < 0 || i >= TK_ERR__COUNT)
        i = -TK_ERR_INTERNAL;
    return &ERR_TABLE[i];
}

int tk_err_status(int err) { return err_row(err)->status; }
const char *tk_err_code(int err) { return err_row(err)->code; }
const char *tk_err_message(int err) { return err_row(err)->message; }

void tk__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "ticketd: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
