/* ratelimit.c — token buckets refilled at per_sec, capped at burst, in a fixed table in this process; or,
 * with Redis, one counter per client per one-second window shared by every instance:
 *   INCR <prefix>rl:<fingerprint>:<second>, PEXPIRE 2 s, allowed while the count <= burst in that second
 * (a fixed window, one script round trip; the key expires by itself, so Redis holds at most two windows of
 * clients). Redis unreachable: the request is allowed (the limiter never turns an outage into a refusal of
 * everyone; the waiting room's own endpoints answer 503 then). */
#include "util/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/hmap.h"
#include "util/rpool.h"

static const char LUA_WINDOW[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], 2000) end\n"
    "return n\n";

int ratelimit_use_redis(struct ratelimit *r, const char *url, const char *prefix, int pool_max, char *errbuf,
                        int errlen)
{
    if (r->per_sec <= 0)
        return TK_OK;
    struct rpool *p = calloc(1, sizeof *p);
    if (!p)
        return TK_ERR_NOMEM;
    int rc = rpool_init(p, url, pool_max, errbuf, errlen);
    if (rc < 0) {
        free(p);
        return rc;
    }
    r->redis = p;
    snprintf(r->redis_prefix, sizeof r->redis_prefix, "%s", prefix);
    return TK_OK;
}

static bool allow_redis(struct ratelimit *r, uint64_t fp, int64_t now_ms)
{
    char key[128], sec[24];
    snprintf(key, sizeof key, "%srl:%016llx:%lld", r->redis_prefix, (unsigned long long)fp, (long long)(now_ms / 1000));
    snprintf(sec, sizeof sec, "%d", r->burst > r->per_sec ? r->burst : r->per_sec);
    struct rconn *c;
    if (rpool_get(r->redis, &c) < 0)
        return true;
    bool broken = false;
    const char *argv[] = {"EVAL", LUA_WINDOW, "1", key};
    redisReply *rep = NULL;
    bool ok = true;
    if (rpool_command(c, 4, argv, NULL, &rep, &broken) == TK_OK) {
        if (rep->type == REDIS_REPLY_INTEGER)
            ok = rep->integer <= (long long)atoll(sec);
        freeReplyObject(rep);
    }
    rpool_put(r->redis, c, broken);
    return ok;
}

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
    if (r->redis) {
        rpool_free(r->redis);
        free(r->redis);
        r->redis = NULL;
    }
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
    if (r->redis)
        return allow_redis(r, fp, now_ms);
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
