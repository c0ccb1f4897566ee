/* states.c — the reservation and payment state machines (states.h): each one a table of legal moves. */
#include "core/states.h"

#include <stdio.h>

#define N_HOLD 4
#define N_PAYMENT 2

static const char *const HOLD_NAMES[N_HOLD] = {"HELD", "PAID", "EXPIRED", "CANCELLED"};
/* HOLD_MOVES[from][to] */
static const bool HOLD_MOVES[N_HOLD][N_HOLD] = {
    [HOLD_HELD] = {[HOLD_PAID] = true, [HOLD_EXPIRED] = true, [HOLD_CANCELLED] = true},
};

static const char *const PAYMENT_NAMES[N_PAYMENT] = {"PAID", "REFUNDED"};
static const bool PAYMENT_MOVES[N_PAYMENT][N_PAYMENT] = {
    [PAYMENT_PAID] = {[PAYMENT_REFUNDED] = true},
};

static bool in_range(int s, int n) { return s >= 0 && s < n; }

const char *hold_state_name(enum tk_hold_state s)
{
    TK_ASSERT(in_range((int)s, N_HOLD));
    return HOLD_NAMES[s];
}

bool hold_transition_ok(enum tk_hold_state from, enum tk_hold_state to)
{
    return in_range((int)from, N_HOLD) && in_range((int)to, N_HOLD) && HOLD_MOVES[from][to];
}

bool hold_state_final(enum tk_hold_state s)
{
    for (int to = 0; to < N_HOLD; to++)
        if (hold_transition_ok(s, (enum tk_hold_state)to))
            return false;
    return true;
}

void hold_transition(enum tk_hold_state *state, enum tk_hold_state to)
{
    if (!hold_transition_ok(*state, to)) {
        fprintf(stderr, "ticketd: illegal reservation transition %s -> %s\n", hold_state_name(*state),
                hold_state_name(to));
        TK_ASSERT(!"illegal reservation transition");
    }
    *state = to;
}

const char *payment_state_name(enum tk_payment_state s)
{
    TK_ASSERT(in_range((int)s, N_PAYMENT));
    return PAYMENT_NAMES[s];
}

bool payment_transition_ok(enum tk_payment_state from, enum tk_payment_state to)
{
    return in_range((int)from, N_PAYMENT) && in_range((int)to, N_PAYMENT) && PAYMENT_MOVES[from][to];
}

void payment_transition(enum tk_payment_state *state, enum tk_payment_state to)
{
    if (!payment_transition_ok(*state, to)) {
        fprintf(stderr, "ticketd: illegal payment transition %s -> %s\n", payment_state_name(*state),
                payment_state_name(to));
        TK_ASSERT(!"illegal payment transition");
    }
    *state = to;
}

unsigned hold_from_mask(enum tk_hold_state to)
{
    unsigned mask = 0;
    for (int from = 0; from < N_HOLD; from++)
        if (hold_transition_ok((enum tk_hold_state)from, to))
            mask |= 1u << from;
    return mask;
}

unsigned payment_from_mask(enum tk_payment_state to)
{
    unsigned mask = 0;
    for (int from = 0; from < N_PAYMENT; from++)
        if (payment_transition_ok((enum tk_payment_state)from, to))
            mask |= 1u << from;
    return mask;
}

/* Sales: who may move a sale where. SALE_MOVES[by][from][to]. The organizer sets OPEN, PAUSED or CLOSED from any
 * state (reopening a closed or sold-out sale, e.g. after refunds, included); the server only marks a selling sale
 * (OPEN or PAUSED) SOLD_OUT. */
#define N_SALE 4
static const bool SALE_MOVES[2][N_SALE][N_SALE] = {
    [SALE_BY_ORGANIZER] =
        {
            [SALE_OPEN] = {[SALE_OPEN] = true, [SALE_PAUSED] = true, [SALE_CLOSED] = true},
            [SALE_PAUSED] = {[SALE_OPEN] = true, [SALE_PAUSED] = true, [SALE_CLOSED] = true},
            [SALE_CLOSED] = {[SALE_OPEN] = true, [SALE_PAUSED] = true, [SALE_CLOSED] = true},
            [SALE_SOLD_OUT] = {[SALE_OPEN] = true, [SALE_PAUSED] = true, [SALE_CLOSED] = true},
        },
    [SALE_BY_SERVER] =
        {
            [SALE_OPEN] = {[SALE_SOLD_OUT] = true},
            [SALE_PAUSED] = {[SALE_SOLD_OUT] = true},
        },
};

bool sale_transition_ok(enum tk_sale_state from, enum tk_sale_state to, enum sale_actor by)
{
    return (by == SALE_BY_ORGANIZER || by == SALE_BY_SERVER) && in_range((int)from, N_SALE) &&
           in_range((int)to, N_SALE) && SALE_MOVES[by][from][to];
}

unsigned sale_from_mask(enum tk_sale_state to, enum sale_actor by)
{
    unsigned mask = 0;
    for (int from = 0; from < N_SALE; from++)
        if (sale_transition_ok((enum tk_sale_state)from, to, by))
            mask |= 1u << from;
    return mask;
}
