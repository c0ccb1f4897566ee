/* catalogue.h — what `ticketd load` reads of the catalogue outside the measured part, synchronously through
 * load_fetch: a token to browse with, the seats the API lists as free, and the seats a scenario contests. */
#ifndef TK_LOAD_CATALOGUE_H
#define TK_LOAD_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include "load/scenario.h"

/* A user of its own called name (POST /users) and its queue token (POST /queue/issue), ACTIVE as well when
 * need_active. 0 with the token in token[0..len), or -1 with token "" when a step was refused. */
int load_browse_token(const struct load_net *net, const char *name, bool need_active, char *token, size_t len);

/* Calls fn(seat_id, arg) for each free seat GET /concert/available-seats lists, at most per_date_max of each of
 * the first dates_max dates GET /concert/available-dates lists (a date whose seats cannot be read is skipped).
 * 0, or -1 when the dates cannot be read. */
int load_listed_seats(const struct load_net *net, const char *token, int dates_max, int per_date_max,
                      void (*fn)(const char *seat_id, void *arg), void *arg);

/* Setup: r->seat_ids gets up to per_date_max free seats of each of the first `dates` dates, read with a token of
 * a user of its own. 0, or -1 (with a message on stderr) when the catalogue cannot be read or lists no seat. */
int load_pick_seats(struct load_run *r, int dates, int per_date_max);

#endif
