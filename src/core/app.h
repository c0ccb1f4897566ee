/* app.h — the booking service: the parts core/ works with, wired once at start-up by main.c.
 * Knows no HTTP and no SQL dialect. Every function returns 0 or a negative enum tk_err. */
#ifndef TK_APP_H
#define TK_APP_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"
#include "lock/strategy.h"
#include "waitroom/waitroom.h"
#include "util/clock.h"
#include "util/rand.h"
#include "core/seatcache.h"
#include "core/seatmap.h"

#define API_KEY_PREFIX "tk_"
#define API_KEY_LEN (3 + 32) /* tk_ + 128 random bits in hex */
#define USER_NAME_MAX_CHARS 64

struct tk_app_counters {
    uint64_t users_created;
    uint64_t charges;
    uint64_t transfers;
    uint64_t idempotent_replays;
    uint64_t holds_created;
    uint64_t holds_refused_cached;
    uint64_t seatmap_hits_inline; /* read-cache hits answered on the event thread */
    uint64_t holds_expired;
    uint64_t payments;
    uint64_t payments_won;
};

struct tk_app {
    struct tk_store *store;
    struct tk_strategy *strategy;
    struct tk_waitroom *waitroom;
    struct wr_room site_room;   /* room 0: the site-wide room of part 1, its settings from the flags */
    struct tk_sales *sales;     /* the sales and their rooms (sales.c) */
    struct tk_clock *clock;
    int64_t hold_ms;
    int max_holds_per_user;
    int64_t refund_cutoff_ms; /* orders: a payer may refund until this long before the date starts */
    int64_t idempotency_ttl_ms;
    bool redis_configured; /* --redis given: /health reports "up"/"down", else "off" */
    struct seatcache *seats_taken; /* negative cache of taken seats (NULL: off, e.g. in the lab) */
    struct seatmap *seatmap;       /* the read cache of available-seats/-dates (NULL: off); writes bump its versions */
    int64_t order_hold_ms;         /* the shop: how long a PENDING order keeps its stock (--order-hold-seconds) */
    struct shop_batcher *shop_batcher; /* the shop: combines concurrent orders of one option (NULL: off) */
    struct key_cache *key_cache;   /* the API keys this instance has seen in the store (accounts.c; NULL: off) */
    struct tk_app_counters counters; /* atomic builtins */
};

static inline int64_t app_now_ms(struct tk_app *app) { return clock_now_ms(app->clock); }

/* accounts.c */
/* TK_OK when name is 1–64 Unicode characters of valid UTF-8 with no control characters. */
int account_check_name(const char *name) TK_MUST_CHECK;
/* Creates a user with a fresh API key (written to api_key, size >= API_KEY_LEN + 1). */
int account_create(struct tk_app *app, const char *name, struct tk_user *out, char *api_key) TK_MUST_CHECK;
/* Resolves "Authorization: Bearer <key>" (the whole header value) to a user: UNAUTHORIZED otherwise.
 * Only the key's SHA-256 is stored, so a copy of the database does not hand out the keys. A key found once is
 * remembered in app->key_cache (when set): keys never change, so later requests skip the store. */
int account_authenticate(struct tk_app *app, const char *authorization, int64_t *user_id) TK_MUST_CHECK;
struct key_cache;
/* The known-key cache (bounded, direct-mapped; see accounts.c). A failed new needs no free; free(NULL) no-op. */
int key_cache_new(struct key_cache **out) TK_MUST_CHECK;
void key_cache_free(struct key_cache *c);

/* wallet.c */
/* Charges the wallet; *entry_id (may be NULL) is the CHARGE ledger entry. */
/* idem (may be NULL): the Idempotency-Key claim the write belongs to (store/store.h, struct tk_idem_ref). */
int wallet_charge(struct tk_app *app, int64_t user_id, int64_t amount_won, const struct tk_idem_ref *idem,
                  int64_t *balance_won, int64_t *entry_id) TK_MUST_CHECK;
/* Moves money between two users (refused whole: INVALID for oneself, NOT_FOUND, INSUFFICIENT_BALANCE, OVERFLOW). */
int wallet_transfer(struct tk_app *app, int64_t from_user, int64_t to_user, int64_t amount_won,
                    const struct tk_idem_ref *idem, struct tk_transfer *out) TK_MUST_CHECK;
#define HISTORY_LIMIT_MAX 100
int wallet_history(struct tk_app *app, int64_t user_id, int limit, tk_ledger_fn fn, void *arg) TK_MUST_CHECK;

/* idempotency.c: the Idempotency-Key protocol, used by the API (api/router.c) and the lab alike. */
/* TK_OK when key is 1–128 printable ASCII characters. */
int idem_key_check(const char *key) TK_MUST_CHECK;
/* SHA-256 of "METHOD PATH\n" + body, as 64 hex digits: what "the same request" means. */
void idem_request_hash(const char *method, const char *path, const char *body, size_t body_len, char out[65]);

#define IDEM_WAIT_MS 10000  /* off an executor: how long a request waits for another with its key */
#define IDEM_POLL_US 5000   /* how often it looks again (on an executor: re-scheduled, holding no thread) */
#define IDEM_LEASE_MS 30000 /* a claim older than this with no effect belongs to a dead request: take it over */

enum idem_verdict {
    IDEM_RUN,     /* the key is this request's: run it (its write carries call.ref), then idem_finish */
    IDEM_REPLAY,  /* the first response is stored: answer call.rec.status / call.rec.body */
    IDEM_REBUILD, /* its effect (call.rec.effect_ref) committed but its response was lost: rebuild it from the
                   * effect, answer it, and keep it with idem_finish */
    IDEM_REUSED,  /* the key was used with another request: 409 IDEMPOTENCY_KEY_REUSED */
};
/* One request's use of a key. Fill user_id, key and hash; idem_begin fills the rest. */
struct idem_call {
    int64_t user_id;
    const char *key;
    char hash[65];
    int64_t claim;          /* the fencing number this request holds (RUN; the found claim for REBUILD) */
    struct tk_idem rec;     /* the record found (REPLAY, REBUILD); its body is freed by idem_call_free */
    struct tk_idem_ref ref; /* RUN: what the write records its effect on */
};
/* Claims (user, key), or finds what happened to it. While another request with the key runs, waits: on an
 * executor worker by returning TK_ERR_BUSY (run again in IDEM_POLL_US; the request's deadline bounds it), off one
 * by sleeping, at most IDEM_WAIT_MS, then TK_ERR_UNAVAILABLE. A claim with no effect older than IDEM_LEASE_MS is
 * taken over (its request died). Other errors: the store's (nothing claimed). */
int idem_begin(struct tk_app *app, struct idem_call *c, enum idem_verdict *out) TK_MUST_CHECK;
/* After RUN or REBUILD: keep the response (keep, e.g. a 2xx or 4xx) or release the claim (an authentication
 * failure or a 5xx changed nothing: a retry runs afresh). TK_ERR_CLAIM_LOST: someone else completed it. */
int idem_finish(struct tk_app *app, const struct idem_call *c, bool keep, int status, const char *body, size_t len,
                const char *effect_ref) TK_MUST_CHECK;
void idem_call_free(struct idem_call *c);

/* reconcile.c: the ledger audit of `ticketd reconcile`. Calls fn once per discrepancy; *problems counts them. */
int reconcile_run(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg,
                  int *problems) TK_MUST_CHECK;
int wallet_balance(struct tk_app *app, int64_t user_id, int64_t *balance_won) TK_MUST_CHECK;

/* booking.c */
int booking_hold(struct tk_app *app, int64_t user_id, int64_t seat_id, const struct tk_idem_ref *idem,
                 struct tk_hold *out) TK_MUST_CHECK;
/* Pays a hold (by reservation_id, or by seat_id when reservation_id is 0) and expires queue_token. */
int booking_pay(struct tk_app *app, int64_t user_id, const char *queue_token, int64_t reservation_id,
                int64_t seat_id, const struct tk_idem_ref *idem, struct tk_payment *out) TK_MUST_CHECK;

/* booking.c, orders (issue 11). booking_hold_seats: 1..min(max_holds_per_user, HOLD_SEATS_MAX) distinct seats of
 * one date, all held or none (INVALID for an empty, duplicated or too long list or seats of two dates;
 * SEAT_UNAVAILABLE with out->unavailable). The seats are sorted ascending; under a strategy with an external lock
 * one lock per seat is taken, in key order (strategy_run_keys), so overlapping holds never wait in a cycle. */
int booking_hold_seats(struct tk_app *app, int64_t user_id, const int64_t *seat_ids, int nseats,
                       const struct tk_idem_ref *idem, struct tk_hold *out) TK_MUST_CHECK;
/* The holder gives a hold back: NOT_FOUND, FORBIDDEN (someone else's), ALREADY_PAID, HOLD_EXPIRED. */
int booking_cancel(struct tk_app *app, int64_t user_id, int64_t reservation_id) TK_MUST_CHECK;
/* A refund by the payer (user_id > 0, until refund_cutoff_ms before the date) or the organizer (user_id 0). */
int booking_refund(struct tk_app *app, int64_t user_id, int64_t payment_id, const struct tk_idem_ref *idem,
                   struct tk_payment *out) TK_MUST_CHECK;
#define PAYMENTS_LIST_MAX 100
/* The payments f matches (a user's for GET /user/payments; any, or a date's, for the organizer), newest first:
 * INVALID unless limit is 1..PAYMENTS_LIST_MAX. */
int booking_payments(struct tk_app *app, const struct tk_payment_filter *f, int limit, tk_payment_fn fn, void *arg)
    TK_MUST_CHECK;
/* Cancels a date: marks it cancelled, then refunds its PAID payments in batches of CANCEL_BATCH (each batch one
 * transaction), until none is left; *refunded: how many this call refunded. Safe to repeat and to run again after
 * a crash (each refund is conditional on PAID). Test hooks (environment): TICKETD_CANCEL_BATCH sets the batch size,
 * TICKETD_TEST_CANCEL_CRASH_AFTER=N makes the first cancel of the process stop after N batches with UNAVAILABLE, leaving
 * exactly what a process killed there leaves (the committed batches). */
#define CANCEL_BATCH 500
int booking_cancel_schedule(struct tk_app *app, int64_t schedule_id, int *refunded) TK_MUST_CHECK;

/* sweep.c: the background work. sweep_once is idempotent and safe from any number of instances. */
int sweep_once(struct tk_app *app) TK_MUST_CHECK;
struct tk_sweeper;
/* Starts a thread that runs sweep_once every period_ms; a failed start needs no stop. */
int sweeper_start(struct tk_app *app, int period_ms, struct tk_sweeper **out) TK_MUST_CHECK;
/* Stops and joins it; sweeper_stop(NULL) is a no-op. */
void sweeper_stop(struct tk_sweeper *s);

/* catalog.c: the organizer's catalogue. */
int catalog_concert_create(struct tk_app *app, const char *name, struct tk_concert *out) TK_MUST_CHECK;
/* TK_ERR_INVALID unless seat_count is 1..SCHEDULE_SEATS_MAX, starts_at is in the future and the price ranges cover
 * every seat exactly once with prices of 1..1e9 won. */
int catalog_check_schedule(const struct tk_schedule_new *in, int64_t now_ms) TK_MUST_CHECK;
int catalog_schedule_create(struct tk_app *app, const struct tk_schedule_new *in, struct tk_schedule *out) TK_MUST_CHECK;

/* sales.c: the sales every instance knows (refreshed from the store, at most SALES_REFRESH_MS old). */
#define SALES_MAX 1000
#define SALES_REFRESH_MS 500
#define SALE_MAX_ACTIVE_MAX 1000000
#define SALE_ADMIT_PER_SEC_MAX 100000
#define SALE_TOKEN_SECONDS_MIN 10
#define SALE_TOKEN_SECONDS_MAX 86400
struct tk_sales;
int sales_new(struct tk_sales **out) TK_MUST_CHECK;
void sales_free(struct tk_sales *s);
/* Re-reads the sales when the copy is older than SALES_REFRESH_MS (force: now). A store failure keeps the old copy. */
int sales_refresh(struct tk_app *app, bool force) TK_MUST_CHECK;
int sales_get(struct tk_app *app, int64_t sale_id, struct tk_sale *out) TK_MUST_CHECK;
/* The concert's sale; TK_ERR_NOT_FOUND when it has none. */
int sales_by_concert(struct tk_app *app, int64_t concert_id, struct tk_sale *out) TK_MUST_CHECK;
int sales_each(struct tk_app *app, tk_sale_fn fn, void *arg) TK_MUST_CHECK;
bool sales_any(struct tk_app *app);
/* The room a token names (0: site-wide) with its current settings; *sale (may be NULL) gets the sale. NOT_FOUND. */
int sales_room(struct tk_app *app, int64_t room_id, struct wr_room *out, struct tk_sale *sale) TK_MUST_CHECK;
void sale_room_of(struct tk_app *app, const struct tk_sale *sale, struct wr_room *out);
/* SCHEDULED, OPEN, PAUSED, CLOSED or SOLD_OUT as the API shows it. */
const char *sale_state_public(const struct tk_sale *s, int64_t now_ms);
/* May a token of room room_id act on concert_id? FORBIDDEN when the concert's sale is another room's. */
int sale_gate(struct tk_app *app, int64_t room_id, int64_t concert_id) TK_MUST_CHECK;
/* The same for the concert of a schedule, seat or reservation (unknown id: TK_OK, the operation answers 404). */
int sale_gate_owner(struct tk_app *app, int64_t room_id, enum tk_owner_kind kind, int64_t id) TK_MUST_CHECK;
/* Without any store read (for the event thread): sales_room, sale_gate and sale_gate_owner of a schedule from the
 * instance's copy of the sales and the read cache's memory of schedules' concerts; TK_ERR_BUSY when the answer
 * needs the store (the copy is due for a refresh, or the schedule's concert is not remembered). */
int sales_room_cached(struct tk_app *app, int64_t room_id, struct wr_room *out, struct tk_sale *sale) TK_MUST_CHECK;
int sale_gate_cached(struct tk_app *app, int64_t room_id, int64_t concert_id) TK_MUST_CHECK;
int sale_gate_schedule_cached(struct tk_app *app, int64_t room_id, int64_t schedule_id) TK_MUST_CHECK;
int sale_check_settings(int max_active, int admit_per_sec, int token_seconds) TK_MUST_CHECK;
int sale_create(struct tk_app *app, const struct tk_sale *in, struct tk_sale *out) TK_MUST_CHECK;
/* The organizer's live change (SOLD_OUT is refused: the server sets it). */
int sale_patch(struct tk_app *app, int64_t sale_id, const struct tk_sale_patch *p, struct tk_sale *out) TK_MUST_CHECK;
/* The sweep's part: ticks every sale's room and marks sold-out sales SOLD_OUT. */
int sales_sweep(struct tk_app *app) TK_MUST_CHECK;

/* shop.c: the shop (issue 12) — products with options, a cart per user, orders that reserve every item or none
 * and lapse after order_hold_ms, paid from the wallet, and popular products from daily aggregates. */
#define SHOP_PRODUCTS_LIST_MAX 1000 /* GET /products lists at most this many products (by id) */
#define SHOP_POPULAR_TOP 5
#define SHOP_POPULAR_DAYS_MAX 90
#define SHOP_POPULAR_DAYS_DEFAULT 3
/* TK_ERR_INVALID unless the name is 1..64 characters, with 1..PRODUCT_OPTIONS_MAX options, each named so, priced
 * 1..1e9 won and stocked 0..OPTION_STOCK_MAX. */
int shop_check_product(const struct tk_product_new *in) TK_MUST_CHECK;
int shop_product_create(struct tk_app *app, const struct tk_product_new *in, struct tk_product *out) TK_MUST_CHECK;
/* The organizer's change (under the option's lock key): INVALID (nothing to change, a bad value), NOT_FOUND. */
int shop_option_update(struct tk_app *app, const struct tk_option_patch *p, struct tk_option *out) TK_MUST_CHECK;
int shop_products(struct tk_app *app, tk_product_fn fn, void *arg) TK_MUST_CHECK;
int shop_product(struct tk_app *app, int64_t product_id, struct tk_product *out) TK_MUST_CHECK;
/* INVALID (quantity not 1..100, or more than that in the cart, or a 21st option: out->quantity holds the units
 * already in the cart, 0 for a full cart), NOT_FOUND (option). */
int shop_cart_add(struct tk_app *app, int64_t user_id, int64_t option_id, int quantity, struct tk_cart_item *out)
    TK_MUST_CHECK;
int shop_cart_list(struct tk_app *app, int64_t user_id, tk_cart_fn fn, void *arg) TK_MUST_CHECK;
int shop_cart_remove(struct tk_app *app, int64_t user_id, int64_t cart_item_id) TK_MUST_CHECK;
/* Orders lines (1..ORDER_ITEMS_MAX distinct options, quantities 1..ORDER_QUANTITY_MAX; else INVALID): every item
 * reserved or none (OUT_OF_STOCK with out->bad_option_ids), NOT_FOUND (an unknown option). idem may be NULL. The
 * lab's stock scenario runs exactly this. */
int shop_order_create(struct tk_app *app, int64_t user_id, const struct tk_order_line *lines, int n,
                      const struct tk_idem_ref *idem, struct tk_order *out) TK_MUST_CHECK;
/* The same for everything in the user's cart (INVALID when it is empty); the ordered lines leave the cart. */
int shop_order_from_cart(struct tk_app *app, int64_t user_id, const struct tk_idem_ref *idem, struct tk_order *out)
    TK_MUST_CHECK;
/* NOT_FOUND (also someone else's order), ALREADY_PAID, ORDER_EXPIRED, INSUFFICIENT_BALANCE. */
int shop_order_pay(struct tk_app *app, int64_t user_id, int64_t order_id, const struct tk_idem_ref *idem,
                   struct tk_order *out) TK_MUST_CHECK;
int shop_order_get(struct tk_app *app, int64_t user_id, int64_t order_id, struct tk_order *out) TK_MUST_CHECK;
/* The order's state as the API shows it: a PENDING order past its expiry is EXPIRED (no sweep needed). */
enum tk_order_state shop_order_state(const struct tk_order *o, int64_t now_ms);
/* The top SHOP_POPULAR_TOP products by units in orders paid on days from_day..to_day: INVALID when from > to or
 * the range is longer than SHOP_POPULAR_DAYS_MAX days. */
int shop_popular(struct tk_app *app, int64_t from_day, int64_t to_day, tk_popular_fn fn, void *arg) TK_MUST_CHECK;
/* Parses a calendar date "YYYY-MM-DD" (a real one, year >= 1970) into a day number (store_day_of); INVALID. */
int shop_parse_day(const char *s, int64_t *day) TK_MUST_CHECK;
/* Formats a day number as "YYYY-MM-DD"; buf >= 11 bytes. */
void shop_format_day(int64_t day, char *buf, int buflen);
/* The sweep's part: folds lapsed units back and marks due orders EXPIRED (tidying only). */
int shop_sweep(struct tk_app *app) TK_MUST_CHECK;
/* The combiner of a hot option (shop.c): under the atomic mode without an external lock, concurrent single-item
 * orders of one option in this process are reserved by ONE store transaction (store_order_batch, at most
 * ORDER_BATCH_MAX orders), so the option's row is locked and its commit flushed once for all of them. A failed
 * new needs no free; shop_batcher_free(NULL) is a no-op. */
struct shop_batcher;
int shop_batcher_new(struct shop_batcher **out) TK_MUST_CHECK;
void shop_batcher_free(struct shop_batcher *b);

#define APP_COUNT(app, field, n) __atomic_add_fetch(&(app)->counters.field, (n), __ATOMIC_RELAXED)

#endif
