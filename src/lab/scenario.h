/* scenario.h — a lab scenario as data: the rows it sets up, the contended request it runs, the invariant it
 * reads back from the database, and which strategies it is meant for. One file per scenario
 * (scenario_<name>.c) defines one `const struct lab_scenario LAB_SCENARIO_<NAME>`; the table LAB_SCENARIOS
 * (scenarios.c) lists them all, in the order of --help, --all and the reports, beside the lab's strategies.
 * The runner (runner.c) calls the hooks; a scenario never sees the executor, the clients or the processes. */
#ifndef TK_LAB_SCENARIO_H
#define TK_LAB_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/app.h"
#include "lab/labdb.h"
#include "lock/strategy.h"

/* What a run was asked for, as setup, the requests and the check see it. */
struct lab_params {
    int requests;       /* in the run (after the runner's clamps) */
    int64_t stock;      /* --stock; 0: = requests */
    const char *db_url; /* --db: for a scenario's own connections (bank's readers) */
};

/* What one request, or one worker's warm-up, runs with. */
struct lab_env {
    struct tk_app *app; /* this process's service objects: store, strategy (app->strategy), clock */
    struct labdb *db;   /* this worker's own lab connection (a scenario with worker_db), else NULL */
    void *state;        /* the scenario's state of this run (state_size bytes, filled by setup) */
};

/* What a request keeps across its re-runs (all zero at its first run). */
struct lab_keep {
    int64_t claim; /* double-spend: the Idempotency-Key claim it took */
    int tries;     /* lost-update: the writes it tried */
};

struct lab_scenario {
    const char *name;
    int default_requests; /* without --requests */
    int exact_requests;   /* 0: as asked; else exactly this many requests, clients and workers, in one process */
    int lock_ttl_ms;      /* the Redis locks' TTL; 0: the runner's */
    bool worker_db;       /* requests write through labdb: each executor worker opens its own connection */
    size_t state_size;    /* the runner allocates this many zeroed bytes per run and frees them after check */
    /* Creates the rows the scenario contends on (the lab's tables exist) and fills state; 0 or an error.
     * finish is not called after a failed setup, so setup starts threads only once nothing else can fail. */
    int (*setup)(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state);
    /* Request i, once or again (keep: what it kept from its earlier runs): TK_OK done, TK_ERR_BUSY (it changed
     * nothing: run it again later), a business refusal (SEAT_UNAVAILABLE, ALREADY_PAID, INSUFFICIENT_BALANCE)
     * or a failure. */
    int (*request)(const struct lab_env *env, int i, struct lab_keep *keep);
    /* Runs the request's path on ids no row has (ghost .. ghost + 3), changing nothing. */
    void (*warm_up)(const struct lab_env *env, int64_t ghost);
    /* Optional: after the last request, before check (bank stops its readers). */
    void (*finish)(void *state);
    /* Reads the invariant from the database: fills final and expected, returns whether it holds. */
    bool (*check)(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected);
    /* The lab's `serial` writer: applies n requests inside the writer's one transaction, each rcs[i] TK_OK
     * or TK_ERR_SEAT_UNAVAILABLE (refused); an error return rolls the batch back. NULL: not for serial. */
    int (*serial_batch)(void *state, struct labdb *db, int n, int *rcs);
    /* Optional: why the strategy (ops; NULL: the lab's `serial`) is not meant for the scenario, or NULL. */
    const char *(*not_applicable)(const struct tk_strategy_ops *ops);
    /* Optional: the strategy (ops; NULL: `serial`) is expected to break the invariant here: a demonstration. */
    bool (*anomaly_expected)(const struct tk_strategy_ops *ops);
};

extern const struct lab_scenario LAB_SCENARIO_TRANSFER, LAB_SCENARIO_BANK, LAB_SCENARIO_CHARGE, LAB_SCENARIO_SEAT,
    LAB_SCENARIO_MULTI_SEAT, LAB_SCENARIO_STOCK, LAB_SCENARIO_DOUBLE_SPEND, LAB_SCENARIO_LOST_UPDATE;

/* Every scenario, in report order; NULL-terminated. */
extern const struct lab_scenario *const LAB_SCENARIOS[];
/* The scenario called name, or NULL. */
const struct lab_scenario *lab_scenario_find(const char *name);

/* A strategy of the lab's matrix: lock/'s strategy of that name (ops), or the lab's own `serial` (ops NULL):
 * requests for the hot key queue for one writer per process that commits them in batches (serial.c). */
struct lab_strategy {
    const char *name;
    const struct tk_strategy_ops *ops;
};

/* The matrix's strategies, in report order: lab_strategy_count() of them, lab_strategy_at(i) each. */
int lab_strategy_count(void);
struct lab_strategy lab_strategy_at(int i);
/* The matrix's strategy called name; false when the lab has none of that name. */
bool lab_strategy_find(const char *name, struct lab_strategy *out);

/* The control group: a strategy with no concurrency control at all, which serve refuses (`none`). */
bool lab_control_group(const struct tk_strategy_ops *ops);
/* Why the strategy is not meant for the scenario (NULL: it is). */
const char *lab_not_applicable(const struct lab_scenario *sc, const struct lab_strategy *stg);
/* A broken invariant is the expected result (the control group, the lost update without fencing). */
bool lab_anomaly_expected(const struct lab_scenario *sc, const struct lab_strategy *stg);

#endif
