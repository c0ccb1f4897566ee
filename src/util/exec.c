/* exec.c — the bounded executor (exec.h): one mutex, a FIFO of ready jobs, a min-heap of delayed jobs
 * ordered by when they are due, and a fixed set of workers. Callbacks run outside the mutex. */
#include "util/exec.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/clock.h"
#include "util/rand.h"

const double EXEC_WAIT_BUCKETS_MS[9] = {1, 5, 10, 25, 50, 100, 250, 1000, 5000};

struct exec {
    char name[32];
    int workers;
    int queue_max;
    pthread_t *threads;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    /* ready FIFO */
    struct exec_job *head, *tail;
    int64_t nready;
    /* delayed: binary min-heap on due_ns */
    struct exec_job **heap;
    int64_t nheap, heap_cap;
    int64_t running;
    struct exec_stats st; /* counters, under mu */
    void (*worker_start)(int, void *);
    void (*worker_stop)(int, void *);
    void *arg;
    struct exec *next_live; /* the process's executors, for exec_wake */
};

static pthread_mutex_t LIVE_MU = PTHREAD_MUTEX_INITIALIZER;
static struct exec *LIVE;

struct worker_arg {
    struct exec *e;
    int index;
};

static __thread struct exec_job *CURRENT;
static __thread int WORKER_INDEX = -1;
static __thread int NO_DEFER; /* exec_no_defer_begin depth */

static void heap_swap(struct exec_job **h, int64_t a, int64_t b)
{
    struct exec_job *t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static void heap_sift_up(struct exec *e, int64_t i)
{
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (e->heap[parent]->due_ns <= e->heap[i]->due_ns)
            break;
        heap_swap(e->heap, parent, i);
        i = parent;
    }
}

static void heap_push(struct exec *e, struct exec_job *j)
{
    TK_ASSERT(e->nheap < e->heap_cap);
    int64_t i = e->nheap++;
    e->heap[i] = j;
    heap_sift_up(e, i);
}

static struct exec_job *heap_pop(struct exec *e)
{
    struct exec_job *top = e->heap[0];
    e->heap[0] = e->heap[--e->nheap];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < e->nheap && e->heap[l]->due_ns < e->heap[m]->due_ns)
            m = l;
        if (r < e->nheap && e->heap[r]->due_ns < e->heap[m]->due_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(e->heap, i, m);
        i = m;
    }
    return top;
}

static void ready_push(struct exec *e, struct exec_job *j)
{
    j->next = NULL;
    if (e->tail)
        e->tail->next = j;
    else
        e->head = j;
    e->tail = j;
    e->nready++;
}

static struct exec_job *ready_pop(struct exec *e)
{
    struct exec_job *j = e->head;
    e->head = j->next;
    if (!e->head)
        e->tail = NULL;
    e->nready--;
    return j;
}

static void observe_wait(struct exec *e, int64_t wait_ns)
{
    double ms = (double)wait_ns / 1e6;
    int b = 0;
    while (b < 9 && ms > EXEC_WAIT_BUCKETS_MS[b])
        b++;
    e->st.wait_buckets[b]++;
    e->st.wait_count++;
    e->st.wait_sum_s += ms / 1000.0;
}

static void deadline_to_timespec(int64_t due_ns, struct timespec *ts)
{
    /* the condition variable uses CLOCK_MONOTONIC (see exec_new) */
    ts->tv_sec = due_ns / 1000000000;
    ts->tv_nsec = due_ns % 1000000000;
}

/* Takes the next job to run, or NULL when stopping and nothing is left. Called with mu held. */
static struct exec_job *next_job(struct exec *e)
{
    for (;;) {
        int64_t now = clock_mono_ns();
        while (e->nheap > 0 && (e->stopping || e->heap[0]->due_ns <= now))
            ready_push(e, heap_pop(e));
        if (e->nready > 0)
            return ready_pop(e);
        if (e->stopping)
            return NULL;
        if (e->nheap > 0) {
            struct timespec ts;
            deadline_to_timespec(e->heap[0]->due_ns, &ts);
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        } else {
            pthread_cond_wait(&e->cv, &e->mu);
        }
    }
}

static void *worker_main(void *p)
{
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct exec *e = wa.e;
    WORKER_INDEX = wa.index;
    if (e->worker_start)
        e->worker_start(wa.index, e->arg);
    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct exec_job *j = next_job(e);
        if (!j)
            break;
        int64_t now = clock_mono_ns();
        if (!j->first_run_ns) {
            j->first_run_ns = now;
            observe_wait(e, now - j->submitted_ns);
        }
        bool expired = j->deadline_ns && now > j->deadline_ns;
        if (expired)
            e->st.expired++;
        e->running++;
        pthread_mutex_unlock(&e->mu);

        enum exec_verdict v = EXEC_DONE;
        if (expired) {
            j->expire(j);
        } else {
            CURRENT = j;
            j->again_us = 0;
            j->park_key = 0;
            v = j->run(j);
            CURRENT = NULL;
        }
        int64_t due = 0;
        if (v == EXEC_AGAIN) {
            j->attempt++;
            due = clock_mono_ns() + (j->again_us > 0 ? j->again_us : 0) * 1000;
        }

        pthread_mutex_lock(&e->mu);
        e->running--;
        if (v == EXEC_AGAIN) {
            if ((j->deadline_ns && due > j->deadline_ns) || e->stopping) {
                /* it cannot run again in time: answer now rather than at the deadline */
                e->st.expired++;
                pthread_mutex_unlock(&e->mu);
                j->expire(j);
                pthread_mutex_lock(&e->mu);
            } else {
                e->st.deferred++;
                j->due_ns = due;
                bool earliest = e->nheap == 0 || due < e->heap[0]->due_ns;
                heap_push(e, j);
                if (earliest)
                    pthread_cond_signal(&e->cv); /* a sleeping worker may need to wake sooner */
            }
        } else {
            e->st.done++;
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (e->worker_stop)
        e->worker_stop(wa.index, e->arg);
    WORKER_INDEX = -1;
    return NULL;
}

int exec_new(const struct exec_config *cfg, struct exec **out)
{
    if (cfg->workers < 1 || cfg->workers > EXEC_WORKERS_MAX || cfg->queue_max < 1 || cfg->queue_max > EXEC_QUEUE_MAX)
        return TK_ERR_INVALID;
    struct exec *e = calloc(1, sizeof *e);
    if (!e)
        return TK_ERR_NOMEM;
    snprintf(e->name, sizeof e->name, "%s", cfg->name ? cfg->name : "exec");
    e->workers = cfg->workers;
    e->queue_max = cfg->queue_max;
    e->worker_start = cfg->worker_start;
    e->worker_stop = cfg->worker_stop;
    e->arg = cfg->arg;
    /* every job may be delayed at once: the waiting ones plus those being run */
    e->heap_cap = (int64_t)cfg->queue_max + cfg->workers;
    e->heap = calloc((size_t)e->heap_cap, sizeof *e->heap);
    e->threads = calloc((size_t)cfg->workers, sizeof *e->threads);
    if (!e->heap || !e->threads) {
        free(e->heap);
        free(e->threads);
        free(e);
        return TK_ERR_NOMEM;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    e->st.workers = cfg->workers;
    pthread_mutex_lock(&LIVE_MU);
    e->next_live = LIVE;
    LIVE = e;
    pthread_mutex_unlock(&LIVE_MU);
    for (int i = 0; i < cfg->workers; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa)
            *wa = (struct worker_arg){.e = e, .index = i};
        if (!wa || pthread_create(&e->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            exec_free(e);
            return TK_ERR_NOMEM;
        }
        e->started++;
    }
    *out = e;
    return TK_OK;
}

void exec_stop(struct exec *e)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->cv);
    int n = e->started;
    e->started = 0;
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < n; i++)
        pthread_join(e->threads[i], NULL);
}

void exec_free(struct exec *e)
{
    if (!e)
        return;
    exec_stop(e);
    pthread_mutex_lock(&LIVE_MU);
    for (struct exec **p = &LIVE; *p; p = &(*p)->next_live)
        if (*p == e) {
            *p = e->next_live;
            break;
        }
    pthread_mutex_unlock(&LIVE_MU);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->threads);
    free(e->heap);
    free(e);
}

int exec_submit(struct exec *e, struct exec_job *job)
{
    TK_ASSERT(job->run && job->expire);
    job->attempt = 0;
    job->first_run_ns = 0;
    job->submitted_ns = clock_mono_ns();
    pthread_mutex_lock(&e->mu);
    if (e->stopping || e->nready + e->nheap >= e->queue_max) {
        e->st.rejected++;
        pthread_mutex_unlock(&e->mu);
        return TK_ERR_UNAVAILABLE;
    }
    e->st.submitted++;
    ready_push(e, job);
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return TK_OK;
}

int exec_defer_us(int64_t delay_us)
{
    if (delay_us < 0)
        delay_us = 0;
    if (exec_on_worker()) {
        CURRENT->again_us = delay_us;
        return TK_ERR_BUSY;
    }
    struct timespec ts = {.tv_sec = delay_us / 1000000, .tv_nsec = (delay_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return TK_OK;
}

int exec_park_us(uint64_t key, int64_t timeout_us)
{
    int rc = exec_defer_us(timeout_us);
    if (rc == TK_ERR_BUSY)
        CURRENT->park_key = key ? key : 1;
    return rc;
}

uint64_t exec_key(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

void exec_wake(uint64_t key)
{
    if (!key)
        key = 1;
    pthread_mutex_lock(&LIVE_MU);
    for (struct exec *e = LIVE; e; e = e->next_live) {
        pthread_mutex_lock(&e->mu);
        int64_t now = clock_mono_ns();
        int woken = 0;
        for (int64_t i = 0; i < e->nheap; i++) {
            struct exec_job *j = e->heap[i];
            if (j->park_key == key && j->due_ns > now) {
                j->due_ns = now; /* only ever earlier: sifting up keeps the heap */
                heap_sift_up(e, i);
                woken++;
            }
        }
        if (woken) {
            e->st.woken += (uint64_t)woken;
            pthread_cond_broadcast(&e->cv);
        }
        pthread_mutex_unlock(&e->mu);
    }
    pthread_mutex_unlock(&LIVE_MU);
}

int exec_defer_backoff(int base_us, int cap_us)
{
    return exec_defer_us(backoff_full_jitter_us(exec_attempt() + 1, base_us, cap_us, rand_below));
}

int exec_attempt(void) { return CURRENT ? CURRENT->attempt : 0; }

int exec_worker_index(void) { return WORKER_INDEX; }

bool exec_on_worker(void) { return CURRENT != NULL && NO_DEFER == 0; }

void exec_no_defer_begin(void) { NO_DEFER++; }

void exec_no_defer_end(void)
{
    TK_ASSERT(NO_DEFER > 0);
    NO_DEFER--;
}

int64_t exec_remaining_ms(void)
{
    if (!CURRENT || !CURRENT->deadline_ns)
        return INT64_MAX;
    int64_t left = (CURRENT->deadline_ns - clock_mono_ns()) / 1000000;
    return left > 0 ? left : 0;
}

void exec_stats(struct exec *e, struct exec_stats *out)
{
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    out->queued = e->nready;
    out->delayed = e->nheap;
    out->running = e->running;
    pthread_mutex_unlock(&e->mu);
}

void exec_render_metrics(struct exec *e, struct buf *b)
{
    struct exec_stats s;
    exec_stats(e, &s);
    const char *n = e->name;
    buf_printf(b, "# TYPE ticketd_%s_workers gauge\nticketd_%s_workers %d\n", n, n, s.workers);
    buf_printf(b, "# TYPE ticketd_%s_queue_length gauge\nticketd_%s_queue_length %lld\n", n, n, (long long)s.queued);
    buf_printf(b, "# TYPE ticketd_%s_delayed gauge\nticketd_%s_delayed %lld\n", n, n, (long long)s.delayed);
    buf_printf(b, "# TYPE ticketd_%s_running gauge\nticketd_%s_running %lld\n", n, n, (long long)s.running);
    buf_printf(b, "# TYPE ticketd_%s_queue_max gauge\nticketd_%s_queue_max %d\n", n, n, e->queue_max);
    const struct {
        const char *name;
        uint64_t v;
    } counters[] = {{"submitted", s.submitted}, {"rejected", s.rejected}, {"deadline_expired", s.expired},
                    {"rescheduled", s.deferred}, {"woken", s.woken}, {"done", s.done}};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        buf_printf(b, "# TYPE ticketd_%s_%s_total counter\nticketd_%s_%s_total %llu\n", n, counters[i].name, n,
                   counters[i].name, (unsigned long long)counters[i].v);
    buf_printf(b, "# TYPE ticketd_%s_wait_seconds histogram\n", n);
    uint64_t cum = 0;
    for (int i = 0; i < 9; i++) {
        cum += s.wait_buckets[i];
        buf_printf(b, "ticketd_%s_wait_seconds_bucket{le=\"%g\"} %llu\n", n, EXEC_WAIT_BUCKETS_MS[i] / 1000.0,
                   (unsigned long long)cum);
    }
    cum += s.wait_buckets[9];
    buf_printf(b, "ticketd_%s_wait_seconds_bucket{le=\"+Inf\"} %llu\n", n, (unsigned long long)cum);
    buf_printf(b, "ticketd_%s_wait_seconds_sum %.6f\nticketd_%s_wait_seconds_count %llu\n", n, s.wait_sum_s, n,
               (unsigned long long)s.wait_count);
}
