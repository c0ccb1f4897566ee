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
