/* metrics.c — fixed arrays of counters: route × status × latency bucket. */
#include "util/metrics.h"

#include <string.h>

static const int STATUSES[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503, 0 /* other */};
#define N_STATUS (int)(sizeof STATUSES / sizeof STATUSES[0])
static const double BUCKETS_S[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define N_BUCKET (int)(sizeof BUCKETS_S / sizeof BUCKETS_S[0])

struct series {
    uint64_t count;
    uint64_t sum_us;
    uint64_t bucket[N_BUCKET]; /* non-cumulative; summed at render */
};

static struct series SERIES[METRICS_ROUTES_MAX][N_STATUS];
static const char *const *ROUTE_NAMES;
static int NROUTES;

void metrics_init(int nroutes, const char *const *route_names)
{
    TK_ASSERT(nroutes <= METRICS_ROUTES_MAX);
    NROUTES = nroutes;
    ROUTE_NAMES = route_names;
}

static int status_index(int status)
{
    for (int i = 0; i < N_STATUS - 1; i++)
        if (STATUSES[i] == status)
            return i;
    return N_STATUS - 1;
}

void metrics_observe(int route, int status, int64_t duration_us)
{
    if (route < 0 || route >= NROUTES)
        return;
    struct series *s = &SERIES[route][status_index(status)];
    __atomic_add_fetch(&s->count, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0), __ATOMIC_RELAXED);
    double secs = (double)duration_us / 1e6;
    for (int b = 0; b < N_BUCKET; b++) {
        if (secs <= BUCKETS_S[b]) {
            __atomic_add_fetch(&s->bucket[b], 1, __ATOMIC_RELAXED);
            break;
        }
    }
}

void metrics_render_http(struct buf *b)
{
    buf_printf(b, "# HELP ticketd_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE ticketd_http_requests_total counter\n");
    for (int r = 0; r < NROUTES; r++)
        for (int s = 0; s < N_STATUS; s++) {
            uint64_t n = __atomic_load_n(&SERIES[r][s].count, __ATOMIC_RELAXED);
            if (n)
                buf_printf(b, "ticketd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", ROUTE_NAMES[r],
                           STATUSES[s], (unsigned long long)n);
        }
    buf_printf(b, "# HELP ticketd_http_request_duration_seconds HTTP latency by route and status.\n"
                  "# TYPE ticketd_http_request_duration_seconds histogram\n");
    for (int r = 0; r < NROUTES; r++)
        for (int s = 0; s < N_STATUS; s++) {
            struct series *x = &SERIES[r][s];
            uint64_t n = __atomic_load_n(&x->count, __ATOMIC_RELAXED);
            if (!n)
                continue;
            uint64_t cum = 0;
            for (int k = 0; k < N_BUCKET; k++) {
                cum += __atomic_load_n(&x->bucket[k], __ATOMIC_RELAXED);
                buf_printf(b, "ticketd_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"%g\"} %llu\n",
                           ROUTE_NAMES[r], STATUSES[s], BUCKETS_S[k], (unsigned long long)cum);
            }
            buf_printf(b, "ticketd_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"+Inf\"} %llu\n",
                       ROUTE_NAMES[r], STATUSES[s], (unsigned long long)n);
            buf_printf(b, "ticketd_http_request_duration_seconds_sum{route=\"%s\",status=\"%d\"} %.6f\n", ROUTE_NAMES[r],
                       STATUSES[s], (double)__atomic_load_n(&x->sum_us, __ATOMIC_RELAXED) / 1e6);
            buf_printf(b, "ticketd_http_request_duration_seconds_count{route=\"%s\",status=\"%d\"} %llu\n",
                       ROUTE_NAMES[r], STATUSES[s], (unsigned long long)n);
        }
}
