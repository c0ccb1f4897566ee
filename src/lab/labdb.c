/* labdb.c — a thin SQL connection for the lab over sqlite3 or libpq, and the rows several scenarios share:
 * the lab's own tables, a user with its opening ledger entry, a one-seat concert, balance and ledger reads. */
#include "lab/labdb.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/rand.h"

struct labdb {
    sqlite3 *lite;
    PGconn *pg;
    bool holds_writer;
};

/* SQLite has one writer: the lab's writers queue on this mutex (as the store's do) instead of sleeping in
 * SQLite's busy handler, so the figures measure the strategy, not SQLite's back-off. An executor worker may
 * block here, but only for another worker's one short transaction, which never waits for a job. Static on
 * purpose: SQLite's one writer is per file across every connection of the process (the workers', the serial
 * writer's, setup's), so no run or connection object could own the queue. */
static pthread_mutex_t LITE_WRITER = PTHREAD_MUTEX_INITIALIZER;

struct labdb *labdb_open(const char *url, char *errbuf, int errlen)
{
    struct labdb *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(errbuf, (size_t)errlen, "out of memory");
        return NULL;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        if (sqlite3_open(url + 7, &db->lite) != SQLITE_OK) {
            snprintf(errbuf, (size_t)errlen, "sqlite: %s", db->lite ? sqlite3_errmsg(db->lite) : "open failed");
            labdb_close(db);
            return NULL;
        }
        sqlite3_busy_timeout(db->lite, 10000);
        sqlite3_exec(db->lite, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
        return db;
    }
    const char *keys[] = {"dbname", "options", NULL};
    const char *vals[] = {url, "-c client_min_messages=warning", NULL};
    db->pg = PQconnectdbParams(keys, vals, 1);
    if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
        snprintf(errbuf, (size_t)errlen, "postgres: %s", db->pg ? PQerrorMessage(db->pg) : "out of memory");
        labdb_close(db);
        return NULL;
    }
    return db;
}

void labdb_close(struct labdb *db)
{
    if (!db)
        return;
    if (db->lite)
        sqlite3_close(db->lite);
    if (db->pg)
        PQfinish(db->pg);
    free(db);
}

bool labdb_is_pg(const struct labdb *db) { return db->pg != NULL; }

int labdb_exec(struct labdb *db, const char *sql, int64_t *changes)
{
    if (db->lite) {
        int rc = sqlite3_exec(db->lite, sql, NULL, NULL, NULL);
        if (changes)
            *changes = sqlite3_changes(db->lite);
        if (rc == SQLITE_OK)
            return TK_OK;
        return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? TK_ERR_UNAVAILABLE : TK_ERR_INTERNAL;
    }
    PGresult *r = PQexec(db->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? TK_OK : TK_ERR_INTERNAL;
    if (rc != TK_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
            rc = TK_ERR_CONFLICT;
        else if (!state || !strncmp(state, "08", 2))
            rc = TK_ERR_UNAVAILABLE;
        else
            fprintf(stderr, "lab: %s: %s", sql, PQerrorMessage(db->pg));
    }
    if (changes)
        *changes = rc == TK_OK ? atoll(PQcmdTuples(r)) : 0;
    PQclear(r);
    return rc;
}

/* Reads the first n columns of the first row as integers (booleans as 0/1), all from one statement. */
static int labdb_row(struct labdb *db, const char *sql, int64_t *out, int n)
{
    if (db->lite) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db->lite, sql, -1, &q, NULL) != SQLITE_OK)
            return TK_ERR_INTERNAL;
        int rc = sqlite3_step(q);
        int res = rc == SQLITE_ROW ? TK_OK : rc == SQLITE_DONE ? TK_ERR_NOT_FOUND : TK_ERR_UNAVAILABLE;
        for (int i = 0; res == TK_OK && i < n; i++)
            out[i] = sqlite3_column_int64(q, i);
        sqlite3_finalize(q);
        return res;
    }
    PGresult *r = PQexec(db->pg, sql);
    int res;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        res = state && (!strcmp(state, "40001") || !strcmp(state, "40P01")) ? TK_ERR_CONFLICT : TK_ERR_INTERNAL;
    } else if (!PQntuples(r) || PQnfields(r) < n) {
        res = TK_ERR_NOT_FOUND;
    } else {
        for (int i = 0; i < n; i++) {
            const char *v = PQgetvalue(r, 0, i);
            out[i] = !strcmp(v, "t") ? 1 : !strcmp(v, "f") ? 0 : strtoll(v, NULL, 10);
        }
        res = TK_OK;
    }
    PQclear(r);
    return res;
}

int labdb_int(struct labdb *db, const char *sql, int64_t *out) { return labdb_row(db, sql, out, 1); }

int labdb_int2(struct labdb *db, const char *sql, int64_t *a, int64_t *b)
{
    int64_t v[2];
    TK_TRY(labdb_row(db, sql, v, 2));
    *a = v[0];
    *b = v[1];
    return TK_OK;
}

int labdb_begin(struct labdb *db)
{
    if (!db->lite)
        return labdb_exec(db, "BEGIN", NULL);
    pthread_mutex_lock(&LITE_WRITER);
    db->holds_writer = true;
    int rc = labdb_exec(db, "BEGIN IMMEDIATE", NULL);
    if (rc < 0) {
        db->holds_writer = false;
        pthread_mutex_unlock(&LITE_WRITER);
    }
    return rc;
}

static void release_writer(struct labdb *db)
{
    if (db->holds_writer) {
        db->holds_writer = false;
        pthread_mutex_unlock(&LITE_WRITER);
    }
}

int labdb_commit(struct labdb *db)
{
    int rc = labdb_exec(db, "COMMIT", NULL);
    if (rc == TK_OK)
        release_writer(db);
    return rc;
}

void labdb_rollback(struct labdb *db)
{
    int rc = labdb_exec(db, "ROLLBACK", NULL);
    (void)rc; /* nothing to undo if there was no transaction */
    release_writer(db);
}

/* ---------- the rows several scenarios share ---------- */

int labdb_create_tables(struct labdb *db)
{
    const char *sql = labdb_is_pg(db)
                          ? "CREATE TABLE IF NOT EXISTS lab_stock(id BIGSERIAL PRIMARY KEY, stock BIGINT NOT NULL, "
                            "version BIGINT NOT NULL DEFAULT 0, fence BIGINT NOT NULL DEFAULT 0);"
                            "CREATE TABLE IF NOT EXISTS lab_orders(id BIGSERIAL PRIMARY KEY, item BIGINT NOT NULL);"
                            "CREATE TABLE IF NOT EXISTS lab_counter(id BIGSERIAL PRIMARY KEY, value BIGINT NOT NULL, "
                            "fence BIGINT NOT NULL DEFAULT 0)"
                          : "CREATE TABLE IF NOT EXISTS lab_stock(id INTEGER PRIMARY KEY, stock INTEGER NOT NULL, "
                            "version INTEGER NOT NULL DEFAULT 0, fence INTEGER NOT NULL DEFAULT 0);"
                            "CREATE TABLE IF NOT EXISTS lab_orders(id INTEGER PRIMARY KEY, item INTEGER NOT NULL);"
                            "CREATE TABLE IF NOT EXISTS lab_counter(id INTEGER PRIMARY KEY, value INTEGER NOT NULL, "
                            "fence INTEGER NOT NULL DEFAULT 0)";
    return labdb_exec(db, sql, NULL);
}

int64_t labdb_new_user(struct labdb *db, int64_t balance, int64_t now)
{
    char key[40], sql[512];
    if (rand_hex(key, 16) < 0)
        return 0;
    snprintf(sql, sizeof sql,
             "INSERT INTO users(name, api_key_sha256, balance, created_at) VALUES ('lab', 'lab-%s', %lld, %lld) "
             "RETURNING id",
             key, (long long)balance, (long long)now);
    int64_t id = 0;
    if (labdb_int(db, sql, &id) < 0)
        return 0;
    if (balance > 0) { /* the ledger must explain the opening balance */
        snprintf(sql, sizeof sql,
                 "INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) "
                 "VALUES (%lld, 'CHARGE', %lld, %lld, NULL, %lld)",
                 (long long)id, (long long)balance, (long long)balance, (long long)now);
        if (labdb_exec(db, sql, NULL) < 0)
            return 0;
    }
    return id;
}

int64_t labdb_new_seat(struct labdb *db, int64_t now)
{
    char sql[320];
    int64_t concert = 0, schedule = 0, seat = 0;
    if (labdb_int(db, "INSERT INTO concerts(name) VALUES ('lock lab') RETURNING id", &concert) < 0)
        return 0;
    snprintf(sql, sizeof sql,
             "INSERT INTO schedules(concert_id, starts_at, total_seats) VALUES (%lld, %lld, 1) RETURNING id",
             (long long)concert, (long long)(now + 30LL * 86400000));
    if (labdb_int(db, sql, &schedule) < 0)
        return 0;
    snprintf(sql, sizeof sql, "INSERT INTO seats(schedule_id, seat_number, price) VALUES (%lld, 1, 50000) RETURNING id",
             (long long)schedule);
    if (labdb_int(db, sql, &seat) < 0)
        return 0;
    return seat;
}

int64_t labdb_value(struct labdb *db, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    int64_t v = -1;
    if (labdb_int(db, sql, &v) != TK_OK)
        return INT64_MIN;
    return v;
}

int64_t labdb_balance(struct labdb *db, int64_t user)
{
    return labdb_value(db, "SELECT balance FROM users WHERE id = %lld", (long long)user);
}

int64_t labdb_ledger_sum(struct labdb *db, int64_t user)
{
    return labdb_value(db, "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = %lld", (long long)user);
}
