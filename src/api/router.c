/* router.c — the route table, authentication, request budgets and dispatch. Requests with an Idempotency-Key
 * go through the protocol of core/idempotency.c; what stays here is HTTP's part of it: identifying the user,
 * replaying a stored response, and rebuilding a lost one from its effect (responses are a pure function of
 * their effect, rendered by the api layer). */
#include "api/api.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <pthread.h>
#include "util/exec.h"
#include "util/ids.h"


const struct api_route API_ROUTES[] = {
    {"POST", "/users", AUTH_NONE, api_users_create, false, false, NULL},
    {"POST", "/user/charge", AUTH_BEARER, api_user_charge, true, false, NULL},
    {"GET", "/user/check", AUTH_BEARER, api_user_check, false, false, NULL},
    {"POST", "/transfers", AUTH_BEARER, api_transfers, true, false, NULL},
    {"GET", "/user/history", AUTH_BEARER, api_user_history, false, false, NULL},
    {"POST", "/queue/issue", AUTH_BEARER, api_queue_issue, false, false, NULL},
    {"GET", "/queue/status", AUTH_SELF, api_queue_status, false, false, NULL}, /* checks its token itself: any state answers */
    {"GET", "/queue/events", AUTH_SELF, api_queue_events, false, false, NULL}, /* the same, pushed (Server-Sent Events) */
    {"GET", "/concerts", AUTH_NONE, api_concerts, false, false, NULL}, /* the public catalogue: choose a sale to queue for */
    {"GET", "/concert/available-dates", AUTH_QUEUE, api_available_dates, false, false, api_available_dates_inline},
    {"GET", "/concert/available-seats", AUTH_QUEUE, api_available_seats, false, false, api_available_seats_inline},
    {"GET", "/concert/seat-map", AUTH_QUEUE, api_seat_map, false, false, api_seat_map_inline}, /* every seat + status */
    {"POST", "/reservation", AUTH_QUEUE, api_reservation, true, false, NULL},
    {"POST", "/payment", AUTH_QUEUE, api_payment, true, false, NULL},
    {"POST", "/admin/concerts", AUTH_ADMIN, api_admin_concerts, false, false, NULL},
    {"POST", "/admin/schedules", AUTH_ADMIN, api_admin_schedules, false, false, NULL},
    {"GET", "/admin/schedules", AUTH_ADMIN, api_admin_schedules_list, false, false, NULL}, /* ?concertId= */
    {"POST", "/admin/sales", AUTH_ADMIN, api_admin_sales_create, false, false, NULL},
    {"GET", "/admin/sales", AUTH_ADMIN, api_admin_sales_list, false, false, NULL}, /* before /admin/sales/{id} */
    {"PATCH", "/admin/sales/{id}", AUTH_ADMIN, api_admin_sale_patch, false, false, NULL},
    {"GET", "/admin/sales/{id}", AUTH_ADMIN, api_admin_sale_get, false, false, NULL},
    /* orders (issue 11) */
    {"DELETE", "/reservation/{id}", AUTH_QUEUE, api_reservation_cancel, false, false, NULL},
    {"POST", "/payments/{id}/refund", AUTH_BEARER, api_payment_refund, true, false, NULL},
    {"GET", "/user/payments", AUTH_BEARER, api_user_payments, false, false, NULL},
    {"GET", "/admin/payments", AUTH_ADMIN, api_admin_payments, false, false, NULL}, /* ?scheduleId=&limit= */
    {"POST", "/admin/payments/{id}/refund", AUTH_ADMIN, api_admin_payment_refund, false, false, NULL},
    {"POST", "/admin/schedules/{id}/cancel", AUTH_ADMIN, api_admin_schedule_cancel, false, false, NULL},
    /* the shop (issue 12) */
    {"POST", "/admin/products", AUTH_ADMIN, api_admin_products_create, false, false, NULL},
    {"GET", "/admin/products", AUTH_ADMIN, api_products, false, false, NULL}, /* GET /products' list, one handler */
    {"PATCH", "/admin/options/{id}", AUTH_ADMIN, api_admin_option_patch, false, false, NULL},
    {"GET", "/products", AUTH_BEARER, api_products, false, false, NULL},
    {"GET", "/products/popular", AUTH_BEARER, api_products_popular, false, false, NULL}, /* before /products/{id} */
    {"GET", "/products/{id}", AUTH_BEARER, api_product_get, false, false, NULL},
    {"POST", "/cart", AUTH_BEARER, api_cart_add, false, false, NULL},
    {"GET", "/cart", AUTH_BEARER, api_cart_list, false, false, NULL},
    {"DELETE", "/cart/{id}", AUTH_BEARER, api_cart_remove, false, false, NULL},
    {"POST", "/orders", AUTH_BEARER, api_orders_create, true, false, NULL},
    {"POST", "/orders/{id}/pay", AUTH_BEARER, api_order_pay, true, false, NULL},
    {"GET", "/orders/{id}", AUTH_BEARER, api_order_get, false, false, NULL},
    {"GET", "/health", AUTH_NONE, api_health, false, true, NULL},
    {"GET", "/metrics", AUTH_NONE, api_metrics, false, true, NULL},
    {"GET", "/openapi.json", AUTH_NONE, api_openapi, false, true, NULL},
    {"GET", "/", AUTH_NONE, api_page_buyer, false, true, NULL},               /* the pages (pages.c, web/) */
    {"GET", "/admin", AUTH_NONE, api_page_admin, false, true, NULL},          /* the key is asked for in the page */
    {"GET", "/static/{id}", AUTH_NONE, api_page_static, false, true, NULL},
};
const int API_ROUTE_COUNT = (int)(sizeof API_ROUTES / sizeof API_ROUTES[0]);

/* Metric names: a route's path, or "METHOD path" when several routes share the path; then "unmatched". */
static const char *route_names[sizeof API_ROUTES / sizeof API_ROUTES[0] + 1];
static char route_name_buf[sizeof API_ROUTES / sizeof API_ROUTES[0]][64];
static pthread_once_t route_names_once = PTHREAD_ONCE_INIT;

static void route_names_init(void)
{
    for (int i = 0; i < API_ROUTE_COUNT; i++) {
        bool shared = false;
        for (int j = 0; j < API_ROUTE_COUNT; j++)
            shared |= j != i && strcmp(API_ROUTES[i].path, API_ROUTES[j].path) == 0;
        if (shared) {
            snprintf(route_name_buf[i], sizeof route_name_buf[i], "%s %s", API_ROUTES[i].method, API_ROUTES[i].path);
            route_names[i] = route_name_buf[i];
        } else {
            route_names[i] = API_ROUTES[i].path;
        }
    }
    route_names[API_ROUTE_COUNT] = "unmatched";
}

const char *const *api_route_names(void)
{
    pthread_once(&route_names_once, route_names_init);
    return route_names;
}

bool api_path_match(const char *pattern, const char *path, char *param, size_t paramlen)
{
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (strncmp(p, "{id}", 4) == 0) {
            size_t n = strcspn(q, "/");
            if (n == 0 || n >= paramlen)
                return false;
            if (param) {
                memcpy(param, q, n);
                param[n] = 0;
            }
            p += 4;
            q += n;
            continue;
        }
        if (*p != *q)
            return false;
        p++;
        q++;
    }
    return *p == 0 && *q == 0;
}

int api_route_find(const char *method, const char *path, int *route)
{
    if (strcmp(method, "HEAD") == 0) /* the GET route; libmicrohttpd sends its headers without the body */
        method = "GET";
    bool path_known = false;
    char param[48];
    for (int i = 0; i < API_ROUTE_COUNT; i++) {
        if (!api_path_match(API_ROUTES[i].path, path, param, sizeof param))
            continue;
        path_known = true;
        if (strcmp(API_ROUTES[i].method, method) == 0) {
            *route = i;
            return TK_OK;
        }
    }
    return path_known ? TK_ERR_METHOD : TK_ERR_NOT_FOUND;
}

/* The room of a queue token with its current settings: UNAUTHORIZED for a malformed token or an unknown sale. */
int api_token_room(struct tk_api *api, const char *token, struct wr_room *room, struct tk_sale *sale)
{
    int64_t room_id;
    TK_TRY(waitroom_token_room(token, &room_id));
    int rc = sales_room(api->app, room_id, room, sale);
    return rc == TK_ERR_NOT_FOUND ? TK_ERR_UNAUTHORIZED : rc;
}

/* Compares two strings in time that depends only on their lengths. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int authenticate_admin(struct tk_api *api, struct api_request *req, struct api_response *resp)
{
    if (!api->admin_key[0])
        return api_fail(resp, TK_ERR_FORBIDDEN, "the organizer API is off: start ticketd with --admin-key");
    const char *h = req->header(req->ctx, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0 || !h[7])
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing admin key (Authorization: Bearer <adminKey>)");
    if (same_secret(h + 7, api->admin_key))
        return TK_OK;
    int64_t user_id;
    int rc = account_authenticate(api->app, h, &user_id);
    if (rc == TK_OK)
        return api_fail(resp, TK_ERR_FORBIDDEN, "a user's API key is not an admin key");
    if (rc != TK_ERR_UNAUTHORIZED)
        return api_fail(resp, rc, NULL);
    return api_fail(resp, TK_ERR_UNAUTHORIZED, "unknown admin key");
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
    case AUTH_ADMIN:
        return authenticate_admin(api, req, resp);
    case AUTH_QUEUE: {
        req->queue_token = req->header(req->ctx, "queue-token");
        struct wr_room room = {0};
        int rc = api_token_room(api, req->queue_token, &room, NULL);
        if (rc == TK_OK)
            rc = waitroom_require_active(app->waitroom, &room, req->queue_token, app_now_ms(app), &req->user_id);
        req->room_id = room.id;
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
    struct wr_room room = {0};
    int rc = api_token_room(api, token, &room, NULL);
    if (rc == TK_OK)
        rc = app->waitroom->ops->status(app->waitroom, &room, token, app_now_ms(app), &t);
    if (rc == TK_ERR_NOT_FOUND || rc == TK_ERR_UNAUTHORIZED)
        return api_fail(resp, TK_ERR_UNAUTHORIZED, "missing or unknown queue-token");
    if (rc < 0)
        return api_fail(resp, rc, NULL);
    *user_id = t.user_id;
    return TK_OK;
}

/* Rebuilds the response of a request whose effect committed but whose response was lost. */
static int rebuild(struct tk_api *api, int64_t user_id, const struct tk_idem *rec, struct api_response *resp)
{
    struct tk_app *app = api->app;
    if (api_shop_effect(rec->effect_ref)) { /* the shop's effects: api/shop.c renders them from the order */
        TK_TRY(api_shop_rebuild(api, user_id, rec->effect_ref, resp));
        snprintf(resp->effect_ref, sizeof resp->effect_ref, "%s", rec->effect_ref);
        return TK_OK;
    }
    struct tk_effect e;
    TK_TRY(store_effect_get(app->store, user_id, rec->effect_ref, &e));
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
    case EFFECT_REFUND:
        api_render_payment(resp, &e.payment);
        break;
    }
    snprintf(resp->effect_ref, sizeof resp->effect_ref, "%s", rec->effect_ref);
    return TK_OK;
}

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
    if (idem_key_check(key) < 0) {
        (void)api_fail(resp, TK_ERR_INVALID, "Idempotency-Key must be 1..128 printable ASCII characters");
        return;
    }
    struct idem_call call = {.key = key};
    int irc = identify(api, r, req, resp, &call.user_id);
    if (api_within_budget(api, req, irc < 0 ? 0 : call.user_id, resp) < 0 || irc < 0)
        return;
    idem_request_hash(req->method, req->path, req->body, req->body_len, call.hash);

    enum idem_verdict v;
    int rc = idem_begin(app, &call, &v);
    if (rc < 0) {
        (void)api_fail(resp, rc,
                       rc == TK_ERR_UNAVAILABLE ? "a request with this Idempotency-Key is still running; retry" : NULL);
        idem_call_free(&call);
        return;
    }
    switch (v) {
    case IDEM_REUSED:
        (void)api_fail(resp, TK_ERR_IDEMPOTENCY_KEY_REUSED, "this Idempotency-Key was used with a different request");
        break;
    case IDEM_REPLAY:
        replay(app, resp, &call.rec);
        break;
    case IDEM_REBUILD:
        rc = rebuild(api, call.user_id, &call.rec, resp);
        if (rc < 0) {
            (void)api_fail(resp, rc, NULL);
            break;
        }
        rc = idem_finish(app, &call, true, resp->status, resp->body.p, resp->body.len, resp->effect_ref);
        if (rc < 0 && rc != TK_ERR_CLAIM_LOST) /* CLAIM_LOST: the first request stored it meanwhile */
            fprintf(stderr, "ticketd: rebuilt response of user %lld not stored: %s\n", (long long)call.user_id,
                    tk_err_code(rc));
        APP_COUNT(app, idempotent_replays, 1);
        break;
    case IDEM_RUN: {
        req->idem = &call.ref;
        bool authenticated = r->auth == AUTH_BEARER || authenticate(api, r, req, resp) == TK_OK;
        if (authenticated) {
            TK_ASSERT(req->user_id == call.user_id);
            run_handler(api, r, req, resp);
        }
        req->idem = NULL;
        bool keep = authenticated && resp->status < 500 && !resp->body.oom;
        rc = idem_finish(app, &call, keep, resp->status, resp->body.p, resp->body.len, resp->effect_ref);
        if (rc < 0)
            fprintf(stderr, "ticketd: idempotency record of user %lld could not be %s: %s\n",
                    (long long)call.user_id, keep ? "stored" : "released", tk_err_code(rc));
        break;
    }
    }
    idem_call_free(&call);
}

static void dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp);

void api_dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp)
{
    dispatch(api, route, req, resp);
    if (req->cache_claim.claim && api->app->seatmap) /* claimed on the event thread, not used: let another refresh */
        seatmap_abandon(api->app->seatmap, &req->cache_claim);
    req->cache_claim.claim = 0;
}

static void dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp)
{
    TK_ASSERT(route >= 0 && route < API_ROUTE_COUNT);
    const struct api_route *r = &API_ROUTES[route];
    req->path_param[0] = 0;
    if (strchr(r->path, '{'))
        TK_ASSERT(api_path_match(r->path, req->path, req->path_param, sizeof req->path_param));
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

bool api_dispatch_inline(struct tk_api *api, int route, struct api_request *req, struct api_response *resp)
{
    TK_ASSERT(route >= 0 && route < API_ROUTE_COUNT);
    const struct api_route *r = &API_ROUTES[route];
    struct tk_app *app = api->app;
    /* A waiting room with a ping lives in a backing service (Redis, the store): its token check is a round trip. */
    if (!r->inline_hit || !app->seatmap || !api->inline_hits || !api->allow_local || r->auth != AUTH_QUEUE ||
        app->waitroom->ops->ping)
        return false;
    const char *token = req->header(req->ctx, "queue-token");
    int64_t room_id, user_id;
    struct wr_room room;
    if (waitroom_token_room(token, &room_id) < 0 || sales_room_cached(app, room_id, &room, NULL) < 0 ||
        waitroom_require_active(app->waitroom, &room, token, app_now_ms(app), &user_id) < 0)
        return false; /* the worker answers 401/403 (or reads the sales) as always */
    req->queue_token = token;
    req->room_id = room.id;
    req->user_id = user_id;
    if (r->inline_hit(api, req, resp) == TK_OK)
        return true;
    TK_ASSERT(resp->status == 0 && resp->body.len == 0);
    return false;
}

int api_within_action_budget(struct tk_api *api, const struct api_request *req, enum api_action action,
                             struct api_response *resp)
{
    if (!api->allow_action || exec_attempt() > 0)
        return TK_OK;
    if (api->allow_action(api, action, req->client_addr ? req->client_addr : "?"))
        return TK_OK;
    return api_fail(resp, TK_ERR_RATE_LIMITED,
                    action == API_ACTION_SIGNUP ? "too many new users from this address; retry later"
                                                : "too many queue tokens asked from this address; retry later");
}

int api_path_id(const struct api_request *req, int64_t *out, struct api_response *resp)
{
    if (id_parse(req->path_param, out) < 0)
        return api_fail(resp, TK_ERR_INVALID, "the id in the path must be a decimal id");
    return TK_OK;
}

int api_gate(struct tk_api *api, const struct api_request *req, enum tk_owner_kind kind, int64_t id,
             struct api_response *resp)
{
    int rc = sale_gate_owner(api->app, req->room_id, kind, id);
    if (rc == TK_ERR_FORBIDDEN)
        return api_fail(resp, rc,
                        req->room_id ? "this queue token admits only to its own sale's concert"
                                     : "this concert has a sale of its own: queue for it (POST /queue/issue with concertId)");
    return rc < 0 ? api_fail(resp, rc, NULL) : TK_OK;
}
