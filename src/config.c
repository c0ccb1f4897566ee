/* config.c — parses settings as data: one table row per setting, with its flag, env name, default and range. */
#include "config.h"
#include "lock/strategy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stddef.h>

enum kind { K_INT, K_STR };

struct setting {
    const char *flag;
    const char *env;
    enum kind kind;
    size_t offset;
    size_t size;      /* for strings */
    const char *def;
    long min, max;    /* for ints */
    const char *help;
};

#define INT_SETTING(f, e, field, d, lo, hi, h) \
    {f, e, K_INT, offsetof(struct tk_config, field), 0, d, lo, hi, h}
#define STR_SETTING(f, e, field, d, h) \
    {f, e, K_STR, offsetof(struct tk_config, field), sizeof(((struct tk_config *)0)->field), d, 0, 0, h}

static const struct setting SETTINGS[] = {
    INT_SETTING("--port", "TICKETD_PORT", port, "8080", 1, 65535, "HTTP port"),
    STR_SETTING("--bind", "TICKETD_BIND", bind, "127.0.0.1", "listen address"),
    STR_SETTING("--db", "TICKETD_DB", db, "sqlite:ticketd.db", "store: sqlite:PATH (embedded)"),
    STR_SETTING("--redis", "TICKETD_REDIS", redis, "", "redis://host:port (unset: in-process waiting room and locks)"),
    STR_SETTING("--lock", "TICKETD_LOCK", lock, "atomic", "contended-write strategy (the list below)"),
    STR_SETTING("--redis-nodes", "TICKETD_REDIS_NODES", redis_nodes, "", "redis://… list for --lock redlock"),
    STR_SETTING("--redis-prefix", "TICKETD_REDIS_PREFIX", redis_prefix, "tk", "namespace of every Redis key"),
    INT_SETTING("--max-active", "TICKETD_MAX_ACTIVE", max_active, "1000", 1, 10000000, "ACTIVE tokens at most"),
    INT_SETTING("--admit-per-sec", "TICKETD_ADMIT_PER_SEC", admit_per_sec, "100", 1, 1000000, "waiters admitted per second at most"),
    INT_SETTING("--token-seconds", "TICKETD_TOKEN_SECONDS", token_seconds, "600", 1, 86400, "lifetime of an ACTIVE token"),
    INT_SETTING("--idle-seconds", "TICKETD_IDLE_SECONDS", idle_seconds, "60", 1, 86400, "a waiter silent this long loses its place"),
    INT_SETTING("--hold-seconds", "TICKETD_HOLD_SECONDS", hold_seconds, "300", 1, 86400, "lifetime of a seat hold"),
    INT_SETTING("--order-hold-seconds", "TICKETD_ORDER_HOLD_SECONDS", order_hold_seconds, "600", 1, 86400,
                "lifetime of a pending shop order (its stock is reserved until then)"),
    INT_SETTING("--max-holds-per-user", "TICKETD_MAX_HOLDS_PER_USER", max_holds_per_user, "4", 1, 50, "seats one user may hold at once"),
    INT_SETTING("--refund-cutoff-seconds", "TICKETD_REFUND_CUTOFF_SECONDS", refund_cutoff_seconds, "86400", 0, 31536000,
                "a payer may refund until this long before the date starts"),
    INT_SETTING("--threads", "TICKETD_THREADS", threads, "0", 0, 256, "HTTP event threads (0: CPUs, at least 2)"),
    INT_SETTING("--workers", "TICKETD_WORKERS", workers, "0", 0, 1024,
                "executor threads for writes (0: 4 x CPUs, at least 8)"),
    INT_SETTING("--read-workers", "TICKETD_READ_WORKERS", read_workers, "0", 0, 1024,
                "executor threads for GET and HEAD, a lane of their own (0: CPUs, at least 2)"),
    INT_SETTING("--executor-queue-max", "TICKETD_EXECUTOR_QUEUE_MAX", executor_queue_max, "20000", 1, 1000000,
                "requests waiting for a worker at most, per lane (then 503 at once)"),
    INT_SETTING("--request-timeout-ms", "TICKETD_REQUEST_TIMEOUT_MS", request_timeout_ms, "10000", 100, 600000,
                "each request's deadline from its arrival (then 503, nothing changed)"),
    INT_SETTING("--db-pool", "TICKETD_DB_POOL", db_pool, "0", 0, 512, "store connections at most (0: workers + read workers + 2)"),
    INT_SETTING("--queue-max", "TICKETD_QUEUE_MAX", queue_max, "1000000", 16, 50000000, "waiting-room capacity"),
    INT_SETTING("--rate-limit", "TICKETD_RATE_LIMIT", rate_limit, "200", 0, 10000000, "requests/s per client (0: off)"),
    INT_SETTING("--rate-burst", "TICKETD_RATE_BURST", rate_burst, "400", 1, 10000000, "burst per client"),
    INT_SETTING("--max-connections", "TICKETD_MAX_CONNECTIONS", max_connections, "10000", 16, 1000000, "open HTTP connections at most"),
    INT_SETTING("--max-streams", "TICKETD_MAX_STREAMS", max_streams, "10000", 1, 1000000,
                "open GET /queue/events streams per instance at most (then 429)"),
    INT_SETTING("--max-connections-per-ip", "TICKETD_MAX_CONNECTIONS_PER_IP", max_connections_per_ip, "256", 1, 1000000,
                "open HTTP connections per client address at most"),
    STR_SETTING("--admin-key", "TICKETD_ADMIN_KEY", admin_key, "",
                "the organizer API's key, 16..128 printable characters (unset: every /admin route is 403)"),
    INT_SETTING("--signup-rate", "TICKETD_SIGNUP_RATE", signup_rate, "2", 0, 1000000,
                "POST /users per client address per second (0: off)"),
    INT_SETTING("--signup-burst", "TICKETD_SIGNUP_BURST", signup_burst, "20", 1, 1000000, "burst of POST /users per address"),
    INT_SETTING("--issue-rate", "TICKETD_ISSUE_RATE", issue_rate, "20", 0, 1000000,
                "POST /queue/issue per client address per second (0: off)"),
    INT_SETTING("--issue-burst", "TICKETD_ISSUE_BURST", issue_burst, "200", 1, 1000000,
                "burst of POST /queue/issue per address"),
    INT_SETTING("--seat-map-cache-max", "TICKETD_SEAT_MAP_CACHE_MAX", seat_map_cache_max, "1024", 0, 1000000,
                "read cache of available-seats/-dates pages (<= 100 ms stale): entries at most (0: off)"),
    INT_SETTING("--seat-map-inline", "TICKETD_SEAT_MAP_INLINE", seat_map_inline, "1", 0, 1,
                "1: answer a read-cache hit on the event thread when it needs no backing service"),
    INT_SETTING("--lock-retries", "TICKETD_LOCK_RETRIES", lock_retries, "20", 0, 1000, "retries of a contended write at most"),
    INT_SETTING("--sweep-ms", "TICKETD_SWEEP_MS", sweep_ms, "250", 10, 60000, "background sweep period"),
    INT_SETTING("--reuse-port", "TICKETD_REUSE_PORT", reuse_port, "0", 0, 1,
                "1: SO_REUSEPORT, several instances share one port (PostgreSQL store only)"),
    INT_SETTING("--idempotency-ttl-seconds", "TICKETD_IDEMPOTENCY_TTL_SECONDS", idempotency_ttl_seconds, "86400", 1,
                30 * 86400, "how long an Idempotency-Key's first response is kept"),
    INT_SETTING("--grace-seconds", "TICKETD_GRACE_SECONDS", grace_seconds, "60", 0, 86400,
                "reconcile: how long past its expiry a hold may still read HELD"),
};
#define N_SETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

static const char *COMMANDS[] = {"serve", "seed", "migrate", "lab", "load", "reconcile"};

static int apply(struct tk_config *cfg, const struct setting *s, const char *value, const char *from,
                 char *errbuf, int errlen)
{
    char *field = (char *)cfg + s->offset;
    if (s->kind == K_STR) {
        if (strlen(value) >= s->size) {
            snprintf(errbuf, (size_t)errlen, "%s: value too long (max %zu)", from, s->size - 1);
            return TK_ERR_INVALID;
        }
        memcpy(field, value, strlen(value) + 1);
        return TK_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < s->min || v > s->max) {
        snprintf(errbuf, (size_t)errlen, "%s: expected an integer in %ld..%ld, got '%s'", from, s->min, s->max, value);
        return TK_ERR_INVALID;
    }
    *(int *)field = (int)v;
    return TK_OK;
}

int config_load(struct tk_config *cfg, int argc, char **argv, char *errbuf, int errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_SETTINGS; i++)
        TK_TRY(apply(cfg, &SETTINGS[i], SETTINGS[i].def, "default", errbuf, errlen));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(SETTINGS[i].env);
        if (v && *v)
            TK_TRY(apply(cfg, &SETTINGS[i], v, SETTINGS[i].env, errbuf, errlen));
    }
    int argi = 1;
    snprintf(cfg->command, sizeof cfg->command, "serve");
    if (argc > 1 && argv[1][0] != '-') {
        bool known = false;
        for (size_t c = 0; c < sizeof COMMANDS / sizeof COMMANDS[0]; c++)
            known = known || strcmp(argv[1], COMMANDS[c]) == 0;
        if (!known) {
            snprintf(errbuf, (size_t)errlen, "unknown command '%s'", argv[1]);
            return TK_ERR_INVALID;
        }
        snprintf(cfg->command, sizeof cfg->command, "%s", argv[1]);
        argi = 2;
    }
    for (; argi < argc; argi++) {
        const char *arg = argv[argi];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->help = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct setting *s = NULL;
        for (size_t i = 0; i < N_SETTINGS && !s; i++)
            if (strlen(SETTINGS[i].flag) == namelen && strncmp(SETTINGS[i].flag, arg, namelen) == 0)
                s = &SETTINGS[i];
        if (!s) {
            snprintf(errbuf, (size_t)errlen, "unknown option '%s' (see --help)", arg);
            return TK_ERR_INVALID;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (argi + 1 >= argc) {
                snprintf(errbuf, (size_t)errlen, "%s needs a value", s->flag);
                return TK_ERR_INVALID;
            }
            value = argv[++argi];
        }
        TK_TRY(apply(cfg, s, value, s->flag, errbuf, errlen));
    }
    return TK_OK;
}

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: ticketd [serve|seed|migrate|lab|load|reconcile] [options]\n\n"
            "  serve      run the HTTP API (default)\n"
            "  seed       create demo concerts, dates and seats (once)\n"
            "  migrate    create or upgrade the schema\n"
            "  reconcile  audit the ledger: exits 1 and lists every discrepancy found\n"
            "  load       the HTTP load generator (ticketd load --help)\n"
            "  lab        the lock lab: scenarios x strategies (ticketd lab --help)\n\n"
            "options (flag, environment variable, default):\n");
    for (size_t i = 0; i < N_SETTINGS; i++)
        fprintf(out, "  %-22s %-28s %-18s %s\n", SETTINGS[i].flag, SETTINGS[i].env,
                *SETTINGS[i].def ? SETTINGS[i].def : "(unset)", SETTINGS[i].help);
    fprintf(out, "\n--lock strategies (docs/LAB.md):\n");
    for (int i = 0; i < strategy_count(); i++) {
        const struct tk_strategy_ops *s = strategy_at(i);
        fprintf(out, "  %-14s %s%s%s\n", s->name, !s->serve_ok ? "the lab's control group, not for serve" : "",
                s->needs_redis ? (s->needs_nodes ? "needs --redis-nodes" : "needs --redis") : "",
                s->one_process ? "one process only (embedded store)" : "");
    }
}
