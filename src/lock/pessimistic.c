/* pessimistic.c — read the row, then write it, inside one transaction that holds the row lock
 * (SELECT … FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite). Correct, and simple to reason about;
 * the lock lives for the whole read-compute-write, so a hot row serialises behind it. */
#include "lock/strategy.h"

const struct tk_strategy_ops STRATEGY_PESSIMISTIC = {
    .name = "pessimistic", .mode = TK_WRITE_PESSIMISTIC, .serve_ok = true};
