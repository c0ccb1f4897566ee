/* runner.c — the lab's runner (runner.h): one bounded executor per process, the logical clients, the
 * processes of --procs, the warm-up and the timing, around the hooks of a scenario (scenario.h).
 *
 * The runner does what `ticketd serve` does with a request: --concurrency C clients each submit one request
 * at a time to ONE executor (util/exec.h) of W = --db-pool workers, the store has a pool of W + 2 connections
 * and the Redis strategies W + 2 as well. Clients are logical (a slot each, not a thread): C jobs are in
 * flight at most, and a client submits its next request when its last one is done. A request that must
 * wait (a lock held elsewhere, a backoff after a conflict) returns TK_ERR_BUSY from deep inside, changed
 * nothing, and is handed back to the executor (EXEC_AGAIN) to run again after the delay, so a worker never
 * sleeps while others wait for it. Under the lab's own `serial` a job only queues its request for the
 * process's writer (serial.c). */
#include "lab/runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/app.h"
#include "lab/labdb.h"
#include "lab/serial.h"
#include "util/rpool.h"
#include "util/stats.h"

#define LOCK_TTL_MS 5000 /* the Redis locks' TTL unless the scenario sets its own */
/* Ids no row has: the warm-up runs each worker's operation on them (changing nothing), 4 apart per worker
 * of each process, so that no two workers (in any of the --procs processes) contend for a warm-up key. */
#define GHOST_ID 900000000000LL

/* ---------- a run ---------- */

struct lab_run {
    const struct lab_opts *o;
    const struct lab_scenario *sc;
    struct lab_strategy stg;
    bool serial; /* the lab's own `serial`: requests go to one writer per process */
    int requests, concurrency, procs, db_pool;
    char prefix[48]; /* Redis key namespace of this run */
    struct lab_params params;
    void *state; /* the scenario's (sc->state_size bytes), filled by its setup */
};

struct lab_proc;

/* One request in flight: a client's slot, reused for the client's next request once this one is done. */
struct lab_job {
    struct exec_job ex; /* first member: the executor hands back &ex */
    struct lab_proc *p;
    int i;               /* the request's number in the run (0 .. requests-1) */
    struct lab_keep keep; /* what the request keeps across its re-runs */
    struct lab_job *next_free;
};

/* One process's view: its store, strategy, app (the service's objects) and executor. */
struct lab_proc {
    struct lab_run *run;
    int index;        /* this process's number (0 .. procs-1) */
    int first, count; /* the requests this process runs */
    int clients;      /* in flight at most */
    int workers;      /* executor workers */
    struct tk_store *store;
    struct tk_strategy *strategy;
    struct tk_app app;
    struct serial *serial;
    struct exec *exec;
    bool need_db;       /* the scenario writes through labdb (worker_db) */
    struct labdb **dbs; /* one per executor worker (exec_worker_index()), opened by the worker itself */
    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;  /* a worker warmed up, a slot came free, the last request ended */
    int warmed;
    bool warm_failed;
    char warm_err[384];
    struct lab_job *slots, *free_slots;
    int finished;
    int64_t started_ns;
    struct lab_stats st;
};

/* ---------- samples and counts ---------- */

static int samples_reserve(struct lab_samples *s, size_t n)
{
    if (n <= s->cap)
        return TK_OK;
    double *v = realloc(s->v, (n ? n : 1) * sizeof *v);
    if (!v)
        return TK_ERR_NOMEM;
    s->v = v;
    s->cap = n;
    return TK_OK;
}

static void samples_add(struct lab_samples *s, double x)
{
    if (s->n < s->cap) /* reserved up front for every request: never grows while requests run */
        s->v[s->n++] = x;
}

static int samples_append(struct lab_samples *into, const struct lab_samples *from)
{
    TK_TRY(samples_reserve(into, into->n + from->n));
    if (from->n)
        memcpy(into->v + into->n, from->v, from->n * sizeof *from->v);
    into->n += from->n;
    return TK_OK;
}

static int stats_merge(struct lab_stats *into, const struct lab_stats *from)
{
    if (from->elapsed_s > into->elapsed_s)
        into->elapsed_s = from->elapsed_s; /* processes run side by side: the slowest one ends the run */
    into->success += from->success;
    into->refused += from->refused;
    into->failed += from->failed;
    for (int k = 0; k < LAB_FAIL__COUNT; k++)
        into->failures[k] += from->failures[k];
    TK_TRY(samples_append(&into->lat, &from->lat));
    return samples_append(&into->wait, &from->wait);
}

static void stats_free(struct lab_stats *st)
{
    free(st->lat.v);
    free(st->wait.v);
    st->lat = st->wait = (struct lab_samples){0};
}

static bool is_refusal(int rc)
{
    return rc == TK_ERR_SEAT_UNAVAILABLE || rc == TK_ERR_ALREADY_PAID || rc == TK_ERR_INSUFFICIENT_BALANCE ||
           rc == TK_ERR_OUT_OF_STOCK; /* the shop's sold out (the stock scenario) */
}

static int failure_slot(int rc)
{
    if (rc == TK_ERR_CONFLICT)
        return LAB_FAIL_CONFLICT;
    if (rc == TK_ERR_BUSY)
        return LAB_FAIL_BUSY;
    if (rc >= 0 || rc <= -TK_ERR__COUNT)
        return -TK_ERR_INTERNAL; /* not an error code at all: a bug, counted as one */
    return -rc;
}

/* ---------- the end of a request ---------- */

/* Records a finished request and frees its client's slot for the client's next request. The last use of j:
 * the submitter may reuse the slot at once (the executor never touches a job again once its run() has
 * returned EXEC_DONE, and run() returns right after this). slot_override: a failure slot, or -1 to derive
 * it from rc. */
static void job_done_as(struct lab_job *j, int rc, int slot_override)
{
    struct lab_proc *p = j->p;
    int64_t now = clock_mono_ns();
    double lat_ms = (double)(now - j->ex.submitted_ns) / 1e6;
    double wait_ms = j->ex.first_run_ns ? (double)(j->ex.first_run_ns - j->ex.submitted_ns) / 1e6 : -1;
    pthread_mutex_lock(&p->mu);
    samples_add(&p->st.lat, lat_ms);
    if (wait_ms >= 0)
        samples_add(&p->st.wait, wait_ms);
    if (rc == TK_OK && slot_override < 0) {
        p->st.success++;
    } else if (is_refusal(rc) && slot_override < 0) {
        p->st.refused++;
    } else {
        p->st.failed++;
        p->st.failures[slot_override >= 0 ? slot_override : failure_slot(rc)]++;
    }
    j->next_free = p->free_slots;
    p->free_slots = j;
    p->finished++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void job_done(struct lab_job *j, int rc) { job_done_as(j, rc, -1); }

/* serial_done_fn: the writer ends a request once its batch has committed. */
static void serial_done(void *request, int rc) { job_done(request, rc); }

/* ---------- on the executor ---------- */

/* What the scenario's hooks run with on worker w of p. */
static struct lab_env env_of(struct lab_proc *p, int w)
{
    return (struct lab_env){.app = &p->app, .db = p->need_db ? p->dbs[w] : NULL, .state = p->run->state};
}

static enum exec_verdict job_run(struct exec_job *ej)
{
    struct lab_job *j = (struct lab_job *)ej;
    struct lab_proc *p = j->p;
    if (p->serial) {
        serial_enqueue(p->serial, j); /* the writer ends it once its batch has committed */
        return EXEC_DONE;
    }
    int w = exec_worker_index(); /* this worker's own lab connection (opened by the worker at its start) */
    TK_ASSERT(w >= 0 && w < p->workers && (!p->need_db || p->dbs[w]));
    struct lab_env env = env_of(p, w);
    int rc = p->run->sc->request(&env, j->i, &j->keep);
    if (rc == TK_ERR_BUSY)
        return EXEC_AGAIN; /* it changed nothing: the executor runs it again after the delay it asked for */
    job_done(j, rc);
    return EXEC_DONE;
}

/* Lab jobs have no deadline, so this runs only if the executor stops with the job still waiting. */
static void job_expire(struct exec_job *ej) { job_done((struct lab_job *)ej, TK_ERR_BUSY); }

/* Warms one worker up outside the measured time: its connections, prepared statements and the server-side
 * function of its operation, by running the same path on ids that do not exist (it changes nothing). Each
 * worker has its own ghost ids: warm-ups never wait for each other. */
static void warm_up(struct lab_proc *p, int index)
{
    if (p->serial)
        return; /* serial jobs only queue requests: the writer holds the one connection */
    int rc = store_ping(p->store);
    struct lab_env env = env_of(p, index);
    p->run->sc->warm_up(&env, GHOST_ID + 4 * ((int64_t)p->index * LAB_DB_POOL_MAX + index));
    if (p->dbs[index]) {
        int64_t v;
        rc = labdb_int(p->dbs[index], "SELECT 1", &v);
    }
    (void)rc; /* a warm-up: its answers do not matter */
}

/* exec_config.worker_start: on the worker's own thread, before it takes any job. */
static void worker_start(int index, void *arg)
{
    struct lab_proc *p = arg;
    char err[256] = "";
    bool ok = true;
    if (p->need_db && !(p->dbs[index] = labdb_open(p->run->o->db, err, sizeof err)))
        ok = false;
    if (ok)
        warm_up(p, index);
    pthread_mutex_lock(&p->mu);
    p->warmed++;
    if (!ok && !p->warm_failed) {
        p->warm_failed = true;
        snprintf(p->warm_err, sizeof p->warm_err, "worker %d cannot open its connection: %s", index, err);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void worker_stop(int index, void *arg)
{
    struct lab_proc *p = arg;
    labdb_close(p->dbs[index]);
    p->dbs[index] = NULL;
}

/* ---------- one process ---------- */

/* Frees what run_process made (the executor first: its workers close their connections). */
static void proc_close(struct lab_proc *p)
{
    exec_free(p->exec);
    serial_stop(p->serial);
    shop_batcher_free(p->app.shop_batcher);
    strategy_free(p->strategy);
    store_close(p->store);
    free(p->dbs);
    free(p->slots);
    stats_free(&p->st);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Runs `count` requests starting at `first` in this process: `clients` of them in flight at most, through one
 * executor of `workers` workers. Fills out (whose samples the caller frees) and lock_stats; TK_OK, or an
 * error (with a message on stderr) when the run could not start. */
static int run_process(struct lab_run *r, int index, int first, int count, int clients, int workers,
                       struct lab_stats *out, struct tk_strategy_stats *lock_stats)
{
    char err[256] = "";
    struct lab_proc *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "lab: out of memory\n");
        return TK_ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->run = r;
    p->index = index;
    p->first = first;
    p->count = count;
    p->clients = clients < count ? clients : count;
    if (p->clients < 1)
        p->clients = 1;
    p->workers = workers < p->clients ? workers : p->clients; /* a worker with no client would only idle */
    p->need_db = !r->serial && r->sc->worker_db;
    int rc = store_open(r->o->db, r->serial ? 2 : p->workers + 2, &p->store, err, sizeof err);
    if (rc == TK_OK) {
        struct strategy_config cfg = {
            .retries_max = 1000,
            .lock_tries_max = 100000,
            .redis_url = r->o->redis,
            .redis_nodes = r->o->redis_nodes,
            .prefix = r->prefix,
            .lock_ttl_ms = r->sc->lock_ttl_ms ? r->sc->lock_ttl_ms : LOCK_TTL_MS,
            .pool_max = p->workers + 2,
        };
        /* serial's writer does the hot key's writes; the service's objects get the default strategy */
        rc = strategy_open_cfg(r->serial ? "atomic" : r->stg.name, &cfg, &p->strategy, err, sizeof err);
    }
    if (rc == TK_OK) {
        p->slots = calloc((size_t)p->clients, sizeof *p->slots);
        p->dbs = calloc((size_t)p->workers, sizeof *p->dbs);
        if (!p->slots || !p->dbs || samples_reserve(&p->st.lat, (size_t)count) < 0 ||
            samples_reserve(&p->st.wait, (size_t)count) < 0) {
            snprintf(err, sizeof err, "out of memory for %d clients and %d requests", p->clients, count);
            rc = TK_ERR_NOMEM;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "lab: %s\n", err[0] ? err : tk_err_message(rc));
        proc_close(p);
        return rc;
    }
    for (int k = p->clients - 1; k >= 0; k--) {
        p->slots[k] = (struct lab_job){.p = p, .next_free = p->free_slots};
        p->free_slots = &p->slots[k];
    }
    p->app = (struct tk_app){.store = p->store, .strategy = p->strategy, .clock = clock_real(), .hold_ms = 600000,
                             .max_holds_per_user = 1000, .idempotency_ttl_ms = 3600000,
                             .order_hold_ms = 600000 /* the stock scenario's orders outlive the run */};
    if (shop_batcher_new(&p->app.shop_batcher) < 0) /* as serve: the shop's combiner of a hot option */
        p->app.shop_batcher = NULL;
    if (r->serial &&
        !(p->serial = serial_start(r->o->db, r->sc, r->state, p->clients, serial_done, err, sizeof err))) {
        fprintf(stderr, "lab: serial: %s\n", err);
        proc_close(p);
        return TK_ERR_UNAVAILABLE;
    }
    struct exec_config ec = {.name = "lab", .workers = p->workers, .queue_max = p->clients + 1,
                             .worker_start = worker_start, .worker_stop = worker_stop, .arg = p};
    rc = exec_new(&ec, &p->exec);
    if (rc < 0) {
        fprintf(stderr, "lab: cannot start %d executor workers: %s\n", p->workers, tk_err_message(rc));
        proc_close(p);
        return rc;
    }
    /* the start barrier: every worker has its connections open and warm before the clock starts */
    pthread_mutex_lock(&p->mu);
    while (p->warmed < p->workers)
        pthread_cond_wait(&p->cv, &p->mu);
    bool warm_failed = p->warm_failed;
    pthread_mutex_unlock(&p->mu);
    if (warm_failed) {
        fprintf(stderr, "lab: %s\n", p->warm_err);
        proc_close(p);
        return TK_ERR_UNAVAILABLE;
    }
    /* the clients: a free slot is a client ready for its next request */
    p->started_ns = clock_mono_ns();
    for (int k = 0; k < count; k++) {
        pthread_mutex_lock(&p->mu);
        while (!p->free_slots)
            pthread_cond_wait(&p->cv, &p->mu);
        struct lab_job *j = p->free_slots;
        p->free_slots = j->next_free;
        pthread_mutex_unlock(&p->mu);
        *j = (struct lab_job){.ex = {.run = job_run, .expire = job_expire, .deadline_ns = 0}, .p = p, .i = first + k};
        if (exec_submit(p->exec, &j->ex) < 0)
            job_done_as(j, TK_ERR_UNAVAILABLE, LAB_FAIL_QUEUE_FULL); /* cannot happen: the queue holds every client */
    }
    pthread_mutex_lock(&p->mu);
    while (p->finished < count)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    int64_t ended = clock_mono_ns();
    strategy_stats(p->strategy, lock_stats);
    *out = p->st;
    p->st.lat = p->st.wait = (struct lab_samples){0}; /* handed to the caller */
    out->elapsed_s = (double)(ended - p->started_ns) / 1e9;
    proc_close(p);
    return TK_OK;
}

/* ---------- --procs: children report through a pipe ---------- */

struct child_report {
    struct lab_stats st; /* its sample pointers mean nothing in the parent: the samples follow */
    struct tk_strategy_stats ls;
    int rc;
};

/* Moves all n bytes at p through fd (out: writes them, else reads them), again after EINTR; 0, or -1 on an
 * error or an early end of file. */
static int move_all(int fd, char *p, size_t n, bool out)
{
    while (n) {
        ssize_t k = out ? write(fd, p, n) : read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n) { return move_all(fd, (char *)(uintptr_t)p, n, true); }
static int read_all(int fd, void *p, size_t n) { return move_all(fd, p, n, false); }

static int write_samples(int fd, const struct lab_samples *s)
{
    uint64_t n = s->n;
    return write_all(fd, &n, sizeof n) == 0 && write_all(fd, s->v, s->n * sizeof *s->v) == 0 ? 0 : -1;
}

static int read_samples(int fd, struct lab_samples *s, size_t max)
{
    uint64_t n = 0;
    *s = (struct lab_samples){0};
    if (read_all(fd, &n, sizeof n) < 0 || n > max || samples_reserve(s, (size_t)n) < 0)
        return -1;
    if (read_all(fd, s->v, (size_t)n * sizeof *s->v) < 0)
        return -1;
    s->n = (size_t)n;
    return 0;
}

static void lock_stats_add(struct tk_strategy_stats *into, const struct tk_strategy_stats *from)
{
    into->runs += from->runs;
    into->acquisitions += from->acquisitions;
    into->retries += from->retries;
    into->conflicts += from->conflicts;
    into->lock_failures += from->lock_failures;
}

/* Part k of n of total, the first parts one larger: how requests and clients are split over processes. */
static int share(int total, int n, int k) { return total / n + (k < total % n); }

static int run_all_processes(struct lab_run *r, struct lab_stats *st, struct tk_strategy_stats *ls)
{
    if (r->procs <= 1)
        return run_process(r, 0, 0, r->requests, r->concurrency, r->db_pool, st, ls);
    int fds[LAB_PROCS_MAX][2];
    pid_t pids[LAB_PROCS_MAX];
    int started = 0, at = 0, rc = TK_OK;
    for (int i = 0; i < r->procs; i++) {
        int count = share(r->requests, r->procs, i), clients = share(r->concurrency, r->procs, i);
        if (pipe(fds[i]) < 0) {
            rc = TK_ERR_INTERNAL;
            break;
        }
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] < 0) {
            close(fds[i][0]);
            close(fds[i][1]);
            rc = TK_ERR_INTERNAL;
            break;
        }
        if (pids[i] == 0) { /* a separate process with its own executor, as a separate service instance */
            close(fds[i][0]);
            struct child_report rep = {0};
            rep.rc = run_process(r, i, at, count, clients, r->db_pool, &rep.st, &rep.ls);
            int ok = write_all(fds[i][1], &rep, sizeof rep) == 0 && write_samples(fds[i][1], &rep.st.lat) == 0 &&
                     write_samples(fds[i][1], &rep.st.wait) == 0;
            _exit(ok && rep.rc == TK_OK ? 0 : 1);
        }
        close(fds[i][1]);
        started++;
        at += count;
    }
    if (rc < 0)
        fprintf(stderr, "lab: cannot start process %d of %d: %s\n", started + 1, r->procs, strerror(errno));
    for (int i = 0; i < started; i++) {
        struct child_report rep;
        if (read_all(fds[i][0], &rep, sizeof rep) == 0) {
            rep.st.lat = rep.st.wait = (struct lab_samples){0};
            if (read_samples(fds[i][0], &rep.st.lat, (size_t)r->requests) == 0 &&
                read_samples(fds[i][0], &rep.st.wait, (size_t)r->requests) == 0 && stats_merge(st, &rep.st) == 0)
                lock_stats_add(ls, &rep.ls);
            else
                rc = TK_ERR_INTERNAL;
            stats_free(&rep.st);
            if (rep.rc != TK_OK)
                rc = rep.rc;
        } else {
            rc = TK_ERR_INTERNAL; /* the child died before it could report */
        }
        close(fds[i][0]);
        int wst;
        waitpid(pids[i], &wst, 0);
    }
    return rc;
}

/* ---------- after the run ---------- */

/* Locks left in the run's own Redis namespace: 0 for a strategy without Redis, -1 when they cannot be counted. */
static int64_t count_locks(const struct lab_run *r)
{
    if (!r->stg.ops || !r->stg.ops->needs_redis || !r->o->redis)
        return 0;
    struct rpool p;
    char err[128];
    if (rpool_init(&p, r->o->redis, 1, err, sizeof err) < 0)
        return -1;
    struct rconn *c;
    int64_t n = -1;
    if (rpool_get(&p, &c) == TK_OK) {
        char pattern[96];
        snprintf(pattern, sizeof pattern, "%slock:*", r->prefix);
        const char *argv[] = {"KEYS", pattern}; /* the run's own namespace only */
        redisReply *rep;
        bool broken = false;
        if (rpool_command(c, 2, argv, NULL, &rep, &broken) == TK_OK) {
            n = rep->type == REDIS_REPLY_ARRAY ? (int64_t)rep->elements : -1;
            freeReplyObject(rep);
        }
        rpool_put(&p, c, broken);
    }
    rpool_free(&p);
    return n;
}

/* ---------- one run ---------- */

void lab_run_size(const struct lab_opts *o, const struct lab_scenario *sc, int *requests, int *concurrency)
{
    *requests = o->requests > 0 ? o->requests : sc->default_requests;
    *concurrency = o->concurrency > 0 ? o->concurrency : *requests;
    if (*concurrency > LAB_CONCURRENCY_MAX)
        *concurrency = LAB_CONCURRENCY_MAX;
}

void lab_result_free(struct lab_result *res)
{
    stats_free(&res->st);
    json_decref(res->final);
    json_decref(res->expected);
    res->final = res->expected = NULL;
}

/* The run's sizes after the clamps: a scenario with exact_requests, no more clients than requests, a client
 * for every process, no more workers per process than its clients (an idle worker would only hold a
 * connection). */
static void clamp_sizes(struct lab_run *r)
{
    if (r->sc->exact_requests) { /* lost-update: two requests, two workers, one process */
        r->requests = r->concurrency = r->db_pool = r->sc->exact_requests;
        r->procs = 1;
    }
    if (r->concurrency > r->requests)
        r->concurrency = r->requests;
    if (r->procs > r->concurrency)
        r->procs = r->concurrency;
    int per_proc_clients = share(r->concurrency, r->procs, 0);
    if (r->db_pool > per_proc_clients)
        r->db_pool = per_proc_clients;
}

int lab_run_one(const struct lab_opts *o, const struct lab_scenario *sc, const struct lab_strategy *stg,
                int requests, int concurrency, struct lab_result *out)
{
    struct lab_run r = {.o = o, .sc = sc, .stg = *stg, .serial = !stg->ops, .requests = requests,
                        .concurrency = concurrency, .procs = o->procs, .db_pool = o->db_pool};
    clamp_sizes(&r);
    r.params = (struct lab_params){.requests = r.requests, .stock = o->stock, .db_url = o->db};
    char rnd[17];
    if (rand_hex(rnd, 8) < 0)
        return TK_ERR_INTERNAL;
    snprintf(r.prefix, sizeof r.prefix, "tklab:%s:", rnd);
    char err[256] = "";
    struct tk_store *st = NULL;
    if (store_open(o->db, 2, &st, err, sizeof err) < 0 || store_migrate(st) < 0) {
        fprintf(stderr, "lab: cannot open %s: %s\n", o->db, err);
        store_close(st);
        return TK_ERR_UNAVAILABLE;
    }
    struct labdb *db = labdb_open(o->db, err, sizeof err);
    r.state = calloc(1, sc->state_size ? sc->state_size : 1);
    if (!db || !r.state || labdb_create_tables(db) < 0 || sc->setup(&r.params, st, db, r.state) < 0) {
        fprintf(stderr, "lab: setup of %s failed %s\n", sc->name, err);
        free(r.state);
        labdb_close(db);
        store_close(st);
        return TK_ERR_INTERNAL;
    }
    struct lab_stats stats = {0};
    struct tk_strategy_stats ls = {0};
    int rc = run_all_processes(&r, &stats, &ls);
    if (sc->finish)
        sc->finish(r.state);
    if (rc < 0 && stats.success + stats.refused + stats.failed == 0) { /* it never ran: no report to make */
        fprintf(stderr, "lab: %s × %s could not run (%s)\n", sc->name, stg->name, tk_err_code(rc));
        stats_free(&stats);
        free(r.state);
        labdb_close(db);
        store_close(st);
        return rc;
    }
    *out = (struct lab_result){.sc = sc, .stg = *stg, .requests = r.requests, .concurrency = r.concurrency,
                               .procs = r.procs, .db_pool = r.db_pool, .st = stats, .lock = ls,
                               .final = json_object(), .expected = json_object()};
    out->invariant_ok = rc == TK_OK && sc->check(&r.params, r.state, db, out->final, out->expected);
    free(r.state);
    labdb_close(db);
    store_close(st);
    out->lock_count = count_locks(&r);
    stats_sort(out->st.lat.v, out->st.lat.n);
    stats_sort(out->st.wait.v, out->st.wait.n);
    return TK_OK;
}
