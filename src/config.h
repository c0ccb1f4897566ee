/* config.h — every setting of ticketd: defaults, then TICKETD_* environment variables, then flags.
 * The names are fixed by the HTTP contract (shared/API.md, "Configuration"); extra settings that the
 * contract does not name are documented in docs/CONFIG.md. Every limit has a maximum here. */
#ifndef TK_CONFIG_H
#define TK_CONFIG_H

#include <stdbool.h>
#include "util/err.h"

struct tk_config {
    char command[16];     /* serve | seed | migrate | lab | load | reconcile */
    char bind[64];        /* --bind, TICKETD_BIND: listen address (127.0.0.1) */
    int port;             /* --port, TICKETD_PORT */
    char db[512];         /* --db, TICKETD_DB: sqlite:PATH */
    char redis[256];      /* --redis, TICKETD_REDIS: unset = in-process */
    char lock[32];        /* --lock, TICKETD_LOCK: contended-write strategy */
    char redis_prefix[48]; /* --redis-prefix: namespace of every Redis key (instances sharing one line share it) */
    char redis_nodes[512]; /* --redis-nodes: independent Redis nodes for --lock redlock */
    int max_active;       /* --max-active */
    int admit_per_sec;    /* --admit-per-sec */
    int token_seconds;    /* --token-seconds */
    int idle_seconds;     /* --idle-seconds */
    int hold_seconds;     /* --hold-seconds */
    int order_hold_seconds; /* --order-hold-seconds: a PENDING shop order keeps its stock this long */
    int max_holds_per_user; /* --max-holds-per-user */
    int refund_cutoff_seconds; /* --refund-cutoff-seconds */
    int threads;          /* --threads: HTTP worker threads (0 = number of CPUs, at least 2) */
    int workers;          /* --workers: executor threads for writes (0 = 4 x CPUs, at least 8) */
    int read_workers;     /* --read-workers: executor threads for GET/HEAD (0 = CPUs, at least 2) */
    int executor_queue_max; /* --executor-queue-max: requests waiting for a worker, per lane */
    int request_timeout_ms; /* --request-timeout-ms: each request's deadline */
    int db_pool;          /* --db-pool: store connections (0 = workers + read workers + 2) */
    int queue_max;        /* --queue-max: waiting-room capacity */
    int rate_limit;       /* --rate-limit: requests/s per client, 0 = off */
    int rate_burst;       /* --rate-burst */
    int max_connections;  /* --max-connections: open HTTP connections */
    int max_connections_per_ip; /* --max-connections-per-ip */
    int max_streams;      /* --max-streams: open event streams per instance */
    char admin_key[129];  /* --admin-key: the organizer API's key ("" = off) */
    int signup_rate, signup_burst; /* --signup-rate/--signup-burst: POST /users per address */
    int issue_rate, issue_burst;   /* --issue-rate/--issue-burst: POST /queue/issue per address */
    int seat_map_cache_max; /* --seat-map-cache-max: read-cache entries (core/seatmap.h), 0 = off */
    int seat_map_inline;  /* --seat-map-inline 1: cache hits answered on the event thread where possible */
    int lock_retries;     /* --lock-retries: bounded retries for optimistic writes and lock waits */
    int sweep_ms;         /* --sweep-ms: background sweep period */
    int reuse_port;       /* --reuse-port 1: SO_REUSEPORT, several instances on one port (shared stores only) */
    int idempotency_ttl_seconds; /* --idempotency-ttl-seconds: how long a key's first response is kept */
    int grace_seconds;    /* --grace-seconds (reconcile): how stale a HELD hold or PENDING claim may be */
    bool help;
};

/* Fills cfg from defaults, the environment and argv (argv[1] is the subcommand). On error writes a
 * readable message to errbuf and returns TK_ERR_INVALID. */
int config_load(struct tk_config *cfg, int argc, char **argv, char *errbuf, int errlen) TK_MUST_CHECK;
/* Prints --help text. */
void config_usage(FILE *out);

#endif
