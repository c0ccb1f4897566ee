/* pg.c — the shared store: PostgreSQL through libpq, for any number of ticketd instances.
 *
 * Connections come from a bounded pool (pool_max; a caller waits at most POOL_WAIT_MS, then 503). A
 * connection that fails, or that the server ended while it sat in the pool, is marked broken and re-established
 * (PQreset) on its next use, so an instance rides out a database restart without being restarted itself:
 * requests in between get TK_ERR_UNAVAILABLE (503) and change nothing. Every statement is prepared once per
 * connection; every session has a statement_timeout.
 *
 * The default (atomic) writes are single round trips (one statement, or one call of a PL/pgSQL function in
 * pg_schema.h), so no row lock outlives a round trip. The pessimistic charge keeps the classic client-side
 * BEGIN; SELECT … FOR UPDATE; UPDATE; COMMIT, and the optimistic and unsafe modes pre-read outside the
 * transaction: the lock lab measures exactly those shapes.
 *
 * Migrations and seeding take a transaction-scoped advisory lock, so instances starting together apply them
 * once; the hold sweep uses FOR UPDATE SKIP LOCKED and conditional updates, so it is safe on every instance.
 */
#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include "util/money.h"
#include "util/exec.h"
#include "store/pg_schema.h"

#define POOL_WAIT_MS 5000
#define STATEMENT_TIMEOUT_MS 5000
/* A row or advisory lock is waited for at most this long (lock_timeout), then the request is handed back to
 * the executor and run again after a backoff, so a lock held for long elsewhere (a LOCK TABLE, a slow
 * transaction) pins neither a worker nor a connection. Migrations and seeding wait without a limit. */
#define LOCK_WAIT_MS 50
/* A caller that cannot be re-scheduled (off a worker, or in a no-defer scope: the steps after a committed effect)
 * waits for a lock in place, up to the statement timeout. */
#define LOCK_WAIT_IN_PLACE_MS STATEMENT_TIMEOUT_MS
#define WORKER_RETRY_BASE_US 1000
#define WORKER_RETRY_CAP_US 50000
#define MIGRATION_LOCK_ID 727001
#define PG_PARAMS_MAX 16

enum pst {
    P_PING, P_USER_INSERT, P_USER_BY_KEY, P_USER_GET,
    P_CHARGE_ATOMIC, P_CHARGE_CAS, P_CHARGE_BLIND, P_USER_LOCK, P_USER_SET, P_LEDGER_INSERT,
    P_CONCERTS, P_CONCERT_EXISTS, P_SCHEDULES, P_SCHEDULE_EXISTS, P_SCHEDULE_LIVE, P_SEATS_AVAIL, P_SEAT_MAP, P_SEAT_GET,
    P_HOLD, P_PAY, P_TRANSFER, P_LEDGER_LIST, P_EXPIRE_HOLDS,
    P_IDEM_GET, P_IDEM_DELETE_EXPIRED, P_IDEM_INSERT, P_IDEM_COMPLETE, P_IDEM_RELEASE, P_IDEM_EXPIRE,
    P_IDEM_APPLY, P_IDEM_TAKEOVER, P_EFFECT_CHARGE, P_EFFECT_TRANSFER, P_EFFECT_HOLD, P_EFFECT_PAYMENT,
    P_CONCERT_INSERT, P_CONCERT_NAME, P_SCHEDULE_INSERT, P_SEATS_INSERT, P_SALE_INSERT, P_SALE_GET, P_SALE_LOCK,
    P_SALE_UPDATE, P_SALES_LIST, P_SEAT_COUNTS, P_OWNER_SCHEDULE, P_OWNER_SEAT, P_OWNER_RESERVATION,
    /* orders (issue 11) */
    P_HOLD_SEATS, P_RS_LIST, P_CANCEL_HOLD, P_REFUND, P_PAY_GET, P_PAYMENTS_LIST, P_SCHED_CANCEL, P_SCHED_REFUND,
    P__COUNT
};

static const char *const PSQL[P__COUNT] = {
    [P_PING] = "SELECT 1",
    [P_USER_INSERT] = "INSERT INTO users(name, api_key_sha256, created_at) VALUES ($1, $2, $3) RETURNING id",
    [P_USER_BY_KEY] = "SELECT id FROM users WHERE api_key_sha256 = $1",
    [P_USER_GET] = "SELECT id, name, balance, version FROM users WHERE id = $1",
    [P_CHARGE_ATOMIC] = "WITH u AS (UPDATE users SET balance = balance + $2, version = version + 1 "
                        "WHERE id = $1 AND balance <= $3 RETURNING id, balance), l AS ("
                        "INSERT INTO ledger(user_id, kind, amount, balance_after, created_at) "
                        "SELECT id, 'CHARGE', $2, balance, $4 FROM u RETURNING balance_after, id) "
                        "SELECT balance_after, id, tk_idem_apply($1, $5, $6, 'ledger:' || id) FROM l",
    [P_CHARGE_CAS] = "WITH u AS (UPDATE users SET balance = $3, version = version + 1 "
                     "WHERE id = $1 AND version = $4 RETURNING id, balance), l AS ("
                     "INSERT INTO ledger(user_id, kind, amount, balance_after, created_at) "
                     "SELECT id, 'CHARGE', $2, balance, $5 FROM u RETURNING balance_after, id) "
                     "SELECT balance_after, id, tk_idem_apply($1, $6, $7, 'ledger:' || id) FROM l",
    [P_CHARGE_BLIND] = "WITH u AS (UPDATE users SET balance = $3, version = version + 1 "
                       "WHERE id = $1 RETURNING id, balance), l AS ("
                       "INSERT INTO ledger(user_id, kind, amount, balance_after, created_at) "
                       "SELECT id, 'CHARGE', $2, balance, $4 FROM u RETURNING balance_after, id) "
                       "SELECT balance_after, id, tk_idem_apply($1, $5, $6, 'ledger:' || id) FROM l",
    [P_USER_LOCK] = "SELECT balance FROM users WHERE id = $1 FOR UPDATE",
    [P_USER_SET] = "UPDATE users SET balance = $2, version = version + 1 WHERE id = $1",
    [P_LEDGER_INSERT] = "INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) "
                        "VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6) RETURNING id",
    [P_CONCERTS] = "SELECT id, name FROM concerts ORDER BY id",
    [P_CONCERT_EXISTS] = "SELECT 1 FROM concerts WHERE id = $1",
    [P_SCHEDULES] = "SELECT sc.id, sc.concert_id, c.name, sc.starts_at, sc.total_seats, "
                    "(SELECT count(*) FROM seats s WHERE s.schedule_id = sc.id "
                    "   AND (s.sold_to IS NOT NULL OR s.hold_expires_at > $1)) "
                    "FROM schedules sc JOIN concerts c ON c.id = sc.concert_id "
                    "WHERE ($3 = 1 OR sc.starts_at > $1) AND NOT sc.cancelled AND ($2 = 0 OR sc.concert_id = $2) "
                    "ORDER BY sc.starts_at, sc.id",
    [P_SCHEDULE_EXISTS] = "SELECT 1 FROM schedules WHERE id = $1",
    [P_SCHEDULE_LIVE] = "SELECT 1 FROM schedules WHERE id = $1 AND NOT cancelled", /* a cancelled date: NOT_FOUND */
    [P_SEATS_AVAIL] = "SELECT s.id, s.seat_number, s.price, COALESCE(s.category, '') FROM seats s "
                      "JOIN schedules sc ON sc.id = s.schedule_id AND NOT sc.cancelled WHERE s.schedule_id = $1 "
                      "AND s.sold_to IS NULL AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= $2) "
                      "ORDER BY s.seat_number",
    /* the seat map: 2 SOLD, 1 HELD, 0 FREE (enum tk_seat_status); a cancelled date has no rows */
    [P_SEAT_MAP] = "SELECT s.id, s.seat_number, s.price, COALESCE(s.category, ''), "
                   "CASE WHEN s.sold_to IS NOT NULL THEN 2 WHEN s.hold_expires_at > $2 THEN 1 ELSE 0 END "
                   "FROM seats s JOIN schedules sc ON sc.id = s.schedule_id "
                   "WHERE s.schedule_id = $1 AND NOT sc.cancelled ORDER BY s.seat_number",
    [P_SEAT_GET] = "SELECT s.sold_to IS NOT NULL, COALESCE(s.hold_expires_at, 0), s.version, "
                   "CASE WHEN sc.cancelled THEN 0 ELSE sc.starts_at END FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE s.id = $1",
    [P_HOLD] = "SELECT 1", /* tk_hold was replaced by tk_hold_seats (PG_SCHEMA_ORDERS) */
    [P_PAY] = "SELECT * FROM tk_pay($1, $2, $3, $4, $5, $6)",
    [P_TRANSFER] = "SELECT * FROM tk_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    [P_LEDGER_LIST] = "SELECT id, kind, amount, balance_after, COALESCE(ref, ''), created_at FROM ledger "
                      "WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    [P_EXPIRE_HOLDS] = "WITH due AS (SELECT id, seat_id FROM reservations WHERE status = 'HELD' AND expires_at <= $1 "
                       "  ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
                       "r AS (UPDATE reservations SET status = 'EXPIRED' FROM due WHERE reservations.id = due.id "
                       "  RETURNING due.id, due.seat_id), "
                       "s AS (UPDATE seats SET held_by = NULL, hold_expires_at = NULL, hold_id = NULL FROM r "
                       "  JOIN reservation_seats rs ON rs.reservation_id = r.id "
                       "  WHERE seats.id = rs.seat_id AND seats.hold_id = r.id AND seats.sold_to IS NULL "
                       "  AND seats.hold_expires_at <= $1 RETURNING 1) "
                       "SELECT count(*) FROM r",
    [P_IDEM_GET] = "SELECT state, request_hash, COALESCE(status, 0), COALESCE(body, ''), expires_at, claim, created_at, "
                   "COALESCE(effect_ref, '') FROM idempotency WHERE user_id = $1 AND key = $2",
    [P_IDEM_DELETE_EXPIRED] = "DELETE FROM idempotency WHERE user_id = $1 AND key = $2 AND expires_at <= $3",
    [P_IDEM_INSERT] = "INSERT INTO idempotency(user_id, key, request_hash, state, created_at, expires_at, claim) "
                      "VALUES ($1, $2, $3, 'PENDING', $4, $5, $6) ON CONFLICT DO NOTHING",
    [P_IDEM_COMPLETE] = "UPDATE idempotency SET state = 'DONE', status = $3, body = $4, "
                        "effect_ref = CASE WHEN COALESCE(effect_ref, '') = '' THEN $5 ELSE effect_ref END "
                        "WHERE user_id = $1 AND key = $2 AND state = 'PENDING' AND claim = $6",
    [P_IDEM_RELEASE] = "DELETE FROM idempotency WHERE user_id = $1 AND key = $2 AND state = 'PENDING' AND claim = $3 "
                       "AND COALESCE(effect_ref, '') = ''",
    [P_IDEM_APPLY] = "SELECT tk_idem_apply($1, $2, $3, $4)",
    [P_IDEM_TAKEOVER] = "UPDATE idempotency SET claim = $4, created_at = $5 WHERE user_id = $1 AND key = $2 "
                        "AND claim = $3 AND state = 'PENDING' AND COALESCE(effect_ref, '') = ''",
    [P_EFFECT_CHARGE] = "SELECT balance_after FROM ledger WHERE id = $1 AND user_id = $2 AND kind = 'CHARGE'",
    [P_EFFECT_TRANSFER] = "SELECT t.id, t.from_user, t.to_user, t.amount, l.balance_after FROM transfers t "
                          "JOIN ledger l ON l.ref = 'transfer:' || t.id AND l.kind = 'TRANSFER_OUT' "
                          "WHERE t.id = $1 AND t.from_user = $2",
    [P_EFFECT_HOLD] = "SELECT r.id, r.seat_id, s.schedule_id, s.seat_number, s.price, r.expires_at FROM reservations r "
                      "JOIN seats s ON s.id = r.seat_id WHERE r.id = $1 AND r.user_id = $2",
    [P_EFFECT_PAYMENT] = "SELECT p.id, p.reservation_id, p.seat_id, s.seat_number, c.name, sc.starts_at, p.amount, "
                         "l.balance_after FROM payments p JOIN seats s ON s.id = p.seat_id "
                         "JOIN schedules sc ON sc.id = s.schedule_id JOIN concerts c ON c.id = sc.concert_id "
                         "JOIN ledger l ON l.ref = 'payment:' || p.id AND l.kind = 'PAYMENT' "
                         "WHERE p.id = $1 AND p.user_id = $2",
    [P_CONCERT_INSERT] = "INSERT INTO concerts(name) VALUES ($1) RETURNING id",
    [P_CONCERT_NAME] = "SELECT name FROM concerts WHERE id = $1",
    [P_SCHEDULE_INSERT] = "INSERT INTO schedules(concert_id, starts_at, total_seats) VALUES ($1, $2, $3) RETURNING id",
    [P_SEATS_INSERT] = "INSERT INTO seats(schedule_id, seat_number, price, category) "
                       "SELECT $1, g, $4, NULLIF($5, '') FROM generate_series($2::int, $3::int) g",
    [P_SALE_INSERT] = "INSERT INTO sales(concert_id, state, opens_at, max_active, admit_per_sec, token_seconds) "
                      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (concert_id) DO NOTHING RETURNING id",
    [P_SALE_GET] = "SELECT id, concert_id, state, opens_at, max_active, admit_per_sec, token_seconds FROM sales "
                   "WHERE id = $1",
    [P_SALE_LOCK] = "SELECT id, concert_id, state, opens_at, max_active, admit_per_sec, token_seconds FROM sales "
                    "WHERE id = $1 FOR UPDATE",
    [P_SALE_UPDATE] = "UPDATE sales SET max_active = $2, admit_per_sec = $3, state = $4 WHERE id = $1",
    [P_SALES_LIST] = "SELECT id, concert_id, state, opens_at, max_active, admit_per_sec, token_seconds FROM sales "
                     "ORDER BY id LIMIT $1",
    [P_SEAT_COUNTS] = "SELECT count(*) FILTER (WHERE s.sold_to IS NULL AND COALESCE(s.hold_expires_at, 0) <= $2), "
                      "count(*) FILTER (WHERE s.sold_to IS NULL AND s.hold_expires_at > $2), "
                      "count(*) FILTER (WHERE s.sold_to IS NOT NULL) "
                      "FROM seats s JOIN schedules sc ON sc.id = s.schedule_id "
                      "WHERE sc.concert_id = $1 AND sc.starts_at > $2",
    [P_OWNER_SCHEDULE] = "SELECT concert_id FROM schedules WHERE id = $1",
    [P_OWNER_SEAT] = "SELECT sc.concert_id FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE s.id = $1",
    [P_OWNER_RESERVATION] = "SELECT sc.concert_id FROM reservations r JOIN seats s ON s.id = r.seat_id "
                            "JOIN schedules sc ON sc.id = s.schedule_id WHERE r.id = $1",
    [P_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE ctid IN "
                      "(SELECT ctid FROM idempotency WHERE expires_at <= $1 LIMIT $2)",
    /* orders (issue 11) */
    [P_HOLD_SEATS] = "SELECT code, res_id, busy_until, array_to_string(unavailable, ',') "
                     "FROM tk_hold_seats($1, $2::bigint[], $3, $4, $5, $6, $7::bigint[], $8, $9)",
    [P_RS_LIST] = "SELECT se.id, se.seat_number, se.price, COALESCE(se.category, ''), se.schedule_id "
                  "FROM reservation_seats rs JOIN seats se ON se.id = rs.seat_id WHERE rs.reservation_id = $1 ORDER BY se.id",
    [P_CANCEL_HOLD] = "SELECT code FROM tk_cancel_hold($1, $2, $3, $4)",
    [P_REFUND] = "SELECT code, balance FROM tk_refund($1, $2, $3, $4, $5, $6, $7)",
    [P_PAY_GET] = "SELECT p.id, p.reservation_id, p.seat_id, p.user_id, p.amount, p.status, p.created_at, sc.starts_at, "
                  "c.name, CASE WHEN p.status = 'REFUNDED' THEN COALESCE((SELECT l.balance_after FROM ledger l "
                  "WHERE l.ref = 'refund:' || p.id AND l.kind = 'REFUND'), 0) ELSE COALESCE((SELECT l.balance_after "
                  "FROM ledger l WHERE l.ref = 'payment:' || p.id AND l.kind = 'PAYMENT'), 0) END "
                  "FROM payments p JOIN seats s ON s.id = p.seat_id JOIN schedules sc ON sc.id = s.schedule_id "
                  "JOIN concerts c ON c.id = sc.concert_id WHERE p.id = $1",
    /* a payment's seats are of one date: its first seat (payments.seat_id) names it */
    [P_PAYMENTS_LIST] = "SELECT p.id FROM payments p JOIN seats s ON s.id = p.seat_id "
                        "WHERE ($1 = 0 OR p.user_id = $1) AND ($3 = 0 OR s.schedule_id = $3) "
                        "ORDER BY p.id DESC LIMIT $2",
    [P_SCHED_CANCEL] = "UPDATE schedules SET cancelled = true WHERE id = $1 RETURNING id",
    [P_SCHED_REFUND] = "SELECT tk_refund_schedule($1, $2, $3, $4)",
};

struct pg_conn {
    PGconn *c;
    uint64_t prepared; /* bit i: PSQL[i] is prepared on this connection */
    uint64_t prepared_shop; /* bit i: SHOP_PSQL[i] (the shop's section) is prepared on this connection */
    bool broken;
    bool logged_down;  /* the outage was logged once for this connection */
    bool long_lock_wait; /* lock_timeout is LOCK_WAIT_IN_PLACE_MS (a caller that cannot hand its request back) */
    struct pg_conn *next_free;
};

struct pg_store {
    struct tk_store base;
    char url[512];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pg_conn *free_list;
    int open_count;
    int pool_max;
};

_Static_assert(P__COUNT <= 64, "prepared bitmap");

static struct pg_store *PG(struct tk_store *st) { return (struct pg_store *)st; }

/* ---------- parameters ---------- */

struct params {
    const char *v[PG_PARAMS_MAX];
    char buf[PG_PARAMS_MAX][24];
    int n;
};

static void p_i64(struct params *p, int64_t x)
{
    TK_ASSERT(p->n < PG_PARAMS_MAX);
    snprintf(p->buf[p->n], sizeof p->buf[0], "%lld", (long long)x);
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

/* A double in text that reads back exactly (17 significant digits). */
static void p_f64(struct params *p, double x)
{
    TK_ASSERT(p->n < PG_PARAMS_MAX);
    snprintf(p->buf[p->n], sizeof p->buf[0], "%.17g", x);
    p->v[p->n] = p->buf[p->n];
    p->n++;
}

static void p_str(struct params *p, const char *s)
{
    TK_ASSERT(p->n < PG_PARAMS_MAX);
    p->v[p->n++] = s;
}

static int64_t col_i64(const PGresult *r, int row, int col) { return strtoll(PQgetvalue(r, row, col), NULL, 10); }

/* ---------- connections and errors ---------- */

static PGconn *connect_db(const char *url)
{
    char opts[128];
    snprintf(opts, sizeof opts, "-c statement_timeout=%d -c lock_timeout=%d -c client_min_messages=warning",
             STATEMENT_TIMEOUT_MS, LOCK_WAIT_MS);
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *vals[] = {url, "3", opts, "ticketd", NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* A pooled connection is idle: the server has nothing to say on it unless it ended it (a restart sends a FATAL,
 * then closes). One non-blocking poll at check-out sees that before a statement goes out on a dead link, so the
 * first requests after the database comes back do not fail one per stale connection. Any readable byte counts:
 * ticketd never LISTENs, so an idle session gets no notifications; a needless reconnect is the worst case. */
static bool idle_link_ended(PGconn *c)
{
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    if (p.fd < 0)
        return true;
    return poll(&p, 1, 0) > 0;
}

static int conn_get(struct pg_store *s, struct pg_conn **out)
{
    pthread_mutex_lock(&s->mu);
    int64_t wait_ms = exec_remaining_ms() < POOL_WAIT_MS ? exec_remaining_ms() : POOL_WAIT_MS;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    int64_t ns = deadline.tv_nsec + wait_ms * 1000000;
    deadline.tv_sec += ns / 1000000000;
    deadline.tv_nsec = ns % 1000000000;
    while (!s->free_list && s->open_count >= s->pool_max) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            return TK_ERR_UNAVAILABLE;
        }
    }
    struct pg_conn *c = s->free_list;
    if (c)
        s->free_list = c->next_free;
    else
        s->open_count++;
    pthread_mutex_unlock(&s->mu);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (c)
            c->c = connect_db(s->url);
        if (!c || !c->c) {
            if (c)
                free(c);
            pthread_mutex_lock(&s->mu);
            s->open_count--;
            pthread_cond_signal(&s->cv);
            pthread_mutex_unlock(&s->mu);
            return TK_ERR_NOMEM;
        }
    }
    if (!c->broken && idle_link_ended(c->c))
        c->broken = true; /* the server ended it while it sat in the pool (a restart): reconnect before use */
    if (c->broken || PQstatus(c->c) != CONNECTION_OK) {
        PQreset(c->c); /* reconnect: the database may have come back */
        c->prepared = 0;
        c->prepared_shop = 0;
        c->logged_down = false;
        c->long_lock_wait = false; /* the connection options set LOCK_WAIT_MS again */
        c->broken = PQstatus(c->c) != CONNECTION_OK;
    }
    bool in_place = !exec_on_worker();
    if (!c->broken && in_place != c->long_lock_wait) { /* one round trip, only when the kind of caller changes */
        char set[48];
        snprintf(set, sizeof set, "SET lock_timeout = %d", in_place ? LOCK_WAIT_IN_PLACE_MS : LOCK_WAIT_MS);
        PGresult *r = PQexec(c->c, set);
        if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
            c->long_lock_wait = in_place;
        else
            c->broken = true;
        PQclear(r);
    }
    *out = c;
    if (c->broken) {
        *out = NULL;
        pthread_mutex_lock(&s->mu);
        c->next_free = s->free_list;
        s->free_list = c;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return TK_ERR_UNAVAILABLE;
    }
    return TK_OK;
}

static void conn_put(struct pg_store *s, struct pg_conn *c)
{
    if (!c->broken && PQtransactionStatus(c->c) != PQTRANS_IDLE)
        c->broken = true; /* never hand on a connection in the middle of a transaction */
    pthread_mutex_lock(&s->mu);
    c->next_free = s->free_list;
    s->free_list = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Maps a failed result to an error; marks the connection broken when the link is the problem. */
static int pg_fail(struct pg_conn *c, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int rc;
    if (!state || PQstatus(c->c) != CONNECTION_OK) {
        c->broken = true;
        rc = TK_ERR_UNAVAILABLE;
    } else if (strcmp(state, "TK004") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        rc = TK_ERR_CONFLICT;
    } else if (strcmp(state, "55P03") == 0) { /* lock_timeout: someone holds the lock for long */
        /* on a worker: run the request again after a backoff (TK_ERR_BUSY); elsewhere it is an outage */
        rc = exec_on_worker() ? exec_defer_backoff(WORKER_RETRY_BASE_US, WORKER_RETRY_CAP_US) : TK_ERR_UNAVAILABLE;
    } else if (strcmp(state, "TK006") == 0) {
        rc = TK_ERR_HOLD_LIMIT;
    } else if (strcmp(state, "TK009") == 0) {
        rc = TK_ERR_HOLD_EXPIRED;
    } else if (strcmp(state, "TK010") == 0) {
        rc = TK_ERR_CLAIM_LOST;
    } else if (strcmp(state, "23514") == 0) {
        rc = TK_ERR_INSUFFICIENT_BALANCE; /* balance >= 0 refused a write */
    } else if (strcmp(state, "22003") == 0) {
        rc = TK_ERR_OVERFLOW;
    } else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 || strncmp(state, "53", 2) == 0) {
        c->broken = strncmp(state, "57014", 5) != 0; /* a timeout leaves the link usable */
        rc = TK_ERR_UNAVAILABLE;
    } else {
        rc = TK_ERR_INTERNAL;
    }
    if (rc == TK_ERR_INTERNAL || (rc == TK_ERR_UNAVAILABLE && !c->logged_down))
        fprintf(stderr, "ticketd: postgres %.60s…: %s %s", what, state ? state : "(no state)",
                r ? PQresultErrorMessage(r) : PQerrorMessage(c->c));
    c->logged_down = rc == TK_ERR_UNAVAILABLE;
    return rc;
}

/* Runs prepared statement id; on success *out holds the result (caller PQclears), else an error. */
static int run(struct pg_conn *c, enum pst id, const struct params *p, PGresult **out)
{
    *out = NULL; /* on every path: a caller's result pointer is never left unset */
    char name[8];
    snprintf(name, sizeof name, "p%d", (int)id);
    if (!(c->prepared & (1ULL << id))) {
        PGresult *r = PQprepare(c->c, name, PSQL[id], 0, NULL);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = pg_fail(c, r, PSQL[id]);
            PQclear(r);
            return rc;
        }
        PQclear(r);
        c->prepared |= 1ULL << id;
    }
    PGresult *r = PQexecPrepared(c->c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        int rc = pg_fail(c, r, PSQL[id]);
        PQclear(r);
        return rc;
    }
    *out = r;
    return TK_OK;
}

/* Runs a statement and throws the result away. */
static int run_void(struct pg_conn *c, enum pst id, const struct params *p)
{
    PGresult *r;
    TK_TRY(run(c, id, p, &r));
    PQclear(r);
    return TK_OK;
}

/* Runs plain SQL (transaction control, DDL); 0 or an error. */
static int exec_sql(struct pg_conn *c, const char *sql)
{
    PGresult *r = PQexec(c->c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? TK_OK : pg_fail(c, r, sql);
    PQclear(r);
    return rc;
}

static void rollback(struct pg_conn *c)
{
    if (!c->broken && PQtransactionStatus(c->c) == PQTRANS_INTRANS)
        (void)exec_sql(c, "ROLLBACK");
}

typedef int (*pg_fn)(struct pg_conn *c, void *arg);
static int shop_seed(struct pg_conn *c, int64_t now_ms, bool *seeded); /* the shop's section */

/* Runs fn on a pooled connection. fn owns any transaction it opens and must end it (rollback on error). */
static int with_conn(struct pg_store *s, pg_fn fn, void *arg)
{
    struct pg_conn *c;
    TK_TRY(conn_get(s, &c));
    int rc = fn(c, arg);
    if (rc < 0)
        rollback(c);
    conn_put(s, c);
    return rc;
}

/* fn inside BEGIN … COMMIT. */
struct txn_call {
    pg_fn fn;
    void *arg;
};

static int txn_fn(struct pg_conn *c, void *argp)
{
    struct txn_call *t = argp;
    TK_TRY(exec_sql(c, "BEGIN"));
    int rc = t->fn(c, t->arg);
    if (rc == TK_OK)
        rc = exec_sql(c, "COMMIT");
    return rc;
}

static int with_txn(struct pg_store *s, pg_fn fn, void *arg)
{
    struct txn_call t = {.fn = fn, .arg = arg};
    return with_conn(s, txn_fn, &t);
}

/* ---------- schema and demo data ---------- */

static int migrate_fn(struct pg_conn *c, void *arg)
{
    (void)arg;
    char lock[96];
    snprintf(lock, sizeof lock, "SET LOCAL lock_timeout = 0; SELECT pg_advisory_xact_lock(%d)", MIGRATION_LOCK_ID);
    TK_TRY(exec_sql(c, lock));
    TK_TRY(exec_sql(c, "CREATE TABLE IF NOT EXISTS tk_schema(version INT NOT NULL)"));
    PGresult *r = PQexec(c->c, "SELECT COALESCE(max(version), 0) FROM tk_schema");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, r, "schema version");
        PQclear(r);
        return rc;
    }
    int version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    static const char *const MIGRATIONS[] = {PG_SCHEMA_V1, PG_SCHEMA_V2, PG_SCHEMA_SALES, PG_SCHEMA_V3,
                                             PG_SCHEMA_ORDERS, PG_SCHEMA_SHOP, PG_SCHEMA_ADMIT};
    const int latest = (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]);
    for (; version < latest; version++)
        TK_TRY(exec_sql(c, MIGRATIONS[version]));
    char set[96];
    snprintf(set, sizeof set, "DELETE FROM tk_schema; INSERT INTO tk_schema(version) VALUES (%d)", latest);
    return exec_sql(c, set);
}

static int pg_migrate(struct tk_store *st) { return with_txn(PG(st), migrate_fn, NULL); }

struct seed_args {
    int64_t now_ms;
    bool seeded;
};

static int seed_fn(struct pg_conn *c, void *argp)
{
    struct seed_args *a = argp;
    char lock[96];
    snprintf(lock, sizeof lock, "SET LOCAL lock_timeout = 0; SELECT pg_advisory_xact_lock(%d)", MIGRATION_LOCK_ID + 1);
    TK_TRY(exec_sql(c, lock));
    TK_TRY(shop_seed(c, a->now_ms, &a->seeded)); /* the demo merchandise, once (when there are no products) */
    PGresult *r = PQexec(c->c, "SELECT count(*) FROM concerts");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, r, "seed count");
        PQclear(r);
        return rc;
    }
    int64_t n = col_i64(r, 0, 0);
    PQclear(r);
    if (n > 0)
        return TK_OK;
    for (int ci = 0; ci < STORE_DEMO_CONCERT_COUNT; ci++) {
        const char *cv[1] = {STORE_DEMO_CONCERTS[ci].name};
        r = PQexecParams(c->c, "INSERT INTO concerts(name) VALUES ($1) RETURNING id", 1, NULL, cv, NULL, NULL, 0);
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
            int rc = pg_fail(c, r, "seed concert");
            PQclear(r);
            return rc;
        }
        int64_t concert_id = col_i64(r, 0, 0);
        PQclear(r);
        for (int d = 0; d < 3; d++) {
            char sql[512];
            snprintf(sql, sizeof sql, "INSERT INTO schedules(concert_id, starts_at, total_seats) "
                                      "VALUES (%lld, %lld, %d) RETURNING id",
                     (long long)concert_id,
                     (long long)store_demo_starts_at_ms(a->now_ms, STORE_DEMO_CONCERTS[ci].days_ahead[d]),
                     STORE_DEMO_SEATS);
            r = PQexec(c->c, sql);
            if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
                int rc = pg_fail(c, r, "seed schedule");
                PQclear(r);
                return rc;
            }
            int64_t schedule_id = col_i64(r, 0, 0);
            PQclear(r);
            for (int seat = 1; seat <= STORE_DEMO_SEATS; seat++) {
                snprintf(sql, sizeof sql, "INSERT INTO seats(schedule_id, seat_number, price) VALUES (%lld, %d, %lld)",
                         (long long)schedule_id, seat, (long long)store_demo_price_won(seat));
                TK_TRY(exec_sql(c, sql));
            }
        }
        if (STORE_DEMO_CONCERTS[ci].on_sale) {
            char sql[256];
            snprintf(sql, sizeof sql, "INSERT INTO sales(concert_id, state, opens_at, max_active, admit_per_sec, "
                                      "token_seconds) VALUES (%lld, 'OPEN', %lld, %d, %d, %d)",
                     (long long)concert_id, (long long)(a->now_ms + STORE_DEMO_SALE_OPENS_IN_MS),
                     STORE_DEMO_SALE_MAX_ACTIVE, STORE_DEMO_SALE_ADMIT_PER_SEC, STORE_DEMO_SALE_TOKEN_SECONDS);
            TK_TRY(exec_sql(c, sql));
        }
    }
    a->seeded = true;
    return TK_OK;
}

static int pg_seed_demo(struct tk_store *st, int64_t now_ms, bool *seeded)
{
    struct seed_args a = {.now_ms = now_ms};
    int rc = with_txn(PG(st), seed_fn, &a);
    *seeded = a.seeded;
    return rc;
}

static int ping_fn(struct pg_conn *c, void *arg)
{
    (void)arg;
    return run_void(c, P_PING, NULL);
}

static int pg_ping(struct tk_store *st) { return with_conn(PG(st), ping_fn, NULL); }

/* ---------- users and wallet ---------- */

struct user_args {
    const char *name, *key;
    int64_t now_ms, user_id;
    struct tk_user *out;
};

static int user_create_fn(struct pg_conn *c, void *argp)
{
    struct user_args *a = argp;
    struct params p = {0};
    p_str(&p, a->name);
    p_str(&p, a->key);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(run(c, P_USER_INSERT, &p, &r));
    a->out->id = col_i64(r, 0, 0);
    PQclear(r);
    snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
    a->out->balance_won = 0;
    return TK_OK;
}

static int pg_user_create(struct tk_store *st, const char *name, const char *key, int64_t now_ms, struct tk_user *out)
{
    struct user_args a = {.name = name, .key = key, .now_ms = now_ms, .out = out};
    return with_conn(PG(st), user_create_fn, &a);
}

static int user_by_key_fn(struct pg_conn *c, void *argp)
{
    struct user_args *a = argp;
    struct params p = {0};
    p_str(&p, a->key);
    PGresult *r = NULL;
    TK_TRY(run(c, P_USER_BY_KEY, &p, &r));
    int rc = PQntuples(r) ? TK_OK : TK_ERR_NOT_FOUND;
    if (rc == TK_OK)
        a->user_id = col_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pg_user_by_api_key(struct tk_store *st, const char *key, int64_t *user_id)
{
    struct user_args a = {.key = key};
    TK_TRY(with_conn(PG(st), user_by_key_fn, &a));
    *user_id = a.user_id;
    return TK_OK;
}

static int user_read(struct pg_conn *c, int64_t user_id, struct tk_user *out, int64_t *version)
{
    struct params p = {0};
    p_i64(&p, user_id);
    PGresult *r;
    TK_TRY(run(c, P_USER_GET, &p, &r));
    if (!PQntuples(r)) {
        PQclear(r);
        return TK_ERR_NOT_FOUND;
    }
    out->id = col_i64(r, 0, 0);
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
    out->balance_won = col_i64(r, 0, 2);
    if (version)
        *version = col_i64(r, 0, 3);
    PQclear(r);
    return TK_OK;
}

static int user_get_fn(struct pg_conn *c, void *argp)
{
    struct user_args *a = argp;
    return user_read(c, a->user_id, a->out, NULL);
}

static int pg_user_get(struct tk_store *st, int64_t user_id, struct tk_user *out)
{
    struct user_args a = {.user_id = user_id, .out = out};
    return with_conn(PG(st), user_get_fn, &a);
}

/* Appends the idempotency key and claim (NULL, 0 without a key) to a write's parameters. */
static void p_idem(struct params *p, const struct tk_idem_ref *idem)
{
    p_str(p, idem ? idem->key : NULL);
    p_i64(p, idem ? idem->claim : 0);
}

struct charge_args {
    const struct tk_idem_ref *idem;
    enum tk_write_mode mode;
    int64_t user_id, amount_won, now_ms;
    int64_t balance_after, entry_id;
};

/* Reads (balance_after, entry id) from a CTE charge; 0 rows means the guard refused. */
static int charge_result(PGresult *r, struct charge_args *a, int refused)
{
    int rc = PQntuples(r) ? TK_OK : refused;
    if (rc == TK_OK) {
        a->balance_after = col_i64(r, 0, 0);
        a->entry_id = col_i64(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

static int charge_fn(struct pg_conn *c, void *argp)
{
    struct charge_args *a = argp;
    struct params p = {0};
    PGresult *r;
    struct tk_user u;
    int64_t version = 0, next = 0;
    switch (a->mode) {
    case TK_WRITE_ATOMIC: {
        p_i64(&p, a->user_id);
        p_i64(&p, a->amount_won);
        p_i64(&p, INT64_MAX - a->amount_won);
        p_i64(&p, a->now_ms);
        p_idem(&p, a->idem);
        TK_TRY(run(c, P_CHARGE_ATOMIC, &p, &r));
        int rc = charge_result(r, a, TK_ERR_OVERFLOW);
        if (rc == TK_ERR_OVERFLOW)
            TK_TRY(user_read(c, a->user_id, &u, NULL)); /* NOT_FOUND if there is no such user */
        return rc;
    }
    case TK_WRITE_PESSIMISTIC: {
        TK_TRY(exec_sql(c, "BEGIN"));
        p_i64(&p, a->user_id);
        TK_TRY(run(c, P_USER_LOCK, &p, &r));
        if (!PQntuples(r)) {
            PQclear(r);
            return TK_ERR_NOT_FOUND;
        }
        int64_t balance = col_i64(r, 0, 0);
        PQclear(r);
        TK_TRY(money_credit(balance, a->amount_won, &next));
        p.n = 0;
        p_i64(&p, a->user_id);
        p_i64(&p, next);
        TK_TRY(run_void(c, P_USER_SET, &p));
        p.n = 0;
        p_i64(&p, a->user_id);
        p_str(&p, "CHARGE");
        p_i64(&p, a->amount_won);
        p_i64(&p, next);
        p_str(&p, "");
        p_i64(&p, a->now_ms);
        TK_TRY(run(c, P_LEDGER_INSERT, &p, &r));
        a->entry_id = col_i64(r, 0, 0);
        PQclear(r);
        a->balance_after = next;
        if (a->idem) {
            char ref[48];
            snprintf(ref, sizeof ref, "ledger:%lld", (long long)a->entry_id);
            p.n = 0;
            p_i64(&p, a->idem->user_id);
            p_str(&p, a->idem->key);
            p_i64(&p, a->idem->claim);
            p_str(&p, ref);
            TK_TRY(run_void(c, P_IDEM_APPLY, &p));
        }
        return exec_sql(c, "COMMIT");
    }
    case TK_WRITE_OPTIMISTIC:
    case TK_WRITE_UNSAFE:
        TK_TRY(user_read(c, a->user_id, &u, &version));
        TK_TRY(money_credit(u.balance_won, a->amount_won, &next));
        p_i64(&p, a->user_id);
        p_i64(&p, a->amount_won);
        p_i64(&p, next);
        if (a->mode == TK_WRITE_OPTIMISTIC)
            p_i64(&p, version);
        p_i64(&p, a->now_ms);
        p_idem(&p, a->idem);
        TK_TRY(run(c, a->mode == TK_WRITE_OPTIMISTIC ? P_CHARGE_CAS : P_CHARGE_BLIND, &p, &r));
        return charge_result(r, a, a->mode == TK_WRITE_OPTIMISTIC ? TK_ERR_CONFLICT : TK_ERR_NOT_FOUND);
    }
    return TK_ERR_INTERNAL;
}

static int pg_wallet_charge(struct tk_store *st, enum tk_write_mode mode, int64_t user_id, int64_t amount_won,
                            int64_t now_ms, const struct tk_idem_ref *idem, int64_t *balance_won, int64_t *entry_id)
{
    struct charge_args a = {.idem = idem, .mode = mode, .user_id = user_id, .amount_won = amount_won, .now_ms = now_ms};
    TK_TRY(with_conn(PG(st), charge_fn, &a));
    *balance_won = a.balance_after;
    if (entry_id)
        *entry_id = a.entry_id;
    return TK_OK;
}

/* The result codes of the PL/pgSQL functions (pg_schema.h). */
static int fn_code(int code)
{
    static const int MAP[] = {TK_OK, TK_ERR_NOT_FOUND, TK_ERR_INSUFFICIENT_BALANCE, TK_ERR_OVERFLOW,
                              TK_ERR_CONFLICT, TK_ERR_SEAT_UNAVAILABLE, TK_ERR_HOLD_LIMIT, TK_ERR_FORBIDDEN,
                              TK_ERR_ALREADY_PAID, TK_ERR_HOLD_EXPIRED,
                              /* orders */ TK_ERR_INVALID, TK_ERR_ALREADY_REFUNDED, TK_ERR_REFUND_CLOSED};
    return code >= 0 && code < (int)(sizeof MAP / sizeof MAP[0]) ? MAP[code] : TK_ERR_INTERNAL;
}

static const char *mode_name(enum tk_write_mode m)
{
    switch (m) {
    case TK_WRITE_ATOMIC:
        return "atomic";
    case TK_WRITE_PESSIMISTIC:
        return "pessimistic";
    case TK_WRITE_OPTIMISTIC:
        return "optimistic";
    case TK_WRITE_UNSAFE:
        return "unsafe";
    }
    return "atomic";
}

struct transfer_args {
    const struct tk_idem_ref *idem;
    enum tk_write_mode mode;
    int64_t from, to, amount_won, now_ms;
    struct tk_transfer *out;
};

static int transfer_fn(struct pg_conn *c, void *argp)
{
    struct transfer_args *a = argp;
    struct tk_user f = {0}, t = {0};
    int64_t vf = 0, vt = 0;
    bool pre = a->mode == TK_WRITE_OPTIMISTIC || a->mode == TK_WRITE_UNSAFE;
    if (pre) {
        TK_TRY(user_read(c, a->from, &f, &vf));
        TK_TRY(user_read(c, a->to, &t, &vt));
    }
    struct params p = {0};
    p_str(&p, mode_name(a->mode));
    p_i64(&p, a->from);
    p_i64(&p, a->to);
    p_i64(&p, a->amount_won);
    p_i64(&p, a->now_ms);
    p_i64(&p, f.balance_won);
    p_i64(&p, vf);
    p_i64(&p, t.balance_won);
    p_i64(&p, vt);
    p_idem(&p, a->idem);
    PGresult *r;
    TK_TRY(run(c, P_TRANSFER, &p, &r));
    int rc = fn_code(atoi(PQgetvalue(r, 0, 0)));
    if (rc == TK_OK)
        *a->out = (struct tk_transfer){.transfer_id = col_i64(r, 0, 1), .from_user_id = a->from,
                                       .to_user_id = a->to, .amount_won = a->amount_won,
                                       .from_balance_won = col_i64(r, 0, 2)};
    PQclear(r);
    return rc;
}

static int pg_transfer(struct tk_store *st, enum tk_write_mode mode, int64_t from_user, int64_t to_user,
                       int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, struct tk_transfer *out)
{
    TK_ASSERT(from_user != to_user);
    struct transfer_args a = {.idem = idem, .mode = mode, .from = from_user, .to = to_user, .amount_won = amount_won,
                              .now_ms = now_ms, .out = out};
    return with_conn(PG(st), transfer_fn, &a);
}

struct list_args {
    int64_t id, now_ms;
    int limit;
    void *fn, *arg;
    bool every; /* schedules_list: tk_schedule_filter.every */
};

static int ledger_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    struct tk_user u;
    TK_TRY(user_read(c, a->id, &u, NULL));
    struct params p = {0};
    p_i64(&p, a->id);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(run(c, P_LEDGER_LIST, &p, &r));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_ledger_entry e = {.id = col_i64(r, i, 0), .amount_won = col_i64(r, i, 2),
                                    .balance_after_won = col_i64(r, i, 3), .created_at_ms = col_i64(r, i, 5)};
        snprintf(e.kind, sizeof e.kind, "%s", PQgetvalue(r, i, 1));
        snprintf(e.ref, sizeof e.ref, "%s", PQgetvalue(r, i, 4));
        rc = ((tk_ledger_fn)a->fn)(a->arg, &e);
    }
    PQclear(r);
    return rc;
}

static int pg_ledger_list(struct tk_store *st, int64_t user_id, int limit, tk_ledger_fn fn, void *arg)
{
    struct list_args a = {.id = user_id, .limit = limit, .fn = (void *)fn, .arg = arg};
    return with_conn(PG(st), ledger_fn, &a);
}

/* ---------- catalogue ---------- */

static int exists(struct pg_conn *c, enum pst id, int64_t key)
{
    struct params p = {0};
    p_i64(&p, key);
    PGresult *r = NULL;
    TK_TRY(run(c, id, &p, &r));
    int rc = PQntuples(r) ? TK_OK : TK_ERR_NOT_FOUND;
    PQclear(r);
    return rc;
}

static int concerts_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    PGresult *r;
    TK_TRY(run(c, P_CONCERTS, NULL, &r));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_concert row = {.id = col_i64(r, i, 0)};
        snprintf(row.name, sizeof row.name, "%s", PQgetvalue(r, i, 1));
        rc = ((tk_concert_fn)a->fn)(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_concerts_list(struct tk_store *st, tk_concert_fn fn, void *arg)
{
    struct list_args a = {.fn = (void *)fn, .arg = arg};
    return with_conn(PG(st), concerts_fn, &a);
}

static int schedules_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    if (a->id)
        TK_TRY(exists(c, P_CONCERT_EXISTS, a->id));
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->id);
    p_i64(&p, a->every ? 1 : 0);
    PGresult *r;
    TK_TRY(run(c, P_SCHEDULES, &p, &r));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_schedule row = {.id = col_i64(r, i, 0), .concert_id = col_i64(r, i, 1),
                                  .starts_at_ms = col_i64(r, i, 3), .total_seats = (int)col_i64(r, i, 4),
                                  .reserved_seats = (int)col_i64(r, i, 5)};
        if (!a->every && row.reserved_seats >= row.total_seats)
            continue;
        snprintf(row.concert_name, sizeof row.concert_name, "%s", PQgetvalue(r, i, 2));
        rc = ((tk_schedule_fn)a->fn)(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_schedules_list(struct tk_store *st, const struct tk_schedule_filter *f, tk_schedule_fn fn, void *arg)
{
    struct list_args a = {.id = f->concert_id, .now_ms = f->now_ms, .fn = (void *)fn, .arg = arg, .every = f->every};
    return with_conn(PG(st), schedules_fn, &a);
}

static int seats_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->id);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(run(c, P_SEATS_AVAIL, &p, &r));
    int n = PQntuples(r);
    if (n == 0) { /* no free seat, or no such (or a cancelled) schedule: tell them apart */
        PQclear(r);
        return exists(c, P_SCHEDULE_LIVE, a->id);
    }
    int rc = TK_OK;
    for (int i = 0; i < n && rc == TK_OK; i++) {
        struct tk_seat row = {.id = col_i64(r, i, 0), .schedule_id = a->id, .seat_number = (int)col_i64(r, i, 1),
                              .price_won = col_i64(r, i, 2)};
        snprintf(row.category, sizeof row.category, "%s", PQgetvalue(r, i, 3));
        rc = ((tk_seat_fn)a->fn)(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_seats_available(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    struct list_args a = {.id = schedule_id, .now_ms = now_ms, .fn = (void *)fn, .arg = arg};
    return with_conn(PG(st), seats_fn, &a);
}

static int seat_map_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->id);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(run(c, P_SEAT_MAP, &p, &r));
    int n = PQntuples(r);
    int rc = n ? TK_OK : TK_ERR_NOT_FOUND;
    for (int i = 0; i < n && rc == TK_OK; i++) {
        struct tk_seat row = {.id = col_i64(r, i, 0), .schedule_id = a->id, .seat_number = (int)col_i64(r, i, 1),
                              .price_won = col_i64(r, i, 2), .status = (enum tk_seat_status)col_i64(r, i, 4)};
        snprintf(row.category, sizeof row.category, "%s", PQgetvalue(r, i, 3));
        rc = ((tk_seat_fn)a->fn)(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_seat_map(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    struct list_args a = {.id = schedule_id, .now_ms = now_ms, .fn = (void *)fn, .arg = arg};
    return with_conn(PG(st), seat_map_fn, &a);
}

/* ---------- the organizer's catalogue and sales ---------- */

/* Runs a statement expected to return one row: TK_ERR_NOT_FOUND when it returns none. */
static int run_row(struct pg_conn *c, enum pst id, const struct params *p, PGresult **out)
{
    TK_TRY(run(c, id, p, out));
    if (PQntuples(*out) == 0) {
        PQclear(*out);
        return TK_ERR_NOT_FOUND;
    }
    return TK_OK;
}

struct concert_create_args {
    const char *name;
    struct tk_concert *out;
};

static int concert_create_fn(struct pg_conn *c, void *argp)
{
    struct concert_create_args *a = argp;
    struct params p = {0};
    p_str(&p, a->name);
    PGresult *r;
    TK_TRY(run_row(c, P_CONCERT_INSERT, &p, &r));
    a->out->id = col_i64(r, 0, 0);
    snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
    PQclear(r);
    return TK_OK;
}

static int pg_concert_create(struct tk_store *st, const char *name, struct tk_concert *out)
{
    struct concert_create_args a = {.name = name, .out = out};
    return with_conn(PG(st), concert_create_fn, &a);
}

struct schedule_create_args {
    const struct tk_schedule_new *in;
    struct tk_schedule *out;
};

static int schedule_create_fn(struct pg_conn *c, void *argp)
{
    struct schedule_create_args *a = argp;
    const struct tk_schedule_new *in = a->in;
    struct params p = {0};
    p_i64(&p, in->concert_id);
    PGresult *r;
    TK_TRY(run_row(c, P_CONCERT_NAME, &p, &r));
    *a->out = (struct tk_schedule){.concert_id = in->concert_id, .starts_at_ms = in->starts_at_ms,
                                   .total_seats = in->seat_count};
    snprintf(a->out->concert_name, sizeof a->out->concert_name, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    p.n = 0;
    p_i64(&p, in->concert_id);
    p_i64(&p, in->starts_at_ms);
    p_i64(&p, in->seat_count);
    TK_TRY(run_row(c, P_SCHEDULE_INSERT, &p, &r));
    a->out->id = col_i64(r, 0, 0);
    PQclear(r);
    for (int i = 0; i < in->nranges; i++) {
        p.n = 0;
        p_i64(&p, a->out->id);
        p_i64(&p, in->ranges[i].from_seat);
        p_i64(&p, in->ranges[i].to_seat);
        p_i64(&p, in->ranges[i].price_won);
        p_str(&p, in->ranges[i].category);
        TK_TRY(run_void(c, P_SEATS_INSERT, &p));
    }
    return TK_OK;
}

static int pg_schedule_create(struct tk_store *st, const struct tk_schedule_new *in, struct tk_schedule *out)
{
    struct schedule_create_args a = {.in = in, .out = out};
    return with_txn(PG(st), schedule_create_fn, &a);
}

static int sale_from_row(PGresult *r, int i, struct tk_sale *out)
{
    *out = (struct tk_sale){.id = col_i64(r, i, 0), .concert_id = col_i64(r, i, 1), .opens_at_ms = col_i64(r, i, 3),
                            .max_active = (int)col_i64(r, i, 4), .admit_per_sec = (int)col_i64(r, i, 5),
                            .token_seconds = (int)col_i64(r, i, 6)};
    return store_sale_state_parse(PQgetvalue(r, i, 2), &out->state);
}

static int sale_get(struct pg_conn *c, enum pst id, int64_t sale_id, struct tk_sale *out)
{
    struct params p = {0};
    p_i64(&p, sale_id);
    PGresult *r;
    TK_TRY(run_row(c, id, &p, &r));
    int rc = sale_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

struct sale_args {
    int64_t id;
    const struct tk_sale *in;
    const struct tk_sale_patch *patch;
    struct tk_sale *out;
};

static int sale_create_fn(struct pg_conn *c, void *argp)
{
    struct sale_args *a = argp;
    TK_TRY(exists(c, P_CONCERT_EXISTS, a->in->concert_id));
    struct params p = {0};
    p_i64(&p, a->in->concert_id);
    p_str(&p, store_sale_state_name(a->in->state));
    p_i64(&p, a->in->opens_at_ms);
    p_i64(&p, a->in->max_active);
    p_i64(&p, a->in->admit_per_sec);
    p_i64(&p, a->in->token_seconds);
    PGresult *r;
    int rc = run_row(c, P_SALE_INSERT, &p, &r);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_ERR_INVALID; /* the concert has a sale already */
    TK_TRY(rc);
    int64_t id = col_i64(r, 0, 0);
    PQclear(r);
    return sale_get(c, P_SALE_GET, id, a->out);
}

static int pg_sale_create(struct tk_store *st, const struct tk_sale *in, struct tk_sale *out)
{
    struct sale_args a = {.in = in, .out = out};
    return with_txn(PG(st), sale_create_fn, &a);
}

static int sale_update_fn(struct pg_conn *c, void *argp)
{
    struct sale_args *a = argp;
    struct tk_sale cur;
    TK_TRY(sale_get(c, P_SALE_LOCK, a->id, &cur));
    TK_TRY(store_sale_patch_apply(&cur, a->patch));
    struct params p = {0};
    p_i64(&p, a->id);
    p_i64(&p, cur.max_active);
    p_i64(&p, cur.admit_per_sec);
    p_str(&p, store_sale_state_name(cur.state));
    TK_TRY(run_void(c, P_SALE_UPDATE, &p));
    *a->out = cur;
    return TK_OK;
}

static int pg_sale_update(struct tk_store *st, int64_t sale_id, const struct tk_sale_patch *patch, struct tk_sale *out)
{
    struct sale_args a = {.id = sale_id, .patch = patch, .out = out};
    return with_txn(PG(st), sale_update_fn, &a);
}

static int sales_fn(struct pg_conn *c, void *argp)
{
    struct list_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(run(c, P_SALES_LIST, &p, &r));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_sale row;
        rc = sale_from_row(r, i, &row);
        if (rc == TK_OK)
            rc = ((tk_sale_fn)a->fn)(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_sales_list(struct tk_store *st, int limit, tk_sale_fn fn, void *arg)
{
    struct list_args a = {.limit = limit, .fn = (void *)fn, .arg = arg};
    return with_conn(PG(st), sales_fn, &a);
}

struct counts_args {
    int64_t concert_id, now_ms;
    struct tk_seat_counts *out;
};

static int seat_counts_fn(struct pg_conn *c, void *argp)
{
    struct counts_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->concert_id);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(run_row(c, P_SEAT_COUNTS, &p, &r));
    *a->out = (struct tk_seat_counts){.free = col_i64(r, 0, 0), .held = col_i64(r, 0, 1), .sold = col_i64(r, 0, 2)};
    PQclear(r);
    return TK_OK;
}

static int pg_seat_counts(struct tk_store *st, int64_t concert_id, int64_t now_ms, struct tk_seat_counts *out)
{
    struct counts_args a = {.concert_id = concert_id, .now_ms = now_ms, .out = out};
    return with_conn(PG(st), seat_counts_fn, &a);
}

struct owner_args {
    enum tk_owner_kind kind;
    int64_t id;
    int64_t *concert_id;
};

static int owner_fn(struct pg_conn *c, void *argp)
{
    struct owner_args *a = argp;
    static const enum pst BY_KIND[] = {[OWNER_SCHEDULE] = P_OWNER_SCHEDULE, [OWNER_SEAT] = P_OWNER_SEAT,
                                       [OWNER_RESERVATION] = P_OWNER_RESERVATION};
    struct params p = {0};
    p_i64(&p, a->id);
    PGresult *r;
    TK_TRY(run_row(c, BY_KIND[a->kind], &p, &r));
    *a->concert_id = col_i64(r, 0, 0);
    PQclear(r);
    return TK_OK;
}

static int pg_owner_concert(struct tk_store *st, enum tk_owner_kind kind, int64_t id, int64_t *concert_id)
{
    struct owner_args a = {.kind = kind, .id = id, .concert_id = concert_id};
    return with_conn(PG(st), owner_fn, &a);
}

/* ---------- holds and payments ---------- */

struct hold_args {
    enum tk_write_mode mode;
    const struct tk_hold_req *req;
    struct tk_hold *out;
};

/* "{1,2,3}" of n ids into buf. */
static void pg_id_array(char *buf, size_t len, const int64_t *ids, int n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "{");
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)ids[i]);
    if (o < len)
        snprintf(buf + o, len - o, "}");
}

/* The seats of a reservation, ascending by id. */
static int res_seats_read(struct pg_conn *c, int64_t res_id, struct tk_hold_seat *seats, int *n, int64_t *amount,
                          int64_t *schedule_id)
{
    struct params p = {0};
    p_i64(&p, res_id);
    PGresult *r;
    TK_TRY(run(c, P_RS_LIST, &p, &r));
    *n = 0;
    *amount = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        *amount += col_i64(r, i, 2);
        if (*n >= HOLD_SEATS_MAX)
            continue;
        struct tk_hold_seat *h = &seats[(*n)++];
        h->seat_id = col_i64(r, i, 0);
        h->seat_number = (int)col_i64(r, i, 1);
        h->price_won = col_i64(r, i, 2);
        snprintf(h->category, sizeof h->category, "%s", PQgetvalue(r, i, 3));
        if (schedule_id)
            *schedule_id = col_i64(r, i, 4);
    }
    PQclear(r);
    return TK_OK;
}

static int hold_fn(struct pg_conn *c, void *argp)
{
    struct hold_args *a = argp;
    const struct tk_hold_req *q = a->req;
    int n = q->nseats ? q->nseats : 1;
    const int64_t *ids = q->nseats ? q->seat_ids : &q->seat_id;
    TK_ASSERT(n >= 1 && n <= HOLD_SEATS_MAX);
    int64_t versions[HOLD_SEATS_MAX] = {0};
    struct params p = {0};
    PGresult *r;
    a->out->nunavailable = 0;
    if (a->mode == TK_WRITE_OPTIMISTIC || a->mode == TK_WRITE_UNSAFE) { /* read outside the transaction */
        for (int i = 0; i < n; i++) {
            p.n = 0;
            p_i64(&p, ids[i]);
            TK_TRY(run(c, P_SEAT_GET, &p, &r));
            if (!PQntuples(r)) {
                PQclear(r);
                return TK_ERR_NOT_FOUND;
            }
            bool sold = PQgetvalue(r, 0, 0)[0] == 't';
            int64_t hold_exp = col_i64(r, 0, 1), starts = col_i64(r, 0, 3);
            versions[i] = col_i64(r, 0, 2);
            PQclear(r);
            if (sold || hold_exp > q->now_ms || starts <= q->now_ms) {
                a->out->busy_until_ms = (sold || starts <= q->now_ms) ? INT64_MAX : hold_exp;
                a->out->unavailable[a->out->nunavailable++] = ids[i];
            }
        }
        if (a->out->nunavailable)
            return TK_ERR_SEAT_UNAVAILABLE;
        p.n = 0;
    }
    char seats_txt[HOLD_SEATS_MAX * 21 + 3], vers_txt[HOLD_SEATS_MAX * 21 + 3];
    pg_id_array(seats_txt, sizeof seats_txt, ids, n);
    pg_id_array(vers_txt, sizeof vers_txt, versions, n);
    p_str(&p, mode_name(a->mode));
    p_str(&p, seats_txt);
    p_i64(&p, q->user_id);
    p_i64(&p, q->now_ms);
    p_i64(&p, q->now_ms + q->hold_ms);
    p_i64(&p, q->max_holds);
    p_str(&p, vers_txt);
    p_idem(&p, q->idem);
    TK_TRY(run(c, P_HOLD_SEATS, &p, &r));
    int rc = fn_code(atoi(PQgetvalue(r, 0, 0)));
    a->out->busy_until_ms = rc == TK_ERR_SEAT_UNAVAILABLE && n == 1 && !PQgetisnull(r, 0, 2) ? col_i64(r, 0, 2) : 0;
    if (rc == TK_ERR_SEAT_UNAVAILABLE && !PQgetisnull(r, 0, 3)) {
        const char *t = PQgetvalue(r, 0, 3);
        while (*t && a->out->nunavailable < HOLD_SEATS_MAX) {
            char *end;
            a->out->unavailable[a->out->nunavailable++] = strtoll(t, &end, 10);
            t = *end == ',' ? end + 1 : end;
        }
    }
    int64_t res_id = rc == TK_OK ? col_i64(r, 0, 1) : 0;
    PQclear(r);
    if (rc != TK_OK)
        return rc;
    /* the hold committed: its seats as they are (numbers, prices and categories never change) */
    struct tk_hold *o = a->out;
    *o = (struct tk_hold){.reservation_id = res_id, .seat_id = ids[0], .user_id = q->user_id,
                          .expires_at_ms = q->now_ms + q->hold_ms, .state = HOLD_HELD};
    TK_TRY(res_seats_read(c, res_id, o->seats, &o->nseats, &o->amount_won, &o->schedule_id));
    o->seat_number = o->seats[0].seat_number;
    o->price_won = o->seats[0].price_won;
    return TK_OK;
}

static int pg_hold_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_hold_req *req,
                          struct tk_hold *out)
{
    struct hold_args a = {.mode = mode, .req = req, .out = out};
    return with_conn(PG(st), hold_fn, &a);
}

struct pay_args {
    const struct tk_pay_req *req;
    struct tk_payment *out;
};

static int pay_fn(struct pg_conn *c, void *argp)
{
    struct pay_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->req->user_id);
    p_i64(&p, a->req->reservation_id);
    p_i64(&p, a->req->seat_id);
    p_i64(&p, a->req->now_ms);
    p_idem(&p, a->req->idem);
    PGresult *r;
    TK_TRY(run(c, P_PAY, &p, &r));
    int rc = fn_code(atoi(PQgetvalue(r, 0, 0)));
    if (rc == TK_OK) {
        struct tk_payment *o = a->out;
        o->payment_id = col_i64(r, 0, 1);
        o->reservation_id = col_i64(r, 0, 2);
        o->seat_id = col_i64(r, 0, 3);
        o->seat_number = (int)col_i64(r, 0, 4);
        snprintf(o->concert_name, sizeof o->concert_name, "%s", PQgetvalue(r, 0, 5));
        o->starts_at_ms = col_i64(r, 0, 6);
        o->amount_won = col_i64(r, 0, 7);
        o->balance_won = col_i64(r, 0, 8);
        o->state = PAYMENT_PAID;
        o->user_id = a->req->user_id;
        o->created_at_ms = a->req->now_ms;
    }
    PQclear(r);
    if (rc == TK_OK) { /* committed: every seat it bought */
        int64_t sum;
        TK_TRY(res_seats_read(c, a->out->reservation_id, a->out->seats, &a->out->nseats, &sum,
                              &a->out->schedule_id));
    }
    return rc;
}

static int pg_payment_create(struct tk_store *st, const struct tk_pay_req *req, struct tk_payment *out)
{
    struct pay_args a = {.req = req, .out = out};
    return with_conn(PG(st), pay_fn, &a);
}

struct expire_args {
    int64_t now_ms;
    int limit, count;
};

static int expire_fn(struct pg_conn *c, void *argp)
{
    struct expire_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(run(c, P_EXPIRE_HOLDS, &p, &r));
    a->count = (int)col_i64(r, 0, 0);
    PQclear(r);
    return TK_OK;
}

static int pg_holds_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    struct expire_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(with_conn(PG(st), expire_fn, &a));
    *expired = a.count;
    return TK_OK;
}

/* ---------- orders: cancel a hold, refunds, a cancelled date (issue 11) ---------- */

/* The one state a from-mask allows (a conditional UPDATE's from-state). */
static int mask_one(unsigned mask)
{
    TK_ASSERT(mask != 0 && (mask & (mask - 1)) == 0);
    return __builtin_ctz(mask);
}

struct cancel_args {
    int64_t user_id, res_id, now_ms;
    unsigned from_mask;
};

static int cancel_fn(struct pg_conn *c, void *argp)
{
    struct cancel_args *a = argp;
    static const char *const HOLD_NAMES[] = {"HELD", "PAID", "EXPIRED", "CANCELLED"};
    struct params p = {0};
    p_i64(&p, a->res_id);
    p_i64(&p, a->user_id);
    p_i64(&p, a->now_ms);
    p_str(&p, HOLD_NAMES[mask_one(a->from_mask)]);
    PGresult *r;
    TK_TRY(run(c, P_CANCEL_HOLD, &p, &r));
    int rc = fn_code(atoi(PQgetvalue(r, 0, 0)));
    PQclear(r);
    return rc;
}

static int pg_hold_cancel(struct tk_store *st, int64_t user_id, int64_t reservation_id, int64_t now_ms,
                          unsigned from_mask)
{
    struct cancel_args a = {.user_id = user_id, .res_id = reservation_id, .now_ms = now_ms, .from_mask = from_mask};
    return with_conn(PG(st), cancel_fn, &a);
}

static int pay_read(struct pg_conn *c, int64_t payment_id, struct tk_payment *o)
{
    struct params p = {0};
    p_i64(&p, payment_id);
    PGresult *r;
    TK_TRY(run(c, P_PAY_GET, &p, &r));
    if (!PQntuples(r)) {
        PQclear(r);
        return TK_ERR_NOT_FOUND;
    }
    memset(o, 0, sizeof *o);
    o->payment_id = col_i64(r, 0, 0);
    o->reservation_id = col_i64(r, 0, 1);
    o->seat_id = col_i64(r, 0, 2);
    o->user_id = col_i64(r, 0, 3);
    o->amount_won = col_i64(r, 0, 4);
    o->state = strcmp(PQgetvalue(r, 0, 5), "REFUNDED") == 0 ? PAYMENT_REFUNDED : PAYMENT_PAID;
    o->created_at_ms = col_i64(r, 0, 6);
    o->starts_at_ms = col_i64(r, 0, 7);
    snprintf(o->concert_name, sizeof o->concert_name, "%s", PQgetvalue(r, 0, 8));
    o->balance_won = col_i64(r, 0, 9);
    PQclear(r);
    int64_t sum;
    TK_TRY(res_seats_read(c, o->reservation_id, o->seats, &o->nseats, &sum, &o->schedule_id));
    for (int i = 0; i < o->nseats; i++)
        if (o->seats[i].seat_id == o->seat_id)
            o->seat_number = o->seats[i].seat_number;
    return TK_OK;
}

struct refund_args {
    const struct tk_refund_req *req;
    struct tk_payment *out;
};

static int refund_fn(struct pg_conn *c, void *argp)
{
    struct refund_args *a = argp;
    const struct tk_refund_req *q = a->req;
    struct params p = {0};
    p_i64(&p, q->payment_id);
    p_i64(&p, q->user_id);
    p_i64(&p, q->now_ms);
    p_i64(&p, q->cutoff_ms);
    p_str(&p, mask_one(q->from_mask) == PAYMENT_PAID ? "PAID" : "REFUNDED");
    p_idem(&p, q->idem);
    PGresult *r;
    TK_TRY(run(c, P_REFUND, &p, &r));
    int rc = fn_code(atoi(PQgetvalue(r, 0, 0)));
    PQclear(r);
    TK_TRY(rc);
    return pay_read(c, q->payment_id, a->out);
}

static int pg_payment_refund(struct tk_store *st, const struct tk_refund_req *req, struct tk_payment *out)
{
    struct refund_args a = {.req = req, .out = out};
    return with_conn(PG(st), refund_fn, &a);
}

struct payments_list_args {
    const struct tk_payment_filter *f;
    int limit;
    tk_payment_fn fn;
    void *arg;
};

static int payments_list_fn(struct pg_conn *c, void *argp)
{
    struct payments_list_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->f->user_id);
    p_i64(&p, a->limit);
    p_i64(&p, a->f->schedule_id);
    PGresult *r;
    TK_TRY(run(c, P_PAYMENTS_LIST, &p, &r));
    int n = PQntuples(r);
    int64_t ids[100];
    if (n > 100)
        n = 100;
    for (int i = 0; i < n; i++)
        ids[i] = col_i64(r, i, 0);
    PQclear(r);
    for (int i = 0; i < n; i++) {
        struct tk_payment pay;
        TK_TRY(pay_read(c, ids[i], &pay));
        TK_TRY(a->fn(a->arg, &pay));
    }
    return TK_OK;
}

static int pg_payments_list(struct tk_store *st, const struct tk_payment_filter *f, int limit, tk_payment_fn fn,
                            void *arg)
{
    struct payments_list_args a = {.f = f, .limit = limit, .fn = fn, .arg = arg};
    return with_conn(PG(st), payments_list_fn, &a);
}

struct sched_args {
    int64_t schedule_id, now_ms;
    int limit, refunded;
    unsigned from_mask;
};

static int sched_cancel_fn(struct pg_conn *c, void *argp)
{
    struct sched_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->schedule_id);
    PGresult *r;
    TK_TRY(run(c, P_SCHED_CANCEL, &p, &r));
    int n = PQntuples(r);
    PQclear(r);
    return n ? TK_OK : TK_ERR_NOT_FOUND;
}

static int pg_schedule_cancel(struct tk_store *st, int64_t schedule_id, int64_t now_ms)
{
    struct sched_args a = {.schedule_id = schedule_id, .now_ms = now_ms};
    return with_conn(PG(st), sched_cancel_fn, &a);
}

static int sched_refund_fn(struct pg_conn *c, void *argp)
{
    struct sched_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->schedule_id);
    p_i64(&p, a->limit);
    p_i64(&p, a->now_ms);
    p_str(&p, mask_one(a->from_mask) == PAYMENT_PAID ? "PAID" : "REFUNDED");
    PGresult *r;
    TK_TRY(run(c, P_SCHED_REFUND, &p, &r));
    a->refunded = (int)col_i64(r, 0, 0);
    PQclear(r);
    return TK_OK;
}

static int pg_schedule_refund_batch(struct tk_store *st, int64_t schedule_id, int limit, int64_t now_ms,
                                    unsigned from_mask, int *refunded)
{
    struct sched_args a = {.schedule_id = schedule_id, .now_ms = now_ms, .limit = limit, .from_mask = from_mask};
    *refunded = 0;
    TK_TRY(with_conn(PG(st), sched_refund_fn, &a));
    *refunded = a.refunded;
    return TK_OK;
}

/* ---------- idempotency records ---------- */

struct idem_args {
    int64_t user_id, claim, new_claim;
    const char *key, *hash, *body, *effect_ref;
    size_t body_len;
    int64_t now_ms, expires_at_ms;
    int status, limit, deleted;
    struct tk_idem *existing;
};

static void key_params(struct params *p, const struct idem_args *a)
{
    p->n = 0;
    p_i64(p, a->user_id);
    p_str(p, a->key);
}

static int idem_claim_fn(struct pg_conn *c, void *argp)
{
    struct idem_args *a = argp;
    struct params p;
    /* an expired record frees its key */
    key_params(&p, a);
    p_i64(&p, a->now_ms);
    TK_TRY(run_void(c, P_IDEM_DELETE_EXPIRED, &p));
    key_params(&p, a);
    p_str(&p, a->hash);
    p_i64(&p, a->now_ms);
    p_i64(&p, a->expires_at_ms);
    p_i64(&p, a->claim);
    PGresult *r;
    TK_TRY(run(c, P_IDEM_INSERT, &p, &r));
    bool inserted = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    if (inserted)
        return TK_OK;
    key_params(&p, a);
    TK_TRY(run(c, P_IDEM_GET, &p, &r));
    if (!PQntuples(r)) { /* it vanished in between (released): let the caller try again */
        PQclear(r);
        a->existing->state = IDEM_PENDING;
        snprintf(a->existing->request_hash, sizeof a->existing->request_hash, "%s", a->hash);
        a->existing->body = NULL;
        return TK_ERR_CONFLICT;
    }
    struct tk_idem *e = a->existing;
    e->state = strcmp(PQgetvalue(r, 0, 0), "DONE") == 0 ? IDEM_DONE : IDEM_PENDING;
    snprintf(e->request_hash, sizeof e->request_hash, "%s", PQgetvalue(r, 0, 1));
    e->status = (int)col_i64(r, 0, 2);
    e->claim = col_i64(r, 0, 5);
    e->claimed_at_ms = col_i64(r, 0, 6);
    snprintf(e->effect_ref, sizeof e->effect_ref, "%s", PQgetvalue(r, 0, 7));
    e->body = NULL;
    e->body_len = 0;
    if (e->state == IDEM_DONE) {
        int n = PQgetlength(r, 0, 3);
        e->body = malloc((size_t)n + 1);
        if (!e->body) {
            PQclear(r);
            return TK_ERR_NOMEM;
        }
        memcpy(e->body, PQgetvalue(r, 0, 3), (size_t)n + 1);
        e->body_len = (size_t)n;
    }
    PQclear(r);
    return TK_ERR_CONFLICT;
}

static int pg_idem_claim(struct tk_store *st, int64_t user_id, const char *key, const char *request_hash,
                         int64_t now_ms, int64_t expires_at_ms, int64_t claim, struct tk_idem *existing)
{
    struct idem_args a = {.user_id = user_id, .key = key, .hash = request_hash, .now_ms = now_ms,
                          .expires_at_ms = expires_at_ms, .claim = claim, .existing = existing};
    return with_conn(PG(st), idem_claim_fn, &a);
}

static int idem_complete_fn(struct pg_conn *c, void *argp)
{
    struct idem_args *a = argp;
    struct params p;
    key_params(&p, a);
    p_i64(&p, a->status);
    p_str(&p, a->body);
    p_str(&p, a->effect_ref ? a->effect_ref : "");
    p_i64(&p, a->claim);
    PGresult *r;
    TK_TRY(run(c, P_IDEM_COMPLETE, &p, &r));
    int rc = atoi(PQcmdTuples(r)) == 1 ? TK_OK : TK_ERR_CLAIM_LOST;
    PQclear(r);
    return rc;
}

static int pg_idem_complete(struct tk_store *st, int64_t user_id, const char *key, int64_t claim, int status,
                            const char *body, size_t body_len, const char *effect_ref)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = claim, .status = status, .body = body,
                          .body_len = body_len, .effect_ref = effect_ref};
    return with_conn(PG(st), idem_complete_fn, &a);
}

static int idem_release_fn(struct pg_conn *c, void *argp)
{
    struct idem_args *a = argp;
    struct params p;
    key_params(&p, a);
    p_i64(&p, a->claim);
    return run_void(c, P_IDEM_RELEASE, &p);
}

static int pg_idem_release(struct tk_store *st, int64_t user_id, const char *key, int64_t claim)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = claim};
    return with_conn(PG(st), idem_release_fn, &a);
}

static int idem_takeover_fn(struct pg_conn *c, void *argp)
{
    struct idem_args *a = argp;
    struct params p;
    key_params(&p, a);
    p_i64(&p, a->claim);
    p_i64(&p, a->new_claim);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(run(c, P_IDEM_TAKEOVER, &p, &r));
    int rc = atoi(PQcmdTuples(r)) == 1 ? TK_OK : TK_ERR_CONFLICT;
    PQclear(r);
    return rc;
}

static int pg_idem_takeover(struct tk_store *st, int64_t user_id, const char *key, int64_t old_claim,
                            int64_t new_claim, int64_t now_ms)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = old_claim, .new_claim = new_claim, .now_ms = now_ms};
    return with_conn(PG(st), idem_takeover_fn, &a);
}

struct effect_args {
    int64_t user_id;
    const char *ref;
    struct tk_effect *out;
};

static int effect_fn(struct pg_conn *c, void *argp)
{
    struct effect_args *a = argp;
    const char *colon = strchr(a->ref, ':');
    if (!colon)
        return TK_ERR_NOT_FOUND;
    size_t klen = (size_t)(colon - a->ref);
    struct tk_effect *e = a->out;
    memset(e, 0, sizeof *e);
    e->user_id = a->user_id;
    enum pst id;
    if (klen == 6 && !strncmp(a->ref, "ledger", 6))
        e->kind = EFFECT_CHARGE, id = P_EFFECT_CHARGE;
    else if (klen == 8 && !strncmp(a->ref, "transfer", 8))
        e->kind = EFFECT_TRANSFER, id = P_EFFECT_TRANSFER;
    else if (klen == 11 && !strncmp(a->ref, "reservation", 11))
        e->kind = EFFECT_HOLD, id = P_EFFECT_HOLD;
    else if (klen == 7 && !strncmp(a->ref, "payment", 7))
        e->kind = EFFECT_PAYMENT, id = P_EFFECT_PAYMENT;
    else if (klen == 6 && !strncmp(a->ref, "refund", 6)) { /* orders: the refunded payment */
        e->kind = EFFECT_REFUND;
        TK_TRY(pay_read(c, strtoll(colon + 1, NULL, 10), &e->payment));
        return e->payment.user_id == a->user_id && e->payment.state == PAYMENT_REFUNDED ? TK_OK : TK_ERR_NOT_FOUND;
    } else
        return TK_ERR_NOT_FOUND;
    struct params p = {0};
    p_i64(&p, strtoll(colon + 1, NULL, 10));
    p_i64(&p, a->user_id);
    PGresult *r;
    TK_TRY(run(c, id, &p, &r));
    if (!PQntuples(r)) {
        PQclear(r);
        return TK_ERR_NOT_FOUND;
    }
    switch (e->kind) {
    case EFFECT_CHARGE:
        e->balance_won = col_i64(r, 0, 0);
        break;
    case EFFECT_TRANSFER:
        e->transfer = (struct tk_transfer){.transfer_id = col_i64(r, 0, 0), .from_user_id = col_i64(r, 0, 1),
                                           .to_user_id = col_i64(r, 0, 2), .amount_won = col_i64(r, 0, 3),
                                           .from_balance_won = col_i64(r, 0, 4)};
        break;
    case EFFECT_HOLD:
        e->hold = (struct tk_hold){.reservation_id = col_i64(r, 0, 0), .seat_id = col_i64(r, 0, 1),
                                   .schedule_id = col_i64(r, 0, 2), .user_id = a->user_id,
                                   .seat_number = (int)col_i64(r, 0, 3), .price_won = col_i64(r, 0, 4),
                                   .expires_at_ms = col_i64(r, 0, 5), .state = HOLD_HELD};
        break;
    case EFFECT_PAYMENT:
        e->payment = (struct tk_payment){.payment_id = col_i64(r, 0, 0), .reservation_id = col_i64(r, 0, 1),
                                         .seat_id = col_i64(r, 0, 2), .seat_number = (int)col_i64(r, 0, 3),
                                         .starts_at_ms = col_i64(r, 0, 5), .amount_won = col_i64(r, 0, 6),
                                         .balance_won = col_i64(r, 0, 7)};
        snprintf(e->payment.concert_name, sizeof e->payment.concert_name, "%s", PQgetvalue(r, 0, 4));
        break;
    case EFFECT_REFUND:
        break;
    }
    PQclear(r);
    if (e->kind == EFFECT_HOLD) { /* orders: every seat of the reservation */
        TK_TRY(res_seats_read(c, e->hold.reservation_id, e->hold.seats, &e->hold.nseats, &e->hold.amount_won, NULL));
    } else if (e->kind == EFFECT_PAYMENT) {
        int64_t sum;
        TK_TRY(res_seats_read(c, e->payment.reservation_id, e->payment.seats, &e->payment.nseats, &sum,
                              &e->payment.schedule_id));
        e->payment.state = PAYMENT_PAID;
        e->payment.user_id = a->user_id;
    }
    return TK_OK;
}

static int pg_effect_get(struct tk_store *st, int64_t user_id, const char *effect_ref, struct tk_effect *out)
{
    struct effect_args a = {.user_id = user_id, .ref = effect_ref, .out = out};
    return with_conn(PG(st), effect_fn, &a);
}

static int idem_expire_fn(struct pg_conn *c, void *argp)
{
    struct idem_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(run(c, P_IDEM_EXPIRE, &p, &r));
    a->deleted = atoi(PQcmdTuples(r));
    PQclear(r);
    return TK_OK;
}

static int pg_idem_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *deleted)
{
    struct idem_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(with_conn(PG(st), idem_expire_fn, &a));
    *deleted = a.deleted;
    return TK_OK;
}

/* ---------- the reconciliation audit ---------- */

struct audit_args {
    int64_t due_ms;
    tk_problem_fn fn;
    tk_idem_audit_fn idem_fn;
    void *arg;
};

/* Each audit query returns one column: the finished sentence naming the row. */
static const char *const AUDIT_SQL[] = {
    "SELECT format('users.id=%s: balance %s but its ledger entries sum to %s', u.id, u.balance, COALESCE(l.s, 0)) "
    "FROM users u LEFT JOIN (SELECT user_id, sum(amount) AS s FROM ledger GROUP BY user_id) l ON l.user_id = u.id "
    "WHERE u.balance <> COALESCE(l.s, 0) ORDER BY u.id",
    "SELECT format('seats.id=%s: sold to user %s but has %s payments (expected exactly 1)', id, sold_to, n) "
    "FROM (SELECT s.id, s.sold_to, (SELECT count(*) FROM payments p JOIN reservation_seats rs "
    "ON rs.reservation_id = p.reservation_id WHERE rs.seat_id = s.id AND p.status = 'PAID') AS n FROM seats s "
    "WHERE s.sold_to IS NOT NULL) x WHERE n <> 1 ORDER BY id",
    "SELECT format('payments.id=%s: seat %s is not sold to its payer (user %s)', p.id, rs.seat_id, p.user_id) "
    "FROM payments p JOIN reservation_seats rs ON rs.reservation_id = p.reservation_id "
    "LEFT JOIN seats s ON s.id = rs.seat_id WHERE p.status = 'PAID' AND (s.sold_to IS NULL "
    "OR s.sold_to <> p.user_id OR NOT rs.sold) ORDER BY p.id, rs.seat_id",
    /* orders: each refunded payment has exactly one REFUND entry of its amount and none of its seats sold through it */
    "SELECT format('payments.id=%s: has %s matching REFUND ledger entries and %s in all (expected 1 and 1 when "
    "REFUNDED, none when PAID)', id, n, m) FROM (SELECT p.id, p.status, (SELECT count(*) FROM ledger l "
    "WHERE l.ref = 'refund:' || p.id AND l.kind = 'REFUND' AND l.user_id = p.user_id AND l.amount = p.amount) AS n, "
    "(SELECT count(*) FROM ledger l WHERE l.ref = 'refund:' || p.id) AS m FROM payments p) x "
    "WHERE (status = 'REFUNDED' AND (n <> 1 OR m <> 1)) OR (status = 'PAID' AND m <> 0) ORDER BY id",
    "SELECT format('payments.id=%s: REFUNDED but seat %s is still sold through it (user %s)', p.id, rs.seat_id, "
    "p.user_id) FROM payments p JOIN reservation_seats rs ON rs.reservation_id = p.reservation_id "
    "WHERE p.status = 'REFUNDED' AND rs.sold ORDER BY p.id, rs.seat_id",
    "SELECT format('payments.id=%s: no PAYMENT ledger entry of -%s for user %s', p.id, p.amount, p.user_id) "
    "FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.ref = 'payment:' || p.id "
    "AND l.user_id = p.user_id AND l.kind = 'PAYMENT' AND l.amount = -p.amount) ORDER BY p.id",
    "SELECT format('transfers.id=%s: has %s ledger entries (expected TRANSFER_OUT and TRANSFER_IN)', id, n) FROM "
    "(SELECT t.id, (SELECT count(*) FROM ledger l WHERE l.ref = 'transfer:' || t.id AND "
    "((l.kind = 'TRANSFER_OUT' AND l.user_id = t.from_user AND l.amount = -t.amount) OR "
    "(l.kind = 'TRANSFER_IN' AND l.user_id = t.to_user AND l.amount = t.amount))) AS n FROM transfers t) x "
    "WHERE n <> 2 ORDER BY id",
    "SELECT format('reservations.id=%s: HELD on seat %s but expired at %s ms', id, seat_id, expires_at) "
    "FROM reservations WHERE status = 'HELD' AND expires_at <= $1::bigint ORDER BY id",
    "SELECT format('idempotency user %s key ''%s'': PENDING since %s ms: its outcome is unknown', user_id, "
    "left(key, 128), created_at) FROM idempotency WHERE state = 'PENDING' AND created_at <= $1::bigint "
    "ORDER BY created_at",
};

static int audit_fn(struct pg_conn *c, void *argp)
{
    struct audit_args *a = argp;
    char due[24];
    snprintf(due, sizeof due, "%lld", (long long)a->due_ms);
    const char *vals[1] = {due};
    for (size_t i = 0; i < sizeof AUDIT_SQL / sizeof AUDIT_SQL[0]; i++) {
        bool bind = strstr(AUDIT_SQL[i], "$1") != NULL;
        PGresult *r = PQexecParams(c->c, AUDIT_SQL[i], bind ? 1 : 0, NULL, bind ? vals : NULL, NULL, NULL, 0);
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
            int rc = pg_fail(c, r, "audit");
            PQclear(r);
            return rc;
        }
        int rc = TK_OK;
        for (int row = 0; row < PQntuples(r) && rc == TK_OK; row++)
            rc = a->fn(a->arg, PQgetvalue(r, row, 0));
        PQclear(r);
        TK_TRY(rc);
    }
    return TK_OK;
}

static int pg_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    struct audit_args a = {.due_ms = now_ms - grace_ms, .fn = fn, .arg = arg};
    return with_conn(PG(st), audit_fn, &a);
}

static int idem_audit_fn(struct pg_conn *c, void *argp)
{
    struct audit_args *a = argp;
    /* the ledger's balance_after for each record's effect, resolved in SQL */
    const char *sql =
        "SELECT i.user_id, i.key, COALESCE(i.body, ''), COALESCE(i.effect_ref, ''), "
        "CASE WHEN COALESCE(i.effect_ref, '') = '' THEN true "
        "     WHEN i.effect_ref LIKE 'reservation:%' THEN EXISTS (SELECT 1 FROM reservations r "
        "        WHERE r.id = split_part(i.effect_ref, ':', 2)::bigint AND r.user_id = i.user_id) "
        "     WHEN i.effect_ref LIKE 'order:%' THEN EXISTS (SELECT 1 FROM orders o "
        "        WHERE o.id = split_part(i.effect_ref, ':', 2)::bigint AND o.user_id = i.user_id) "
        "     ELSE e.balance_after IS NOT NULL END, "
        "e.balance_after "
        "FROM idempotency i LEFT JOIN LATERAL (SELECT l.balance_after FROM ledger l WHERE l.user_id = i.user_id AND "
        "  ((i.effect_ref LIKE 'ledger:%' AND l.id = split_part(i.effect_ref, ':', 2)::bigint) OR "
        "   ((i.effect_ref LIKE 'payment:%' OR i.effect_ref LIKE 'transfer:%') AND l.ref = i.effect_ref "
        "    AND l.kind IN ('PAYMENT', 'TRANSFER_OUT')) OR "
        "   (i.effect_ref LIKE 'refund:%' AND l.ref = i.effect_ref AND l.kind = 'REFUND') OR "
        "   (i.effect_ref LIKE 'order\\_payment:%' AND l.ref = 'order:' || split_part(i.effect_ref, ':', 2) "
        "    AND l.kind = 'ORDER_PAYMENT')) LIMIT 1) e ON true "
        "WHERE i.state = 'DONE' AND i.status BETWEEN 200 AND 299 ORDER BY i.user_id, i.key";
    PGresult *r = PQexec(c->c, sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, r, "idempotency audit");
        PQclear(r);
        return rc;
    }
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_idem_audit row = {
            .user_id = col_i64(r, i, 0),
            .key = PQgetvalue(r, i, 1),
            .body = PQgetvalue(r, i, 2),
            .effect_ref = PQgetvalue(r, i, 3),
            .effect_found = PQgetvalue(r, i, 4)[0] == 't',
            .has_balance = !PQgetisnull(r, i, 5),
            .balance_after_won = PQgetisnull(r, i, 5) ? 0 : col_i64(r, i, 5),
        };
        rc = a->idem_fn(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_idem_audit(struct tk_store *st, tk_idem_audit_fn fn, void *arg)
{
    struct audit_args a = {.idem_fn = fn, .arg = arg};
    return with_conn(PG(st), idem_audit_fn, &a);
}

/* ---------- the shop (issue 12): products, carts, orders, popular products ----------
 * Its own prepared statements (SHOP_PSQL, bitmap c->prepared_shop) so that this section stays apart from the
 * rest. The writes are PL/pgSQL functions of pg_schema.h (PG_SCHEMA_SHOP), one round trip each: tk_order_create
 * (the decrement rule, tk_shop_take, for every item in id order), tk_order_pay, tk_option_update, tk_cart_add;
 * the optimistic and unsafe modes read the options before (outside the transaction), as the lab measures. */

enum shop_pst {
    Q_PRODUCT_INSERT, Q_OPTION_INSERT, Q_PRODUCTS, Q_PRODUCT_ONE, Q_OPTION_GET, Q_ORDER_CREATE, Q_ORDER_GET,
    Q_ORDER_ITEMS, Q_ORDER_PAY, Q_RECLAIM_DUE, Q_ORDERS_EXPIRE, Q_OPTION_UPDATE, Q_CART_ADD, Q_CART_LIST,
    Q_CART_DELETE, Q_POPULAR, Q_PRODUCT_COUNT, Q_ORDER_BATCH,
    Q__COUNT
};

static const char *const SHOP_PSQL[Q__COUNT] = {
    [Q_PRODUCT_INSERT] = "INSERT INTO products(name, created_at) VALUES ($1, $2) RETURNING id",
    [Q_OPTION_INSERT] = "INSERT INTO product_options(product_id, name, price, stock, stocked) "
                        "VALUES ($1, $2, $3, $4, $4) RETURNING id",
    [Q_PRODUCTS] = "SELECT p.id, p.name, o.id, o.name, o.price, o.stock + tk_shop_due(o.id, $1) "
                   "FROM products p JOIN product_options o ON o.product_id = p.id "
                   "WHERE p.id IN (SELECT id FROM products ORDER BY id LIMIT $2) ORDER BY p.id, o.id",
    [Q_PRODUCT_ONE] = "SELECT p.id, p.name, o.id, o.name, o.price, o.stock + tk_shop_due(o.id, $1) "
                      "FROM products p JOIN product_options o ON o.product_id = p.id WHERE p.id = $2 ORDER BY o.id",
    [Q_OPTION_GET] = "SELECT o.stock, tk_shop_due(o.id, $2), o.version FROM product_options o WHERE o.id = $1",
    [Q_ORDER_CREATE] = "SELECT o_code, o_order, array_to_string(o_bad, ',') FROM "
                       "tk_order_create($1, $2, $3::bigint[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[], "
                       "$8::bigint[], $9, $10, $11::bigint[], $12::int[], $13, $14)",
    [Q_ORDER_GET] = "SELECT id, user_id, status, total, created_at, expires_at, COALESCE(paid_at, 0), "
                    "COALESCE((SELECT l.balance_after FROM ledger l WHERE l.ref = 'order:' || orders.id "
                    "  AND l.kind = 'ORDER_PAYMENT' LIMIT 1), 0) FROM orders WHERE id = $1",
    [Q_ORDER_ITEMS] = "SELECT i.option_id, i.product_id, p.name, o.name, i.quantity, i.price FROM order_items i "
                      "JOIN product_options o ON o.id = i.option_id JOIN products p ON p.id = i.product_id "
                      "WHERE i.order_id = $1 ORDER BY i.option_id",
    [Q_ORDER_PAY] = "SELECT o_code, COALESCE(o_balance, 0) FROM tk_order_pay($1, $2, $3, $4, $5)",
    [Q_RECLAIM_DUE] = "SELECT tk_shop_reclaim_due($1, $2)",
    [Q_ORDERS_EXPIRE] = "UPDATE orders SET status = 'EXPIRED' WHERE id IN (SELECT o.id FROM orders o "
                        "WHERE o.status = 'PENDING' AND o.expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM order_items i "
                        "WHERE i.order_id = o.id AND i.state = 'RESERVED') ORDER BY o.expires_at LIMIT $2 "
                        "FOR NO KEY UPDATE SKIP LOCKED) AND status = 'PENDING'",
    [Q_OPTION_UPDATE] = "SELECT o_code, o_product, o_name, o_price, o_stock FROM "
                        "tk_option_update($1, $2, $3, $4, $5, $6, $7)",
    [Q_CART_ADD] = "SELECT o_code, o_id, o_quantity FROM tk_cart_add($1, $2, $3, $4)",
    [Q_CART_LIST] = "SELECT c.id, c.option_id, o.product_id, p.name, o.name, o.price, c.quantity FROM cart_items c "
                    "JOIN product_options o ON o.id = c.option_id JOIN products p ON p.id = o.product_id "
                    "WHERE c.user_id = $1 ORDER BY c.id",
    [Q_CART_DELETE] = "DELETE FROM cart_items WHERE id = $1 AND user_id = $2",
    /* the days' rows summed first (an index-only range scan of the key), the 5 names joined after */
    [Q_POPULAR] = "SELECT t.product_id, p.name, t.u FROM (SELECT product_id, sum(units) AS u "
                  "FROM daily_popular_products WHERE day BETWEEN $1 AND $2 GROUP BY product_id "
                  "ORDER BY u DESC, product_id LIMIT $3) t JOIN products p ON p.id = t.product_id "
                  "ORDER BY t.u DESC, t.product_id",
    [Q_PRODUCT_COUNT] = "SELECT count(*) FROM products",
    [Q_ORDER_BATCH] = "SELECT o_code, array_to_string(o_codes, ','), array_to_string(o_orders, ','), COALESCE(o_price, 0), "
                      "COALESCE(o_product, 0), COALESCE(o_pname, ''), COALESCE(o_oname, '') FROM "
                      "tk_order_batch($1, $2::bigint[], $3::int[], $4::text[], $5::bigint[], $6, $7)",
};
_Static_assert(Q__COUNT <= 64, "prepared bitmap (shop)");

/* The result codes of the shop's PL/pgSQL functions (PG_SCHEMA_SHOP). */
static int shop_code(int code)
{
    switch (code) {
    case 0: return TK_OK;
    case 1: return TK_ERR_NOT_FOUND;
    case 2: return TK_ERR_INSUFFICIENT_BALANCE;
    case 4: return TK_ERR_CONFLICT;
    case 8: return TK_ERR_ALREADY_PAID;
    case 11: return TK_ERR_OUT_OF_STOCK;
    case 12: return TK_ERR_ORDER_EXPIRED;
    case 13:
    case 14: return TK_ERR_INVALID;
    }
    return TK_ERR_INTERNAL;
}

/* Runs shop statement id (prepared once per connection); *out holds the result (caller PQclears). The shop's own
 * SQLSTATEs come back as errors: TK011 OUT_OF_STOCK (its DETAIL, the option ids, copied into detail), TK012
 * ORDER_EXPIRED; the rest as pg_fail maps them. */
static int shop_run(struct pg_conn *c, enum shop_pst id, const struct params *p, PGresult **out, char *detail,
                    size_t detail_len)
{
    *out = NULL; /* on every path (run()'s rule) */
    char name[8];
    snprintf(name, sizeof name, "s%d", (int)id);
    if (!(c->prepared_shop & (1ULL << id))) {
        PGresult *r = PQprepare(c->c, name, SHOP_PSQL[id], 0, NULL);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = pg_fail(c, r, SHOP_PSQL[id]);
            PQclear(r);
            return rc;
        }
        PQclear(r);
        c->prepared_shop |= 1ULL << id;
    }
    PGresult *r = PQexecPrepared(c->c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        int rc;
        if (state && strcmp(state, "TK011") == 0) {
            const char *d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
            if (detail)
                snprintf(detail, detail_len, "%s", d ? d : "");
            rc = TK_ERR_OUT_OF_STOCK;
        } else if (state && strcmp(state, "TK012") == 0) {
            rc = TK_ERR_ORDER_EXPIRED;
        } else {
            rc = pg_fail(c, r, SHOP_PSQL[id]);
        }
        PQclear(r);
        return rc;
    }
    *out = r;
    return TK_OK;
}

/* A PostgreSQL array literal of n integers ("{1,2,3}") into buf. */
static const char *int_array(char *buf, size_t len, const int64_t *v, int n)
{
    size_t at = (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)v[i]);
    if (at < len)
        snprintf(buf + at, len - at, "}");
    return buf;
}

/* Parses "1,2,3" into ids (at most ORDER_ITEMS_MAX). */
static void bad_ids(struct tk_order *o, const char *s)
{
    o->nbad = 0;
    while (*s && o->nbad < ORDER_ITEMS_MAX) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s)
            break;
        o->bad_option_ids[o->nbad++] = v;
        s = *end == ',' ? end + 1 : end;
    }
}

/* Demo merchandise (seed_demo), once: when there are no products yet. Runs inside the seed's transaction. */
static int shop_seed(struct pg_conn *c, int64_t now_ms, bool *seeded)
{
    PGresult *r;
    TK_TRY(shop_run(c, Q_PRODUCT_COUNT, NULL, &r, NULL, 0));
    int64_t n = col_i64(r, 0, 0);
    PQclear(r);
    if (n > 0)
        return TK_OK;
    for (int i = 0; i < STORE_DEMO_PRODUCT_COUNT; i++) {
        const struct store_demo_product *d = &STORE_DEMO_PRODUCTS[i];
        struct params p = {0};
        p_str(&p, d->name);
        p_i64(&p, now_ms);
        TK_TRY(shop_run(c, Q_PRODUCT_INSERT, &p, &r, NULL, 0));
        int64_t pid = col_i64(r, 0, 0);
        PQclear(r);
        for (int k = 0; k < d->noptions; k++) {
            p.n = 0;
            p_i64(&p, pid);
            p_str(&p, d->options[k].name);
            p_i64(&p, d->options[k].price_won);
            p_i64(&p, d->options[k].stock);
            TK_TRY(shop_run(c, Q_OPTION_INSERT, &p, &r, NULL, 0));
            PQclear(r);
        }
    }
    *seeded = true;
    return TK_OK;
}

/* ---- products ---- */

struct pg_products_args {
    int64_t id, now_ms;
    int limit;
    tk_product_fn fn;
    void *arg;
    struct tk_product *out;
    int count;
};

/* Visits the products of a Q_PRODUCTS / Q_PRODUCT_ONE result (rows by product, then option). */
static int products_visit(PGresult *r, tk_product_fn fn, void *arg, int *count)
{
    struct tk_product *p = malloc(sizeof *p);
    if (!p)
        return TK_ERR_NOMEM;
    int rc = TK_OK;
    p->id = 0;
    *count = 0;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        int64_t pid = col_i64(r, i, 0);
        if (pid != p->id) {
            if (p->id)
                rc = fn(arg, p);
            p->id = pid;
            p->noptions = 0;
            snprintf(p->name, sizeof p->name, "%s", PQgetvalue(r, i, 1));
            ++*count;
        }
        if (rc == TK_OK && p->noptions < PRODUCT_OPTIONS_MAX) {
            struct tk_option *o = &p->options[p->noptions++];
            *o = (struct tk_option){.id = col_i64(r, i, 2), .product_id = pid, .price_won = col_i64(r, i, 4),
                                    .stock = col_i64(r, i, 5)};
            snprintf(o->name, sizeof o->name, "%s", PQgetvalue(r, i, 3));
        }
    }
    if (rc == TK_OK && p->id)
        rc = fn(arg, p);
    free(p);
    return rc;
}

static int products_fn(struct pg_conn *c, void *argp)
{
    struct pg_products_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(shop_run(c, Q_PRODUCTS, &p, &r, NULL, 0));
    int rc = products_visit(r, a->fn, a->arg, &a->count);
    PQclear(r);
    return rc;
}

static int pg_products_list(struct tk_store *st, int64_t now_ms, int limit, tk_product_fn fn, void *arg)
{
    struct pg_products_args a = {.now_ms = now_ms, .limit = limit, .fn = fn, .arg = arg};
    return with_conn(PG(st), products_fn, &a);
}

static int product_copy(void *arg, const struct tk_product *p)
{
    memcpy(arg, p, sizeof *p);
    return TK_OK;
}

static int product_one_fn(struct pg_conn *c, void *argp)
{
    struct pg_products_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->id);
    PGresult *r;
    TK_TRY(shop_run(c, Q_PRODUCT_ONE, &p, &r, NULL, 0));
    int rc = products_visit(r, product_copy, a->out, &a->count);
    PQclear(r);
    TK_TRY(rc);
    return a->count ? TK_OK : TK_ERR_NOT_FOUND;
}

static int pg_product_get(struct tk_store *st, int64_t product_id, int64_t now_ms, struct tk_product *out)
{
    struct pg_products_args a = {.id = product_id, .now_ms = now_ms, .out = out};
    return with_conn(PG(st), product_one_fn, &a);
}

struct pg_product_create_args {
    const struct tk_product_new *in;
    int64_t now_ms;
    struct tk_product *out;
};

static int product_create_fn(struct pg_conn *c, void *argp)
{
    struct pg_product_create_args *a = argp;
    TK_ASSERT(a->in->noptions >= 1 && a->in->noptions <= PRODUCT_OPTIONS_MAX);
    struct params p = {0};
    p_str(&p, a->in->name);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(shop_run(c, Q_PRODUCT_INSERT, &p, &r, NULL, 0));
    struct tk_product *out = a->out;
    out->id = col_i64(r, 0, 0);
    PQclear(r);
    snprintf(out->name, sizeof out->name, "%s", a->in->name);
    out->noptions = a->in->noptions;
    for (int i = 0; i < a->in->noptions; i++) {
        const struct tk_option_new *o = &a->in->options[i];
        p.n = 0;
        p_i64(&p, out->id);
        p_str(&p, o->name);
        p_i64(&p, o->price_won);
        p_i64(&p, o->stock);
        TK_TRY(shop_run(c, Q_OPTION_INSERT, &p, &r, NULL, 0));
        out->options[i] = (struct tk_option){.id = col_i64(r, 0, 0), .product_id = out->id, .price_won = o->price_won,
                                             .stock = o->stock};
        PQclear(r);
        snprintf(out->options[i].name, sizeof out->options[i].name, "%s", o->name);
    }
    return TK_OK;
}

static int pg_product_create(struct tk_store *st, const struct tk_product_new *in, int64_t now_ms,
                             struct tk_product *out)
{
    struct pg_product_create_args a = {.in = in, .now_ms = now_ms, .out = out};
    return with_txn(PG(st), product_create_fn, &a);
}

/* ---- orders ---- */

struct pg_order_args {
    enum tk_write_mode mode;
    const struct tk_order_req *req;
    const struct tk_order_pay_req *pay;
    struct tk_order *out;
    int64_t user_id, order_id;
};

/* Reads an order and its items (the user's: NOT_FOUND otherwise). */
static int order_read(struct pg_conn *c, int64_t user_id, int64_t order_id, struct tk_order *o)
{
    struct params p = {0};
    p_i64(&p, order_id);
    PGresult *r;
    TK_TRY(shop_run(c, Q_ORDER_GET, &p, &r, NULL, 0));
    if (!PQntuples(r) || col_i64(r, 0, 1) != user_id) {
        PQclear(r);
        return TK_ERR_NOT_FOUND;
    }
    *o = (struct tk_order){.id = col_i64(r, 0, 0), .user_id = col_i64(r, 0, 1), .total_won = col_i64(r, 0, 3),
                           .created_at_ms = col_i64(r, 0, 4), .expires_at_ms = col_i64(r, 0, 5),
                           .paid_at_ms = col_i64(r, 0, 6), .balance_won = col_i64(r, 0, 7)};
    int rc = store_order_state_parse(PQgetvalue(r, 0, 2), &o->state);
    PQclear(r);
    TK_TRY(rc);
    TK_TRY(shop_run(c, Q_ORDER_ITEMS, &p, &r, NULL, 0));
    for (int i = 0; i < PQntuples(r) && o->nitems < ORDER_ITEMS_MAX; i++) {
        struct tk_order_item *it = &o->items[o->nitems++];
        *it = (struct tk_order_item){.option_id = col_i64(r, i, 0), .product_id = col_i64(r, i, 1),
                                     .quantity = (int)col_i64(r, i, 4), .price_won = col_i64(r, i, 5)};
        snprintf(it->product_name, sizeof it->product_name, "%s", PQgetvalue(r, i, 2));
        snprintf(it->option_name, sizeof it->option_name, "%s", PQgetvalue(r, i, 3));
    }
    PQclear(r);
    return TK_OK;
}

static int order_create_fn(struct pg_conn *c, void *argp)
{
    struct pg_order_args *a = argp;
    const struct tk_order_req *q = a->req;
    struct tk_order *o = a->out;
    int n = q->nitems;
    int64_t opts[ORDER_ITEMS_MAX], qty[ORDER_ITEMS_MAX], stock[ORDER_ITEMS_MAX] = {0}, due[ORDER_ITEMS_MAX] = {0},
            ver[ORDER_ITEMS_MAX] = {0}, cart[CART_ITEMS_MAX], cart_qty[CART_ITEMS_MAX];
    for (int i = 0; i < n; i++) {
        opts[i] = q->items[i].option_id;
        qty[i] = q->items[i].quantity;
    }
    for (int i = 0; i < q->ncart; i++) {
        cart[i] = q->cart[i].cart_item_id;
        cart_qty[i] = q->cart[i].quantity;
    }
    struct params p = {0};
    PGresult *r;
    o->nbad = 0;
    if (a->mode == TK_WRITE_OPTIMISTIC || a->mode == TK_WRITE_UNSAFE) { /* read outside the transaction */
        for (int i = 0; i < n; i++) {
            p.n = 0;
            p_i64(&p, opts[i]);
            p_i64(&p, q->now_ms);
            TK_TRY(shop_run(c, Q_OPTION_GET, &p, &r, NULL, 0));
            if (!PQntuples(r)) {
                PQclear(r);
                o->nbad = 1;
                o->bad_option_ids[0] = opts[i];
                return TK_ERR_NOT_FOUND;
            }
            stock[i] = col_i64(r, 0, 0);
            due[i] = col_i64(r, 0, 1);
            ver[i] = col_i64(r, 0, 2);
            PQclear(r);
            if (stock[i] + due[i] < qty[i])
                o->bad_option_ids[o->nbad++] = opts[i];
        }
        if (o->nbad)
            return TK_ERR_OUT_OF_STOCK;
    }
    enum { ARR = ORDER_ITEMS_MAX * 21 + 3 };
    char a_opts[ARR], a_qty[ARR], a_stock[ARR], a_due[ARR], a_ver[ARR], a_fence[ARR], a_cart[ARR], a_cq[ARR];
    p.n = 0;
    p_str(&p, mode_name(a->mode));
    p_i64(&p, q->user_id);
    p_str(&p, int_array(a_opts, sizeof a_opts, opts, n));
    p_str(&p, int_array(a_qty, sizeof a_qty, qty, n));
    p_str(&p, int_array(a_stock, sizeof a_stock, stock, n));
    p_str(&p, int_array(a_due, sizeof a_due, due, n));
    p_str(&p, int_array(a_ver, sizeof a_ver, ver, n));
    p_str(&p, int_array(a_fence, sizeof a_fence, q->fences, n));
    p_i64(&p, q->now_ms);
    p_i64(&p, q->now_ms + q->hold_ms);
    p_str(&p, int_array(a_cart, sizeof a_cart, cart, q->ncart));
    p_str(&p, int_array(a_cq, sizeof a_cq, cart_qty, q->ncart));
    p_idem(&p, q->idem);
    char detail[ORDER_ITEMS_MAX * 21 + 8] = "";
    int rc = shop_run(c, Q_ORDER_CREATE, &p, &r, detail, sizeof detail);
    if (rc == TK_ERR_OUT_OF_STOCK)
        bad_ids(o, detail);
    TK_TRY(rc);
    rc = shop_code(atoi(PQgetvalue(r, 0, 0)));
    int64_t order_id = rc == TK_OK ? col_i64(r, 0, 1) : 0;
    if (rc == TK_ERR_OUT_OF_STOCK || rc == TK_ERR_NOT_FOUND)
        bad_ids(o, PQgetvalue(r, 0, 2));
    PQclear(r);
    TK_TRY(rc);
    return order_read(c, q->user_id, order_id, o); /* committed: the answer, read back */
}

/* A PostgreSQL text[] literal of n idempotency keys (NULL where there is none): {"k1",NULL,"k\"2"}. malloc'd. */
static char *key_array(const struct tk_order_batch_item *items, int n)
{
    size_t cap = 3 + (size_t)n * (2 * IDEM_KEY_MAX + 4), at = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    b[at++] = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            b[at++] = ',';
        const char *k = items[i].idem ? items[i].idem->key : NULL;
        if (!k) {
            memcpy(b + at, "NULL", 4);
            at += 4;
            continue;
        }
        b[at++] = '"';
        for (; *k && at + 4 < cap; k++) {
            if (*k == '"' || *k == '\\')
                b[at++] = '\\';
            b[at++] = *k;
        }
        b[at++] = '"';
    }
    b[at++] = '}';
    b[at] = 0;
    return b;
}

struct pg_batch_args {
    int64_t option_id, now_ms, hold_ms;
    struct tk_order_batch_item *items;
    int n;
};

static int order_batch_fn(struct pg_conn *c, void *argp)
{
    struct pg_batch_args *a = argp;
    int64_t users[ORDER_BATCH_MAX], qty[ORDER_BATCH_MAX], claims[ORDER_BATCH_MAX];
    for (int i = 0; i < a->n; i++) {
        users[i] = a->items[i].user_id;
        qty[i] = a->items[i].quantity;
        claims[i] = a->items[i].idem ? a->items[i].idem->claim : 0;
    }
    enum { ARR = ORDER_BATCH_MAX * 21 + 3 };
    char a_users[ARR], a_qty[ARR], a_claims[ARR];
    char *a_keys = key_array(a->items, a->n);
    if (!a_keys)
        return TK_ERR_NOMEM;
    struct params p = {0};
    p_i64(&p, a->option_id);
    p_str(&p, int_array(a_users, sizeof a_users, users, a->n));
    p_str(&p, int_array(a_qty, sizeof a_qty, qty, a->n));
    p_str(&p, a_keys);
    p_str(&p, int_array(a_claims, sizeof a_claims, claims, a->n));
    p_i64(&p, a->now_ms);
    p_i64(&p, a->now_ms + a->hold_ms);
    PGresult *r;
    int rc = shop_run(c, Q_ORDER_BATCH, &p, &r, NULL, 0);
    free(a_keys);
    TK_TRY(rc);
    int code = atoi(PQgetvalue(r, 0, 0));
    const char *codes = PQgetvalue(r, 0, 1), *orders = PQgetvalue(r, 0, 2);
    int64_t price = col_i64(r, 0, 3), product = col_i64(r, 0, 4);
    for (int i = 0; i < a->n; i++) {
        struct tk_order_batch_item *it = &a->items[i];
        char *end;
        int ci = code == 1 ? 1 : (int)strtol(codes, &end, 10);
        int64_t oid = code == 1 ? 0 : strtoll(orders, &end, 10);
        if (code != 1) {
            codes = strchr(codes, ',') ? strchr(codes, ',') + 1 : codes + strlen(codes);
            orders = strchr(orders, ',') ? strchr(orders, ',') + 1 : orders + strlen(orders);
        }
        struct tk_order *o = it->out;
        memset(o, 0, sizeof *o);
        it->rc = ci == 0 ? TK_OK : ci == 1 ? TK_ERR_NOT_FOUND : ci == 10 ? TK_ERR_CLAIM_LOST : TK_ERR_OUT_OF_STOCK;
        if (it->rc == TK_ERR_OUT_OF_STOCK || it->rc == TK_ERR_NOT_FOUND) {
            o->nbad = 1;
            o->bad_option_ids[0] = a->option_id;
        }
        if (it->rc != TK_OK)
            continue;
        *o = (struct tk_order){.id = oid, .user_id = it->user_id, .state = ORDER_PENDING,
                               .total_won = price * it->quantity, .created_at_ms = a->now_ms,
                               .expires_at_ms = a->now_ms + a->hold_ms, .nitems = 1};
        o->items[0] = (struct tk_order_item){.option_id = a->option_id, .product_id = product,
                                             .quantity = it->quantity, .price_won = price};
        snprintf(o->items[0].product_name, sizeof o->items[0].product_name, "%s", PQgetvalue(r, 0, 5));
        snprintf(o->items[0].option_name, sizeof o->items[0].option_name, "%s", PQgetvalue(r, 0, 6));
    }
    PQclear(r);
    return TK_OK;
}

static int pg_order_batch(struct tk_store *st, int64_t option_id, int64_t now_ms, int64_t hold_ms,
                          struct tk_order_batch_item *items, int n)
{
    TK_ASSERT(n >= 1 && n <= ORDER_BATCH_MAX);
    struct pg_batch_args a = {.option_id = option_id, .now_ms = now_ms, .hold_ms = hold_ms, .items = items, .n = n};
    return with_conn(PG(st), order_batch_fn, &a);
}

static int pg_order_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_order_req *req,
                           struct tk_order *out)
{
    TK_ASSERT(req->nitems >= 1 && req->nitems <= ORDER_ITEMS_MAX && req->ncart <= CART_ITEMS_MAX);
    struct pg_order_args a = {.mode = mode, .req = req, .out = out};
    return with_conn(PG(st), order_create_fn, &a);
}

static int order_get_fn(struct pg_conn *c, void *argp)
{
    struct pg_order_args *a = argp;
    return order_read(c, a->user_id, a->order_id, a->out);
}

static int pg_order_get(struct tk_store *st, int64_t user_id, int64_t order_id, struct tk_order *out)
{
    struct pg_order_args a = {.user_id = user_id, .order_id = order_id, .out = out};
    return with_conn(PG(st), order_get_fn, &a);
}

static int order_pay_fn(struct pg_conn *c, void *argp)
{
    struct pg_order_args *a = argp;
    const struct tk_order_pay_req *q = a->pay;
    struct params p = {0};
    p_i64(&p, q->user_id);
    p_i64(&p, q->order_id);
    p_i64(&p, q->now_ms);
    p_idem(&p, q->idem);
    PGresult *r;
    TK_TRY(shop_run(c, Q_ORDER_PAY, &p, &r, NULL, 0));
    int rc = shop_code(atoi(PQgetvalue(r, 0, 0)));
    int64_t balance = col_i64(r, 0, 1);
    PQclear(r);
    TK_TRY(rc);
    TK_TRY(order_read(c, q->user_id, q->order_id, a->out));
    a->out->balance_won = balance;
    return TK_OK;
}

static int pg_order_pay(struct tk_store *st, const struct tk_order_pay_req *req, struct tk_order *out)
{
    struct pg_order_args a = {.pay = req, .out = out};
    return with_conn(PG(st), order_pay_fn, &a);
}

struct pg_shop_sweep_args {
    int64_t now_ms;
    int limit, expired;
};

static int orders_expire_fn(struct pg_conn *c, void *argp)
{
    struct pg_shop_sweep_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->now_ms);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(shop_run(c, Q_RECLAIM_DUE, &p, &r, NULL, 0)); /* its own transaction: options, then their items */
    PQclear(r);
    TK_TRY(shop_run(c, Q_ORDERS_EXPIRE, &p, &r, NULL, 0)); /* then the order rows, apart */
    a->expired = atoi(PQcmdTuples(r));
    PQclear(r);
    return TK_OK;
}

static int pg_orders_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    struct pg_shop_sweep_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(with_conn(PG(st), orders_expire_fn, &a));
    *expired = a.expired;
    return TK_OK;
}

/* ---- the organizer's option changes ---- */

struct pg_option_update_args {
    const struct tk_option_patch *p;
    int64_t fence, now_ms;
    struct tk_option *out;
};

static int option_update_fn(struct pg_conn *c, void *argp)
{
    struct pg_option_update_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->p->option_id);
    p_str(&p, a->p->has_stock ? "true" : "false");
    p_i64(&p, a->p->stock);
    p_str(&p, a->p->has_price ? "true" : "false");
    p_i64(&p, a->p->price_won);
    p_i64(&p, a->fence);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(shop_run(c, Q_OPTION_UPDATE, &p, &r, NULL, 0));
    int rc = shop_code(atoi(PQgetvalue(r, 0, 0)));
    if (rc == TK_OK) {
        *a->out = (struct tk_option){.id = a->p->option_id, .product_id = col_i64(r, 0, 1),
                                     .price_won = col_i64(r, 0, 3), .stock = col_i64(r, 0, 4)};
        snprintf(a->out->name, sizeof a->out->name, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return rc;
}

static int pg_option_update(struct tk_store *st, const struct tk_option_patch *p, int64_t fence, int64_t now_ms,
                            struct tk_option *out)
{
    struct pg_option_update_args a = {.p = p, .fence = fence, .now_ms = now_ms, .out = out};
    return with_conn(PG(st), option_update_fn, &a);
}

/* ---- carts ---- */

struct pg_cart_args {
    int64_t user_id, option_id, item_id, now_ms;
    int quantity;
    tk_cart_fn fn;
    void *arg;
    struct tk_cart_item *out;
};

static int cart_add_fn(struct pg_conn *c, void *argp)
{
    struct pg_cart_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->user_id);
    p_i64(&p, a->option_id);
    p_i64(&p, a->quantity);
    p_i64(&p, a->now_ms);
    PGresult *r;
    TK_TRY(shop_run(c, Q_CART_ADD, &p, &r, NULL, 0));
    int rc = shop_code(atoi(PQgetvalue(r, 0, 0)));
    *a->out = (struct tk_cart_item){.id = PQgetisnull(r, 0, 1) ? 0 : col_i64(r, 0, 1), .option_id = a->option_id,
                                    .quantity = PQgetisnull(r, 0, 2) ? 0 : (int)col_i64(r, 0, 2)};
    PQclear(r);
    return rc;
}

static int pg_cart_add(struct tk_store *st, int64_t user_id, int64_t option_id, int quantity, int64_t now_ms,
                       struct tk_cart_item *out)
{
    struct pg_cart_args a = {.user_id = user_id, .option_id = option_id, .quantity = quantity, .now_ms = now_ms,
                             .out = out};
    return with_conn(PG(st), cart_add_fn, &a);
}

static int cart_list_fn(struct pg_conn *c, void *argp)
{
    struct pg_cart_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->user_id);
    PGresult *r;
    TK_TRY(shop_run(c, Q_CART_LIST, &p, &r, NULL, 0));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_cart_item it = {.id = col_i64(r, i, 0), .option_id = col_i64(r, i, 1),
                                  .product_id = col_i64(r, i, 2), .price_won = col_i64(r, i, 5),
                                  .quantity = (int)col_i64(r, i, 6)};
        snprintf(it.product_name, sizeof it.product_name, "%s", PQgetvalue(r, i, 3));
        snprintf(it.option_name, sizeof it.option_name, "%s", PQgetvalue(r, i, 4));
        rc = a->fn(a->arg, &it);
    }
    PQclear(r);
    return rc;
}

static int pg_cart_list(struct tk_store *st, int64_t user_id, tk_cart_fn fn, void *arg)
{
    struct pg_cart_args a = {.user_id = user_id, .fn = fn, .arg = arg};
    return with_conn(PG(st), cart_list_fn, &a);
}

static int cart_remove_fn(struct pg_conn *c, void *argp)
{
    struct pg_cart_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->item_id);
    p_i64(&p, a->user_id);
    PGresult *r;
    TK_TRY(shop_run(c, Q_CART_DELETE, &p, &r, NULL, 0));
    int rc = atoi(PQcmdTuples(r)) == 1 ? TK_OK : TK_ERR_NOT_FOUND;
    PQclear(r);
    return rc;
}

static int pg_cart_remove(struct tk_store *st, int64_t user_id, int64_t cart_item_id)
{
    struct pg_cart_args a = {.user_id = user_id, .item_id = cart_item_id};
    return with_conn(PG(st), cart_remove_fn, &a);
}

/* ---- popular products ---- */

struct pg_popular_args {
    int64_t from_day, to_day;
    int limit;
    tk_popular_fn fn;
    void *arg;
};

static int popular_fn(struct pg_conn *c, void *argp)
{
    struct pg_popular_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->from_day);
    p_i64(&p, a->to_day);
    p_i64(&p, a->limit);
    PGresult *r;
    TK_TRY(shop_run(c, Q_POPULAR, &p, &r, NULL, 0));
    int rc = TK_OK;
    for (int i = 0; i < PQntuples(r) && rc == TK_OK; i++) {
        struct tk_popular row = {.product_id = col_i64(r, i, 0), .units = col_i64(r, i, 2)};
        snprintf(row.name, sizeof row.name, "%s", PQgetvalue(r, i, 1));
        rc = a->fn(a->arg, &row);
    }
    PQclear(r);
    return rc;
}

static int pg_popular(struct tk_store *st, int64_t from_day, int64_t to_day, int limit, tk_popular_fn fn, void *arg)
{
    struct pg_popular_args a = {.from_day = from_day, .to_day = to_day, .limit = limit, .fn = fn, .arg = arg};
    return with_conn(PG(st), popular_fn, &a);
}

/* ---- the shop's audit (ticketd reconcile) ---- */

/* Each query returns one column, the sentence naming the row; its $1 is now (AUDIT_NOW) or now - grace
 * (AUDIT_DUE), or it has none. */
enum { AUDIT_NONE, AUDIT_NOW, AUDIT_DUE };
static const struct {
    int param;
    const char *sql;
} SHOP_AUDIT_SQL[] = {
    {AUDIT_NOW,
     "SELECT format('product_options.id=%s: on hand %s + reserved %s + sold %s = %s, but %s were stocked', id, "
     "on_hand, reserved, sold, on_hand + reserved + sold, stocked) FROM (SELECT o.id, o.stocked, o.stock + "
     "COALESCE(sum(i.quantity) FILTER (WHERE i.state = 'RESERVED' AND i.expires_at <= $1::bigint), 0) AS on_hand, "
     "COALESCE(sum(i.quantity) FILTER (WHERE i.state = 'RESERVED' AND i.expires_at > $1::bigint), 0) AS reserved, "
     "COALESCE(sum(i.quantity) FILTER (WHERE i.state = 'SOLD'), 0) AS sold, o.stock "
     "FROM product_options o LEFT JOIN order_items i ON i.option_id = o.id GROUP BY o.id) x "
     "WHERE on_hand + reserved + sold <> stocked OR stock < 0 ORDER BY id"},
    {AUDIT_NONE,
     "SELECT format('orders.id=%s: PAID but has %s ORDER_PAYMENT entries of -%s for user %s (expected 1)', id, n, "
     "total, user_id) FROM (SELECT o.id, o.user_id, o.total, (SELECT count(*) FROM ledger l WHERE l.ref = 'order:' "
     "|| o.id AND l.kind = 'ORDER_PAYMENT' AND l.user_id = o.user_id AND l.amount = -o.total) AS n FROM orders o "
     "WHERE o.status = 'PAID') x WHERE n <> 1 ORDER BY id"},
    {AUDIT_NONE,
     "SELECT format('ledger.id=%s: ORDER_PAYMENT of %s for user %s but %s is not a paid order of that user', l.id, "
     "l.amount, l.user_id, l.ref) FROM ledger l WHERE l.kind = 'ORDER_PAYMENT' AND NOT EXISTS (SELECT 1 FROM orders o "
     "WHERE l.ref = 'order:' || o.id AND o.status = 'PAID' AND o.user_id = l.user_id) ORDER BY l.id"},
    {AUDIT_NONE,
     "SELECT format('orders.id=%s: %s but %s of its items are %s', o.id, o.status, count(*), CASE WHEN o.status = "
     "'PAID' THEN 'not SOLD' ELSE 'SOLD' END) FROM orders o JOIN order_items i ON i.order_id = o.id "
     "WHERE (o.status = 'PAID') <> (i.state = 'SOLD') GROUP BY o.id, o.status ORDER BY o.id"},
    {AUDIT_DUE,
     "SELECT format('orders.id=%s: PENDING but expired at %s ms', id, expires_at) FROM orders "
     "WHERE status = 'PENDING' AND expires_at <= $1::bigint ORDER BY id"},
    {AUDIT_NONE,
     "WITH x AS (SELECT (o.paid_at / 86400000)::int AS day, i.product_id, sum(i.quantity) AS u FROM orders o "
     "JOIN order_items i ON i.order_id = o.id WHERE o.status = 'PAID' GROUP BY 1, 2) "
     "SELECT format('daily_popular_products day %s product %s: %s units but its paid order items hold %s', "
     "COALESCE(d.day, x.day), COALESCE(d.product_id, x.product_id), COALESCE(d.units, 0), COALESCE(x.u, 0)) "
     "FROM daily_popular_products d FULL JOIN x ON x.day = d.day AND x.product_id = d.product_id "
     "WHERE COALESCE(d.units, 0) <> COALESCE(x.u, 0) "
     "ORDER BY COALESCE(d.day, x.day), COALESCE(d.product_id, x.product_id)"},
};

struct pg_shop_audit_args {
    int64_t now_ms, grace_ms;
    tk_problem_fn fn;
    void *arg;
};

static int shop_audit_fn(struct pg_conn *c, void *argp)
{
    struct pg_shop_audit_args *a = argp;
    for (size_t i = 0; i < sizeof SHOP_AUDIT_SQL / sizeof SHOP_AUDIT_SQL[0]; i++) {
        char v[24];
        const char *vals[1] = {v};
        int param = SHOP_AUDIT_SQL[i].param;
        snprintf(v, sizeof v, "%lld", (long long)(param == AUDIT_DUE ? a->now_ms - a->grace_ms : a->now_ms));
        PGresult *r = PQexecParams(c->c, SHOP_AUDIT_SQL[i].sql, param != AUDIT_NONE, NULL,
                                   param != AUDIT_NONE ? vals : NULL, NULL, NULL, 0);
        if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
            int rc = pg_fail(c, r, "shop audit");
            PQclear(r);
            return rc;
        }
        int rc = TK_OK;
        for (int row = 0; row < PQntuples(r) && rc == TK_OK; row++)
            rc = a->fn(a->arg, PQgetvalue(r, row, 0));
        PQclear(r);
        TK_TRY(rc);
    }
    return TK_OK;
}

static int pg_shop_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    struct pg_shop_audit_args a = {.now_ms = now_ms, .grace_ms = grace_ms, .fn = fn, .arg = arg};
    return with_conn(PG(st), shop_audit_fn, &a);
}

/* ---------- end of the shop ---------- */

/* ---------- the store-backed waiting room ---------- */

#define WR_COLUMNS                                                                                           \
    "AS t(token text, state text, user_id bigint, pos bigint, expires_at bigint, active bigint, created int,"   \
    " minute bigint, win bigint)"
/* The room and its settings, $1..$8 of every tk_wr_* function. */
#define WR_ROOM_ARGS "$1, $2, $3, $4, $5, $6, $7, $8"

struct wr_args {
    const struct tk_wr_params *p;
    int64_t user_id, now_ms;
    const char *token;
    double order_key;
    struct tk_wr_row *out;
    struct tk_wr_counts *counts;
};

/* The room's mode as the tk_wr_* and tk_admit_* functions take it. */
static const char *wr_mode_name(int mode)
{
    static const char *const MODES[] = {"OPEN", "PAUSED", "CLOSED"};
    TK_ASSERT(mode >= 0 && mode <= 2);
    return MODES[mode];
}

static void wr_room_params(struct params *p, const struct tk_wr_params *w, int64_t now_ms)
{
    p_i64(p, w->room);
    p_i64(p, now_ms);
    p_i64(p, w->max_active);
    p_i64(p, w->admit_per_sec);
    p_i64(p, w->token_ms);
    p_i64(p, w->idle_ms);
    p_str(p, wr_mode_name(w->mode));
    p_i64(p, w->opens_at_ms);
}

/* Runs a waitroom function and reads its one row (none: TK_ERR_NOT_FOUND; the markers 'FULL' and 'CLOSED' of
 * tk_wr_issue: TK_ERR_UNAVAILABLE, TK_ERR_SALE_CLOSED). */
static int wr_query(struct pg_conn *c, const char *sql, const struct params *p, struct tk_wr_row *out)
{
    PGresult *r = PQexecParams(c->c, sql, p->n, NULL, p->v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, r, "waiting room");
        PQclear(r);
        return rc;
    }
    int rc = PQntuples(r) ? TK_OK : TK_ERR_NOT_FOUND;
    if (rc == TK_OK && strcmp(PQgetvalue(r, 0, 1), "FULL") == 0)
        rc = TK_ERR_UNAVAILABLE;
    else if (rc == TK_OK && strcmp(PQgetvalue(r, 0, 1), "CLOSED") == 0)
        rc = TK_ERR_SALE_CLOSED;
    if (rc == TK_OK && out) {
        snprintf(out->token, sizeof out->token, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->state, sizeof out->state, "%s", PQgetvalue(r, 0, 1));
        out->user_id = col_i64(r, 0, 2);
        out->position = col_i64(r, 0, 3);
        out->expires_at_ms = col_i64(r, 0, 4);
        out->active = col_i64(r, 0, 5);
        out->created = col_i64(r, 0, 6) == 1;
        out->admitted_last_minute = col_i64(r, 0, 7);
        out->window_ms = col_i64(r, 0, 8);
    }
    PQclear(r);
    return rc;
}

static int wr_issue_fn(struct pg_conn *c, void *argp)
{
    struct wr_args *a = argp;
    struct params p = {0};
    wr_room_params(&p, a->p, a->now_ms);
    p_i64(&p, a->user_id);
    p_str(&p, a->token);
    p_f64(&p, a->order_key);
    p_i64(&p, a->p->queue_max);
    int rc = wr_query(c, "SELECT * FROM tk_wr_issue(" WR_ROOM_ARGS ", $9, $10, $11, $12) " WR_COLUMNS, &p, a->out);
    return rc == TK_ERR_NOT_FOUND ? TK_ERR_INTERNAL : rc; /* it always returns a row */
}

static int pg_wr_issue(struct tk_store *st, const struct tk_wr_params *p, int64_t user_id, const char *new_token,
                       double order_key, int64_t now_ms, struct tk_wr_row *out)
{
    struct wr_args a = {.p = p, .user_id = user_id, .token = new_token, .order_key = order_key, .now_ms = now_ms,
                        .out = out};
    return with_conn(PG(st), wr_issue_fn, &a);
}

static int wr_status_fn(struct pg_conn *c, void *argp)
{
    struct wr_args *a = argp;
    struct params p = {0};
    wr_room_params(&p, a->p, a->now_ms);
    p_str(&p, a->token);
    return wr_query(c, "SELECT * FROM tk_wr_status(" WR_ROOM_ARGS ", $9) " WR_COLUMNS, &p, a->out);
}

static int pg_wr_status(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms,
                        struct tk_wr_row *out)
{
    struct wr_args a = {.p = p, .token = token, .now_ms = now_ms, .out = out};
    return with_conn(PG(st), wr_status_fn, &a);
}

static int wr_void_fn(struct pg_conn *c, void *argp)
{
    struct wr_args *a = argp;
    struct params p = {0};
    wr_room_params(&p, a->p, a->now_ms);
    const char *sql = "SELECT tk_wr_advance(" WR_ROOM_ARGS ")";
    if (a->token) {
        p_str(&p, a->token);
        sql = "SELECT tk_wr_finish(" WR_ROOM_ARGS ", $9)";
    }
    PGresult *r = PQexecParams(c->c, sql, p.n, NULL, p.v, NULL, NULL, 0);
    int rc = (r && PQresultStatus(r) == PGRES_TUPLES_OK) ? TK_OK : pg_fail(c, r, "waiting room");
    PQclear(r);
    return rc;
}

static int pg_wr_finish(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms)
{
    struct wr_args a = {.p = p, .token = token, .now_ms = now_ms};
    return with_conn(PG(st), wr_void_fn, &a);
}

static int pg_wr_tick(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms)
{
    struct wr_args a = {.p = p, .now_ms = now_ms};
    return with_conn(PG(st), wr_void_fn, &a);
}

static int wr_counts_fn(struct pg_conn *c, void *argp)
{
    struct wr_args *a = argp;
    struct params p = {0};
    wr_room_params(&p, a->p, a->now_ms);
    PGresult *r = PQexecParams(c->c, "SELECT * FROM tk_wr_stats(" WR_ROOM_ARGS ")", p.n, NULL, p.v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = pg_fail(c, r, "waiting room counts");
        PQclear(r);
        return rc;
    }
    struct tk_wr_counts *o = a->counts;
    memset(o, 0, sizeof *o);
    o->waiting = col_i64(r, 0, 0);
    o->active = col_i64(r, 0, 1);
    o->issued = col_i64(r, 0, 2);
    o->admitted = col_i64(r, 0, 3);
    o->expired = col_i64(r, 0, 4);
    o->abandoned = col_i64(r, 0, 5);
    o->admitted_last_minute = col_i64(r, 0, 6);
    o->window_ms = col_i64(r, 0, 7);
    PQclear(r);
    struct params q = {0};
    p_i64(&q, a->p->room);
    r = PQexecParams(c->c, "SELECT bucket, n FROM waitroom_hist WHERE room = $1", q.n, NULL, q.v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, r, "waiting room histogram");
        PQclear(r);
        return rc;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t b = col_i64(r, i, 0);
        if (b >= 0 && b < TK_WR_WAIT_BUCKETS)
            o->wait_hist[b] = (uint64_t)col_i64(r, i, 1);
    }
    PQclear(r);
    return TK_OK;
}

static int pg_wr_counts(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms, struct tk_wr_counts *out)
{
    struct wr_args a = {.p = p, .now_ms = now_ms, .counts = out};
    return with_conn(PG(st), wr_counts_fn, &a);
}

struct wr_decide_args {
    const struct tk_wr_params *p;
    const struct tk_wr_decide_in *in;
    struct tk_wr_decision *out;
};

static int wr_decide_fn(struct pg_conn *c, void *argp)
{
    struct wr_decide_args *a = argp;
    struct params p = {0};
    p_i64(&p, a->in->now_ms);       /* $1 */
    p_i64(&p, a->p->max_active);    /* $2 */
    p_i64(&p, a->p->admit_per_sec); /* $3 */
    p_str(&p, wr_mode_name(a->p->mode)); /* $4 */
    p_i64(&p, a->p->opens_at_ms);   /* $5 */
    p_i64(&p, a->in->active);       /* $6 */
    p_i64(&p, a->in->waiting);      /* $7 */
    p_i64(&p, a->in->milli);        /* $8 */
    p_i64(&p, a->in->last_ms);      /* $9 */
    PGresult *r = PQexecParams(c->c,
                               "SELECT q.n, b.milli - q.n * 1000, b.last_ms,"
                               " tk_admit_immediate($4::text, tk_admit_opened($1::bigint, $5::bigint), $2::int, $6::bigint,"
                               " $7::bigint)"
                               " FROM tk_admit_refill($8::bigint, $9::bigint, $1::bigint, $3::int) b,"
                               " LATERAL (SELECT tk_admit_quota($4::text, tk_admit_opened($1::bigint, $5::bigint), $2::int,"
                               " $6::bigint, b.milli, $7::bigint) AS n) q",
                               p.n, NULL, p.v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = pg_fail(c, r, "admission rule");
        PQclear(r);
        return rc;
    }
    *a->out = (struct tk_wr_decision){.quota = col_i64(r, 0, 0),
                                      .milli = col_i64(r, 0, 1),
                                      .last_ms = col_i64(r, 0, 2),
                                      .immediate = PQgetvalue(r, 0, 3)[0] == 't'};
    PQclear(r);
    return TK_OK;
}

static int pg_wr_decide(struct tk_store *st, const struct tk_wr_params *p, const struct tk_wr_decide_in *in,
                        struct tk_wr_decision *out)
{
    struct wr_decide_args a = {.p = p, .in = in, .out = out};
    return with_conn(PG(st), wr_decide_fn, &a);
}

/* ---------- lifecycle ---------- */

static void pg_close(struct tk_store *st)
{
    struct pg_store *s = PG(st);
    while (s->free_list) {
        struct pg_conn *c = s->free_list;
        s->free_list = c->next_free;
        PQfinish(c->c);
        free(c);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static const struct tk_store_admin_ops PG_OPS_ADMIN = {
    .migrate = pg_migrate,
    .seed_demo = pg_seed_demo,
    .audit = pg_audit,
    .idem_audit = pg_idem_audit,
    .shop_audit = pg_shop_audit,
};

static const struct tk_store_ops PG_OPS = {
    .name = "postgres",
    .ping = pg_ping,
    .user_create = pg_user_create,
    .user_by_api_key = pg_user_by_api_key,
    .user_get = pg_user_get,
    .wallet_charge = pg_wallet_charge,
    .transfer = pg_transfer,
    .ledger_list = pg_ledger_list,
    .concerts_list = pg_concerts_list,
    .schedules_list = pg_schedules_list,
    .seats_available = pg_seats_available,
    .seat_map = pg_seat_map,
    .concert_create = pg_concert_create,
    .schedule_create = pg_schedule_create,
    .sale_create = pg_sale_create,
    .sale_update = pg_sale_update,
    .sales_list = pg_sales_list,
    .seat_counts = pg_seat_counts,
    .owner_concert = pg_owner_concert,
    .hold_create = pg_hold_create,
    .payment_create = pg_payment_create,
    .holds_expire_due = pg_holds_expire_due,
    .hold_cancel = pg_hold_cancel,
    .payment_refund = pg_payment_refund,
    .payments_list = pg_payments_list,
    .schedule_cancel = pg_schedule_cancel,
    .schedule_refund_batch = pg_schedule_refund_batch,
    .idem_claim = pg_idem_claim,
    .idem_complete = pg_idem_complete,
    .idem_release = pg_idem_release,
    .idem_takeover = pg_idem_takeover,
    .effect_get = pg_effect_get,
    .idem_expire_due = pg_idem_expire_due,
    .wr_issue = pg_wr_issue,
    .wr_status = pg_wr_status,
    .wr_finish = pg_wr_finish,
    .wr_tick = pg_wr_tick,
    .wr_counts = pg_wr_counts,
    .wr_decide = pg_wr_decide,
    .product_create = pg_product_create, /* the shop */
    .products_list = pg_products_list,
    .product_get = pg_product_get,
    .option_update = pg_option_update,
    .cart_add = pg_cart_add,
    .cart_list = pg_cart_list,
    .cart_remove = pg_cart_remove,
    .order_create = pg_order_create,
    .order_batch = pg_order_batch,
    .order_get = pg_order_get,
    .order_pay = pg_order_pay,
    .orders_expire_due = pg_orders_expire_due,
    .popular = pg_popular,
    .close = pg_close,
};

int pg_store_open(const char *url, int pool_max, struct tk_store **out, char *errbuf, int errlen)
{
    if (strlen(url) >= sizeof(((struct pg_store *)0)->url)) {
        snprintf(errbuf, (size_t)errlen, "postgres: URL too long");
        return TK_ERR_INVALID;
    }
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->base.ops = &PG_OPS;
    s->base.admin = &PG_OPS_ADMIN;
    snprintf(s->url, sizeof s->url, "%s", url);
    s->pool_max = pool_max > 0 ? pool_max : 4;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    struct pg_conn *c;
    int rc = conn_get(s, &c);
    if (rc < 0) {
        struct pg_conn *bad = s->free_list;
        snprintf(errbuf, (size_t)errlen, "postgres: cannot connect: %s",
                 bad && bad->c ? PQerrorMessage(bad->c) : "out of memory");
        char *nl = strchr(errbuf, '\n');
        if (nl)
            *nl = 0;
        pg_close(&s->base);
        return TK_ERR_UNAVAILABLE;
    }
    conn_put(s, c);
    *out = &s->base;
    return TK_OK;
}
