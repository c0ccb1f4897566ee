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

/* What a room does with its line: OPEN admits, PAUSED admits nobody (ACTIVE tokens keep working until they
 * lapse), CLOSED admits nobody, refuses new tokens and expires every waiter. */
enum wr_mode { WR_OPEN, WR_PAUSED, WR_CLOSED };

struct admission_policy {
    int max_active;
    int admit_per_sec;
    int64_t token_ms;
    int64_t idle_ms;
    int64_t opens_at_ms; /* 0: open from the start; before it arrivals join the pre-queue and nobody is admitted */
    enum wr_mode mode;
};

/* Has the room opened (now >= opens_at_ms)? Before that positions and estimates are null. */
bool admission_opened(const struct admission_policy *p, int64_t now_ms);
/* May anyone be admitted now: opened and OPEN. */
bool admission_admitting(const struct admission_policy *p, int64_t now_ms);
/* A new token is ACTIVE at once iff the room is admitting, slots are free and nobody waits. */
bool admission_immediate(const struct admission_policy *p, int64_t now_ms, int64_t active, int64_t waiting);

/* The admission-rate limiter: a token bucket holding at most admit_per_sec admissions, refilled at
 * admit_per_sec a second. Kept as milli-admissions so the arithmetic is exact in integers. */
struct admit_bucket {
    int64_t milli;
    int64_t last_ms;
};
void admit_bucket_init(struct admit_bucket *b, const struct admission_policy *p, int64_t now_ms);
/* How many waiters may be admitted now: 0 unless admitting, else min(free slots, whole admissions in the bucket,
 * waiting). A live cut of max_active below the active count admits nobody until enough lapse. */
int64_t admission_quota(const struct admission_policy *p, struct admit_bucket *b, int64_t now_ms, int64_t active,
                        int64_t waiting);
/* Takes n admissions from the bucket. */
void admit_bucket_take(struct admit_bucket *b, int64_t n);

/* One admission decision on plain numbers, as every backend makes it: the bucket refilled to now (and cut to a
 * live admit_per_sec), the quota (admission_quota), that many taken, and whether a newcomer would be ACTIVE at once
 * (admission_immediate). The shared backends cannot call C from inside their atomic step (a Lua script, a PL/pgSQL
 * function), so they carry the same rule in their own language; each backend's `decide` op evaluates its rule on
 * these inputs, and tests/unit/test_waitroom.c runs one table of cases through this function and every backend
 * (docs/DECISIONS.md "Admission decided once"). */
struct admission_input {
    struct admission_policy policy; /* max_active, admit_per_sec, opens_at_ms, mode are read */
    int64_t now_ms;
    int64_t active, waiting;
    struct admit_bucket bucket; /* as stored before this step */
};
struct admission_decision {
    int64_t quota;              /* waiters to admit now */
    bool immediate;             /* a new arrival would be ACTIVE at once */
    struct admit_bucket bucket; /* as stored after this step (quota taken) */
};
void admission_decide(const struct admission_input *in, struct admission_decision *out);

/* Estimated seconds until a waiter at `position` (1-based) is admitted (docs/DECISIONS.md): -1 (null) before the
 * opening or for position < 0; from the measured rate (admitted_last_minute over window_ms, see
 * tk_waitroom_stats) once there is one; else from the configured rate and the active count. */
int64_t admission_estimate_wait_s(const struct admission_policy *p, int64_t now_ms, int64_t position, int64_t active,
                                  int64_t admitted_last_minute, int64_t window_ms);

/* Time in the line, kept by every backend as a histogram of whole seconds: bucket i < 120 holds waits of i s,
 * then one bucket a minute up to 2 h, the last everything longer. A wait is measured from
 * max(arrival, opens_at_ms) to admission (an immediate admission is 0 s). */
#define ADMISSION_WAIT_BUCKETS (120 + 118 + 1)
int admission_wait_bucket(int64_t wait_ms);
/* The lower bound, in seconds, of bucket i. */
int64_t admission_wait_bucket_s(int i);
/* The q-quantile (0 < q <= 1) of a histogram, in seconds, at bucket resolution; -1 when it is empty. */
int64_t admission_wait_quantile_s(const uint64_t counts[ADMISSION_WAIT_BUCKETS], double q);
#define ADMISSION_RATE_WINDOW_MS 60000

#endif
