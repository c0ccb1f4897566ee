/* scenarios.c — the lab's matrix as tables: every scenario (LAB_SCENARIOS) and every strategy the lab runs,
 * in the order of --help, --all and the reports, the lookups by name, and the two rules that pair a
 * scenario with a strategy (not applicable; anomaly expected). Names are compared here and nowhere else. */
#include "lab/scenario.h"

#include <string.h>
#include "util/err.h"
#include "util/registry.h"

const struct lab_scenario *const LAB_SCENARIOS[] = {
    &LAB_SCENARIO_TRANSFER, &LAB_SCENARIO_BANK,  &LAB_SCENARIO_CHARGE,       &LAB_SCENARIO_SEAT,
    &LAB_SCENARIO_MULTI_SEAT, &LAB_SCENARIO_STOCK, &LAB_SCENARIO_DOUBLE_SPEND, &LAB_SCENARIO_LOST_UPDATE, NULL,
};

const struct lab_scenario *lab_scenario_find(const char *name)
{
    size_t n = 0;
    while (LAB_SCENARIOS[n])
        n++;
    return registry_find((const void *const *)LAB_SCENARIOS, n, name);
}

/* The matrix's strategies: lock/'s by name (their properties come from its registry), control group first,
 * then the database's, then the Redis locks, then the lab's own serial writer. Not `mutex`: its lock is in
 * one process's memory, and --procs runs several. */
static const struct {
    const char *name;
    bool serial; /* the lab's own batching writer, not one of lock/'s */
} STRATEGIES[] = {
    {.name = "none"},       {.name = "pessimistic"},  {.name = "optimistic"}, {.name = "atomic"},
    {.name = "redis-lock"}, {.name = "redis-spin"},   {.name = "redis-pubsub"}, {.name = "redlock"},
    {.name = "fenced"},     {.name = "serial", .serial = true},
};
#define N_STRATEGIES ((int)(sizeof STRATEGIES / sizeof STRATEGIES[0]))

int lab_strategy_count(void) { return N_STRATEGIES; }

struct lab_strategy lab_strategy_at(int i)
{
    TK_ASSERT(i >= 0 && i < N_STRATEGIES);
    struct lab_strategy s = {.name = STRATEGIES[i].name,
                             .ops = STRATEGIES[i].serial ? NULL : strategy_find(STRATEGIES[i].name)};
    TK_ASSERT(STRATEGIES[i].serial || s.ops); /* every other name is in lock/'s registry */
    return s;
}

bool lab_strategy_find(const char *name, struct lab_strategy *out)
{
    for (int i = 0; i < N_STRATEGIES; i++)
        if (strcmp(STRATEGIES[i].name, name) == 0) {
            *out = lab_strategy_at(i);
            return true;
        }
    return false;
}

bool lab_control_group(const struct tk_strategy_ops *ops) { return ops && !ops->serve_ok; }

const char *lab_not_applicable(const struct lab_scenario *sc, const struct lab_strategy *stg)
{
    const char *why = sc->not_applicable ? sc->not_applicable(stg->ops) : NULL;
    if (!why && !stg->ops && !sc->serial_batch)
        why = "serial batches one hot key (charge, stock, transfer)";
    return why;
}

bool lab_anomaly_expected(const struct lab_scenario *sc, const struct lab_strategy *stg)
{
    return lab_control_group(stg->ops) || (sc->anomaly_expected && sc->anomaly_expected(stg->ops));
}
