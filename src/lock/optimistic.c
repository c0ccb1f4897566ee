/* optimistic.c — read the row and its version without a lock, then compare-and-set
 * (UPDATE … WHERE version = $v). A lost race is TK_ERR_CONFLICT, and strategy_run retries it with capped
 * exponential backoff and full jitter, at most retries_max times. Cheap when contention is rare; under a
 * storm on one row most of the work is thrown away. */
#include "lock/strategy.h"

const struct tk_strategy_ops STRATEGY_OPTIMISTIC = {
    .name = "optimistic", .mode = TK_WRITE_OPTIMISTIC, .serve_ok = true};
