/* idempotency.c — the Idempotency-Key protocol, one home for the API and the lab:
 *
 *   1. the caller names the user (API key, or the user behind the queue token in ANY state, so that a retry
 *      after the first request expired the token still finds its record) and the request's fingerprint;
 *   2. idem_begin claims (user, key) in the store with a fresh fencing number, or finds the record:
 *        another request body              -> IDEM_REUSED (409 IDEMPOTENCY_KEY_REUSED)
 *        a stored response                 -> IDEM_REPLAY (byte for byte)
 *        a claim whose effect committed but whose response was lost (its instance died) -> IDEM_REBUILD
 *        a claim with no effect older than IDEM_LEASE_MS (its instance died before the effect) -> taken over
 *                                             with a new fencing number: IDEM_RUN
 *        a younger claim with no effect    -> wait for it (re-scheduled on an executor; see app.h)
 *   3. the request runs; its write records the effect on the claim in its own transaction and is refused
 *      (rolled back) if the claim was taken over meanwhile, so an effect can never happen twice;
 *   4. idem_finish keeps the response, or releases the claim when nothing changed.
 * Claims are rows in the store, so concurrent retries on different instances see one another. What an
 * Idempotency-Key may look like and what "the same request" means (method, path and body bytes) are here too. */
#include "core/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/clock.h"
#include "util/exec.h"
#include "util/rand.h"
#include "util/sha256.h"

int idem_key_check(const char *key)
{
    if (!key)
        return TK_ERR_INVALID;
    size_t n = strlen(key);
    if (n < 1 || n > IDEM_KEY_MAX)
        return TK_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
            return TK_ERR_INVALID;
    return TK_OK;
}

void idem_request_hash(const char *method, const char *path, const char *body, size_t body_len, char out[65])
{
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, method, strlen(method));
    sha256_update(&s, " ", 1);
    sha256_update(&s, path, strlen(path));
    sha256_update(&s, "\n", 1);
    if (body_len)
        sha256_update(&s, body, body_len);
    unsigned char d[32];
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int idem_begin(struct tk_app *app, struct idem_call *c, enum idem_verdict *out)
{
    struct tk_store *st = app->store;
    int64_t claim = (int64_t)rand_below((uint64_t)INT64_MAX - 1) + 1;
    int64_t give_up = clock_mono_ms() + IDEM_WAIT_MS;
    for (;;) {
        idem_call_free(c);
        int64_t now = app_now_ms(app);
        int rc = store_idem_claim(st, c->user_id, c->key, c->hash, now, now + app->idempotency_ttl_ms, claim,
                                     &c->rec);
        if (rc == TK_OK)
            break;
        if (rc != TK_ERR_CONFLICT)
            return rc;
        if (strcmp(c->rec.request_hash, c->hash) != 0) {
            *out = IDEM_REUSED;
            return TK_OK;
        }
        if (c->rec.state == IDEM_DONE) {
            *out = IDEM_REPLAY;
            return TK_OK;
        }
        if (c->rec.effect_ref[0]) { /* the effect committed; its response was lost with its instance */
            c->claim = c->rec.claim;
            *out = IDEM_REBUILD;
            return TK_OK;
        }
        if (now - c->rec.claimed_at_ms > IDEM_LEASE_MS &&
            store_idem_takeover(st, c->user_id, c->key, c->rec.claim, claim, now) == TK_OK)
            break; /* its claimer died before any effect: this request runs it */
        if (!exec_on_worker() && clock_mono_ms() > give_up)
            return TK_ERR_UNAVAILABLE;
        TK_TRY(exec_defer_us(IDEM_POLL_US)); /* on a worker: TK_ERR_BUSY, run again later */
    }
    c->claim = claim;
    c->ref = (struct tk_idem_ref){.user_id = c->user_id, .key = c->key, .claim = claim};
    *out = IDEM_RUN;
    return TK_OK;
}

int idem_finish(struct tk_app *app, const struct idem_call *c, bool keep, int status, const char *body, size_t len,
                const char *effect_ref)
{
    struct tk_store *st = app->store;
    /* after the request ran: its effect may have committed, so this write waits in place rather than being
     * handed back to run the request again (a lost record would leave the key PENDING until its lease ends) */
    exec_no_defer_begin();
    int rc = keep ? store_idem_complete(st, c->user_id, c->key, c->claim, status, body, len, effect_ref)
                  : store_idem_release(st, c->user_id, c->key, c->claim);
    exec_no_defer_end();
    return rc;
}

void idem_call_free(struct idem_call *c)
{
    free(c->rec.body);
    c->rec = (struct tk_idem){0};
}
