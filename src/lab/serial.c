/* serial.c — the `serial` writer (serial.h): requests for the hot key are handed to one writer thread that
 * commits them in batches. The executor job only queues its request (it returns at once) and the request
 * ends when the writer has committed its batch, so a batch holds up to --concurrency requests, not --db-pool. */
#include "lab/serial.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "util/err.h"

#define BATCH_MAX 10000

struct serial {
    const struct lab_scenario *sc;
    void *state; /* the scenario's run state */
    serial_done_fn done;
    struct labdb *db;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t work;
    void **queue; /* ring of cap entries: at most one per client slot, so it never overflows */
    void **batch;
    int *rcs;     /* the batch's results */
    int head, tail, cap;
    bool stop;
};

/* Applies a batch of n requests in ONE transaction; fills s->rcs (each the batch's error if it failed). */
static void serial_apply(struct serial *s, int n)
{
    int rc = labdb_begin(s->db);
    if (rc == TK_OK)
        rc = s->sc->serial_batch(s->state, s->db, n, s->rcs);
    if (rc == TK_OK)
        rc = labdb_commit(s->db);
    if (rc != TK_OK) {
        labdb_rollback(s->db);
        for (int i = 0; i < n; i++)
            s->rcs[i] = rc;
    }
}

static void *serial_main(void *arg)
{
    struct serial *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->head == s->tail)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->head == s->tail && s->stop)
            break;
        int n = 0;
        while (s->head != s->tail && n < BATCH_MAX) {
            s->batch[n++] = s->queue[s->head];
            s->head = (s->head + 1) % s->cap;
        }
        pthread_mutex_unlock(&s->mu);
        serial_apply(s, n); /* durable before anyone is told; an error is each request's result */
        for (int i = 0; i < n; i++)
            s->done(s->batch[i], s->rcs[i]);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void serial_stop(struct serial *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mu);
    labdb_close(s->db);
    free(s->queue);
    free(s->batch);
    free(s->rcs);
    free(s);
}

struct serial *serial_start(const char *db_url, const struct lab_scenario *sc, void *state, int cap,
                            serial_done_fn done, char *err, int errlen)
{
    TK_ASSERT(sc->serial_batch);
    struct serial *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, (size_t)errlen, "out of memory");
        return NULL;
    }
    s->sc = sc;
    s->state = state;
    s->done = done;
    s->cap = cap + 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    s->queue = calloc((size_t)s->cap, sizeof *s->queue);
    s->batch = calloc(BATCH_MAX, sizeof *s->batch);
    s->rcs = calloc(BATCH_MAX, sizeof *s->rcs);
    if (!s->queue || !s->batch || !s->rcs) {
        snprintf(err, (size_t)errlen, "out of memory");
        serial_stop(s);
        return NULL;
    }
    if (!(s->db = labdb_open(db_url, err, errlen))) {
        serial_stop(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, serial_main, s) != 0) {
        snprintf(err, (size_t)errlen, "cannot start the writer thread");
        serial_stop(s);
        return NULL;
    }
    s->started = true;
    return s;
}

void serial_enqueue(struct serial *s, void *request)
{
    pthread_mutex_lock(&s->mu);
    TK_ASSERT((s->tail + 1) % s->cap != s->head); /* one entry per client slot at most */
    s->queue[s->tail] = request;
    s->tail = (s->tail + 1) % s->cap;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}
