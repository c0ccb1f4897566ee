/* redlock.c — the lock on a majority of N independent Redis nodes, with the rules of the Redis docs:
 * take SET NX PX ttl on every node in turn with a short per-node timeout, count the successes, and hold the
 * lock only if a majority (N/2 + 1) said yes AND the time it took leaves a positive validity
 * (ttl - elapsed - drift, drift = ttl/100 + 2 ms). Otherwise release on every node and report a conflict.
 * Release deletes the key on every node with the compare-and-delete script. No home-made consensus: this is
 * the algorithm as published, for the lab to measure. */
#include "lock/strategy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/clock.h"
#include "util/rand.h"
#include "util/rpool.h"

#define REDLOCK_NODES_MAX 7
#define DEFAULT_TTL_MS 2000

static const char LUA_RELEASE[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
                                  "return 0\n";

struct redlock {
    struct rpool nodes[REDLOCK_NODES_MAX];
    int n;
    char prefix[48];
    int ttl_ms;
};

static struct redlock *RD(struct tk_strategy *s) { return s->impl; }

/* Sends one command to every node at once (pipelined over the nodes' connections) and collects the answers:
 * one round trip for the whole majority, not one per node. Returns how many nodes said yes. */
static int on_all_nodes(struct redlock *r, int argc, const char **argv)
{
    struct rconn *c[REDLOCK_NODES_MAX] = {0};
    bool sent[REDLOCK_NODES_MAX] = {0};
    for (int i = 0; i < r->n; i++)
        if (rpool_get(&r->nodes[i], &c[i]) == TK_OK)
            sent[i] = redisAppendCommandArgv(c[i]->c, argc, argv, NULL) == REDIS_OK;
    int yes = 0;
    for (int i = 0; i < r->n; i++) {
        if (!c[i])
            continue;
        bool broken = !sent[i];
        void *rep = NULL;
        if (sent[i] && redisGetReply(c[i]->c, &rep) == REDIS_OK && rep) {
            redisReply *x = rep;
            yes += x->type == REDIS_REPLY_STATUS || (x->type == REDIS_REPLY_INTEGER && x->integer == 1);
            freeReplyObject(rep);
        } else {
            broken = true; /* a node that did not answer in time counts as a "no" */
        }
        rpool_put(&r->nodes[i], c[i], broken);
    }
    return yes;
}

static void release_all(struct redlock *r, const char *k, const char *token)
{
    const char *argv[] = {"EVAL", LUA_RELEASE, "1", k, token};
    (void)on_all_nodes(r, 5, argv);
}

static int redlock_try_lock(struct tk_strategy *s, const char *key, struct tk_lock_handle *h)
{
    struct redlock *r = RD(s);
    char k[160], token[24], ttl[16];
    snprintf(k, sizeof k, "%slock:%s", r->prefix, key);
    uint64_t owner = rand_below(UINT64_MAX - 1) + 1;
    snprintf(token, sizeof token, "%016llx", (unsigned long long)owner);
    snprintf(ttl, sizeof ttl, "%d", r->ttl_ms);
    int64_t start = clock_mono_ms();
    const char *argv[] = {"SET", k, token, "NX", "PX", ttl};
    int granted = on_all_nodes(r, 6, argv);
    int64_t elapsed = clock_mono_ms() - start;
    int64_t validity = r->ttl_ms - elapsed - (r->ttl_ms / 100 + 2);
    if (granted >= r->n / 2 + 1 && validity > 0) {
        snprintf(h->key, sizeof h->key, "%s", key);
        h->owner = owner;
        return TK_OK;
    }
    release_all(r, k, token);
    return TK_ERR_CONFLICT;
}

static int redlock_unlock(struct tk_strategy *s, struct tk_lock_handle *h)
{
    struct redlock *r = RD(s);
    char k[160], token[24];
    snprintf(k, sizeof k, "%slock:%s", r->prefix, h->key);
    snprintf(token, sizeof token, "%016llx", (unsigned long long)h->owner);
    release_all(r, k, token);
    return TK_OK;
}

static void redlock_free(struct tk_strategy *s)
{
    struct redlock *r = RD(s);
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        rpool_free(&r->nodes[i]);
    free(r);
}

static int redlock_init(struct tk_strategy *s, const struct strategy_config *cfg, char *errbuf, int errlen)
{
    const char *list = cfg->redis_nodes && cfg->redis_nodes[0] ? cfg->redis_nodes : NULL;
    if (!list) {
        snprintf(errbuf, (size_t)errlen, "redlock needs 3 or 5 independent redis nodes (--redis-nodes URL,URL,URL)");
        return TK_ERR_INVALID;
    }
    struct redlock *r = calloc(1, sizeof *r);
    if (!r)
        return TK_ERR_NOMEM;
    const char *p = list;
    while (*p && r->n < REDLOCK_NODES_MAX) {
        size_t len = strcspn(p, ",");
        char url[160];
        snprintf(url, sizeof url, "%.*s", (int)len, p);
        if (rpool_init(&r->nodes[r->n], url, cfg->pool_max > 0 ? cfg->pool_max : 8, errbuf, errlen) < 0) {
            s->impl = r;
            redlock_free(s);
            s->impl = NULL;
            return TK_ERR_INVALID;
        }
        r->n++;
        p += len + (p[len] == ',');
    }
    if (r->n < 3 || r->n % 2 == 0) {
        snprintf(errbuf, (size_t)errlen, "redlock needs an odd number of nodes, at least 3 (got %d)", r->n);
        s->impl = r;
        redlock_free(s);
        s->impl = NULL;
        return TK_ERR_INVALID;
    }
    snprintf(r->prefix, sizeof r->prefix, "%s", cfg->prefix ? cfg->prefix : "tk:");
    r->ttl_ms = cfg->lock_ttl_ms > 0 ? cfg->lock_ttl_ms : DEFAULT_TTL_MS;
    s->impl = r;
    s->backoff_base_us = 100;
    s->backoff_cap_us = 2000;
    return TK_OK;
}

const struct tk_strategy_ops STRATEGY_REDLOCK = {
    .name = "redlock", .mode = TK_WRITE_UNSAFE, .serve_ok = true, .needs_redis = true, .needs_nodes = true,
    .init = redlock_init,
    .try_lock = redlock_try_lock, .unlock = redlock_unlock, .free = redlock_free};
