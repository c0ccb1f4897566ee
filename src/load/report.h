/* report.h — the one JSON summary `ticketd load` prints on stdout at the end of a run. */
#ifndef TK_LOAD_REPORT_H
#define TK_LOAD_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include "load/engine.h"
#include "load/scenario.h"

/* Prints the summary of a run of o: the command (argv after `ticketd load`), the scenario and its targets, the
 * setup and measured wall times, the requests and their rate, the status counts, the retries, the latency
 * percentiles of st (whose latencies it sorts), the scenario's check (taken: freed with the summary) and the
 * verdict. */
void load_report_print(const struct load_opts *o, int argc, char **argv, double wall_s, double setup_s,
                       struct load_stats *st, json_t *check, bool correct);

#endif
