/* ratelimit.c — token buckets refilled at per_sec, capped at burst. */
#include "util/ratelimit.h"

#include <stdlib.h>
#include "util/hmap.h"

int ratelimit_init(struct ratelimit *r, int per_sec, int burst)
{
    r->per_sec = per_sec;
    r->burst = burst;
    r->slots = NULL;
    if (per_sec <= 0)
        return TK_OK;
    r->slots = calloc(RATELIMIT_SLOTS, sizeof *r->slots);
    if (!r->slots)
        return TK_ERR_NOMEM;
    for (int i = 0; i < RATELIMIT_STRIPES; i++)
        pthread_mutex_init(&r->stripes[i], NULL);
    return TK_OK;
}

void ratelimit_free(struct ratelimit *r)
{
    if (!r->slots)
        return;
    for (int i = 0; i < RATELIMIT_STRIPES; i++)
        pthread_mutex_destroy(&r->stripes[i]);
    free(r->slots);
    r->slots = NULL;
}

bool ratelimit_allow(struct ratelimit *r, const char *key, int64_t now_ms)
{
    if (r->per_sec <= 0)
        return true;
    uint64_t h = hash_str(key);
    uint64_t fp = hash_u64(h) | 1;
    size_t i = h % RATELIMIT_SLOTS;
    int64_t cap = (int64_t)r->burst * 1000;
    pthread_mutex_t *mu = &r->stripes[i % RATELIMIT_STRIPES];
    pthread_mutex_lock(mu);
    struct ratelimit_slot *s = &r->slots[i];
    if (s->fingerprint != fp) {
        s->fingerprint = fp;
        s->milli = cap;
        s->last_ms = now_ms;
    } else if (now_ms > s->last_ms) {
        int64_t add = (now_ms - s->last_ms) * r->per_sec; /* per_sec tokens/s = per_sec milli-tokens/ms */
        s->milli = s->milli + add > cap ? cap : s->milli + add;
        s->last_ms = now_ms;
    }
    bool ok = s->milli >= 1000;
    if (ok)
        s->milli -= 1000;
    pthread_mutex_unlock(mu);
    return ok;
}
