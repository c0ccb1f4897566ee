/* exec.h — the bounded executor: a fixed set of worker threads that run jobs from one bounded queue.
 *
 * `ticketd serve` runs every request that touches the store, Redis or a lock here (its connection is
 * suspended meanwhile), and `ticketd lab` runs its clients' requests here too, so the lab measures what the
 * service does: concurrency is the number of jobs in flight, connections a pool with a maximum.
 *
 * A job never sleeps on a worker. Where it would wait (a lock held by someone else, a busy database, a
 * pending Idempotency-Key claim) the code deep inside calls exec_defer_us(): on a worker that records the
 * delay and returns TK_ERR_BUSY, the job unwinds having changed nothing, and the executor runs it again
 * (exec_attempt() one higher) once the delay has passed — the worker serves other jobs meanwhile. Off an
 * executor (unit tests, tools) exec_defer_us() just sleeps.
 *
 * Limits: workers (1..EXEC_WORKERS_MAX), queue_max jobs waiting (ready or delayed; exec_submit refuses
 * the next one with TK_ERR_UNAVAILABLE at once), and each job's deadline: a job whose deadline passes
 * while it waits, or whose next run would start after it, is handed to its expire callback instead of run.
 * Ownership: the submitter owns the job; after run() returned EXEC_DONE or expire() was called the
 * executor never touches it again.
 */
#ifndef TK_EXEC_H
#define TK_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/err.h"

#define EXEC_WORKERS_MAX 1024
#define EXEC_QUEUE_MAX 1000000

enum exec_verdict {
    EXEC_DONE,  /* finished: the executor forgets the job */
    EXEC_AGAIN, /* run me again after the delay given to exec_defer_us() */
};

struct exec_job;
typedef enum exec_verdict (*exec_run_fn)(struct exec_job *job);
typedef void (*exec_expire_fn)(struct exec_job *job);

struct exec_job {
    exec_run_fn run;
    exec_expire_fn expire; /* the deadline passed before the job could finish; it must answer "503" */
    int64_t deadline_ns;   /* monotonic (clock_mono_ns); 0: none */
    /* Maintained by the executor; read-only for the job. */
    int attempt;           /* 0 on the first run, +1 for each EXEC_AGAIN */
    int64_t submitted_ns;  /* when exec_submit took it */
    int64_t first_run_ns;  /* when a worker first started it (0 until then) */
    /* Internal. */
    int64_t due_ns;
    int64_t again_us;
    uint64_t park_key; /* non-zero while parked: exec_wake(park_key) makes it due now */
    struct exec_job *next;
};

struct exec_config {
    const char *name; /* for metrics: exec_<name>_… */
    int workers;
    int queue_max;
    /* Optional: called on each worker thread at its start and end (e.g. to open a per-worker connection). */
    void (*worker_start)(int index, void *arg);
    void (*worker_stop)(int index, void *arg);
    void *arg;
};

struct exec;

/* Starts the workers. A failed open needs no free. */
int exec_new(const struct exec_config *cfg, struct exec **out) TK_MUST_CHECK;
/* Finishes what is queued (delayed jobs are expired at once, not waited for) and joins the workers; later
 * exec_submit calls are refused. Safe to call twice. */
void exec_stop(struct exec *e);
/* exec_stop, then frees. exec_free(NULL) is a no-op. No exec_submit may race with the free itself. */
void exec_free(struct exec *e);
/* Queues job: TK_ERR_UNAVAILABLE at once when queue_max jobs already wait (the job was not taken). */
int exec_submit(struct exec *e, struct exec_job *job) TK_MUST_CHECK;

/* ---- inside a job ---- */
/* Asks to be run again after delay_us: on a worker it returns TK_ERR_BUSY (propagate it: nothing may have
 * changed), off a worker it sleeps and returns TK_OK (go on waiting in place). */
int exec_defer_us(int64_t delay_us) TK_MUST_CHECK;
/* Parks the current job until exec_wake(key) is called by anyone (e.g. a Redis release message) or timeout_us
 * passes, whichever is first; the same contract as exec_defer_us (TK_ERR_BUSY on a worker; off a worker it
 * sleeps timeout_us and returns TK_OK). key names what is waited for (exec_key("seat:12")). */
int exec_park_us(uint64_t key, int64_t timeout_us) TK_MUST_CHECK;
/* Wakes every job parked on key, in every executor of the process. */
void exec_wake(uint64_t key);
/* A 64-bit name for a string key (FNV-1a; never 0). */
uint64_t exec_key(const char *s);
/* exec_defer_us with capped exponential backoff and full jitter from the current attempt:
 * uniform in [0, min(cap_us, base_us * 2^attempt)]. */
int exec_defer_backoff(int base_us, int cap_us) TK_MUST_CHECK;
/* True while an executor job runs on this thread (where a wait must be handed back, not slept). False off a
 * worker, in a worker's start/stop callbacks and inside exec_no_defer_begin/end, where exec_defer_us sleeps. */
bool exec_on_worker(void);
/* A scope in which waits happen in place, bounded by the usual timeouts, instead of re-scheduling the job: for
 * the steps after a request's effect committed (storing its Idempotency-Key record, expiring its queue token),
 * which cannot be undone and so must not be handed back to run again. Scopes nest. */
void exec_no_defer_begin(void);
void exec_no_defer_end(void);
/* The current job's attempt (0 off a worker), so that a retry count survives re-scheduling. */
int exec_attempt(void);
/* The current worker's index (0..workers-1), or -1 off a worker. */
int exec_worker_index(void);
/* Milliseconds left before the current job's deadline (INT64_MAX when it has none or off a worker). */
int64_t exec_remaining_ms(void);

struct exec_stats {
    int workers;
    int64_t queued, delayed, running; /* now */
    uint64_t submitted, rejected, expired, deferred, done, woken;
    /* time from submission to the first run, histogram (upper bounds EXEC_WAIT_BUCKETS_MS, then +Inf) */
    uint64_t wait_buckets[10];
    uint64_t wait_count;
    double wait_sum_s;
};
extern const double EXEC_WAIT_BUCKETS_MS[9];
void exec_stats(struct exec *e, struct exec_stats *out);
/* Appends the Prometheus series of the executor to b. */
void exec_render_metrics(struct exec *e, struct buf *b);

#endif
