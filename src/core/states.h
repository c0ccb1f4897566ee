/* states.h — the state machines of a reservation (its hold) and of a payment, as data with one transition
 * function each, like the queue token's token_transition (waitroom/admission.h):
 *
 *   hold:     HELD -> PAID (paid)  HELD -> EXPIRED (its time ran out)  HELD -> CANCELLED (given back)
 *   payment:  PAID -> REFUNDED
 *
 * Every other move — out of a final state, back to HELD, PAID -> EXPIRED, REFUNDED -> PAID, a state to itself —
 * is illegal: *_transition_ok says so, and *_transition aborts loudly on it (a programmer error, TK_ASSERT). */
#ifndef TK_STATES_H
#define TK_STATES_H

#include <stdbool.h>
#include "store/store.h"

const char *hold_state_name(enum tk_hold_state s);
bool hold_transition_ok(enum tk_hold_state from, enum tk_hold_state to);
/* Moves *state to `to`; TK_ASSERTs on an illegal move. */
void hold_transition(enum tk_hold_state *state, enum tk_hold_state to);
/* A final state has no way out. */
bool hold_state_final(enum tk_hold_state s);

const char *payment_state_name(enum tk_payment_state s);
bool payment_transition_ok(enum tk_payment_state from, enum tk_payment_state to);
void payment_transition(enum tk_payment_state *state, enum tk_payment_state to);

/* The from-states (bit 1 << state) from which a hold / a payment may move to `to`: what a store's conditional
 * update checks (hold_cancel, payment_refund). 0: no way to `to`. */
unsigned hold_from_mask(enum tk_hold_state to);
unsigned payment_from_mask(enum tk_payment_state to);

/* Sales (store.h enum tk_sale_state): the organizer's moves and the server's (SOLD_OUT) differ. */
enum sale_actor { SALE_BY_ORGANIZER, SALE_BY_SERVER };
bool sale_transition_ok(enum tk_sale_state from, enum tk_sale_state to, enum sale_actor by);
/* The from-states (bit 1 << state) from which `by` may move a sale to `to`: what a store's conditional update
 * checks inside its transaction (struct tk_sale_patch.state_from_mask). 0: no way to `to`. */
unsigned sale_from_mask(enum tk_sale_state to, enum sale_actor by);

#endif
