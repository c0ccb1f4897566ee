/* labdb.h — the lock lab's direct SQL: setting up a scenario's rows, the lab-only tables (a stock row, a
 * fenced counter), and the invariant reads after a run. One connection per executor worker (opened by the
 * worker itself, see lab.c) and a few for setup, the checks and the serial writer; SQLite or PostgreSQL,
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

#endif
