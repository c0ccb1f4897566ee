/* testdb.h — a fresh database per test, SQLite or PostgreSQL, so the same store tests run on both.
 * Run a test program with --pg to use PostgreSQL: it then needs TICKETD_TEST_PG (an admin URL, set by
 * scripts/services.sh) and FAILS without it — a store test never skips silently. */
#ifndef TK_TESTDB_H
#define TK_TESTDB_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"

struct testdb {
    bool pg;
    char dir[64];    /* sqlite: temp dir */
    char name[64];   /* pg: database name */
    char url[512];   /* what store_open takes */
    char path[128];  /* sqlite: file path */
    struct tk_store *st;
};

/* The fake "now" of the store tests: 2027-01-15T08:00:00Z. */
#define TESTDB_T0 1800000000000LL

/* A cmocka fixture: a fresh database with demo data at TESTDB_T0 and a store on it. */
struct store_fx {
    struct testdb db;
    struct tk_store *st;
};
int store_fx_setup(void **state);
int store_fx_teardown(void **state);

/* A user (key digest key_digest) with balance won already charged (one CHARGE entry); returns its id. */
int64_t store_fx_user(struct store_fx *f, const char *key_digest, int64_t balance_won);
/* The user's balance, read through the store. */
int64_t store_fx_balance(struct store_fx *f, int64_t user_id);

/* Reads --pg from argv (call first in main). */
void testdb_init(int argc, char **argv);
/* Creates a fresh database, opens a store on it, migrates and seeds it at now_ms. */
void testdb_open(struct testdb *db, int64_t now_ms);
void testdb_close(struct testdb *db);
/* Direct SQL for what the API cannot do (corrupting rows, reading sums). */
void testdb_exec(struct testdb *db, const char *sql);
/* The first column of the first row as an integer (booleans as 0/1); -1 when there is no row. */
int64_t testdb_int(struct testdb *db, const char *sql);

#endif
