/* labdb.c — a thin SQL connection for the lab over sqlite3 or libpq. */
#include "lab/labdb.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct labdb {
    sqlite3 *lite;
    PGconn *pg;
    bool holds_writer;
};

/* SQLite has one writer: the lab's writers queue on this mutex (as the store's do) instead of sleeping in
 * SQLite's busy handler, so the figures measure the strategy, not SQLite's back-off. An executor worker may
 * block here, but only for another worker's one short transaction, which never waits for a job. */
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
