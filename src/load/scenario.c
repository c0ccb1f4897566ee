/* scenario.c — the registry of `ticketd load` scenarios: each listed once, in --help order; --scenario,
 * --help and the report's name all come from it. */
#include "load/scenario.h"

#include <stdio.h>
#include <string.h>

extern const struct load_scenario LOAD_SCENARIO_SEATS, LOAD_SCENARIO_ISSUE, LOAD_SCENARIO_RACE, LOAD_SCENARIO_FLOW,
    LOAD_SCENARIO_SALE_ISSUE, LOAD_SCENARIO_SALE_POLL, LOAD_SCENARIO_SALE_OPEN;

static const struct load_scenario *const REGISTRY[] = {
    &LOAD_SCENARIO_SEATS,
    &LOAD_SCENARIO_ISSUE,
    &LOAD_SCENARIO_RACE,
    &LOAD_SCENARIO_FLOW,
    &LOAD_SCENARIO_SALE_ISSUE,
    &LOAD_SCENARIO_SALE_POLL,
    &LOAD_SCENARIO_SALE_OPEN,
};
#define N_REGISTRY (sizeof REGISTRY / sizeof REGISTRY[0])

const struct load_scenario *load_scenario_find(const char *name)
{
    for (size_t i = 0; i < N_REGISTRY; i++)
        if (strcmp(REGISTRY[i]->name, name) == 0)
            return REGISTRY[i];
    return NULL;
}

const char *load_scenario_names(char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_REGISTRY && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? "|" : "", REGISTRY[i]->name);
    return buf;
}
