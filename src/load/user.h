/* user.h — a simulated user of `ticketd load` (issue, race and flow): a small state machine advanced by its
 * responses. The requests it can send are here, once; which one follows which state is the scenario's `next`
 * hook, which composes them. Also the end-state checks about what users won, shared by those scenarios. */
#ifndef TK_LOAD_USER_H
#define TK_LOAD_USER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "load/scenario.h"

enum load_ustate {
    U_NEW,     /* created: has an API key */
    U_CHARGED, /* the wallet is charged (or there is nothing to charge) */
    U_QUEUED,  /* has a WAITING token: polls */
    U_ACTIVE,  /* has an ACTIVE token */
    U_HELD,    /* holds seat_id (reservation_id) */
    U_REFUSED, /* a hold was refused: the seat was taken */
    U_PAID,    /* bought seat_id */
    U_DONE,    /* finished without failing */
    U_FAILED,  /* a request failed (or the user was never created) */
};

struct load_user {
    struct load_run *r;
    int index;
    char key[LOAD_KEY_MAX];
    char id[LOAD_ID_MAX];
    char token[LOAD_TOKEN_MAX];
    enum load_ustate state;
    char seat_id[LOAD_ID_MAX];
    char reservation_id[LOAD_ID_MAX];
    int64_t charged_won;
    int64_t paid_won;
    int attempts; /* seats tried (flow) */
    int polls;
};

/* Setup: r->o->users users, each created with POST /users, then the engine runs and restarts for the measured
 * part. With go_on each user goes on to r->sc->next as soon as it exists (the race queues during setup);
 * without, it waits in U_NEW for load_users_start. 0, or -1 when out of memory. */
int load_users_create(struct load_run *r, bool go_on);
/* Start: r->sc->next for every user created and still in U_NEW. */
void load_users_start(struct load_run *r);

/* The requests; each moves the user when its response arrives (a refusal it cannot go past is U_FAILED) and
 * then calls r->sc->next. */
void load_user_charge(struct load_user *u); /* POST /user/charge of --charge, with an Idempotency-Key → U_CHARGED */
void load_user_hold(struct load_user *u, int seat, bool with_key); /* POST /reservation of r->seat_ids[seat] → U_HELD
                                                                     or U_REFUSED; with_key: an Idempotency-Key */
void load_user_pay(struct load_user *u); /* POST /payment, with a key → U_PAID, or U_DONE on a 409 (no next) */
/* The way to an ACTIVE token every scenario shares: U_NEW (nothing to charge) and U_CHARGED send POST
 * /queue/issue, U_QUEUED polls GET /queue/status (every 200 ms until ACTIVE). true when it sent a request. */
bool load_user_queue_next(struct load_user *u);

/* The checks of every scenario with users, in a new object: seats_won_twice, holds, hold_conflicts, payments,
 * failed_users; *ok is set, false on a seat won twice or a failed user. */
json_t *load_users_check(struct load_run *r, bool *ok);
/* Adds seats_won_but_listed_free to c: seats users hold or bought that available-seats still lists (false
 * *ok when any), or "not checked" when no ACTIVE token could be had to read them. */
void load_users_check_listed(struct load_run *r, json_t *c, bool *ok);

#endif
