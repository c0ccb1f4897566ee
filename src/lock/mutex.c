/* mutex.c — an external lock per key inside this process: the embedded analogue of a Redis lock.
 * Keys hash onto a fixed table of mutexes (striping: two keys may share a stripe, which only costs
 * concurrency, never correctness; the stripes are recursive so one writer may hold two keys on one stripe). The write under it is a plain read-then-write (TK_WRITE_UNSAFE),
 * which the lock alone makes safe — exactly the pattern of a Redis SET NX lock around a read-modify-write.
 * Only correct for one process: with several instances use a Redis strategy. */
#include "lock/strategy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIPES 1024
#define MUTEX_WAIT_S 5

struct mutex_table {
    pthread_mutex_t stripes[STRIPES];
};

static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return h;
}

static int mutex_try_lock(struct tk_strategy *s, const char *key, struct tk_lock_handle *h)
{
    struct mutex_table *t = s->impl;
    pthread_mutex_t *m = &t->stripes[key_hash(key) % STRIPES];
    /* Block (bounded) rather than poll: an in-process waiter is woken the moment the holder unlocks. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += MUTEX_WAIT_S;
    if (pthread_mutex_timedlock(m, &deadline) != 0)
        return TK_ERR_CONFLICT;
    h->impl = m;
    return TK_OK;
}

static int mutex_unlock(struct tk_strategy *s, struct tk_lock_handle *h)
{
    (void)s;
    TK_ASSERT(h->impl);
    pthread_mutex_unlock(h->impl);
    h->impl = NULL;
    return TK_OK;
}

static void mutex_free(struct tk_strategy *s)
{
    struct mutex_table *t = s->impl;
    if (!t)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&t->stripes[i]);
    free(t);
}

static int mutex_init(struct tk_strategy *s, const struct strategy_config *cfg, char *errbuf, int errlen)
{
    (void)cfg;
    (void)errbuf;
    (void)errlen;
    struct mutex_table *t = malloc(sizeof *t);
    if (!t)
        return TK_ERR_NOMEM;
    /* Recursive: the keys of one multi-key write (a transfer) may share a stripe. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&t->stripes[i], &attr);
    pthread_mutexattr_destroy(&attr);
    s->impl = t;
    return TK_OK;
}

const struct tk_strategy_ops STRATEGY_MUTEX = {
    .name = "mutex",
    .mode = TK_WRITE_UNSAFE,
    .serve_ok = true,
    .one_process = true,
    .init = mutex_init,
    .try_lock = mutex_try_lock,
    .unlock = mutex_unlock,
    .free = mutex_free,
};
