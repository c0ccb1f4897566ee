/* metrics.h — HTTP request counters and latency histograms per route and status, lock-free
 * (atomic builtins), rendered in the Prometheus text format. Routes are indexes into a fixed table. */
#ifndef TK_METRICS_H
#define TK_METRICS_H

#include <stdint.h>
#include "util/buf.h"
#include "util/err.h"

#define METRICS_ROUTES_MAX 64

/* route_names[i] names route i; names must outlive the process. */
void metrics_init(int nroutes, const char *const *route_names);
void metrics_observe(int route, int status, int64_t duration_us);
/* Appends the HTTP series to b. */
void metrics_render_http(struct buf *b);

#endif
