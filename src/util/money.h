/* money.h — won as int64_t, never floating point. One amount (charge, transfer, price) is 1 … 1e9;
 * a balance stays in 0 … INT64_MAX. These checks are the only place those rules are written down. */
#ifndef TK_MONEY_H
#define TK_MONEY_H

#include <stdint.h>
#include "util/err.h"

#define MONEY_AMOUNT_MIN_WON 1
#define MONEY_AMOUNT_MAX_WON 1000000000LL

/* TK_OK when amount_won is a valid single amount, else TK_ERR_INVALID. */
int money_check_amount(int64_t amount_won) TK_MUST_CHECK;
/* *out = balance + credit; TK_ERR_OVERFLOW if it would pass INT64_MAX. */
int money_credit(int64_t balance_won, int64_t credit_won, int64_t *out) TK_MUST_CHECK;
/* *out = balance - debit; TK_ERR_INSUFFICIENT_BALANCE if it would go below 0. */
int money_debit(int64_t balance_won, int64_t debit_won, int64_t *out) TK_MUST_CHECK;

#endif
