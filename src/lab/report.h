/* report.h — what a run of the lab says: one JSON report per run (the fields tests/cluster/lab_test.sh and
 * docs/LAB.md read), and for --all the matrix written to a folder as report.md, report.json and chart.svg. */
#ifndef TK_LAB_REPORT_H
#define TK_LAB_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include "lab/runner.h"

/* The JSON report of one run (a new reference; NULL when out of memory). */
json_t *report_json(const struct lab_opts *o, const struct lab_result *res);

/* --all: the matrix, one row per scenario × strategy. */
struct report_matrix;
/* Opens o->out (made if missing) and report.md in it; NULL with a message on stderr. */
struct report_matrix *report_matrix_open(const struct lab_opts *o);
/* A row for a pair that did not run: why (not applicable, or needs Redis). */
void report_matrix_skip(struct report_matrix *m, const char *scenario, const char *strategy, const char *why);
/* A row for a pair that could not run. */
void report_matrix_failed(struct report_matrix *m, const char *scenario, const char *strategy);
/* A row for a run, from its JSON report rep (the matrix takes the reference); anomaly_expected: a broken
 * invariant is the demonstration. */
void report_matrix_add(struct report_matrix *m, json_t *rep, bool anomaly_expected);
/* Writes report.json and chart.svg, closes report.md and frees m; 0, or -1 (with a message) when report.json
 * could not be written. */
int report_matrix_close(struct report_matrix *m);

#endif
