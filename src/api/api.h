/* api.h — the HTTP API without HTTP: a route table (data), authentication, request parsing and
 * response rendering. http/server.c fills a struct api_request from libmicrohttpd and sends the
 * struct api_response back; everything in between lives here, one file per resource:
 *   users.c (users, wallet), queue.c (waiting room), concerts.c (catalogue, seats, seat map), booking.c (holds,
 *   payments), admin.c (the organizer), shop.c (the shop), ops.c (health, metrics, OpenAPI), router.c (routes,
 *   auth, dispatch), parse.c (JSON in and out, the list helper). */
#ifndef TK_API_H
#define TK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/app.h"
#include "util/buf.h"

#define API_BODY_MAX 65536

enum api_auth {
    AUTH_NONE,   /* anyone */
    AUTH_BEARER, /* Authorization: Bearer <apiKey> */
    AUTH_QUEUE,  /* queue-token, ACTIVE */
    AUTH_SELF,   /* the handler checks its own credential and then calls api_within_budget */
    AUTH_ADMIN,  /* Authorization: Bearer <adminKey> (--admin-key; none set: 403 for every such route) */
};

struct api_request {
    const char *method;
    const char *path;
    const char *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    /* Header and query-argument lookups supplied by the HTTP adapter (NULL when absent). */
    const char *(*header)(void *ctx, const char *name);
    const char *(*query)(void *ctx, const char *name);
    void *ctx;
    const char *client_addr; /* the peer's address, for budgets of unverified clients (may be NULL) */
    /* Set by authentication. */
    int64_t user_id;
    const char *queue_token;
    int64_t room_id; /* the queue token's room: 0 site-wide, else its sale */
    /* The {id} segment of the route's path ("" when the route has none), set by api_dispatch. */
    char path_param[48];
    /* Set by the Idempotency-Key protocol (router.c): the claim this request's write belongs to. */
    const struct tk_idem_ref *idem;
    /* A read-cache refresh the event thread claimed for this request (api_dispatch_inline), made by the worker
     * that runs it; claim 0: none. api_dispatch releases it if the handler did not use it. */
    struct seatmap_fill cache_claim;
};

/* A streaming response (Server-Sent Events): the handler sets api_response.stream (and status, content type);
 * the HTTP adapter then asks next() for bytes on an executor worker, holding no thread in between: while nothing
 * is new the connection is suspended and the stream's job waits poll_ms in the executor's delayed heap.
 * Ownership: the adapter calls free() once the connection is done (or the stream was refused). */
enum api_stream_verdict { API_STREAM_MORE, API_STREAM_END };
struct tk_api;
struct api_stream {
    /* Appends what is new to out (maybe nothing); API_STREAM_END after the last bytes. Called on a worker. */
    enum api_stream_verdict (*next)(struct api_stream *st, struct tk_api *api, struct buf *out);
    void (*free)(struct api_stream *st);
    int poll_ms;
};

struct api_response {
    int status;
    struct api_stream *stream; /* non-NULL: a streaming response (see above); owned */
    int err;                  /* the enum tk_err behind an error response, for logs */
    struct buf body;          /* owned; freed by the adapter */
    const char *static_body;  /* instead of body, for constant documents */
    size_t static_len;
    const char *content_type; /* NULL = application/json */
    const char *cache_control; /* NULL = none */
    const char *etag;          /* NULL = none (the pages: pages.c) */
    const char *csp;           /* Content-Security-Policy; NULL = none (the pages) */
    char effect_ref[48];      /* what a successful write created ("payment:12"), kept with an idempotent reply */
};

struct tk_http_server;
struct api_probe;
/* Actions with a budget of their own per client address (abuse limits). */
enum api_action { API_ACTION_SIGNUP, API_ACTION_ISSUE, API_ACTION__COUNT };
struct tk_api {
    struct tk_app *app;
    /* Set by the HTTP adapter (all may be NULL): its own metrics for GET /metrics, and the request budget of a
     * client, asked by the router once it knows who the client is ("u:<userId>" or "a:<address>"). */
    void (*render_http_metrics)(struct tk_api *api, struct buf *b);
    bool (*allow)(struct tk_api *api, const char *client_key);
    struct tk_http_server *http;
    struct api_probe *probe; /* what /health and /metrics report about the backing services (ops.c) */
    /* The per-address budgets of the abuse limits (POST /users, POST /queue/issue): NULL or true = allowed. */
    bool (*allow_action)(struct tk_api *api, enum api_action action, const char *client_addr);
    /* allow() answers from this process's memory (no Redis budget): cache hits may then be answered inline. */
    bool allow_local;
    bool inline_hits; /* --seat-map-inline: answer read-cache hits on the event thread when they can be */
    char admin_key[129]; /* "" = no organizer API (every /admin route is 403) */
};

typedef int (*api_handler)(struct tk_api *api, struct api_request *req, struct api_response *resp);

struct api_route {
    const char *method;
    const char *path;
    enum api_auth auth;
    api_handler handler;
    bool idempotent; /* honours Idempotency-Key */
    bool inline_ok;  /* needs no backing service: answered on the event thread, never rate-limited */
    /* Optional: answers a read-cache hit on the event thread when nothing on its way needs a backing service
     * (api_dispatch_inline); TK_OK answered, TK_ERR_BUSY not (resp untouched: the request goes to a worker). */
    api_handler inline_hit;
};

extern const struct api_route API_ROUTES[];
extern const int API_ROUTE_COUNT;
/* Route names for metrics, one per route plus a last entry "unmatched". */
const char *const *api_route_names(void);
/* The room a queue token names, with its current settings: UNAUTHORIZED when malformed or of no known sale. */
int api_token_room(struct tk_api *api, const char *token, struct wr_room *room, struct tk_sale *sale) TK_MUST_CHECK;
#define API_ROUTE_UNMATCHED (API_ROUTE_COUNT)

/* Does path match a route pattern? A "{id}" segment matches one non-empty segment (copied to param, size
 * paramlen, when it fits; else no match). */
bool api_path_match(const char *pattern, const char *path, char *param, size_t paramlen);
/* Finds the route for method+path (HEAD finds the GET route): TK_ERR_NOT_FOUND (no such path) or TK_ERR_METHOD. */
int api_route_find(const char *method, const char *path, int *route) TK_MUST_CHECK;
/* The request budget of a client (router.c): a verified user (user_id > 0) or else the request's address.
 * TK_OK, or TK_ERR_RATE_LIMITED written into resp. Counted once per request, not per re-run. */
int api_within_budget(struct tk_api *api, const struct api_request *req, int64_t user_id,
                      struct api_response *resp) TK_MUST_CHECK;
/* Authenticates and runs route `route`; resp always ends up a complete response. */
void api_dispatch(struct tk_api *api, int route, struct api_request *req, struct api_response *resp);
/* On the event thread, for a route with an inline_hit: true when the request was answered without any backing
 * service (the token checked in process, the gate from memory, a read-cache hit, an in-process budget); false
 * leaves resp untouched and the caller hands the request to a worker (api_dispatch), which answers everything
 * else — errors included — exactly as before. */
bool api_dispatch_inline(struct tk_api *api, int route, struct api_request *req, struct api_response *resp);

/* ---- parse.c: responses ---- */
/* Writes the error envelope (message NULL = the error's default) and returns err. */
int api_fail(struct api_response *resp, int err, const char *message);
/* Starts {"success":true,"data": — the handler appends the data, then api_ok_close. */
void api_ok_open(struct api_response *resp, int status);
void api_ok_close(struct api_response *resp);
/* Appends an RFC 3339 time as a JSON string, or null when ms is 0. */
void api_json_time(struct buf *b, int64_t ms);
void api_json_id(struct buf *b, int64_t id);
/* A JSON array rendered item by item (a store visitor's arg): api_list_sep before each item writes the comma
 * unless it is the first. api: for visitors that need it (may be NULL); arg: the caller's own. */
struct api_list {
    struct buf *b;
    int n; /* items so far */
    struct tk_api *api;
    void *arg;
};
void api_list_sep(struct api_list *l);

/* ---- parse.c: requests ---- */
/* Parses the body as one JSON object whose keys are all in allowed (NULL-terminated). An empty body
 * counts as {} when empty_ok. On error fills resp and returns the error. The caller json_decrefs *out. */
int api_body_object(const struct api_request *req, struct api_response *resp, const char *const *allowed,
                    bool empty_ok, json_t **out) TK_MUST_CHECK;
/* Reads an id field: a decimal string. Missing: TK_ERR_NOT_FOUND if !required (out untouched). */
int api_field_id(json_t *obj, const char *name, bool required, int64_t *out, struct api_response *resp) TK_MUST_CHECK;
/* Reads an amount: a JSON integer in 1..1e9. */
int api_field_amount(json_t *obj, const char *name, int64_t *out, struct api_response *resp) TK_MUST_CHECK;
/* Reads an integer field in min..max; missing: TK_ERR_NOT_FOUND if !required (out untouched). */
int api_field_int(json_t *obj, const char *name, int64_t min, int64_t max, bool required, int64_t *out,
                  struct api_response *resp) TK_MUST_CHECK;
/* Reads an RFC 3339 time field (ms since the epoch); missing: TK_ERR_NOT_FOUND if !required. */
int api_field_time(json_t *obj, const char *name, bool required, int64_t *out, struct api_response *resp) TK_MUST_CHECK;
/* Reads a string field (borrowed from obj); missing: TK_ERR_NOT_FOUND if !required. */
int api_field_str(json_t *obj, const char *name, bool required, const char **out, struct api_response *resp) TK_MUST_CHECK;
/* Reads a query id; missing: TK_ERR_NOT_FOUND if !required. */
int api_query_id(const struct api_request *req, const char *name, bool required, int64_t *out,
                 struct api_response *resp) TK_MUST_CHECK;

/* Reads a query integer: plain decimal digits in min..max; missing: *out = def. */
int api_query_int(const struct api_request *req, const char *name, int64_t min, int64_t max, int64_t def,
                  int64_t *out, struct api_response *resp) TK_MUST_CHECK;

/* Success responses, one per effect: the handlers use them, and the router uses them to rebuild a response
 * that was lost after its effect committed (a response is a pure function of its effect). */
void api_render_charge(struct api_response *resp, int64_t user_id, int64_t balance_won);
void api_render_transfer(struct api_response *resp, const struct tk_transfer *t);
void api_render_hold(struct api_response *resp, const struct tk_hold *h);
void api_render_payment(struct api_response *resp, const struct tk_payment *p);
/* ,"seats":[{seatId, seatNumber, price, category}] */
void api_render_seats(struct buf *b, const struct tk_hold_seat *seats, int n);

/* Handlers, one file per resource. */
int api_users_create(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_user_charge(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_user_check(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_queue_issue(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_queue_status(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_concerts(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_available_dates(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_available_seats(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_available_dates_inline(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_available_seats_inline(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_seat_map(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_seat_map_inline(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_reservation(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_payment(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* orders (issue 11) */
int api_reservation_cancel(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_payment_refund(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_payment_refund(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_user_payments(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_schedule_cancel(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_transfers(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_user_history(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_health(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_metrics(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_openapi(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* pages.c: the buyers' page, the organizer's page and their static files (web/, compiled in). */
int api_page_buyer(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_page_admin(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_page_static(struct tk_api *api, struct api_request *req, struct api_response *resp);
struct web_asset;
const struct web_asset *api_web_asset(const char *name); /* NULL: no such file */
int api_queue_events(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* admin.c: the organizer API */
int api_admin_concerts(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_schedules(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_sales_create(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_sale_patch(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_sale_get(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* The organizer's lists (the organizer's page): dates of a concert, sales, payments (booking.c). */
int api_admin_schedules_list(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_sales_list(struct tk_api *api, struct api_request *req, struct api_response *resp);
#define ADMIN_PAYMENTS_DEFAULT 50 /* GET /admin/payments without ?limit= (1..PAYMENTS_LIST_MAX) */
int api_admin_payments(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* Renders an available-dates item. */
void api_schedule_json(struct buf *b, const struct tk_schedule *row);
/* Renders a sale object ({"saleId", "concertId", "state", "opensAt", …}) into b. */
void api_sale_json(struct tk_api *api, struct buf *b, const struct tk_sale *s);
/* One sale's figures (GET /admin/sales/{id} stats, and the per-sale series of /metrics). */
#define API_SALE_METRICS_MAX 64
struct api_sale_stats {
    struct tk_sale sale;
    struct tk_waitroom_stats ws;
    struct tk_seat_counts seats;
};
int api_sale_stats(struct tk_api *api, const struct tk_sale *sale, struct api_sale_stats *out) TK_MUST_CHECK;
/* Up to max sales' figures (the first by id); the count, or a negative error. */
int api_sales_stats(struct tk_api *api, struct api_sale_stats *out, int max);
void api_render_sale_metrics(struct buf *b, const struct api_sale_stats *s, int n);
/* The per-address budget of an action: TK_OK or 429 written into resp. */
int api_within_action_budget(struct tk_api *api, const struct api_request *req, enum api_action action,
                             struct api_response *resp) TK_MUST_CHECK;
/* A path id (the route's {id}): 400 when it is not a canonical id. */
int api_path_id(const struct api_request *req, int64_t *out, struct api_response *resp) TK_MUST_CHECK;
/* May the request's queue token act on the concert of a schedule, seat or reservation? 403 written into resp. */
int api_gate(struct tk_api *api, const struct api_request *req, enum tk_owner_kind kind, int64_t id,
             struct api_response *resp) TK_MUST_CHECK;

/* shop.c: the shop (Bearer) and the organizer's products (AUTH_ADMIN) */
int api_products(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_product_get(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_products_popular(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_cart_add(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_cart_list(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_cart_remove(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_orders_create(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_order_pay(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_order_get(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_products_create(struct tk_api *api, struct api_request *req, struct api_response *resp);
int api_admin_option_patch(struct tk_api *api, struct api_request *req, struct api_response *resp);
/* Is effect_ref one of the shop's ("order:N", "order_payment:N")? Then api_shop_rebuild renders the answer its
 * request got (201 the order as placed, 200 the payment) from the store. */
bool api_shop_effect(const char *effect_ref);
int api_shop_rebuild(struct tk_api *api, int64_t user_id, const char *effect_ref, struct api_response *resp)
    TK_MUST_CHECK;

/* ops.c: the probe behind /health and /metrics (see ops.c); a failed start needs no stop; stop(NULL probe) is a no-op. */
#define API_PROBE_PERIOD_MS 250
int api_probe_start(struct tk_api *api, int period_ms) TK_MUST_CHECK;
void api_probe_stop(struct tk_api *api);

#endif
