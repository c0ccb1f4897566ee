/* strategy.c — strategy_run(): the retry loop every strategy shares, and the registry of strategies. */
#include "lock/strategy.h"
#include "util/registry.h"

#include <string.h>
#include <stdio.h>
#include <time.h>
#include "util/exec.h"
#include "util/rand.h"

extern const struct tk_strategy_ops STRATEGY_ATOMIC, STRATEGY_PESSIMISTIC, STRATEGY_OPTIMISTIC, STRATEGY_MUTEX,
    STRATEGY_NONE, STRATEGY_REDIS_LOCK, STRATEGY_REDIS_SPIN, STRATEGY_REDIS_PUBSUB, STRATEGY_FENCED, STRATEGY_REDLOCK;

static const struct tk_strategy_ops *const REGISTRY[] = {
    &STRATEGY_ATOMIC,     &STRATEGY_PESSIMISTIC, &STRATEGY_OPTIMISTIC,   &STRATEGY_MUTEX,   &STRATEGY_NONE,
    &STRATEGY_REDIS_LOCK, &STRATEGY_REDIS_SPIN,  &STRATEGY_REDIS_PUBSUB, &STRATEGY_FENCED, &STRATEGY_REDLOCK,
};
#define N_REGISTRY (sizeof REGISTRY / sizeof REGISTRY[0])

int strategy_count(void) { return (int)N_REGISTRY; }

const struct tk_strategy_ops *strategy_at(int i)
{
    TK_ASSERT(i >= 0 && i < (int)N_REGISTRY);
    return REGISTRY[i];
}

const struct tk_strategy_ops *strategy_find(const char *name)
{
    return registry_find((const void *const *)REGISTRY, N_REGISTRY, name);
}

const char *strategy_names(char *buf, size_t n)
{
    return registry_names((const void *const *)REGISTRY, N_REGISTRY, ", ", buf, n);
}

bool strategy_needs_redis(const char *name)
{
    const struct tk_strategy_ops *ops = strategy_find(name);
    return ops && ops->needs_redis;
}

int strategy_open(const char *name, int retries_max, struct tk_strategy **out, char *errbuf, int errlen)
{
    struct strategy_config cfg = {.retries_max = retries_max};
    return strategy_open_cfg(name, &cfg, out, errbuf, errlen);
}

int strategy_open_cfg(const char *name, const struct strategy_config *cfg, struct tk_strategy **out, char *errbuf,
                      int errlen)
{
    const struct tk_strategy_ops *ops = strategy_find(name);
    if (!ops) {
        char names[256];
        snprintf(errbuf, (size_t)errlen, "unknown strategy '%s' (%s)", name, strategy_names(names, sizeof names));
        return TK_ERR_INVALID;
    }
    struct tk_strategy *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->ops = ops;
    s->retries_max = cfg->retries_max;
    s->lock_tries_max = cfg->lock_tries_max > 0 ? cfg->lock_tries_max : cfg->retries_max;
    s->backoff_base_us = 100;
    s->backoff_cap_us = 20000;
    int rc = ops->init ? ops->init(s, cfg, errbuf, errlen) : TK_OK;
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return TK_OK;
}

void strategy_free(struct tk_strategy *s)
{
    if (!s)
        return;
    if (s->ops->free)
        s->ops->free(s);
    free(s);
}

void strategy_wait_spin(struct tk_strategy *s, const char *key, int attempt)
{
    (void)s;
    (void)key;
    (void)attempt;
}


#define STAT_ADD(s, field, n) __atomic_add_fetch(&(s)->stats.field, (n), __ATOMIC_RELAXED)

static int64_t backoff(const struct tk_strategy *s, int attempt)
{
    return backoff_full_jitter_us(attempt, s->backoff_base_us, s->backoff_cap_us, rand_below);
}

/* Takes the lock on key. *attempt counts tries across the whole run, and across re-schedules: on an executor
 * worker a wait is not slept but handed back (TK_ERR_BUSY: the request runs again after the backoff, holding
 * nothing, and exec_attempt() carries the count on). */
static int take_lock(struct tk_strategy *s, const char *key, struct tk_lock_handle *h, int *attempt)
{
    for (;;) {
        int rc = s->ops->try_lock(s, key, h);
        if (rc == TK_OK) {
            STAT_ADD(s, acquisitions, 1);
            return TK_OK;
        }
        if (rc != TK_ERR_CONFLICT || *attempt >= s->lock_tries_max)
            return rc;
        ++*attempt;
        STAT_ADD(s, retries, 1);
        if (exec_on_worker()) { /* never wait on a worker others need */
            if (s->ops->park)
                return s->ops->park(s, key, *attempt);
            return exec_defer_us(s->ops->wait == STRATEGY_WAIT_SPIN ? 0 : backoff(s, *attempt));
        }
        if (s->ops->wait)
            s->ops->wait(s, key, *attempt);
        else
            TK_TRY(exec_defer_us(backoff(s, *attempt)));
    }
}

static int unlock_all(struct tk_strategy *s, struct tk_lock_handle *h, int n)
{
    int rc = TK_OK;
    for (int i = n - 1; i >= 0; i--) {
        int urc = s->ops->unlock(s, &h[i]);
        if (rc == TK_OK && urc < 0)
            rc = urc;
    }
    return rc;
}

/* Sorts the indexes of keys by strcmp of their keys (insertion sort: at most STRATEGY_KEYS_MAX). */
static void sort_key_order(const char *const *keys, int nkeys, int *order)
{
    for (int i = 0; i < nkeys; i++) {
        int k = i;
        while (k > 0 && strcmp(keys[order[k - 1]], keys[i]) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
}

int strategy_run(struct tk_strategy *s, const char *key, tk_write_fn write, void *arg)
{
    return strategy_run_keys(s, &key, 1, write, arg);
}

/* The one retry loop: write1 (the last lock's fence) or writeN (every key's fence, in the caller's order). */
static int run_keys(struct tk_strategy *s, const char *const *keys, int nkeys, tk_write_fn write1,
                    tk_write_fences_fn writeN, void *arg)
{
    TK_ASSERT(nkeys >= 1 && nkeys <= STRATEGY_KEYS_MAX);
    int order[STRATEGY_KEYS_MAX];
    sort_key_order(keys, nkeys, order);
    STAT_ADD(s, runs, 1);
    int attempt = exec_attempt(); /* a re-scheduled request goes on counting where it stopped */
    for (;;) {
        struct tk_lock_handle h[STRATEGY_KEYS_MAX] = {0};
        int64_t fences[STRATEGY_KEYS_MAX] = {0};
        int rc = TK_OK, held = 0;
        if (s->ops->try_lock) {
            for (; held < nkeys; held++) {
                rc = take_lock(s, keys[order[held]], &h[held], &attempt);
                if (rc < 0)
                    break;
                fences[order[held]] = h[held].fence;
            }
            if (rc < 0) {
                (void)unlock_all(s, h, held);
                if (rc != TK_ERR_BUSY)
                    STAT_ADD(s, lock_failures, 1);
                return rc;
            }
        }
        rc = writeN ? writeN(arg, s->ops->mode, fences) : write1(arg, s->ops->mode, held ? h[held - 1].fence : 0);
        if (s->ops->try_lock) {
            int urc = unlock_all(s, h, held);
            if (rc == TK_OK && urc < 0)
                rc = urc;
        }
        if (rc != TK_ERR_CONFLICT)
            return rc;
        STAT_ADD(s, conflicts, 1);
        if (attempt >= s->retries_max) {
            STAT_ADD(s, lock_failures, 1);
            return TK_ERR_CONFLICT;
        }
        attempt++;
        STAT_ADD(s, retries, 1);
        TK_TRY(exec_defer_us(backoff(s, attempt))); /* on a worker: TK_ERR_BUSY, run again later */
    }
}

int strategy_run_keys(struct tk_strategy *s, const char *const *keys, int nkeys, tk_write_fn write, void *arg)
{
    return run_keys(s, keys, nkeys, write, NULL, arg);
}

int strategy_run_keys_fenced(struct tk_strategy *s, const char *const *keys, int nkeys, tk_write_fences_fn write,
                             void *arg)
{
    return run_keys(s, keys, nkeys, NULL, write, arg);
}

void strategy_stats(const struct tk_strategy *s, struct tk_strategy_stats *out)
{
    out->runs = __atomic_load_n(&s->stats.runs, __ATOMIC_RELAXED);
    out->acquisitions = __atomic_load_n(&s->stats.acquisitions, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&s->stats.retries, __ATOMIC_RELAXED);
    out->conflicts = __atomic_load_n(&s->stats.conflicts, __ATOMIC_RELAXED);
    out->lock_failures = __atomic_load_n(&s->stats.lock_failures, __ATOMIC_RELAXED);
}
