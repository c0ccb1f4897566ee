/* testdb.c — fresh SQLite files or fresh PostgreSQL databases for store tests. */
#include "testdb.h"
#include "unit.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool USE_PG;
static int COUNTER;

void testdb_init(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--pg") == 0)
            USE_PG = true;
    if (USE_PG && !getenv("TICKETD_TEST_PG")) {
        fprintf(stderr, "FAIL: --pg needs TICKETD_TEST_PG (start it with: bash scripts/services.sh up)\n");
        exit(1);
    }
}

/* The admin URL with its database name replaced by `name`. */
static void url_for(const char *name, char *out, size_t outlen)
{
    const char *admin = getenv("TICKETD_TEST_PG");
    const char *slash = strrchr(admin, '/');
    snprintf(out, outlen, "%.*s/%s", (int)(slash - admin), admin, name);
}

static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("TICKETD_TEST_PG"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void testdb_open(struct testdb *db, int64_t now_ms)
{
    memset(db, 0, sizeof *db);
    db->pg = USE_PG;
    if (db->pg) {
        snprintf(db->name, sizeof db->name, "tk_unit_%d_%d", (int)getpid(), COUNTER++);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
        pg_admin(sql);
        url_for(db->name, db->url, sizeof db->url);
    } else {
        snprintf(db->dir, sizeof db->dir, "/tmp/tk-unit-XXXXXX");
        assert_non_null(mkdtemp(db->dir));
        snprintf(db->path, sizeof db->path, "%s/t.db", db->dir);
        snprintf(db->url, sizeof db->url, "sqlite:%s", db->path);
    }
    char err[256] = "";
    int rc = store_open(db->url, 3, &db->st, err, sizeof err);
    if (rc != TK_OK)
        fail_msg("store_open(%s): %s", db->url, err);
    assert_int_equal(store_migrate(db->st), TK_OK);
    assert_int_equal(store_migrate(db->st), TK_OK); /* idempotent */
    bool seeded = false;
    assert_int_equal(store_seed_demo(db->st, now_ms, &seeded), TK_OK);
    assert_true(seeded);
    assert_int_equal(store_seed_demo(db->st, now_ms, &seeded), TK_OK);
    assert_false(seeded); /* only once */
}

void testdb_close(struct testdb *db)
{
    store_close(db->st);
    db->st = NULL;
    if (db->pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db->name);
        pg_admin(sql);
    } else {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", db->dir);
        assert_int_equal(system(cmd), 0);
    }
}

void testdb_exec(struct testdb *db, const char *sql)
{
    if (db->pg) {
        PGconn *c = PQconnectdb(db->url);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *s;
    assert_int_equal(sqlite3_open(db->path, &s), SQLITE_OK);
    if (sqlite3_exec(s, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(s));
    sqlite3_close(s);
}

int64_t testdb_int(struct testdb *db, const char *sql)
{
    int64_t v = -1;
    if (db->pg) {
        PGconn *c = PQconnectdb(db->url);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        if (PQntuples(r)) {
            const char *s = PQgetvalue(r, 0, 0);
            v = strcmp(s, "t") == 0 ? 1 : strcmp(s, "f") == 0 ? 0 : strtoll(s, NULL, 10);
        }
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *s;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(db->path, &s), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(s);
    return v;
}

int store_fx_setup(void **state)
{
    struct store_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    testdb_open(&f->db, TESTDB_T0);
    f->st = f->db.st;
    *state = f;
    return 0;
}

int store_fx_teardown(void **state)
{
    struct store_fx *f = *state;
    testdb_close(&f->db);
    free(f);
    return 0;
}

int64_t store_fx_user(struct store_fx *f, const char *key_digest, int64_t balance_won)
{
    struct tk_user u;
    assert_int_equal(store_user_create(f->st, "u", key_digest, TESTDB_T0, &u), TK_OK);
    if (balance_won) {
        int64_t b;
        assert_int_equal(
            store_wallet_charge(f->st, TK_WRITE_ATOMIC, u.id, balance_won, TESTDB_T0, NULL, &b, NULL), TK_OK);
    }
    return u.id;
}

int64_t store_fx_balance(struct store_fx *f, int64_t user_id)
{
    struct tk_user u;
    assert_int_equal(store_user_get(f->st, user_id, &u), TK_OK);
    return u.balance_won;
}
