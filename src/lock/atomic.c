/* atomic.c — the default strategy: each contended row changes in one conditional statement
 * (UPDATE … SET balance = balance + x WHERE id = ? AND balance <= max - x). No lock is held across a round
 * trip, nothing to retry: the database's own row lock lasts one statement. */
#include "lock/strategy.h"

const struct tk_strategy_ops STRATEGY_ATOMIC = {.name = "atomic", .mode = TK_WRITE_ATOMIC, .serve_ok = true};
