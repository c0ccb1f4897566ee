/* admission.h — the waiting room's rules as pure functions, shared by every backend so the rules are written
 * once and unit-tested with plain numbers. They live in the waitroom layer, not in core/, because every backend
 * (waitroom/mem.c, redis.c, store.c) applies them and a layer never includes the one above it.
 *
 * Token states form a small state machine: WAITING -> ACTIVE -> EXPIRED, WAITING -> EXPIRED (idle).
 * Every change of state goes through token_transition(), which refuses any other move loudly. */
#ifndef TK_ADMISSION_H
#define TK_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>
#include "util/err.h"

enum tk_token_state { TOKEN_WAITING, TOKEN_ACTIVE, TOKEN_EXPIRED };

const char *token_state_name(enum tk_token_state s);
/* Moves *state to `to`; TK_ASSERTs on an illegal move (a programmer error). */
void token_transition(enum tk_token_state *state, enum tk_token_state to);
bool token_transition_ok(enum tk_token_state from, enum tk_token_state to);

struct admission_policy {
    int max_active;
    int admit_per_sec;
    int64_t token_ms;
    int64_t idle_ms;
};

/* A new token is ACTIVE at once iff slots are free and nobody waits. */
bool admission_immediate(const struct admission_policy *p, int64_t active, int64_t waiting);

/* The admission-rate limiter: a token bucket holding at most admit_per_sec admissions, refilled at
 * admit_per_sec a second. Kept as milli-admissions so the arithmetic is exact in integers. */
struct admit_bucket {
    int64_t milli;
    int64_t last_ms;
};
void admit_bucket_init(struct admit_bucket *b, const struct admission_policy *p, int64_t now_ms);
/* How many waiters may be admitted now: min(free slots, whole admissions in the bucket, waiting). */
int64_t admission_quota(const struct admission_policy *p, struct admit_bucket *b, int64_t now_ms, int64_t active,
                        int64_t waiting);
/* Takes n admissions from the bucket. */
void admit_bucket_take(struct admit_bucket *b, int64_t n);

/* Estimated seconds until a waiter at `position` (1-based) is admitted (docs/DECISIONS.md). */
int64_t admission_estimate_wait_s(const struct admission_policy *p, int64_t position, int64_t active);

#endif
