/* test_ledger.c — money safety in the store and core: transfers in every write mode (refused whole,
 * one ledger pair each), the ledger listing, idempotency records (claim, replay data, release, expiry),
 * and the reconciliation audit naming each kind of corrupted row. SQLite by default, PostgreSQL with --pg. */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/app.h"
#include "testdb.h"

static const int64_t T0 = TESTDB_T0;

#define fx store_fx
#define setup store_fx_setup
#define teardown store_fx_teardown



static void sql(struct fx *f, const char *q) { testdb_exec(&f->db, q); }

static const enum tk_write_mode MODES[] = {TK_WRITE_ATOMIC, TK_WRITE_PESSIMISTIC, TK_WRITE_OPTIMISTIC,
                                           TK_WRITE_UNSAFE};

static void transfers_every_mode(void **state)
{
    struct fx *f = *state;
    for (size_t m = 0; m < 4; m++) {
        char k1[16], k2[16];
        snprintf(k1, sizeof k1, "d1_%zu", m);
        snprintf(k2, sizeof k2, "d2_%zu", m);
        int64_t a = store_fx_user(f, k1, 1000), b = store_fx_user(f, k2, 50);
        struct tk_transfer t;
        /* both directions, so both lock orders are exercised */
        assert_int_equal(store_transfer(f->st, MODES[m], a, b, 400, T0, NULL, &t), TK_OK);
        assert_int_equal(t.from_balance_won, 600);
        assert_int_equal(store_transfer(f->st, MODES[m], b, a, 450, T0, NULL, &t), TK_OK);
        assert_int_equal(t.from_balance_won, 0);
        assert_int_equal(store_fx_balance(f, a), 1050);
        assert_int_equal(store_fx_balance(f, b), 0);
        /* refused whole */
        assert_int_equal(store_transfer(f->st, MODES[m], b, a, 1, T0, NULL, &t), TK_ERR_INSUFFICIENT_BALANCE);
        assert_int_equal(store_transfer(f->st, MODES[m], a, 999999, 1, T0, NULL, &t), TK_ERR_NOT_FOUND);
        assert_int_equal(store_fx_balance(f, a), 1050);
        char q[160];
        snprintf(q, sizeof q, "UPDATE users SET balance = 9223372036854775800 WHERE id = %lld", (long long)b);
        sql(f, q);
        assert_int_equal(store_transfer(f->st, MODES[m], a, b, 100, T0, NULL, &t), TK_ERR_OVERFLOW);
        assert_int_equal(store_fx_balance(f, a), 1050);
        snprintf(q, sizeof q, "UPDATE users SET balance = 0 WHERE id = %lld", (long long)b);
        sql(f, q);
    }
}

struct ledger_ctx {
    int n;
    struct tk_ledger_entry e[8];
};

static int collect(void *arg, const struct tk_ledger_entry *e)
{
    struct ledger_ctx *c = arg;
    c->e[c->n++] = *e;
    return TK_OK;
}

static void ledger_newest_first(void **state)
{
    struct fx *f = *state;
    int64_t a = store_fx_user(f, "l1", 500), b = store_fx_user(f, "l2", 0);
    struct tk_transfer t;
    assert_int_equal(store_transfer(f->st, TK_WRITE_ATOMIC, a, b, 120, T0 + 5, NULL, &t), TK_OK);
    struct ledger_ctx c = {0};
    assert_int_equal(store_ledger_list(f->st, a, 10, collect, &c), TK_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.e[0].kind, "TRANSFER_OUT");
    assert_int_equal(c.e[0].amount_won, -120);
    assert_int_equal(c.e[0].balance_after_won, 380);
    char ref[48];
    snprintf(ref, sizeof ref, "transfer:%lld", (long long)t.transfer_id);
    assert_string_equal(c.e[0].ref, ref);
    assert_string_equal(c.e[1].kind, "CHARGE");
    assert_string_equal(c.e[1].ref, "");
    memset(&c, 0, sizeof c);
    assert_int_equal(store_ledger_list(f->st, b, 1, collect, &c), TK_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.e[0].kind, "TRANSFER_IN");
    assert_int_equal(c.e[0].amount_won, 120);
    assert_int_equal(store_ledger_list(f->st, 999999, 10, collect, &c), TK_ERR_NOT_FOUND);
}

static void idempotency_records(void **state)
{
    struct fx *f = *state;
    struct tk_store *st = f->st;
    struct tk_idem rec = {0};
    char h1[65], h2[65];
    idem_request_hash("POST", "/payment", "{\"reservationId\":\"1\"}", 22, h1);
    idem_request_hash("POST", "/payment", "{\"reservationId\":\"2\"}", 22, h2);
    assert_string_not_equal(h1, h2);
    assert_int_equal(store_idem_claim(st, 7, "k1", h1, T0, T0 + 1000, 1, &rec), TK_OK);
    /* a second claim sees the first, still running */
    assert_int_equal(store_idem_claim(st, 7, "k1", h1, T0, T0 + 1000, 1, &rec), TK_ERR_CONFLICT);
    assert_int_equal(rec.state, IDEM_PENDING);
    assert_string_equal(rec.request_hash, h1);
    assert_null(rec.body);
    /* another user may use the same key */
    assert_int_equal(store_idem_claim(st, 8, "k1", h2, T0, T0 + 1000, 1, &rec), TK_OK);
    const char *body = "{\"success\":true,\"data\":{\"balance\":5}}";
    assert_int_equal(store_idem_complete(st, 7, "k1", 1, 200, body, strlen(body), "ledger:1"), TK_OK);
    assert_int_equal(store_idem_claim(st, 7, "k1", h2, T0 + 1, T0 + 1000, 1, &rec), TK_ERR_CONFLICT);
    assert_int_equal(rec.state, IDEM_DONE);
    assert_int_equal(rec.status, 200);
    assert_string_equal(rec.body, body);
    assert_int_equal(rec.body_len, strlen(body));
    assert_string_equal(rec.request_hash, h1); /* the caller compares: a different hash is KEY_REUSED */
    free(rec.body);
    /* release frees a pending claim only */
    assert_int_equal(store_idem_release(st, 8, "k1", 1), TK_OK);
    assert_int_equal(store_idem_claim(st, 8, "k1", h2, T0, T0 + 1000, 1, &rec), TK_OK);
    /* after expiry the key is free again, and the sweep deletes it */
    assert_int_equal(store_idem_claim(st, 7, "k1", h2, T0 + 1000, T0 + 2000, 1, &rec), TK_OK);
    int deleted = -1;
    assert_int_equal(store_idem_expire_due(st, T0 + 5000, 100, &deleted), TK_OK);
    assert_int_equal(deleted, 2);
    /* key syntax */
    assert_int_equal(idem_key_check("a"), TK_OK);
    assert_int_equal(idem_key_check("order-2026-11-22 #17"), TK_OK);
    assert_int_equal(idem_key_check(""), TK_ERR_INVALID);
    assert_int_equal(idem_key_check("tab\there"), TK_ERR_INVALID);
    assert_int_equal(idem_key_check("caf\xc3\xa9"), TK_ERR_INVALID);
    char k129[130];
    memset(k129, 'k', 129);
    k129[129] = 0;
    assert_int_equal(idem_key_check(k129), TK_ERR_INVALID);
    k129[128] = 0;
    assert_int_equal(idem_key_check(k129), TK_OK);
}

/* A write records its effect on its claim in its own transaction; a write whose claim was taken over is
 * refused and changes nothing (the fencing token); an effect reads back as the response it produced. */
static void claims_fence_effects(void **state)
{
    struct fx *f = *state;
    struct tk_store *st = f->st;
    int64_t a = store_fx_user(f, "f1", 0), b = store_fx_user(f, "f2", 0);
    struct tk_idem rec;
    /* charge under claim 11: the record learns its effect */
    assert_int_equal(store_idem_claim(st, a, "c", "h", T0, T0 + 100000, 11, &rec), TK_OK);
    struct tk_idem_ref ref = {.user_id = a, .key = "c", .claim = 11};
    int64_t balance = 0, entry = 0;
    assert_int_equal(store_wallet_charge(st, TK_WRITE_ATOMIC, a, 5000, T0, &ref, &balance, &entry), TK_OK);
    memset(&rec, 0, sizeof rec);
    assert_int_equal(store_idem_claim(st, a, "c", "h", T0, T0 + 100000, 12, &rec), TK_ERR_CONFLICT);
    assert_int_equal(rec.state, IDEM_PENDING);
    assert_int_equal(rec.claim, 11);
    char want[48];
    snprintf(want, sizeof want, "ledger:%lld", (long long)entry);
    assert_string_equal(rec.effect_ref, want);
    /* an applied claim cannot be taken over */
    assert_int_equal(store_idem_takeover(st, a, "c", 11, 13, T0 + 60000), TK_ERR_CONFLICT);
    /* the effect reads back as its response's data */
    struct tk_effect e;
    assert_int_equal(store_effect_get(st, a, want, &e), TK_OK);
    assert_int_equal(e.kind, EFFECT_CHARGE);
    assert_int_equal(e.balance_won, 5000);
    assert_int_equal(store_effect_get(st, b, want, &e), TK_ERR_NOT_FOUND); /* not b's */

    /* a claim taken over: the old claimer's write is refused whole */
    assert_int_equal(store_idem_claim(st, a, "t", "h", T0, T0 + 100000, 21, &rec), TK_OK);
    assert_int_equal(store_idem_takeover(st, a, "t", 21, 22, T0 + 60000), TK_OK);
    struct tk_idem_ref old = {.user_id = a, .key = "t", .claim = 21}, cur = {.user_id = a, .key = "t", .claim = 22};
    struct tk_transfer t;
    for (size_t m = 0; m < 4; m++) {
        enum tk_write_mode modes[] = {TK_WRITE_ATOMIC, TK_WRITE_PESSIMISTIC, TK_WRITE_OPTIMISTIC, TK_WRITE_UNSAFE};
        assert_int_equal(store_transfer(st, modes[m], a, b, 100, T0, &old, &t), TK_ERR_CLAIM_LOST);
        assert_int_equal(store_wallet_charge(st, modes[m], a, 7, T0, &old, &balance, &entry), TK_ERR_CLAIM_LOST);
    }
    assert_int_equal(store_fx_balance(f, a), 5000);
    assert_int_equal(store_fx_balance(f, b), 0);
    assert_int_equal(store_transfer(st, TK_WRITE_ATOMIC, a, b, 100, T0, &cur, &t), TK_OK);
    snprintf(want, sizeof want, "transfer:%lld", (long long)t.transfer_id);
    assert_int_equal(store_effect_get(st, a, want, &e), TK_OK);
    assert_int_equal(e.kind, EFFECT_TRANSFER);
    assert_int_equal(e.transfer.from_balance_won, 4900);
    assert_int_equal(e.transfer.to_user_id, b);
    /* completing needs the current claim */
    assert_int_equal(store_idem_complete(st, a, "t", 21, 200, "x", 1, ""), TK_ERR_CLAIM_LOST);
    assert_int_equal(store_idem_complete(st, a, "t", 22, 200, "x", 1, ""), TK_OK);

    /* holds and payments record theirs too */
    assert_int_equal(store_idem_claim(st, a, "h", "h", T0, T0 + 100000, 31, &rec), TK_OK);
    struct tk_idem_ref href = {.user_id = a, .key = "h", .claim = 31};
    struct tk_hold_req hr = {.idem = &href, .user_id = a, .seat_id = 3, .now_ms = T0, .hold_ms = 1000, .max_holds = 4};
    struct tk_hold h;
    assert_int_equal(store_hold_create(st, TK_WRITE_ATOMIC, &hr, &h), TK_OK);
    snprintf(want, sizeof want, "reservation:%lld", (long long)h.reservation_id);
    assert_int_equal(store_effect_get(st, a, want, &e), TK_OK);
    assert_int_equal(e.hold.seat_id, 3);
    assert_int_equal(e.hold.expires_at_ms, T0 + 1000);
    assert_int_equal(store_wallet_charge(st, TK_WRITE_ATOMIC, a, 500000, T0, NULL, &balance, NULL), TK_OK);
    assert_int_equal(store_idem_claim(st, a, "p", "h", T0, T0 + 100000, 41, &rec), TK_OK);
    struct tk_idem_ref pref = {.user_id = a, .key = "p", .claim = 41};
    struct tk_pay_req pr = {.idem = &pref, .user_id = a, .reservation_id = h.reservation_id, .now_ms = T0 + 1};
    struct tk_payment p;
    assert_int_equal(store_payment_create(st, &pr, &p), TK_OK);
    snprintf(want, sizeof want, "payment:%lld", (long long)p.payment_id);
    assert_int_equal(store_effect_get(st, a, want, &e), TK_OK);
    assert_int_equal(e.payment.amount_won, p.amount_won);
    assert_int_equal(e.payment.balance_won, p.balance_won);
    assert_string_equal(e.payment.concert_name, p.concert_name);
}

struct problems {
    int n;
    char lines[16][400];
};

static int note(void *arg, const char *p)
{
    struct problems *ps = arg;
    if (ps->n < 16)
        snprintf(ps->lines[ps->n], sizeof ps->lines[0], "%s", p);
    ps->n++;
    return TK_OK;
}

static bool mentions(const struct problems *ps, const char *needle)
{
    for (int i = 0; i < ps->n && i < 16; i++)
        if (strstr(ps->lines[i], needle))
            return true;
    return false;
}

static void reconcile_names_rows(void **state)
{
    struct fx *f = *state;
    struct tk_store *st = f->st;
    int64_t a = store_fx_user(f, "r1", 1000000), b = store_fx_user(f, "r2", 0);
    struct tk_transfer t;
    assert_int_equal(store_transfer(st, TK_WRITE_ATOMIC, a, b, 10, T0, NULL, &t), TK_OK);
    struct tk_hold_req hr = {.user_id = a, .seat_id = 1, .now_ms = T0, .hold_ms = 1000, .max_holds = 4};
    struct tk_hold h;
    assert_int_equal(store_hold_create(st, TK_WRITE_ATOMIC, &hr, &h), TK_OK);
    struct tk_pay_req pr = {.user_id = a, .reservation_id = h.reservation_id, .now_ms = T0 + 1};
    struct tk_payment p;
    assert_int_equal(store_payment_create(st, &pr, &p), TK_OK);
    /* a consistent idempotency record */
    char body[128];
    snprintf(body, sizeof body, "{\"success\":true,\"data\":{\"balance\":%lld}}", (long long)p.balance_won);
    struct tk_idem rec;
    assert_int_equal(store_idem_claim(st, a, "pay", "h", T0, T0 + 100000, 1, &rec), TK_OK);
    char ref[48];
    snprintf(ref, sizeof ref, "payment:%lld", (long long)p.payment_id);
    assert_int_equal(store_idem_complete(st, a, "pay", 1, 200, body, strlen(body), ref), TK_OK);

    struct problems ps = {0};
    int n = -1;
    assert_int_equal(reconcile_run(st, T0 + 2, 0, note, &ps, &n), TK_OK);
    assert_int_equal(n, 0);

    /* corrupt one thing of each kind, and each is named */
    char q[200];
    snprintf(q, sizeof q, "UPDATE users SET balance = balance + 1 WHERE id = %lld", (long long)b);
    sql(f, q);
    snprintf(q, sizeof q, "DELETE FROM payments WHERE id = %lld", (long long)p.payment_id);
    sql(f, q);
    snprintf(q, sizeof q, "DELETE FROM ledger WHERE ref = 'transfer:%lld' AND kind = 'TRANSFER_IN'",
             (long long)t.transfer_id);
    sql(f, q);
    struct tk_hold_req hr2 = {.user_id = b, .seat_id = 2, .now_ms = T0, .hold_ms = 1000, .max_holds = 4};
    assert_int_equal(store_hold_create(st, TK_WRITE_ATOMIC, &hr2, &h), TK_OK);
    assert_int_equal(store_idem_claim(st, b, "stuck", "h", T0, T0 + 100000, 1, &rec), TK_OK);
    snprintf(q, sizeof q, "UPDATE idempotency SET body = '{\"success\":true,\"data\":{\"balance\":1}}' WHERE key = 'pay'");
    sql(f, q);

    memset(&ps, 0, sizeof ps);
    assert_int_equal(reconcile_run(st, T0 + 5000, 1000, note, &ps, &n), TK_OK);
    char want[64];
    snprintf(want, sizeof want, "users.id=%lld", (long long)b);
    assert_true(mentions(&ps, want));                 /* balance vs ledger (b lost its TRANSFER_IN too) */
    assert_true(mentions(&ps, "seats.id=1"));         /* sold seat without its payment */
    snprintf(want, sizeof want, "transfers.id=%lld", (long long)t.transfer_id);
    assert_true(mentions(&ps, want));                 /* transfer without both entries */
    snprintf(want, sizeof want, "reservations.id=%lld", (long long)h.reservation_id);
    assert_true(mentions(&ps, want));                 /* HELD long past expiry */
    assert_true(mentions(&ps, "key 'stuck'"));        /* claim PENDING past the grace */
    assert_true(mentions(&ps, "payment:"));           /* a response whose payment is gone */
    assert_int_equal(n, 6);
}

int main(int argc, char **argv)
{
    testdb_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(transfers_every_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(ledger_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(idempotency_records, setup, teardown),
        cmocka_unit_test_setup_teardown(reconcile_names_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(claims_fence_effects, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
