/* sweep.c — background work: expire due holds (freeing their seats in the store), delete expired
 * idempotency records, and let the waiting room expire tokens and admit waiters. Every step is idempotent and correctness never depends on it:
 * reads treat an expired hold as free and the waiting room applies what is due on every call. */
#include "core/app.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>

#define SWEEP_HOLDS_PER_RUN 1024

static int tick_sale(void *arg, const struct tk_sale *s)
{
    struct tk_app *app = arg;
    struct wr_room room;
    sale_room_of(app, s, &room);
    return app->waitroom->ops->tick(app->waitroom, &room, app_now_ms(app));
}

int sweep_once(struct tk_app *app)
{
    int64_t now = app_now_ms(app);
    int rc = app->waitroom->ops->tick(app->waitroom, &app->site_room, now);
    if (app->sales) {
        int trc = sales_each(app, tick_sale, app);
        int orc = sales_sweep(app);
        rc = rc < 0 ? rc : trc < 0 ? trc : orc;
    }
    int expired = 0;
    int src = store_holds_expire_due(app->store, now, SWEEP_HOLDS_PER_RUN, &expired);
    if (expired > 0)
        APP_COUNT(app, holds_expired, (uint64_t)expired);
    if (expired > 0 && app->seatmap) /* the seats were free by time already; re-read them anyway */
        seatmap_changed_all(app->seatmap);
    int deleted = 0;
    int irc = store_idem_expire_due(app->store, now, SWEEP_HOLDS_PER_RUN, &deleted);
    int shrc = shop_sweep(app); /* the shop's lapsed orders: tidying, like the holds */
    return rc < 0 ? rc : src < 0 ? src : irc < 0 ? irc : shrc;
}

struct tk_sweeper {
    struct tk_app *app;
    int period_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *sweeper_main(void *arg)
{
    struct tk_sweeper *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        int rc = sweep_once(s->app);
        if (rc < 0 && rc != TK_ERR_UNAVAILABLE)
            fprintf(stderr, "ticketd: sweep: %s\n", tk_err_message(rc));
        pthread_mutex_lock(&s->mu);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += (long)(s->period_ms % 1000) * 1000000L;
        deadline.tv_sec += s->period_ms / 1000 + deadline.tv_nsec / 1000000000L;
        deadline.tv_nsec %= 1000000000L;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sweeper_start(struct tk_app *app, int period_ms, struct tk_sweeper **out)
{
    struct tk_sweeper *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->app = app;
    s->period_ms = period_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return TK_ERR_INTERNAL;
    }
    *out = s;
    return TK_OK;
}

void sweeper_stop(struct tk_sweeper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
