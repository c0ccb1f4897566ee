/* labdb.h — the lock lab's direct SQL: setting up a scenario's rows, the lab-only tables (a stock row, a
 * fenced counter), and the invariant reads after a run. One connection per executor worker (opened by the
 * worker itself, see runner.c) and a few for setup, the checks and the serial writer; SQLite or PostgreSQL,
 * chosen by the --db URL. Product writes (charges, transfers, holds, payments) never come through here:
 * they go through the store and the lock strategies, the service's own code path. */
#ifndef TK_LABDB_H
#define TK_LABDB_H

#include <stdbool.h>
#include <stdint.h>
#include "util/err.h"

struct labdb;

/* Opens a connection; NULL with a message in errbuf on failure. */
struct labdb *labdb_open(const char *url, char *errbuf, int errlen);
void labdb_close(struct labdb *db);
bool labdb_is_pg(const struct labdb *db);
/* Runs SQL with no result; TK_ERR_UNAVAILABLE (busy/down) or TK_ERR_INTERNAL. *changes may be NULL. */
int labdb_exec(struct labdb *db, const char *sql, int64_t *changes) TK_MUST_CHECK;
/* First column of the first row; TK_ERR_NOT_FOUND when there is no row. */
int labdb_int(struct labdb *db, const char *sql, int64_t *out) TK_MUST_CHECK;
/* First two columns of the first row, read together (one snapshot). */
int labdb_int2(struct labdb *db, const char *sql, int64_t *a, int64_t *b) TK_MUST_CHECK;
/* Transaction brackets: BEGIN IMMEDIATE on SQLite (the write lock), BEGIN on PostgreSQL. */
int labdb_begin(struct labdb *db) TK_MUST_CHECK;
int labdb_commit(struct labdb *db) TK_MUST_CHECK;
void labdb_rollback(struct labdb *db);

/* The rows several scenarios share. */
/* The lab's own tables (lab_stock, lab_orders, lab_counter), if missing. */
int labdb_create_tables(struct labdb *db) TK_MUST_CHECK;
/* A new user with balance won, and the CHARGE ledger entry that explains it; its id, 0 on failure. */
int64_t labdb_new_user(struct labdb *db, int64_t balance, int64_t now);
/* A new concert with one date and one seat (price 50,000); the seat's id, 0 on failure. */
int64_t labdb_new_seat(struct labdb *db, int64_t now);
/* The integer a query (printf format and its arguments) reads; INT64_MIN when it fails or finds no row. */
int64_t labdb_value(struct labdb *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A user's balance, and the sum of the user's ledger entries (what the balance must equal). */
int64_t labdb_balance(struct labdb *db, int64_t user);
int64_t labdb_ledger_sum(struct labdb *db, int64_t user);

#endif
