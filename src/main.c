/* main.c — the ticketd command line: parses the configuration, wires store, lock strategy, waiting
 * room and HTTP server together, and runs one subcommand (serve, seed, migrate; lab, load and reconcile
 * are reserved for the lock lab, the load generator and the ledger audit). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/resource.h>

#include "config.h"
#include "core/app.h"
#include "api/api.h"
#include "http/server.h"
#include "util/metrics.h"
#include "load/load.h"
#include "lab/lab.h"

static int open_store(const struct tk_config *cfg, int pool, struct tk_store **st)
{
    char err[256] = "";
    int rc = store_open(cfg->db, pool, st, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "ticketd: %s\n", err[0] ? err : tk_err_message(rc));
        return rc;
    }
    rc = store_migrate(*st);
    if (rc < 0) {
        fprintf(stderr, "ticketd: migration failed: %s\n", tk_err_message(rc));
        store_close(*st);
        *st = NULL;
    }
    return rc;
}

static int seed(struct tk_store *st, bool quiet)
{
    bool seeded = false;
    int rc = store_seed_demo(st, clock_now_ms(clock_real()), &seeded);
    if (rc < 0)
        fprintf(stderr, "ticketd: seeding failed: %s\n", tk_err_message(rc));
    else if (seeded || !quiet)
        fprintf(stderr, "ticketd: %s\n", seeded ? "demo data created" : "demo data already present");
    return rc;
}

static bool admin_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 16 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] > 0x7e)
            return false;
    return true;
}

static int cmd_serve(const struct tk_config *cfg)
{
    int threads = cfg->threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 2 ? 2 : (int)n;
    }
    /* Reads are CPU-bound on the embedded store and one round trip on PostgreSQL: about one worker per core serves
     * them best (more only contend, docs/PERFORMANCE.md); writes wait on commits and locks: a few per core. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    int workers = cfg->workers ? cfg->workers : (int)(4 * cpus < 8 ? 8 : 4 * cpus);
    int read_workers = cfg->read_workers ? cfg->read_workers : (int)(cpus < 2 ? 2 : cpus);
    int pool = cfg->db_pool ? cfg->db_pool : workers + read_workers + 2;
    char err[256] = "";
    struct tk_strategy *strategy = NULL;
    char lock_prefix[64];
    snprintf(lock_prefix, sizeof lock_prefix, "%s:", cfg->redis_prefix);
    struct strategy_config scfg = {
        .retries_max = cfg->lock_retries,
        .redis_url = cfg->redis,
        .redis_nodes = cfg->redis_nodes,
        .prefix = lock_prefix,
        .pool_max = pool,
    };
    if (strategy_open_cfg(cfg->lock, &scfg, &strategy, err, sizeof err) < 0) {
        fprintf(stderr, "ticketd: %s\n", err);
        return 2;
    }
    if (cfg->admin_key[0] && !admin_key_ok(cfg->admin_key)) {
        fprintf(stderr, "ticketd: --admin-key must be 16..128 printable ASCII characters without spaces (a long "
                        "random one: scripts/serve.sh makes one)\n");
        strategy_free(strategy);
        return 2;
    }
    if (cfg->reuse_port && strncmp(cfg->db, "sqlite:", 7) == 0) {
        fprintf(stderr, "ticketd: --reuse-port needs a shared store (--db postgres://…): the embedded store's "
                        "waiting room lives in one process\n");
        strategy_free(strategy);
        return 2;
    }
    if (!strategy->ops->serve_ok || (strategy->ops->one_process && strncmp(cfg->db, "sqlite:", 7))) {
        if (strategy->ops->serve_ok)
            fprintf(stderr, "ticketd: --lock %s is an in-process lock: with a shared store use atomic, "
                            "pessimistic, optimistic or a Redis lock\n", cfg->lock);
        else
            fprintf(stderr, "ticketd: --lock %s is the lock lab's control group and unsafe to serve with\n",
                    cfg->lock);
        strategy_free(strategy);
        return 2;
    }
    struct tk_store *st = NULL;
    if (open_store(cfg, pool, &st) < 0 || seed(st, true) < 0) {
        store_close(st);
        strategy_free(strategy);
        return 1;
    }
    struct admission_policy policy = {
        .max_active = cfg->max_active,
        .admit_per_sec = cfg->admit_per_sec,
        .token_ms = (int64_t)cfg->token_seconds * 1000,
        .idle_ms = (int64_t)cfg->idle_seconds * 1000,
    };
    struct tk_waitroom *wr = NULL;
    int wrc;
    char prefix[64], prefix_rl[64];
    snprintf(prefix, sizeof prefix, "%s:{wr}:", cfg->redis_prefix); /* one hash tag: one cluster slot */
    snprintf(prefix_rl, sizeof prefix_rl, "%s:", cfg->redis_prefix);
    if (cfg->redis[0])
        wrc = waitroom_redis_open(cfg->queue_max, cfg->redis, prefix, pool, &wr, err, sizeof err);
    else if (st->ops->wr_issue) /* a shared store without Redis: the line lives in the store */
        wrc = waitroom_store_open(cfg->queue_max, st, &wr);
    else
        wrc = waitroom_mem_open(cfg->queue_max, &wr);
    if (wrc < 0) {
        fprintf(stderr, "ticketd: cannot open the waiting room: %s\n", err[0] ? err : tk_err_message(wrc));
        store_close(st);
        strategy_free(strategy);
        return 1;
    }
    struct tk_sales *sales = NULL;
    if (sales_new(&sales) < 0) {
        waitroom_free(wr);
        store_close(st);
        strategy_free(strategy);
        return 1;
    }
    struct tk_app app = {
        .store = st,
        .strategy = strategy,
        .waitroom = wr,
        .site_room = {.id = 0, .policy = policy},
        .sales = sales,
        .clock = clock_real(),
        .hold_ms = (int64_t)cfg->hold_seconds * 1000,
        .max_holds_per_user = cfg->max_holds_per_user,
        .refund_cutoff_ms = (int64_t)cfg->refund_cutoff_seconds * 1000,
        .order_hold_ms = (int64_t)cfg->order_hold_seconds * 1000,
        .idempotency_ttl_ms = (int64_t)cfg->idempotency_ttl_seconds * 1000,
        .redis_configured = cfg->redis[0] != 0,
    };
    if (shop_batcher_new(&app.shop_batcher) < 0) /* the shop's combiner of a hot option */
        app.shop_batcher = NULL;
    if (key_cache_new(&app.key_cache) < 0) /* the API keys seen: a Bearer request's lookup, once per key */
        app.key_cache = NULL;
    struct seatcache seats_taken = {0};
    if (seatcache_init(&seats_taken) == TK_OK)
        app.seats_taken = &seats_taken;
    struct seatmap seatmap = {0};
    if (cfg->seat_map_cache_max > 0) {
        if (seatmap_init(&seatmap, cfg->seat_map_cache_max) < 0) {
            fprintf(stderr, "ticketd: out of memory for the seat-map cache\n");
            seatcache_free(&seats_taken);
            sales_free(sales);
            waitroom_free(wr);
            store_close(st);
            strategy_free(strategy);
            return 1;
        }
        app.seatmap = &seatmap;
    }
    struct tk_api api = {.app = &app, .inline_hits = cfg->seat_map_inline != 0};
    snprintf(api.admin_key, sizeof api.admin_key, "%s", cfg->admin_key);

    /* Every connection is a descriptor: lift the soft limit to the hard one (1,024 by default would cap
     * --max-connections far below its default). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }

    /* Signals are taken by sigwait in this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct tk_sweeper *sweeper = NULL;
    struct tk_http_server *http = NULL;
    struct http_server_config hc = {
        .bind = cfg->bind,
        .port = cfg->port,
        .threads = threads,
        .max_connections = cfg->max_connections,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .workers = workers,
        .read_workers = read_workers,
        .queue_max = cfg->executor_queue_max,
        .request_timeout_ms = cfg->request_timeout_ms,
        .max_streams = cfg->max_streams,
        .rate_limit = cfg->rate_limit,
        .rate_burst = cfg->rate_burst,
        .signup_rate = cfg->signup_rate,
        .signup_burst = cfg->signup_burst,
        .issue_rate = cfg->issue_rate,
        .issue_burst = cfg->issue_burst,
        .reuse_port = cfg->reuse_port != 0,
        .redis = cfg->redis,
        .redis_prefix = prefix_rl,
        .redis_pool = pool,
    };
    int rc = sweeper_start(&app, cfg->sweep_ms, &sweeper);
    if (rc == TK_OK)
        rc = api_probe_start(&api, API_PROBE_PERIOD_MS);
    if (rc == TK_OK)
        rc = http_server_start(&hc, &api, &http);
    if (rc == TK_OK) {
        fprintf(stderr, "ticketd: serving on http://%s:%d (store %s, waiting room %s, lock %s, %d event threads, "
                "%d + %d workers, %d store connections)\n",
                cfg->bind, cfg->port, st->ops->name, wr->ops->name, strategy->ops->name, threads, workers,
                read_workers, pool);
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "ticketd: signal %d, shutting down\n", sig);
    }
    http_server_stop(http);
    api_probe_stop(&api);
    sweeper_stop(sweeper);
    seatmap_free(&seatmap);
    seatcache_free(&seats_taken);
    shop_batcher_free(app.shop_batcher);
    key_cache_free(app.key_cache);
    sales_free(sales);
    waitroom_free(wr);
    store_close(st);
    strategy_free(strategy);
    return rc == TK_OK ? 0 : 1;
}

static int print_problem(void *arg, const char *problem)
{
    (void)arg;
    printf("  %s\n", problem);
    return TK_OK;
}

static int cmd_reconcile(const struct tk_config *cfg)
{
    struct tk_store *st = NULL;
    if (open_store(cfg, 2, &st) < 0)
        return 2;
    int problems = 0;
    int64_t now = clock_now_ms(clock_real());
    printf("reconcile: auditing %s\n", cfg->db);
    int rc = reconcile_run(st, now, (int64_t)cfg->grace_seconds * 1000, print_problem, NULL, &problems);
    store_close(st);
    if (rc < 0) {
        fprintf(stderr, "reconcile: the audit could not run: %s\n", tk_err_message(rc));
        return 2;
    }
    if (problems) {
        printf("reconcile: %d discrepancies\n", problems);
        return 1;
    }
    printf("reconcile: ok, every balance equals its ledger, every sold seat has exactly one payment and every "
           "option's stock adds up\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "load") == 0)
        return load_main(argc - 2, argv + 2); /* a client: its own options */
    if (argc > 1 && strcmp(argv[1], "lab") == 0)
        return lab_main(argc - 2, argv + 2);
    struct tk_config cfg;
    char err[256];
    if (config_load(&cfg, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "ticketd: %s\n", err);
        return 2;
    }
    if (cfg.help) {
        config_usage(stdout);
        return 0;
    }
    if (strcmp(cfg.command, "serve") == 0)
        return cmd_serve(&cfg);
    if (strcmp(cfg.command, "migrate") == 0 || strcmp(cfg.command, "seed") == 0) {
        struct tk_store *st = NULL;
        if (open_store(&cfg, 2, &st) < 0)
            return 1;
        int rc = strcmp(cfg.command, "seed") == 0 ? seed(st, false) : TK_OK;
        if (rc == TK_OK && strcmp(cfg.command, "migrate") == 0)
            fprintf(stderr, "ticketd: schema is up to date\n");
        store_close(st);
        return rc < 0 ? 1 : 0;
    }
    if (strcmp(cfg.command, "reconcile") == 0)
        return cmd_reconcile(&cfg);
    fprintf(stderr, "ticketd: '%s' is not built yet\n", cfg.command);
    return 2;
}
