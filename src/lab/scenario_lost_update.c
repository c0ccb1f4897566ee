/* scenario_lost_update.c — the payments talk's diagram, made deterministic. Request 0 takes the lock, reads
 * the lab's counter row, then pauses past the lock's TTL; request 1 takes the (expired) lock, reads, writes
 * and releases; request 0 wakes up and writes what it computed from its stale read. With a plain TTL lock the
 * second increment is lost; with fencing the stale write is refused (its token is older) and retried, so
 * both increments stay. Invariant: counter = 2.
 *
 * It runs on the executor like every scenario, with exactly 2 clients and 2 workers, and is the one place where
 * a job blocks its worker on purpose: request 0's pause IS the "GC pause" the scenario is about (a holder that
 * stops while holding the lock), and request 1 waits (bounded) until request 0 holds it. With 2 workers the
 * other request always has a worker; its lock waits are re-scheduled like any other. The rendezvous of the two
 * requests lives in the run's state. */
#include "lab/scenario.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define LOST_UPDATE_TTL_MS 200
#define PAUSE_MAX_S 5

struct lost_update_state {
    int64_t counter; /* the lab_counter row */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 0 start, 1 request 0 has read, 2 request 1 has written */
};

static int lost_update_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)p;
    (void)st;
    struct lost_update_state *s = state;
    TK_TRY(labdb_int(db, "INSERT INTO lab_counter(value) VALUES (0) RETURNING id", &s->counter));
    pthread_mutex_init(&s->mu, NULL); /* last: a failed setup has nothing to destroy */
    pthread_cond_init(&s->cv, NULL);
    return TK_OK;
}

static void lost_update_finish(void *state)
{
    struct lost_update_state *s = state;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static void advance(struct lost_update_state *s, int stage)
{
    pthread_mutex_lock(&s->mu);
    s->stage = stage;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

struct lu_op {
    struct labdb *db;
    struct lost_update_state *s; /* NULL: the warm-up, which neither pauses nor signals */
    int64_t counter;
    int request; /* 0 the paused holder, 1 the second writer, -1 the warm-up */
    int *tries;  /* writes tried, across re-runs */
};

/* One increment, read then write (a tk_write_fn); request 0 pauses between the two on its first try. */
static int lu_write(void *arg, enum tk_write_mode mode, int64_t fence)
{
    (void)mode;
    struct lu_op *op = arg;
    struct labdb *db = op->db;
    int64_t id = op->counter, value = 0, changed = 0;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT value FROM lab_counter WHERE id = %lld", (long long)id);
    TK_TRY(labdb_int(db, sql, &value));
    if (op->request == 0 && (*op->tries)++ == 0) {
        struct lost_update_state *s = op->s;
        pthread_mutex_lock(&s->mu);
        s->stage = 1; /* let request 1 go for the lock */
        pthread_cond_broadcast(&s->cv);
        struct timespec until; /* "GC pause": held past the TTL while request 1 writes (bounded) */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PAUSE_MAX_S;
        while (s->stage < 2 && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (fence > 0)
        snprintf(sql, sizeof sql, "UPDATE lab_counter SET value = %lld, fence = %lld WHERE id = %lld AND fence < %lld",
                 (long long)(value + 1), (long long)fence, (long long)id, (long long)fence);
    else
        snprintf(sql, sizeof sql, "UPDATE lab_counter SET value = %lld WHERE id = %lld", (long long)(value + 1),
                 (long long)id);
    TK_TRY(labdb_exec(db, sql, &changed));
    if (op->request == 1)
        advance(op->s, 2);
    return changed == 1 ? TK_OK : TK_ERR_CONFLICT; /* refused by the fence: retried under a new token */
}

/* The increment of request (0, 1, or -1 for the warm-up) on counter, under the strategy. */
static int increment(const struct lab_env *env, struct lu_op *op)
{
    char key[48];
    snprintf(key, sizeof key, "counter:%lld", (long long)op->counter);
    return strategy_run(env->app->strategy, key, lu_write, op);
}

static int lost_update_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    struct lost_update_state *s = env->state;
    struct lu_op op = {.db = env->db, .s = s, .counter = s->counter, .request = i, .tries = &keep->tries};
    if (i == 1) { /* wait until request 0 holds the lock (if any) and has read */
        pthread_mutex_lock(&s->mu);
        while (s->stage < 1)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    return increment(env, &op);
}

static void lost_update_warm_up(const struct lab_env *env, int64_t ghost)
{
    int tries = 0;
    struct lu_op op = {.db = env->db, .counter = ghost, .request = -1, .tries = &tries};
    int rc = increment(env, &op);
    (void)rc; /* no such row: NOT_FOUND, nothing changed */
}

static bool lost_update_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final,
                              json_t *expected)
{
    (void)p;
    const struct lost_update_state *s = state;
    int64_t v = labdb_value(db, "SELECT value FROM lab_counter WHERE id = %lld", (long long)s->counter);
    json_object_set_new(final, "counter", json_integer(v));
    json_object_set_new(expected, "counter", json_integer(2));
    return v == 2;
}

/* The lost update is about a lock that expires under its holder: a TTL lock (lock/'s Redis ones), or none. */
static const char *lost_update_not_applicable(const struct tk_strategy_ops *ops)
{
    if (ops && (ops->needs_redis || lab_control_group(ops)))
        return NULL;
    return "the lost update is about a lock that expires under its holder (a TTL lock), or none at all";
}

/* Under a TTL lock without fencing the update is lost: the demonstration, not a failure of the lab. */
static bool lost_update_anomaly_expected(const struct tk_strategy_ops *ops) { return !(ops && ops->fencing); }

const struct lab_scenario LAB_SCENARIO_LOST_UPDATE = {
    .name = "lost-update",
    .default_requests = 2,
    .exact_requests = 2,
    .lock_ttl_ms = LOST_UPDATE_TTL_MS,
    .worker_db = true,
    .state_size = sizeof(struct lost_update_state),
    .setup = lost_update_setup,
    .request = lost_update_request,
    .warm_up = lost_update_warm_up,
    .finish = lost_update_finish,
    .check = lost_update_check,
    .not_applicable = lost_update_not_applicable,
    .anomaly_expected = lost_update_anomaly_expected,
};
