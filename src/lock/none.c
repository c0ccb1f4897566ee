/* none.c — no concurrency control at all: read, compute, blind write. It exists only as the lock lab's
 * control group, to show the anomalies (lost updates, oversold seats); `ticketd serve` refuses it. */
#include "lock/strategy.h"

const struct tk_strategy_ops STRATEGY_NONE = {.name = "none", .mode = TK_WRITE_UNSAFE, .serve_ok = false};
