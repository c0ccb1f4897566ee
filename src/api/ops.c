/* ops.c — GET /health, GET /metrics (Prometheus text), GET /openapi.json (compiled in).
 *
 * These routes are answered on the HTTP event threads, so they never wait on a backing service: a probe thread
 * (api_probe_start) pings the store and Redis and reads the waiting room's counters every period, and the
 * routes report its last reading. Without a probe (tools, tests) they ask the services directly. */
#include "api/api.h"

#include <pthread.h>
#include <time.h>
#include <string.h>
#include <stdlib.h>

struct api_probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    int period_ms;
    struct tk_api *api;
    /* the last reading, under mu */
    int store_rc;
    const char *redis; /* "off", "up", "down" */
    bool ws_ok;
    struct tk_waitroom_stats ws;
    struct api_sale_stats sales[API_SALE_METRICS_MAX];
    int nsales;
};

static const char *redis_state(struct tk_app *app)
{
    struct tk_waitroom *w = app->waitroom;
    return !app->redis_configured ? "off" : (w->ops->ping && w->ops->ping(w) < 0) ? "down" : "up";
}

static void probe_once(struct api_probe *p)
{
    struct tk_app *app = p->api->app;
    int store_rc = store_ping(app->store);
    const char *redis = redis_state(app);
    struct tk_waitroom_stats ws;
    bool ws_ok = app->waitroom->ops->stats(app->waitroom, &app->site_room, app_now_ms(app), &ws) == TK_OK;
    struct api_sale_stats sales[API_SALE_METRICS_MAX];
    int nsales = api_sales_stats(p->api, sales, API_SALE_METRICS_MAX);
    pthread_mutex_lock(&p->mu);
    if (nsales >= 0) {
        memcpy(p->sales, sales, sizeof sales[0] * (size_t)nsales);
        p->nsales = nsales;
    }
    p->store_rc = store_rc;
    p->redis = redis;
    if (ws_ok)
        p->ws = ws;
    p->ws_ok = p->ws_ok || ws_ok; /* keep the last good counters while Redis is down */
    pthread_mutex_unlock(&p->mu);
}

static void *probe_main(void *arg)
{
    struct api_probe *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)p->period_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        probe_once(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int api_probe_start(struct tk_api *api, int period_ms)
{
    struct api_probe *p = calloc(1, sizeof *p);
    if (!p)
        return TK_ERR_NOMEM;
    p->api = api;
    p->period_ms = period_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    probe_once(p); /* a first reading before the first request */
    if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return TK_ERR_NOMEM;
    }
    api->probe = p;
    return TK_OK;
}

void api_probe_stop(struct tk_api *api)
{
    struct api_probe *p = api->probe;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    api->probe = NULL;
    free(p);
}

extern const char openapi_doc[];
extern const size_t openapi_doc_len;

int api_health(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    struct tk_store *st = api->app->store;
    struct api_probe *p = api->probe;
    int rc;
    const char *redis;
    if (p) {
        pthread_mutex_lock(&p->mu);
        rc = p->store_rc;
        redis = p->redis;
        pthread_mutex_unlock(&p->mu);
    } else {
        rc = store_ping(st);
        redis = redis_state(api->app);
    }
    if (rc < 0)
        return api_fail(resp, TK_ERR_UNAVAILABLE, "the store is unavailable");
    api_ok_open(resp, 200);
    buf_printf(&resp->body, "{\"status\":\"ok\",\"store\":\"%s\",\"redis\":\"%s\"}", st->ops->name, redis);
    api_ok_close(resp);
    return TK_OK;
}

static void gauge(struct buf *b, const char *name, const char *help, const char *type, long long v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, v);
}

int api_metrics(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)req;
    struct tk_app *app = api->app;
    struct buf *b = &resp->body;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    if (api->render_http_metrics)
        api->render_http_metrics(api, b);

    struct tk_strategy_stats ls;
    strategy_stats(app->strategy, &ls);
    const struct {
        const char *name, *help;
        uint64_t value;
    } LOCKS[] = {
        {"ticketd_lock_runs_total", "Contended writes run through the lock strategy.", ls.runs},
        {"ticketd_lock_acquisitions_total", "External lock acquisitions.", ls.acquisitions},
        {"ticketd_lock_retries_total", "Retries after a conflict or a busy lock.", ls.retries},
        {"ticketd_lock_conflicts_total", "Optimistic writes that lost their race.", ls.conflicts},
        {"ticketd_lock_failures_total", "Contended writes that gave up.", ls.lock_failures},
    };
    for (size_t i = 0; i < sizeof LOCKS / sizeof LOCKS[0]; i++)
        buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s{strategy=\"%s\"} %llu\n", LOCKS[i].name, LOCKS[i].help,
                   LOCKS[i].name, LOCKS[i].name, app->strategy->ops->name, (unsigned long long)LOCKS[i].value);

    struct tk_waitroom_stats ws;
    bool ws_ok;
    if (api->probe) {
        pthread_mutex_lock(&api->probe->mu);
        ws = api->probe->ws;
        ws_ok = api->probe->ws_ok;
        pthread_mutex_unlock(&api->probe->mu);
    } else {
        ws_ok = app->waitroom->ops->stats(app->waitroom, &app->site_room, app_now_ms(app), &ws) == TK_OK;
    }
    if (ws_ok) {
        gauge(b, "ticketd_queue_waiting", "Tokens waiting in line.", "gauge", ws.waiting);
        gauge(b, "ticketd_queue_active", "ACTIVE tokens.", "gauge", ws.active);
        gauge(b, "ticketd_queue_issued_total", "Tokens issued.", "counter", (long long)ws.issued_total);
        gauge(b, "ticketd_queue_admitted_total", "Tokens made ACTIVE.", "counter", (long long)ws.admitted_total);
        gauge(b, "ticketd_queue_expired_total", "Tokens expired.", "counter", (long long)ws.expired_total);
    }
    struct api_sale_stats *sales = malloc(sizeof *sales * API_SALE_METRICS_MAX);
    int nsales = 0;
    if (sales && api->probe) {
        pthread_mutex_lock(&api->probe->mu);
        nsales = api->probe->nsales;
        memcpy(sales, api->probe->sales, sizeof sales[0] * (size_t)nsales);
        pthread_mutex_unlock(&api->probe->mu);
    } else if (sales) {
        nsales = api_sales_stats(api, sales, API_SALE_METRICS_MAX);
    }
    if (nsales > 0)
        api_render_sale_metrics(b, sales, nsales);
    free(sales);
    struct tk_app_counters *c = &app->counters;
    const struct {
        const char *name, *help;
        const uint64_t *value;
    } COUNTERS[] = {
        {"ticketd_users_created_total", "Users created.", &c->users_created},
        {"ticketd_charges_total", "Wallet charges.", &c->charges},
        {"ticketd_transfers_total", "Transfers between wallets.", &c->transfers},
        {"ticketd_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key.", &c->idempotent_replays},
        {"ticketd_holds_total", "Seat holds created.", &c->holds_created},
        {"ticketd_holds_refused_cached_total", "Holds refused from this instance's taken-seat cache.",
         &c->holds_refused_cached},
        {"ticketd_holds_expired_total", "Holds expired by the sweep.", &c->holds_expired},
        {"ticketd_payments_total", "Payments.", &c->payments},
        {"ticketd_payments_won_total", "Won paid.", &c->payments_won},
    };
    for (size_t i = 0; i < sizeof COUNTERS / sizeof COUNTERS[0]; i++)
        gauge(b, COUNTERS[i].name, COUNTERS[i].help, "counter",
              (long long)__atomic_load_n(COUNTERS[i].value, __ATOMIC_RELAXED));
    if (app->seatmap) {
        struct seatmap_stats m;
        seatmap_stats(app->seatmap, &m);
        gauge(b, "ticketd_seatmap_hits_total", "Seat-map/dates reads answered from the read cache.", "counter",
              (long long)m.hits);
        gauge(b, "ticketd_seatmap_hits_inline_total", "Of those, answered on the event thread (no hand-off).",
              "counter", (long long)__atomic_load_n(&c->seatmap_hits_inline, __ATOMIC_RELAXED));
        gauge(b, "ticketd_seatmap_misses_total", "Seat-map/dates reads that read the store.", "counter",
              (long long)m.misses);
        gauge(b, "ticketd_seatmap_waits_total", "Misses that waited for another request's refresh.", "counter",
              (long long)m.waits);
        gauge(b, "ticketd_seatmap_refreshes_total", "Pages published to the read cache.", "counter",
              (long long)m.refreshes);
        gauge(b, "ticketd_seatmap_evictions_total", "Read-cache entries evicted (entry or byte limit).", "counter",
              (long long)m.evictions);
        gauge(b, "ticketd_seatmap_entries", "Read-cache entries.", "gauge", (long long)m.entries);
        gauge(b, "ticketd_seatmap_entries_max", "Read-cache entries at most (--seat-map-cache-max).", "gauge",
              (long long)m.entries_max);
        gauge(b, "ticketd_seatmap_bytes", "Bytes of cached pages.", "gauge", (long long)m.bytes);
    }
    return TK_OK;
}

int api_openapi(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    (void)api;
    (void)req;
    resp->status = 200;
    resp->static_body = openapi_doc;
    resp->static_len = openapi_doc_len;
    return TK_OK;
}
