/* err.h — the one error convention of ticketd.
 *
 * Functions return int: 0 on success, a negative enum tk_err on failure, and are marked TK_MUST_CHECK.
 * Outputs go through pointer arguments. Each error maps to exactly one HTTP status and one stable code
 * string through the single table in err.c (tk_err_status / tk_err_code). Programmer errors are not
 * errors: they are TK_ASSERT failures and abort, in every build type.
 */
#ifndef TK_ERR_H
#define TK_ERR_H

#include <stdio.h>
#include <stdlib.h>

#define TK_MUST_CHECK __attribute__((warn_unused_result))

enum tk_err {
    TK_OK = 0,
    TK_ERR_INVALID = -1,              /* 400 INVALID_ARGUMENT */
    TK_ERR_UNAUTHORIZED = -2,         /* 401 UNAUTHORIZED */
    TK_ERR_NOT_ADMITTED = -3,         /* 403 NOT_ADMITTED */
    TK_ERR_FORBIDDEN = -4,            /* 403 FORBIDDEN */
    TK_ERR_NOT_FOUND = -5,            /* 404 NOT_FOUND */
    TK_ERR_SEAT_UNAVAILABLE = -6,     /* 409 */
    TK_ERR_HOLD_EXPIRED = -7,         /* 409 */
    TK_ERR_INSUFFICIENT_BALANCE = -8, /* 409 */
    TK_ERR_ALREADY_PAID = -9,         /* 409 */
    TK_ERR_HOLD_LIMIT = -10,          /* 409 */
    TK_ERR_IDEMPOTENCY_KEY_REUSED = -11, /* 409 */
    TK_ERR_PAYLOAD_TOO_LARGE = -12,   /* 413 */
    TK_ERR_RATE_LIMITED = -13,        /* 429 */
    TK_ERR_UNAVAILABLE = -14,         /* 503: a backing service is down or a limit is full; nothing changed */
    TK_ERR_CONFLICT = -15,            /* internal: an optimistic write lost its race; retried, 503 if retries run out */
    TK_ERR_OVERFLOW = -16,            /* 400: a balance would overflow int64 */
    TK_ERR_NOMEM = -17,               /* 500 */
    TK_ERR_INTERNAL = -18,            /* 500: a bug or an unexpected store answer */
    TK_ERR_METHOD = -19,              /* 405 METHOD_NOT_ALLOWED */
    TK_ERR_CLAIM_LOST = -20,          /* 503: another request took this Idempotency-Key over; nothing was done */
    TK_ERR_BUSY = -21,                /* internal: wait and run the request again (a lock, a busy database, a
                                       * pending claim); nothing was done. The executor re-schedules it; 503 if
                                       * it escapes past the deadline */
    TK_ERR_SALE_CLOSED = -22,         /* 409: the sale is closed or sold out */
    TK_ERR_OUT_OF_STOCK = -23,        /* 409 */
    TK_ERR_ORDER_EXPIRED = -24,       /* 409 */
    TK_ERR_ALREADY_REFUNDED = -25,    /* 409 */
    TK_ERR_REFUND_CLOSED = -26,       /* 409 */
    TK_ERR__COUNT = 27
};

/* HTTP status for an error (200 for TK_OK). */
int tk_err_status(int err);
/* Stable machine-readable code, e.g. "SEAT_UNAVAILABLE". */
const char *tk_err_code(int err);
/* Default human-readable message. */
const char *tk_err_message(int err);

void tk__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define TK_ASSERT(e) ((e) ? (void)0 : tk__assert_fail(#e, __FILE__, __LINE__))

/* Propagate an error: `TK_TRY(f(x));` returns f's error from the enclosing function. */
#define TK_TRY(call)            \
    do {                        \
        int tk__rc = (call);    \
        if (tk__rc < 0)         \
            return tk__rc;      \
    } while (0)

#endif
