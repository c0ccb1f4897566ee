/* scenario.h — what a scenario of `ticketd load` is (one struct load_scenario, one file each: scenario_*.c),
 * the registry that lists them once (names, --help and --scenario all come from it), and the run they share:
 * the options, the engine, the simulated users and the counters the end-state checks read.
 *
 * A run: setup (not measured: catalogue, users, tokens) → start (the measured part's first requests) →
 * the engine runs; each response moves a user and `next` sends its next request → check (the end state,
 * read through the API). */
#ifndef TK_LOAD_SCENARIO_H
#define TK_LOAD_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "load/engine.h"

#define LOAD_ID_MAX 24    /* a user, seat or reservation id as the API writes it */
#define LOAD_KEY_MAX 64   /* an API key */
#define LOAD_TOKEN_MAX 40 /* a queue token */

/* The command line. */
struct load_opts {
    const char *scenario;
    struct load_net net;
    int users;
    int requests;  /* seats: requests to send */
    int seats;     /* race, multi-race: how many seats of the date are contested */
    int hold_seats; /* multi-race: seats each user holds in one request */
    int schedules; /* flow: dates to buy on */
    int seconds;   /* deadline of setup, and again of the measured part */
    int64_t charge_won;
    /* sale-*: the sale's concert, the tokens file, the opening (ms since the epoch), the poll sample */
    const char *concert;
    const char *tokens_file;
    int64_t opens_at_ms;
    int after_ms;
    int sample;
};

struct load_user;
struct load_scenario;
struct load_sale;

/* One run of one scenario; everything it changes lives here (no file-scope state). */
struct load_run {
    const struct load_opts *o;
    const struct load_scenario *sc;
    struct load_engine e;
    /* issue, race, flow: the simulated users (user.h) */
    struct load_user *users;
    int n;
    bool users_move; /* a created user goes on to its next request (false while setup only creates them) */
    /* race, flow: the contested seats; seats: the one it reads to check the catalogue */
    char (*seat_ids)[LOAD_ID_MAX];
    int nseats;
    int holds, payments;
    int holds_conflict;
    int failed_users;
    /* seats: the page it reads and the token it reads with */
    char read_path[128];
    char read_token[LOAD_TOKEN_MAX];
    /* sale-*: the tokens and what the responses showed (scenario_sale.c) */
    struct load_sale *sale;
};

struct load_scenario {
    const char *name;
    /* Before the measured part; r->e's deadline runs. 0, or -1 when the run cannot start (exit 2; the
     * reason is on stderr). A setup that runs the engine restarts it (load_engine_restart) at its end. */
    int (*setup)(struct load_run *r);
    /* Enqueues the measured part's first requests. */
    void (*start)(struct load_run *r);
    /* Sends u's next request now that its state has moved (user.h), or settles it; NULL for a scenario
     * without users. */
    void (*next)(struct load_user *u);
    /* The end state: a new JSON object for the report's "check"; *ok is false when a rule was broken. */
    json_t *(*check)(struct load_run *r, bool *ok);
    /* Frees what setup allocated beyond users and seat_ids; NULL when nothing. */
    void (*cleanup)(struct load_run *r);
};

/* The registry: load_scenario_find(name) or NULL; "seats|issue|race|multi-race|flow|sale-issue|…", every name for
 * --help (buf of n bytes). */
const struct load_scenario *load_scenario_find(const char *name);
const char *load_scenario_names(char *buf, size_t n);

#endif
