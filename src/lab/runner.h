/* runner.h — one run of a scenario under a strategy, the way `ticketd serve` runs requests: --concurrency C
 * logical clients submit, one request in flight each, to ONE bounded executor (util/exec.h) of W = --db-pool
 * workers per process, over --procs processes; the result carries the counts, the latencies, the strategy's
 * counters and the invariant read back from the database (report.c turns it into JSON). */
#ifndef TK_LAB_RUNNER_H
#define TK_LAB_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lab/scenario.h"
#include "lock/strategy.h"
#include "util/exec.h"

#define LAB_REQUESTS_MAX 1000000
#define LAB_CONCURRENCY_MAX 100000
#define LAB_DB_POOL_MAX EXEC_WORKERS_MAX
#define LAB_PROCS_MAX 16
#define LAB_STOCK_MAX 1000000000000LL
/* Executor workers (= database connections of the store pool) per process unless --db-pool says otherwise.
 * More connections than this on 2 cores measure the database's pile-up on one hot row, not the strategy
 * (shared/LIMITS.md: a hot row serves fewer commits per second at 64 clients than at 8). Clients
 * (--concurrency) are independent of it: they queue for a worker, as a service's requests do. */
#define LAB_DEFAULT_DB_POOL 16

/* The flags of `ticketd lab`. */
struct lab_opts {
    const char *scenario;
    const char *strategy;
    int requests;    /* 0: the scenario's default */
    int concurrency; /* 0: every request at once (= requests) */
    int db_pool;     /* executor workers per process */
    int procs;
    int64_t stock;   /* 0: = requests */
    const char *db, *redis, *redis_nodes, *out;
    bool all;
};

/* Why failed requests failed: slot -rc for an error code (its tk_err_code), then the finer causes. */
enum {
    LAB_FAIL_CONFLICT = TK_ERR__COUNT, /* TK_ERR_CONFLICT: the strategy's retries ran out */
    LAB_FAIL_BUSY,                     /* TK_ERR_BUSY escaped, or the executor expired the job */
    LAB_FAIL_QUEUE_FULL,               /* the executor refused the job */
    LAB_FAIL__COUNT
};

struct lab_samples {
    double *v;
    size_t n, cap;
};

struct lab_stats {
    double elapsed_s; /* from the first submission (after the warm-up) to the last request's end */
    uint64_t success, refused, failed;
    uint64_t failures[LAB_FAIL__COUNT];
    struct lab_samples lat;  /* per request: submission to done, ms (sorted in a result) */
    struct lab_samples wait; /* per request: submission to a worker first starting it, ms (sorted in a result) */
};

/* What one run did. */
struct lab_result {
    const struct lab_scenario *sc;
    struct lab_strategy stg;
    int requests, concurrency, procs, db_pool; /* as run, after the clamps */
    struct lab_stats st;
    struct tk_strategy_stats lock;
    json_t *final, *expected; /* what the check read, and what it should have read */
    bool invariant_ok;
    int64_t lock_count;       /* locks left in the run's Redis namespace (-1: could not count) */
};

/* The run's size for scenario sc: --requests, else its default; --concurrency, else every request at once. */
void lab_run_size(const struct lab_opts *o, const struct lab_scenario *sc, int *requests, int *concurrency);
/* Runs sc under stg with requests and concurrency (and o's --procs, --db-pool, store and Redis). TK_OK with
 * *out filled (free it with lab_result_free), or an error, with a message on stderr, when it could not run. */
int lab_run_one(const struct lab_opts *o, const struct lab_scenario *sc, const struct lab_strategy *stg,
                int requests, int concurrency, struct lab_result *out) TK_MUST_CHECK;
/* lab_result_free on a zeroed or freed result is a no-op. */
void lab_result_free(struct lab_result *res);

#endif
