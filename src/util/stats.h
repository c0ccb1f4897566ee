/* stats.h — the summary statistics the lab and the load generator report, written once: sort a sample and
 * read nearest-rank percentiles from it. */
#ifndef TK_STATS_H
#define TK_STATS_H

#include <stddef.h>

/* Sorts v[0..n) ascending (in place). */
void stats_sort(double *v, size_t n);
/* The nearest-rank p-th percentile (0 < p <= 100) of the sorted v[0..n); 0 when n is 0. */
double stats_percentile(const double *sorted, size_t n, double p);

#endif
