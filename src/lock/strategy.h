/* strategy.h — the lock-strategy interface: how a contended write (a wallet charge, a debit, a seat hold,
 * a payment) is protected. One table of function pointers, one implementation per file, picked at start-up
 * by --lock. The service and the lock lab run the same strategies through strategy_run().
 *
 * A strategy has two parts:
 *   - mode: how the store performs the row write (enum tk_write_mode, util/write_mode.h);
 *   - lock/unlock (optional): an external lock on a key taken around the whole write (the in-process
 *     mutex now; Redis locks, Redlock and fencing tokens with the Redis backend).
 * strategy_run() takes the lock (waiting with capped exponential backoff and full jitter), runs the write,
 * retries it on TK_ERR_CONFLICT with the same backoff, and gives up after lock_retries tries with
 * TK_ERR_CONFLICT (503 UNAVAILABLE to a client: nothing was changed).
 */
#ifndef TK_STRATEGY_H
#define TK_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/write_mode.h"
#include "util/err.h"

#define LOCK_KEY_MAX 96

struct tk_lock_handle {
    char key[LOCK_KEY_MAX];
    uint64_t owner;   /* who holds it (a random token for remote locks) */
    int64_t fence;    /* fencing token, for strategies that hand one out (0 otherwise) */
    void *impl;
};

struct tk_strategy_stats {
    uint64_t runs;          /* strategy_run calls */
    uint64_t acquisitions;  /* external lock acquisitions */
    uint64_t retries;       /* write retries after a conflict, and lock re-tries */
    uint64_t conflicts;     /* writes that lost an optimistic race */
    uint64_t lock_failures; /* runs that gave up */
};

struct tk_strategy;

struct strategy_config;

/* A strategy is data: its name, its write mode, what it needs, and its lock operations. The registry in
 * strategy.c lists every one once; names, --help, serve's checks and the lab all come from it. */
struct tk_strategy_ops {
    const char *name;
    enum tk_write_mode mode;
    bool serve_ok;        /* false for the lab's control group ("none"): serve refuses it */
    bool needs_redis;     /* the lock lives in Redis (--redis, or --redis-nodes for redlock) */
    bool needs_nodes;     /* several independent Redis nodes (--redis-nodes) */
    bool one_process;     /* the lock is in this process's memory: correct for one process only */
    bool fencing;         /* each acquisition hands out a fencing token the write carries */
    bool publish_release; /* a release is PUBLISHed for the waiters that subscribe to it */
    /* Sets up s->impl (NULL: nothing to set up); a failed init needs no free. */
    int (*init)(struct tk_strategy *s, const struct strategy_config *cfg, char *errbuf, int errlen);
    /* Tries once to take the lock on key; 0 when taken, TK_ERR_CONFLICT when someone else holds it.
     * NULL when the strategy has no external lock. */
    int (*try_lock)(struct tk_strategy *s, const char *key, struct tk_lock_handle *h);
    int (*unlock)(struct tk_strategy *s, struct tk_lock_handle *h);
    /* How a waiter waits before trying the lock again off an executor (NULL: capped exponential backoff, full
     * jitter; STRATEGY_WAIT_SPIN: not at all). On an executor worker the request is re-scheduled instead. */
    void (*wait)(struct tk_strategy *s, const char *key, int attempt);
    /* On an executor worker: how a waiter hands its request back (NULL: re-scheduled after the backoff).
     * redis-pubsub parks it until the key's release message wakes it (exec_park_us). Returns TK_ERR_BUSY. */
    int (*park)(struct tk_strategy *s, const char *key, int attempt);
    void (*free)(struct tk_strategy *s);
};

struct tk_strategy {
    const struct tk_strategy_ops *ops;
    int retries_max;       /* write retries after a conflict, at most */
    int lock_tries_max;    /* lock attempts per acquisition, at most */
    int backoff_base_us;
    int backoff_cap_us;
    struct tk_strategy_stats stats; /* updated with atomic builtins */
    void *impl;
};

/* The write a strategy protects: called with the store mode and the fencing token of the lock held (0 when
 * the strategy hands none out); may return TK_ERR_CONFLICT to be retried. */
typedef int (*tk_write_fn)(void *arg, enum tk_write_mode mode, int64_t fence);

/* What the Redis-backed strategies need; NULL members when unused. */
struct strategy_config {
    int retries_max;
    int lock_tries_max;     /* 0: retries_max */
    const char *redis_url;  /* redis-lock, redis-spin, redis-pubsub, fenced */
    const char *redis_nodes; /* redlock: comma-separated redis:// URLs (an odd number, 3 or 5) */
    const char *prefix;     /* key namespace */
    int lock_ttl_ms;        /* 0: 2000 */
    int pool_max;
};

/* Creates the strategy called name; TK_ERR_INVALID (message in errbuf) for an unknown name. */
int strategy_open(const char *name, int retries_max, struct tk_strategy **out, char *errbuf, int errlen) TK_MUST_CHECK;
/* The same with the Redis settings the lock strategies need. */
int strategy_open_cfg(const char *name, const struct strategy_config *cfg, struct tk_strategy **out, char *errbuf,
                      int errlen) TK_MUST_CHECK;
/* strategy_free(NULL) is a no-op. */
void strategy_free(struct tk_strategy *s);
/* Runs write(arg, mode) under the strategy for key (see the file comment). */
int strategy_run(struct tk_strategy *s, const char *key, tk_write_fn write, void *arg) TK_MUST_CHECK;
/* The same for a write that touches several keys (a transfer, a multi-seat hold, an order of several options): the
 * locks are taken in strcmp order and released in reverse, so two writers never wait for each other in a cycle. At
 * most STRATEGY_KEYS_MAX keys (>= HOLD_SEATS_MAX of store/store.h and an order's options). write gets the fencing
 * token of the last lock taken. */
#define STRATEGY_KEYS_MAX 20
int strategy_run_keys(struct tk_strategy *s, const char *const *keys, int nkeys, tk_write_fn write, void *arg)
    TK_MUST_CHECK;
/* The same, handing the write every key's own fencing token: fences[i] is keys[i]'s (in the caller's order; all
 * 0 when the strategy hands none out), so each row a fenced write touches is checked against its own key's token. */
typedef int (*tk_write_fences_fn)(void *arg, enum tk_write_mode mode, const int64_t *fences);
int strategy_run_keys_fenced(struct tk_strategy *s, const char *const *keys, int nkeys, tk_write_fences_fn write,
                             void *arg) TK_MUST_CHECK;
/* A consistent copy of the counters. */
void strategy_stats(const struct tk_strategy *s, struct tk_strategy_stats *out);
/* The spin strategy's wait: no pause (also on an executor: re-scheduled at once). */
void strategy_wait_spin(struct tk_strategy *s, const char *key, int attempt);
#define STRATEGY_WAIT_SPIN strategy_wait_spin
/* The registry: strategy_count() strategies, strategy_at(i) each (0 <= i < count), strategy_find(name) or NULL. */
int strategy_count(void);
const struct tk_strategy_ops *strategy_at(int i);
const struct tk_strategy_ops *strategy_find(const char *name);
/* "atomic, pessimistic, …": every name, for help and error texts (buf of n bytes). */
const char *strategy_names(char *buf, size_t n);
/* Does the strategy called name need Redis? (false for an unknown name) */
bool strategy_needs_redis(const char *name);

#endif
