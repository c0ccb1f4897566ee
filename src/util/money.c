/* money.c — overflow- and underflow-checked balance arithmetic. */
#include "util/money.h"

int money_check_amount(int64_t amount_won)
{
    return (amount_won >= MONEY_AMOUNT_MIN_WON && amount_won <= MONEY_AMOUNT_MAX_WON) ? TK_OK : TK_ERR_INVALID;
}

int money_credit(int64_t balance_won, int64_t credit_won, int64_t *out)
{
    TK_ASSERT(balance_won >= 0 && credit_won >= 0);
    if (balance_won > INT64_MAX - credit_won)
        return TK_ERR_OVERFLOW;
    *out = balance_won + credit_won;
    return TK_OK;
}

int money_debit(int64_t balance_won, int64_t debit_won, int64_t *out)
{
    TK_ASSERT(balance_won >= 0 && debit_won >= 0);
    if (balance_won < debit_won)
        return TK_ERR_INSUFFICIENT_BALANCE;
    *out = balance_won - debit_won;
    return TK_OK;
}
