/* test_exec.c — the bounded executor (util/exec.h): FIFO order, the queue limit, re-scheduling instead of
 * sleeping (a deferred job frees its worker for others), deadlines, and stopping with delayed jobs. */
#include "unit.h"
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "util/clock.h"
#include "util/exec.h"

struct tjob {
    struct exec_job job; /* first */
    int id;
    uint64_t park_key;  /* with defer_times: park on this key instead of deferring */
    int defer_times;    /* how many times it asks to be run again */
    int64_t defer_us;
    int runs, expired;
    int attempts_seen[8];
    int worker_seen;
    int64_t remaining_ms_seen;
    bool done;
};

static pthread_mutex_t MU = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t CV = PTHREAD_COND_INITIALIZER;
static int ORDER[64];
static int NORDER;
static int FINISHED;

static void reset(void)
{
    pthread_mutex_lock(&MU);
    NORDER = 0;
    FINISHED = 0;
    pthread_mutex_unlock(&MU);
}

static void note_finished(struct tjob *t)
{
    pthread_mutex_lock(&MU);
    t->done = true;
    FINISHED++;
    pthread_cond_broadcast(&CV);
    pthread_mutex_unlock(&MU);
}

static enum exec_verdict run_tjob(struct exec_job *job)
{
    struct tjob *t = (struct tjob *)job;
    pthread_mutex_lock(&MU);
    if (t->runs < 8)
        t->attempts_seen[t->runs] = exec_attempt();
    t->runs++;
    t->worker_seen = exec_worker_index();
    t->remaining_ms_seen = exec_remaining_ms();
    if (NORDER < 64)
        ORDER[NORDER++] = t->id;
    pthread_mutex_unlock(&MU);
    if (t->defer_times > 0) {
        t->defer_times--;
        if (t->park_key)
            assert_int_equal(exec_park_us(t->park_key, t->defer_us), TK_ERR_BUSY);
        else
            assert_int_equal(exec_defer_us(t->defer_us), TK_ERR_BUSY); /* on a worker: handed back, not slept */
        return EXEC_AGAIN;
    }
    note_finished(t);
    return EXEC_DONE;
}

static void expire_tjob(struct exec_job *job)
{
    struct tjob *t = (struct tjob *)job;
    t->expired++;
    note_finished(t);
}

static void wait_finished(int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&MU);
    while (FINISHED < n)
        assert_int_equal(pthread_cond_timedwait(&CV, &MU, &until), 0); /* a hang fails, it does not block */
    pthread_mutex_unlock(&MU);
}

static void tjob_init(struct tjob *t, int id)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->job.run = run_tjob;
    t->job.expire = expire_tjob;
}

static struct exec *open_exec(int workers, int queue_max)
{
    struct exec *e = NULL;
    struct exec_config cfg = {.name = "test", .workers = workers, .queue_max = queue_max};
    assert_int_equal(exec_new(&cfg, &e), TK_OK);
    return e;
}

/* A gate job keeps the only worker busy until released, so the test controls what is queued. */
static pthread_mutex_t GATE_MU = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t GATE_CV = PTHREAD_COND_INITIALIZER;
static bool GATE_OPEN, GATE_ENTERED;

static enum exec_verdict run_gate(struct exec_job *job)
{
    (void)job;
    pthread_mutex_lock(&GATE_MU);
    GATE_ENTERED = true;
    pthread_cond_broadcast(&GATE_CV);
    while (!GATE_OPEN)
        pthread_cond_wait(&GATE_CV, &GATE_MU);
    pthread_mutex_unlock(&GATE_MU);
    return EXEC_DONE;
}

static void gate_close(struct exec *e, struct exec_job *gate)
{
    GATE_OPEN = GATE_ENTERED = false;
    *gate = (struct exec_job){.run = run_gate, .expire = expire_tjob};
    assert_int_equal(exec_submit(e, gate), TK_OK);
    pthread_mutex_lock(&GATE_MU);
    while (!GATE_ENTERED)
        pthread_cond_wait(&GATE_CV, &GATE_MU);
    pthread_mutex_unlock(&GATE_MU);
}

static void gate_open(void)
{
    pthread_mutex_lock(&GATE_MU);
    GATE_OPEN = true;
    pthread_cond_broadcast(&GATE_CV);
    pthread_mutex_unlock(&GATE_MU);
}

static void fifo_order(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(1, 16);
    struct exec_job gate;
    gate_close(e, &gate);
    struct tjob t[5];
    for (int i = 0; i < 5; i++) {
        tjob_init(&t[i], i + 1);
        assert_int_equal(exec_submit(e, &t[i].job), TK_OK);
    }
    gate_open();
    wait_finished(5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ORDER[i], i + 1);
        assert_int_equal(t[i].runs, 1);
        assert_int_equal(t[i].worker_seen, 0);
        assert_true(t[i].job.first_run_ns >= t[i].job.submitted_ns);
    }
    exec_free(e);
}

static void queue_limit_refuses_at_once(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(1, 3);
    struct exec_job gate;
    gate_close(e, &gate); /* running, not waiting: the 3 places are free */
    struct tjob t[4];
    for (int i = 0; i < 4; i++)
        tjob_init(&t[i], i + 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(exec_submit(e, &t[i].job), TK_OK);
    int64_t t0 = clock_mono_ns();
    assert_int_equal(exec_submit(e, &t[3].job), TK_ERR_UNAVAILABLE);
    assert_true(clock_mono_ns() - t0 < 50 * 1000000LL); /* refused at once, not after a wait */
    struct exec_stats st;
    exec_stats(e, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.running, 1);
    gate_open();
    wait_finished(3);
    assert_int_equal(t[3].runs, 0);
    exec_free(e);
}

/* One worker: job 1 defers for 50 ms; job 2, submitted after it, runs in the meantime. */
static void deferred_job_frees_its_worker(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(1, 16);
    struct tjob a, b;
    tjob_init(&a, 1);
    a.defer_times = 2;
    a.defer_us = 50000;
    tjob_init(&b, 2);
    struct exec_job gate; /* both queued before the worker takes either: the order is the executor's alone */
    gate_close(e, &gate);
    assert_int_equal(exec_submit(e, &a.job), TK_OK);
    assert_int_equal(exec_submit(e, &b.job), TK_OK);
    int64_t t0 = clock_mono_ns();
    gate_open();
    wait_finished(2);
    int64_t took_ms = (clock_mono_ns() - t0) / 1000000;
    assert_int_equal(a.runs, 3);
    assert_int_equal(b.runs, 1);
    assert_int_equal(ORDER[0], 1);
    assert_int_equal(ORDER[1], 2); /* b ran while a waited */
    assert_int_equal(ORDER[2], 1);
    assert_int_equal(a.attempts_seen[0], 0); /* exec_attempt carries the retry count across runs */
    assert_int_equal(a.attempts_seen[1], 1);
    assert_int_equal(a.attempts_seen[2], 2);
    assert_true(took_ms >= 95); /* two 50 ms delays were honoured */
    exec_stop(e); /* joins the worker: its counters are final (a job counts as done after its run returns) */
    struct exec_stats st;
    exec_stats(e, &st);
    assert_int_equal(st.deferred, 2);
    assert_int_equal(st.done, 3); /* the gate, a and b */
    exec_free(e);
}

static void deadline_passed_while_queued_expires(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(1, 16);
    struct exec_job gate;
    gate_close(e, &gate);
    struct tjob t;
    tjob_init(&t, 1);
    t.job.deadline_ns = clock_mono_ns() + 20 * 1000000LL;
    assert_int_equal(exec_submit(e, &t.job), TK_OK);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 60 * 1000000L};
    nanosleep(&ts, NULL);
    gate_open();
    wait_finished(1);
    assert_int_equal(t.runs, 0);
    assert_int_equal(t.expired, 1);
    struct exec_stats st;
    exec_stats(e, &st);
    assert_int_equal(st.expired, 1);
    exec_free(e);
}

/* A job that asks to run again after its deadline is answered at once, not at the deadline. */
static void deferral_past_deadline_expires_now(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(2, 16);
    struct tjob t;
    tjob_init(&t, 1);
    t.defer_times = 1;
    t.defer_us = 5 * 1000000; /* 5 s */
    int64_t t0 = clock_mono_ns();
    t.job.deadline_ns = t0 + 1000 * 1000000LL;
    assert_int_equal(exec_submit(e, &t.job), TK_OK);
    wait_finished(1);
    assert_int_equal(t.runs, 1);
    assert_int_equal(t.expired, 1);
    assert_true(t.remaining_ms_seen > 0 && t.remaining_ms_seen <= 1000);
    assert_true(clock_mono_ns() - t0 < 500 * 1000000LL);
    exec_free(e);
}

static void stop_expires_delayed_jobs(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(1, 16);
    struct tjob t;
    tjob_init(&t, 1);
    t.defer_times = 100;
    t.defer_us = 60 * 1000000LL; /* far away */
    assert_int_equal(exec_submit(e, &t.job), TK_OK);
    for (int i = 0; i < 100; i++) { /* until it has run once and sits in the delayed heap */
        struct exec_stats st;
        exec_stats(e, &st);
        if (st.delayed == 1)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 2000000L};
        nanosleep(&ts, NULL);
    }
    int64_t t0 = clock_mono_ns();
    exec_stop(e);
    assert_true(clock_mono_ns() - t0 < 1000 * 1000000LL);
    assert_int_equal(t.expired, 1);
    struct tjob late;
    tjob_init(&late, 2);
    assert_int_equal(exec_submit(e, &late.job), TK_ERR_UNAVAILABLE); /* stopped: refused */
    exec_free(e);
}

/* A parked job runs again as soon as its key is woken; one parked on another key keeps waiting. */
static void wake_runs_parked_jobs_now(void **state)
{
    (void)state;
    reset();
    struct exec *e = open_exec(2, 16);
    struct tjob a, b;
    tjob_init(&a, 1);
    a.defer_times = 1;
    a.defer_us = 5 * 1000000;
    a.park_key = exec_key("seat:1");
    tjob_init(&b, 2);
    b.defer_times = 1;
    b.defer_us = 300000;
    b.park_key = exec_key("seat:2");
    assert_int_not_equal(a.park_key, b.park_key);
    assert_int_equal(exec_submit(e, &a.job), TK_OK);
    assert_int_equal(exec_submit(e, &b.job), TK_OK);
    for (int i = 0; i < 200; i++) {
        struct exec_stats st;
        exec_stats(e, &st);
        if (st.delayed == 2)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000L};
        nanosleep(&ts, NULL);
    }
    int64_t t0 = clock_mono_ns();
    exec_wake(exec_key("seat:1"));
    wait_finished(1);
    assert_true(a.done);
    assert_false(b.done); /* not woken: still parked until its 300 ms pass */
    assert_true(clock_mono_ns() - t0 < 200 * 1000000LL);
    wait_finished(2);
    assert_int_equal(b.runs, 2);
    assert_int_equal(b.expired, 0);
    struct exec_stats st;
    exec_stats(e, &st);
    assert_int_equal(st.woken, 1);
    exec_free(e);
}

static void off_a_worker_defer_sleeps(void **state)
{
    (void)state;
    assert_int_equal(exec_worker_index(), -1);
    assert_int_equal(exec_attempt(), 0);
    assert_true(exec_remaining_ms() == INT64_MAX);
    int64_t t0 = clock_mono_ns();
    assert_int_equal(exec_defer_us(20000), TK_OK);
    assert_true(clock_mono_ns() - t0 >= 19 * 1000000LL);
}

static void limits_checked(void **state)
{
    (void)state;
    struct exec *e = NULL;
    struct exec_config bad[] = {{.workers = 0, .queue_max = 1}, {.workers = 1, .queue_max = 0},
                                {.workers = EXEC_WORKERS_MAX + 1, .queue_max = 1},
                                {.workers = 1, .queue_max = EXEC_QUEUE_MAX + 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(exec_new(&bad[i], &e), TK_ERR_INVALID);
    exec_free(NULL);
}

static void metrics_rendered(void **state)
{
    (void)state;
    struct exec *e = open_exec(1, 4);
    struct buf b = {0};
    exec_render_metrics(e, &b);
    buf_append(&b, "", 1);
    assert_non_null(strstr(b.p, "ticketd_test_queue_length 0"));
    assert_non_null(strstr(b.p, "ticketd_test_rejected_total 0"));
    assert_non_null(strstr(b.p, "ticketd_test_deadline_expired_total 0"));
    assert_non_null(strstr(b.p, "ticketd_test_wait_seconds_bucket{le=\"+Inf\"} 0"));
    buf_free(&b);
    exec_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_order),
        cmocka_unit_test(queue_limit_refuses_at_once),
        cmocka_unit_test(deferred_job_frees_its_worker),
        cmocka_unit_test(deadline_passed_while_queued_expires),
        cmocka_unit_test(deferral_past_deadline_expires_now),
        cmocka_unit_test(stop_expires_delayed_jobs),
        cmocka_unit_test(wake_runs_parked_jobs_now),
        cmocka_unit_test(off_a_worker_defer_sleeps),
        cmocka_unit_test(limits_checked),
        cmocka_unit_test(metrics_rendered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
