/* ratelimit.h — per-client token buckets in a fixed table (bounded memory whatever the number of
 * clients). A client key hashes to one slot; two clients sharing a slot are told apart by a 64-bit
 * fingerprint, and a newcomer takes the slot over with a full bucket, so a collision can only make the
 * limit laxer for a moment, never refuse an innocent client. */
#ifndef TK_RATELIMIT_H
#define TK_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include "util/err.h"

#define RATELIMIT_SLOTS 65536
#define RATELIMIT_STRIPES 64

struct ratelimit_slot {
    uint64_t fingerprint;
    int64_t milli;   /* tokens × 1000 */
    int64_t last_ms;
};

struct rpool;

struct ratelimit {
    int per_sec; /* 0 = off */
    int burst;
    pthread_mutex_t stripes[RATELIMIT_STRIPES];
    struct ratelimit_slot *slots;
    /* Shared across instances when set: a budget per client per second in Redis (see ratelimit.c). */
    struct rpool *redis;
    char redis_prefix[64];
};

int ratelimit_init(struct ratelimit *r, int per_sec, int burst) TK_MUST_CHECK;
/* Moves the budgets into Redis (url, key prefix), so N instances give a client one budget, not N.
 * TK_ERR_INVALID for a bad URL. */
int ratelimit_use_redis(struct ratelimit *r, const char *url, const char *prefix, int pool_max, char *errbuf,
                        int errlen) TK_MUST_CHECK;
void ratelimit_free(struct ratelimit *r);
/* true when the client named by key may make one more request now (and counts it). */
bool ratelimit_allow(struct ratelimit *r, const char *key, int64_t now_ms);

#endif
