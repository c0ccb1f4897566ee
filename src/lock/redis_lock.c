/* redis_lock.c — the single-node Redis locks of the lock lab, four ways:
 *
 *   redis-lock    SET key token NX PX ttl; released by a compare-and-delete script (only the holder's token
 *                 deletes it); a waiter retries with capped exponential backoff and full jitter.
 *   redis-spin    the same lock retried in a tight loop without pausing (the documents' spin lock), to show
 *                 what that costs the lock server and the waiters.
 *   redis-pubsub  the same lock; a waiter SUBSCRIBEs to the key's release channel and sleeps until the holder
 *                 PUBLISHes on release (or a short timeout, since a release can slip between the failed SET
 *                 and the SUBSCRIBE), instead of polling.
 *   fenced        the same lock plus a fencing token: INCR on the key's counter at every acquisition, so a
 *                 later holder always has a larger number; the write carries it and the data refuses a token
 *                 older than the last one written (see the lab's lost-update scenario).
 *
 * A lock whose holder dies is freed by its TTL. That is also the weakness the fencing token fixes: a holder
 * paused past its TTL still believes it holds the lock.
 */
#include "lock/strategy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include "util/exec.h"
#include "util/rand.h"
#include "util/rpool.h"

#define DEFAULT_TTL_MS 2000
#define PUBSUB_WAIT_MS 50

static const char LUA_RELEASE[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                  "  redis.call('DEL', KEYS[1])\n"
                                  "  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], '1') end\n"
                                  "  return 1\n"
                                  "end\n"
                                  "return 0\n";

struct redis_lock {
    struct rpool pool;
    char prefix[48];
    int ttl_ms;
    /* redis-pubsub on an executor: one listener per strategy (PSUBSCRIBE <prefix>released:*) wakes the requests
     * parked on a key when its release is published. */
    pthread_t listener;
    bool listening;
    volatile int stop;
};

static struct redis_lock *RL(struct tk_strategy *s) { return s->impl; }

static void lock_key(const struct redis_lock *r, const char *key, char *out, size_t n)
{
    snprintf(out, n, "%slock:%s", r->prefix, key);
}

static int redis_try_lock(struct tk_strategy *s, const char *key, struct tk_lock_handle *h)
{
    struct redis_lock *r = RL(s);
    char k[160], token[24], ttl[16];
    lock_key(r, key, k, sizeof k);
    uint64_t owner = rand_below(UINT64_MAX - 1) + 1;
    snprintf(token, sizeof token, "%016llx", (unsigned long long)owner);
    snprintf(ttl, sizeof ttl, "%d", r->ttl_ms);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    const char *argv[] = {"SET", k, token, "NX", "PX", ttl};
    redisReply *rep;
    int rc = rpool_command(c, 6, argv, NULL, &rep, &broken);
    if (rc == TK_OK) {
        rc = rep->type == REDIS_REPLY_STATUS ? TK_OK : TK_ERR_CONFLICT; /* nil: someone holds it */
        freeReplyObject(rep);
    }
    if (rc == TK_OK && s->ops->fencing) { /* the next token for this key */
        char fk[160];
        snprintf(fk, sizeof fk, "%sfence:%s", r->prefix, key);
        const char *incr[] = {"INCR", fk};
        int frc = rpool_command(c, 2, incr, NULL, &rep, &broken);
        if (frc == TK_OK) {
            h->fence = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
            freeReplyObject(rep);
        }
        rc = frc == TK_OK && h->fence > 0 ? TK_OK : TK_ERR_UNAVAILABLE;
    }
    rpool_put(&r->pool, c, broken);
    if (rc == TK_OK) {
        snprintf(h->key, sizeof h->key, "%s", key);
        h->owner = owner;
    }
    return rc;
}

static int redis_unlock(struct tk_strategy *s, struct tk_lock_handle *h)
{
    struct redis_lock *r = RL(s);
    char k[160], token[24], chan[176] = "";
    lock_key(r, h->key, k, sizeof k);
    snprintf(token, sizeof token, "%016llx", (unsigned long long)h->owner);
    if (s->ops->publish_release)
        snprintf(chan, sizeof chan, "%sreleased:%s", r->prefix, h->key);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    const char *argv[] = {"EVAL", LUA_RELEASE, "1", k, token, chan};
    redisReply *rep;
    int rc = rpool_command(c, 6, argv, NULL, &rep, &broken);
    if (rc == TK_OK)
        freeReplyObject(rep); /* 0: the TTL ran out and someone else holds it now; ours is gone anyway */
    rpool_put(&r->pool, c, broken);
    return rc;
}


/* redis-pubsub: block on the release channel, briefly. A dedicated connection per wait (hiredis contexts in
 * subscribe mode cannot run other commands). */
static void pubsub_wait(struct tk_strategy *s, const char *key, int attempt)
{
    (void)attempt;
    struct redis_lock *r = RL(s);
    char chan[176];
    snprintf(chan, sizeof chan, "%sreleased:%s", r->prefix, key);
    struct timeval tv = {.tv_sec = 0, .tv_usec = PUBSUB_WAIT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(r->pool.host, r->pool.port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = PUBSUB_WAIT_MS * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    redisSetTimeout(c, tv);
    redisReply *rep = redisCommand(c, "SUBSCRIBE %s", chan);
    if (rep)
        freeReplyObject(rep);
    void *msg = NULL;
    if (redisGetReply(c, &msg) == REDIS_OK && msg) /* a release, or the timeout */
        freeReplyObject(msg);
    redisFree(c);
}

/* The listener: a dedicated subscriber connection (a context in subscribe mode runs nothing else), re-made
 * after an error; every read times out after LISTEN_POLL_MS so that stop is noticed. */
#define LISTEN_POLL_MS 200
static void *listen_main(void *arg)
{
    struct redis_lock *r = arg;
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%sreleased:*", r->prefix);
    size_t skip = strlen(r->prefix) + strlen("released:");
    struct timeval tv = {.tv_sec = 0, .tv_usec = LISTEN_POLL_MS * 1000};
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        redisContext *c = redisConnectWithTimeout(r->pool.host, r->pool.port, tv);
        redisReply *rep = c && !c->err ? redisCommand(c, "PSUBSCRIBE %s", pattern) : NULL;
        if (!rep) {
            if (c)
                redisFree(c);
            struct timespec ts = {.tv_sec = 0, .tv_nsec = LISTEN_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        freeReplyObject(rep);
        redisSetTimeout(c, tv);
        while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
            void *msg = NULL;
            if (redisGetReply(c, &msg) != REDIS_OK) {
                if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) { /* the poll timeout */
                    c->err = 0;
                    c->errstr[0] = 0;
                    continue;
                }
                break; /* a real error: reconnect */
            }
            redisReply *m = msg;
            /* ["pmessage", pattern, channel, payload] */
            if (m && m->type == REDIS_REPLY_ARRAY && m->elements == 4 && m->element[2]->type == REDIS_REPLY_STRING &&
                m->element[2]->len > skip)
                exec_wake(exec_key(m->element[2]->str + skip));
            if (m)
                freeReplyObject(m);
        }
        redisFree(c);
    }
    return NULL;
}

/* redis-pubsub on a worker: park the request until the key is released (or PUBSUB_WAIT_MS, since a release
 * can slip between the failed SET and the park). */
static int pubsub_park(struct tk_strategy *s, const char *key, int attempt)
{
    (void)s;
    (void)attempt;
    return exec_park_us(exec_key(key), PUBSUB_WAIT_MS * 1000);
}

static void redis_free_impl(struct tk_strategy *s)
{
    struct redis_lock *r = RL(s);
    if (!r)
        return;
    if (r->listening) {
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
        pthread_join(r->listener, NULL);
    }
    rpool_free(&r->pool);
    free(r);
}

static int redis_init(struct tk_strategy *s, const struct strategy_config *cfg, char *errbuf, int errlen)
{
    if (!cfg->redis_url || !cfg->redis_url[0]) {
        snprintf(errbuf, (size_t)errlen, "strategy %s needs a Redis server (--redis redis://host:port)", s->ops->name);
        return TK_ERR_INVALID;
    }
    struct redis_lock *r = calloc(1, sizeof *r);
    if (!r)
        return TK_ERR_NOMEM;
    int rc = rpool_init(&r->pool, cfg->redis_url, cfg->pool_max > 0 ? cfg->pool_max : 8, errbuf, errlen);
    if (rc < 0) {
        free(r);
        return rc;
    }
    snprintf(r->prefix, sizeof r->prefix, "%s", cfg->prefix ? cfg->prefix : "tk:");
    r->ttl_ms = cfg->lock_ttl_ms > 0 ? cfg->lock_ttl_ms : DEFAULT_TTL_MS;
    s->impl = r;
    if (s->ops->park) /* its waiters park until a release message: listen for them */
        r->listening = pthread_create(&r->listener, NULL, listen_main, r) == 0;
    /* a Redis lock is freed in well under a millisecond: wait in short steps or the lock sits idle */
    s->backoff_base_us = 50;
    s->backoff_cap_us = 1000;
    return TK_OK;
}

#define REDIS_LOCK_COMMON                                                                                   \
    .mode = TK_WRITE_UNSAFE, .serve_ok = true, .needs_redis = true, .init = redis_init, .try_lock = redis_try_lock, \
    .unlock = redis_unlock, .free = redis_free_impl
const struct tk_strategy_ops STRATEGY_REDIS_LOCK = {.name = "redis-lock", REDIS_LOCK_COMMON};
const struct tk_strategy_ops STRATEGY_REDIS_SPIN = {.name = "redis-spin", REDIS_LOCK_COMMON, .wait = STRATEGY_WAIT_SPIN};
const struct tk_strategy_ops STRATEGY_REDIS_PUBSUB = {
    .name = "redis-pubsub", REDIS_LOCK_COMMON, .publish_release = true, .wait = pubsub_wait, .park = pubsub_park};
const struct tk_strategy_ops STRATEGY_FENCED = {.name = "fenced", REDIS_LOCK_COMMON, .fencing = true};
