/* scenario.c — the registry of `ticketd load` scenarios: each listed once, in --help order; --scenario,
 * --help and the report's name all come from it. */
#include "load/scenario.h"

#include "util/registry.h"

extern const struct load_scenario LOAD_SCENARIO_SEATS, LOAD_SCENARIO_ISSUE, LOAD_SCENARIO_RACE, LOAD_SCENARIO_MULTI_RACE,
    LOAD_SCENARIO_FLOW, LOAD_SCENARIO_SALE_ISSUE, LOAD_SCENARIO_SALE_POLL, LOAD_SCENARIO_SALE_OPEN;

static const struct load_scenario *const REGISTRY[] = {
    &LOAD_SCENARIO_SEATS,
    &LOAD_SCENARIO_ISSUE,
    &LOAD_SCENARIO_RACE,
    &LOAD_SCENARIO_MULTI_RACE,
    &LOAD_SCENARIO_FLOW,
    &LOAD_SCENARIO_SALE_ISSUE,
    &LOAD_SCENARIO_SALE_POLL,
    &LOAD_SCENARIO_SALE_OPEN,
};
#define N_REGISTRY (sizeof REGISTRY / sizeof REGISTRY[0])

const struct load_scenario *load_scenario_find(const char *name)
{
    return registry_find((const void *const *)REGISTRY, N_REGISTRY, name);
}

const char *load_scenario_names(char *buf, size_t n)
{
    return registry_names((const void *const *)REGISTRY, N_REGISTRY, "|", buf, n);
}
