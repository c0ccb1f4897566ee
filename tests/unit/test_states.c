/* test_states.c — the reservation and payment state machines (core/states.h): every legal move is allowed,
 * every other move is refused by *_transition_ok and aborts *_transition (checked in a child process). */
#include "unit.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/states.h"

static const enum tk_hold_state HOLDS[] = {HOLD_HELD, HOLD_PAID, HOLD_EXPIRED, HOLD_CANCELLED};
static const enum tk_payment_state PAYMENTS[] = {PAYMENT_PAID, PAYMENT_REFUNDED};

static bool hold_legal(enum tk_hold_state f, enum tk_hold_state t)
{
    return f == HOLD_HELD && (t == HOLD_PAID || t == HOLD_EXPIRED || t == HOLD_CANCELLED);
}

/* Runs fn in a child: true when it died of SIGABRT (TK_ASSERT). */
static bool aborts(void (*fn)(int, int), int a, int b)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)!freopen("/dev/null", "w", stderr); /* the loud message is expected */
        fn(a, b);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void do_hold(int from, int to)
{
    enum tk_hold_state s = (enum tk_hold_state)from;
    hold_transition(&s, (enum tk_hold_state)to);
}

static void do_payment(int from, int to)
{
    enum tk_payment_state s = (enum tk_payment_state)from;
    payment_transition(&s, (enum tk_payment_state)to);
}

static void hold_moves(void **state)
{
    (void)state;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            enum tk_hold_state f = HOLDS[i], t = HOLDS[j];
            assert_int_equal(hold_transition_ok(f, t), hold_legal(f, t));
            if (hold_legal(f, t)) {
                enum tk_hold_state s = f;
                hold_transition(&s, t);
                assert_int_equal(s, t);
            } else {
                assert_true(aborts(do_hold, (int)f, (int)t));
            }
        }
    assert_false(hold_state_final(HOLD_HELD));
    assert_true(hold_state_final(HOLD_PAID) && hold_state_final(HOLD_EXPIRED) && hold_state_final(HOLD_CANCELLED));
    assert_string_equal(hold_state_name(HOLD_CANCELLED), "CANCELLED");
    assert_false(hold_transition_ok((enum tk_hold_state)7, HOLD_PAID)); /* out of range */
}

static void payment_moves(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++) {
            enum tk_payment_state f = PAYMENTS[i], t = PAYMENTS[j];
            bool legal = f == PAYMENT_PAID && t == PAYMENT_REFUNDED;
            assert_int_equal(payment_transition_ok(f, t), legal);
            if (legal) {
                enum tk_payment_state s = f;
                payment_transition(&s, t);
                assert_int_equal(s, t);
            } else {
                assert_true(aborts(do_payment, (int)f, (int)t));
            }
        }
    assert_string_equal(payment_state_name(PAYMENT_REFUNDED), "REFUNDED");
}

static void sale_moves(void **state)
{
    (void)state;
    /* the organizer: OPEN, PAUSED, CLOSED from anywhere; never SOLD_OUT */
    for (int from = SALE_OPEN; from <= SALE_SOLD_OUT; from++) {
        assert_true(sale_transition_ok(from, SALE_OPEN, SALE_BY_ORGANIZER));
        assert_true(sale_transition_ok(from, SALE_PAUSED, SALE_BY_ORGANIZER));
        assert_true(sale_transition_ok(from, SALE_CLOSED, SALE_BY_ORGANIZER));
        assert_false(sale_transition_ok(from, SALE_SOLD_OUT, SALE_BY_ORGANIZER));
    }
    assert_int_equal(sale_from_mask(SALE_SOLD_OUT, SALE_BY_ORGANIZER), 0);
    /* the server: SOLD_OUT only from a selling sale; nothing else */
    assert_int_equal(sale_from_mask(SALE_SOLD_OUT, SALE_BY_SERVER), 1u << SALE_OPEN | 1u << SALE_PAUSED);
    assert_false(sale_transition_ok(SALE_CLOSED, SALE_SOLD_OUT, SALE_BY_SERVER));
    assert_false(sale_transition_ok(SALE_OPEN, SALE_CLOSED, SALE_BY_SERVER));
    assert_int_equal(sale_from_mask(SALE_OPEN, SALE_BY_SERVER), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(hold_moves), cmocka_unit_test(payment_moves),
                                       cmocka_unit_test(sale_moves)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
