/* router.c — the route table, authentication, dispatch, and the Idempotency-Key protocol:
 *
 *   1. identify the caller (API key, or the user behind the queue token in ANY state, so that a retry after
 *      the first request expired the token still finds its record);
 *   2. claim (user, key) in the store with a fresh fencing number, or find the record:
 *        another request body               -> 409 IDEMPOTENCY_KEY_REUSED
 *        a stored response                  -> replay it byte for byte
 *        a claim whose effect committed but whose response was lost (its instance died) -> rebuild the
 *                                              response from the effect (a pure function of it) and keep it
 *        a claim with no effect, older than IDEM_LEASE_MS (its instance died before the effect) -> take it
 *                                              over with a new fencing number and run the request
 *        a younger claim with no effect     -> wait for it (at most IDEM_WAIT_MS, then 503, nothing done);
 *   3. run the request; its write records the effect on the claim in its own transaction and is refused
 *      (rolled back) if the claim was taken over meanwhile, so an effect can never happen twice;
 *   4. keep the response unless it is an authentication failure or a 5xx (nothing changed: the claim is
 *      released and a retry runs afresh).
 * Because claims are rows in the store, concurrent retries on different instances see one another.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include "util/exec.h"
#include "util/rand.h"

#define IDEM_WAIT_MS 10000
#define IDEM_POLL_US 5000
#define IDEM_LEASE_MS 30000 /* longer than any request can run: pool waits and statement timeouts are 5 s */

const struct api_route API_ROUTES[] = {
    {"POST", "/users", AUTH_NONE, api_users_create, false, false},
    {"POST", "/user/charge", AUTH_BEARER, api_user_charge, true, false},
    {"GET", "/user/check", AUTH_BEARER, api_user_check, false, false},
    {"POST", "/transfers", AUTH_BEARER, api_transfers, true, false},
    {"GET", "/user/history", AUTH_BEARER, api_user_history, false, false},
    {"POST", "/queue/issue", AUTH_BEARER, api_queue_issue, false, false},
    {"GET", "/queue/status", AUTH_SELF, api_queue_status, false, false}, /* checks its token itself: any state answers */
    {"GET", "/queue/events", AUTH_SELF, api_queue_events, false, false}, /* the same, pushed (Server-Sent Events) */
    {"GET", "/concerts", AUTH_QUEUE, api_concerts, false, false},
    {"GET", "/concert/available-dates", AUTH_QUEUE, api_available_dates, false, false},
    {"GET", "/concert/available-seats", AUTH_QUEUE, api_available_seats, false, false},
    {"POST", "/reservation", AUTH_QUEUE, api_reservation, true, false},
    {"POST", "/payment", AUTH_QUEUE, api_payment, true, false},
    {"GET", "/health", AUTH_NONE, api_health, false, true},
    {"GET", "/metrics", AUTH_NONE, api_metrics, false, true},
    {"GET", "/openapi.json", AUTH_NONE, api_openapi, false, true},
};
const int API_ROUTE_COUNT = (int)(sizeof API_ROUTES / sizeof API_ROUTES[0]);

const char *const API_ROUTE_NAMES[] = {
    "/users", "/user/charge", "/user/check", "/transfers", "/user/history", "/queue/issue", "/queue/status",
    "/queue/events",
    "/concerts",
    "/concert/available-dates", "/concert/available-seats", "/reservation", "/payment", "/health", "/metrics",
    "/openapi.json", "unmatched",
};

int api_route_find(const char *method, const char *path, int *route)
{
    if (strcmp(method, "HEAD") == 0) /* the GET route; libmicrohttpd sends its headers without the body */
        method = "GET";
    bool path_known = false;
    for (int i = 0; i < API_ROUTE_COUNT; i++) {
        if (strcmp(API_ROUTES[i].path, path) != 0)
            continue;
        path_known = true;
        if (strcmp(API_ROUTES[i].method, method) == 0) {
            *route = i;
            return TK_OK;
        }
    }
    return path_known ? TK_ERR_METHOD : TK_ERR_NOT_FOUND;
}

static int authenticate(struct tk_api *api, const struct api_route *r, struct api_request *req,
                        struct api_response *resp)
{
    struct tk_app *app = api->app;
    switch (r->auth) {
    case AUTH_NONE:
    case AUTH_SELF:
        return TK_OK;
    case AUTH_BEARER: {
        int rc = account_authenticate(app, req->header(req->ctx, "Authorization"), &req->user_id);
        return rc < 0 ? api_fail(resp, rc, rc == TK_ERR_UNAUTHORIZED ? "missing or unknown API key" : NULL) : TK_OK;
    }
    case AUTH_QUEUE: {
        req->queue_token = req->header(req->ctx, "queue-token");
        int rc = waitroom_require_active(app->waitroom, req->queue_token, app_now_ms(app), &req->user_id);
        if (rc == TK_ERR_UNAUTHORIZED)
            return api_fail(resp, rc, "missing or unknown queue-token");
        if (rc == TK_ERR_NOT_ADMITTED)
            return api_fail(resp, rc, "queue token is waiting or expired; poll GET /queue/status");
        return rc < 0 ? api_fail(resp, rc, NULL) : TK_OK;
    }
    }
    return api_fail(resp, TK_ERR_INTERNAL, NULL);
}

/* The request budget of the client, once known: a verified user ("u:<id>") or, for a request that proves no
 * identity (none needed, or a missing or made-up credential), its address — so a forged key never earns a
 * fresh budget. TK_OK or the 429 written into resp. */
int api_within_budget(struct tk_api *api, const struct api_request *req, int64_t user_id,
                      struct api_response *resp)
{
    if (!api->allow || exec_attempt() > 0) /* a re-scheduled request was counted on its first run */
        return TK_OK;
    char key[80];
    if (user_id > 0)
        snprintf(key, sizeof key, "u:%lld", (long long)user_id);
    else
        snprintf(key, sizeof key, "a:%s", req->client_addr ? req->client_addr : "?");
    if (api->allow(api, key))
        return TK_OK;
    return api_fail(resp, TK_ERR_RATE_LIMITED, "too many requests from this client; retry in a second");
}

static void run_handler(struct tk_api *api, const struct api_route *r, struct api_request *req,
                        struct api_response *resp)
{
    int rc = r->handler(api, req, resp);
    /* An error replaces whatever the handler had started to write (a list half-rendered when the store
     * failed), unless the handler already wrote its own error. */
    if (rc < 0 && resp->err == 0)
        (void)api_fail(resp, rc, NULL);
    TK_ASSERT(resp->status != 0);
}

/* Step 1: the user an idempotency record belongs to. */
static int identify(struct tk_api *api, const struct api_route *r, struct api_request *req,
                    struct api_response *resp, int64_t *user_id)
{
    struct tk_app *app = api->app;
    if (r->auth == AUTH_BEARER)
        return authenticate(api, r, req, resp) < 0 ? resp->err : (*user_id = req->user_id, TK_OK);
    TK_ASSERT(r->auth == AUTH_QUEUE);
    const char *token = req->header(req->ctx, "queue-token");
    struct tk_ticket t;
    int rc = waitroom_token_well_formed(token)
                 ? app->waitroom->ops->status(app->waitroom, token, app_now_ms(app), &t)
                 : TK_ERR_NOT_FOUND;
    if (rc == TK_ERR_NOT_FOUND)
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing or unknown queue-token");
    if (rc < 0)
        return api_fail(resp, rc, NULL);
    *user_id = t.user_id;
    return TK_OK;
}

/* Rebuilds the response of a request whose effect committed but whose response was lost. */
static int rebuild(struct tk_app *app, int64_t user_id, const struct tk_idem *rec, struct api_response *resp)
{
    struct tk_effect e;
    TK_TRY(app->store->ops->effect_get(app->store, user_id, rec->effect_ref, &e));
    switch (e.kind) {
    case EFFECT_CHARGE:
        api_render_charge(resp, user_id, e.balance_won);
        break;
    case EFFECT_TRANSFER:
        api_render_transfer(resp, &e.transfer);
        break;
    case EFFECT_HOLD:
        api_render_hold(resp, &e.hold);
        break;
    case EFFECT_PAYMENT:
        api_render_payment(resp, &e.payment);
        break;
    }
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "%s", rec->effect_ref);
    return TK_OK;
}

static int64_t new_claim(void) { return (int64_t)rand_below((uint64_t)INT64_MAX - 1) + 1; }

static void replay(struct tk_app *app, struct api_response *resp, const struct tk_idem *rec)
{
    resp->status = rec->status;
    resp->err = 0;
    resp->body.len = 0;
    buf_append(&resp->body, rec->body, rec->body_len);
    APP_COUNT(app, idempotent_replays, 1);
}

static void dispatch_idempotent(struct tk_api *api, const struct api_route *r, const char *key,
                                struct api_request *req, struct api_response *resp)
{
    struct tk_app *app = api->app;
    struct tk_store *st = app->store;
    if (idem_key_check(key) < 0) {
        (void)api_fail(resp, TK_ERR_INVALID, "Idempotency-Key must be 1..128 printable ASCII characters");
        return;
    }
    int64_t user_id = 0;
    int irc = identify(api, r, req, resp, &user_id);
    if (api_within_budget(api, req, irc < 0 ? 0 : user_id, resp) < 0 || irc < 0)
        return;
    char hash[65];
    idem_request_hash(req->method, req->path, req->body, req->body_len, hash);

    int64_t claim = new_claim();
    int64_t deadline = clock_mono_ms() + IDEM_WAIT_MS;
    for (;;) {
        struct tk_idem rec = {0};
        int64_t now = app_now_ms(app);
        int rc = st->ops->idem_claim(st, user_id, key, hash, now, now + app->idempotency_ttl_ms, claim, &rec);
        if (rc == TK_OK)
            break;
        if (rc != TK_ERR_CONFLICT) {
            (void)api_fail(resp, rc, NULL);
            return;
        }
        bool same = strcmp(rec.request_hash, hash) == 0;
        if (same && rec.state == IDEM_DONE)
            replay(app, resp, &rec);
        free(rec.body);
        if (!same) {
            (void)api_fail(resp, TK_ERR_IDEMPOTENCY_KEY_REUSED,
                           "this Idempotency-Key was used with a different request");
            return;
        }
        if (rec.state == IDEM_DONE)
            return;
        if (rec.effect_ref[0]) { /* the effect committed; its response was lost with its instance */
            rc = rebuild(app, user_id, &rec, resp);
            if (rc < 0) {
                (void)api_fail(resp, rc, NULL);
                return;
            }
            rc = st->ops->idem_complete(st, user_id, key, rec.claim, resp->status, resp->body.p, resp->body.len,
                                        resp->effect_ref);
            if (rc < 0 && rc != TK_ERR_CLAIM_LOST) /* CLAIM_LOST: the first request stored it meanwhile */
                fprintf(stderr, "ticketd: rebuilt response of user %lld not stored: %s\n", (long long)user_id,
                        tk_err_code(rc));
            APP_COUNT(app, idempotent_replays, 1);
            return;
        }
        if (now - rec.claimed_at_ms > IDEM_LEASE_MS &&
            st->ops->idem_takeover(st, user_id, key, rec.claim, claim, now) == TK_OK)
            break; /* its claimer died before any effect: this request runs it */
        if (clock_mono_ms() > deadline) {
            (void)api_fail(resp, TK_ERR_UNAVAILABLE, "a request with this Idempotency-Key is still running; retry");
            return;
        }
        /* on an executor worker: run again in IDEM_POLL_US (the request's deadline bounds the wait); elsewhere sleep */
        rc = exec_defer_us(IDEM_POLL_US);
        if (rc < 0) {
            (void)api_fail(resp, rc, NULL);
            return;
        }
    }

    struct tk_idem_ref ref = {.user_id = user_id, .key = key, .claim = claim};
    req->idem = &ref;
    bool authenticated = r->auth == AUTH_BEARER || authenticate(api, r, req, resp) == TK_OK;
    if (authenticated) {
        TK_ASSERT(req->user_id == user_id);
        run_handler(api, r, req, resp);
    }
    req->idem = NULL;
    int rc;
    if (!authenticated || resp->status >= 500 || resp->body.oom)
        rc = st->ops->idem_release(st, user_id, key, claim);
    else
        rc = st->ops->idem_complete(st, user_id, key, claim, resp->status, resp->body.p, resp->body.len,
                                    resp->effect_ref);
    if (rc < 0)
        fprintf(stderr, "ticketd: idempotency record of user %lld could not be %s: %s\n", (long long)user_id,
                authenticated ? "stored" : "released", tk_err_code(rc));
}

void api_dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp)
{
    TK_ASSERT(route >= 0 && route < API_ROUTE_COUNT);
    const struct api_route *r = &API_ROUTES[route];
    const char *key = r->idempotent ? req->header(req->ctx, "Idempotency-Key") : NULL;
    if (key) {
        dispatch_idempotent(api, r, key, req, resp);
        return;
    }
    if (r->inline_ok) { /* answered on the event thread: no credential, no budget, no backing service */
        run_handler(api, r, req, resp);
        return;
    }
    int arc = authenticate(api, r, req, resp);
    if (r->auth != AUTH_SELF && (api_within_budget(api, req, arc < 0 ? 0 : req->user_id, resp) < 0 || arc < 0))
        return;
    run_handler(api, r, req, resp);
}
