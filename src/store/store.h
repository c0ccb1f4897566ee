/* store.h — the system of record behind one table of function pointers.
 *
 * One implementation per file: sqlite.c now (embedded), pg.c for a shared PostgreSQL. core/ calls these
 * and knows no SQL. Every write function is one transaction: it either commits whole or changes nothing.
 * Every function returns 0 or a negative enum tk_err; TK_ERR_UNAVAILABLE means the backing database
 * could not be reached or timed out and nothing was changed.
 *
 * Contended writes take an enum tk_write_mode (util/write_mode.h) chosen by the lock strategy.
 */
#ifndef TK_STORE_H
#define TK_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "util/err.h"
#include "util/write_mode.h"

#define STORE_NAME_MAX 256

/* Reservation (hold) and payment states as the stores keep them. Which moves are legal is decided once, in
 * core/states.c (hold_transition, payment_transition); a store carries a move out conditionally (… WHERE status =
 * 'HELD'), which is what makes two racing moves of one row impossible. */
enum tk_hold_state { HOLD_HELD, HOLD_PAID, HOLD_EXPIRED, HOLD_CANCELLED };
enum tk_payment_state { PAYMENT_PAID, PAYMENT_REFUNDED };

struct tk_user {
    int64_t id;
    char name[STORE_NAME_MAX];
    int64_t balance_won;
};

struct tk_concert {
    int64_t id;
    char name[STORE_NAME_MAX];
};

/* Which dates schedules_list visits, oldest first (starts_at, then id). */
struct tk_schedule_filter {
    int64_t concert_id; /* 0: every concert's; else TK_ERR_NOT_FOUND when the concert is unknown */
    int64_t now_ms;     /* reserved_seats counts the holds unexpired at now_ms */
    bool every;         /* false: the dates on offer (not started, a seat free: available-dates); true: every date,
                         * started and sold-out ones too (the organizer's list). Never a cancelled one. */
};

struct tk_schedule {
    int64_t id;
    int64_t concert_id;
    char concert_name[STORE_NAME_MAX];
    int64_t starts_at_ms;
    int total_seats;
    int reserved_seats; /* sold, or held by an unexpired hold */
};

#define SEAT_CATEGORY_MAX 64
/* What a seat is now (the seat map): SOLD paid and not refunded, HELD in an unexpired hold, else FREE. */
enum tk_seat_status { SEAT_FREE, SEAT_HELD, SEAT_SOLD };
struct tk_seat {
    int64_t id;
    int64_t schedule_id;
    int seat_number;
    int64_t price_won;
    char category[SEAT_CATEGORY_MAX]; /* "" = none (null) */
    enum tk_seat_status status;       /* set by seat_map only (seats_available visits FREE seats) */
};

/* The organizer's catalogue (POST /admin/schedules): seats 1..seat_count priced by ranges that cover every seat
 * exactly once (checked by core/catalog.c before the store is called). */
#define SCHEDULE_SEATS_MAX 5000
#define SCHEDULE_PRICE_RANGES_MAX 100
struct tk_price_range {
    int from_seat, to_seat;
    int64_t price_won;
    char category[SEAT_CATEGORY_MAX];
};
struct tk_schedule_new {
    int64_t concert_id;
    int64_t starts_at_ms;
    int seat_count;
    int nranges;
    const struct tk_price_range *ranges;
};

/* A sale: one concert's on-sale with its own waiting room (core/sales.c). SCHEDULED is not stored: it is how an
 * OPEN or PAUSED sale reads before opens_at. */
enum tk_sale_state { SALE_OPEN, SALE_PAUSED, SALE_CLOSED, SALE_SOLD_OUT };
struct tk_sale {
    int64_t id;
    int64_t concert_id;
    enum tk_sale_state state;
    int64_t opens_at_ms;
    int max_active;
    int admit_per_sec;
    int token_seconds;
};
/* A live change: fields with has_* false stay. state_from_mask (bit 1 << state): the change applies only when the
 * sale's state is one of these (0: any), else TK_ERR_CONFLICT — how the server's SOLD_OUT never overwrites an
 * organizer's CLOSED. */
struct tk_sale_patch {
    bool has_max_active, has_admit_per_sec, has_state;
    int max_active, admit_per_sec;
    enum tk_sale_state state;
    unsigned state_from_mask;
};
/* Seats of a concert's dates not yet started, by what they are now. */
struct tk_seat_counts {
    int64_t free, held, sold;
};
/* The stored names of sale states ("OPEN", …) and back (TK_ERR_INTERNAL for an unknown one); store/store.c. */
const char *store_sale_state_name(enum tk_sale_state s);
int store_sale_state_parse(const char *name, enum tk_sale_state *out) TK_MUST_CHECK;
/* Applies a patch to a sale as read in the updating transaction: TK_ERR_CONFLICT when state_from_mask refuses. */
int store_sale_patch_apply(struct tk_sale *cur, const struct tk_sale_patch *p) TK_MUST_CHECK;
/* What owner_concert resolves. */
enum tk_owner_kind { OWNER_SCHEDULE, OWNER_SEAT, OWNER_RESERVATION };

/* An Idempotency-Key claim that a write belongs to. The write records its effect on the claim in its own
 * transaction, and refuses (TK_ERR_CLAIM_LOST, rolling back) if the claim is no longer this one: a fencing
 * token, so a request that lost its claim to a retry can never apply its effect as well. NULL: no key. */
struct tk_idem_ref {
    int64_t user_id;
    const char *key;
    int64_t claim;
};

/* Orders (issue 11): a reservation holds 1..HOLD_SEATS_MAX seats of one date, all or none. */
#define HOLD_SEATS_MAX 10
struct tk_hold_seat {
    int64_t seat_id;
    int seat_number;
    int64_t price_won;
    char category[SEAT_CATEGORY_MAX]; /* "" = none */
};

struct tk_hold_req {
    const struct tk_idem_ref *idem;
    int64_t user_id;
    int64_t seat_id;          /* the single-seat form (nseats 0) */
    const int64_t *seat_ids;  /* nseats > 0: distinct, ascending (core/booking.c sorts them) */
    int nseats;
    int64_t now_ms;
    int64_t hold_ms;
    int max_holds;
};

struct tk_hold {
    int64_t reservation_id;
    int64_t seat_id;
    int64_t schedule_id;
    int64_t user_id;
    int seat_number;
    int64_t price_won;
    int64_t expires_at_ms;
    enum tk_hold_state state;
    /* On TK_ERR_SEAT_UNAVAILABLE: when the seat can be held again, if the store knows (INT64_MAX: never,
     * it is sold or its date has started; 0: unknown). */
    int64_t busy_until_ms;
    /* Every seat of the reservation, ascending by id (seat_id, seat_number, price_won above are the first's),
     * and their sum. */
    int nseats;
    struct tk_hold_seat seats[HOLD_SEATS_MAX];
    int64_t amount_won;
    /* On TK_ERR_SEAT_UNAVAILABLE: the requested seats that are taken (nunavailable 0: unknown). */
    int nunavailable;
    int64_t unavailable[HOLD_SEATS_MAX];
};

struct tk_pay_req {
    const struct tk_idem_ref *idem;
    int64_t user_id;
    int64_t reservation_id; /* 0 when paying by seat */
    int64_t seat_id;        /* 0 when paying by reservation */
    int64_t now_ms;
};

struct tk_transfer {
    int64_t transfer_id;
    int64_t from_user_id;
    int64_t to_user_id;
    int64_t amount_won;
    int64_t from_balance_won; /* the sender's balance after */
};

struct tk_ledger_entry {
    int64_t id;
    char kind[16]; /* CHARGE | PAYMENT | TRANSFER_IN | TRANSFER_OUT */
    int64_t amount_won; /* signed: credits positive */
    int64_t balance_after_won;
    char ref[48];  /* "payment:12", "transfer:5", or "" */
    int64_t created_at_ms;
};

/* An idempotency record: the first response to (user, key), or a claim while that request runs. */
enum tk_idem_state { IDEM_PENDING, IDEM_DONE };
#define IDEM_KEY_MAX 128
#define IDEM_BODY_MAX 65536
struct tk_idem {
    enum tk_idem_state state;
    char request_hash[65];
    int status;
    char *body; /* malloc'd, NUL-terminated; the caller frees (NULL while PENDING) */
    size_t body_len;
    int64_t claim;         /* the fencing number of the current claim */
    int64_t claimed_at_ms; /* when it was claimed (a lease: a dead claimer's key can be taken over) */
    char effect_ref[48];   /* set in the effect's transaction: "" = no effect committed (yet) */
};

/* What `ticketd reconcile` reads about one DONE idempotency record with a 2xx response. */
struct tk_idem_audit {
    int64_t user_id;
    const char *key;
    const char *body;
    const char *effect_ref;  /* "ledger:9", "payment:3", "transfer:4", "reservation:7", or "" */
    bool effect_found;       /* the referenced row exists and belongs to the user */
    bool has_balance;        /* the effect moved money: balance_after_won is the ledger's figure */
    int64_t balance_after_won;
};

struct tk_payment {
    int64_t payment_id;
    int64_t reservation_id;
    int64_t seat_id;
    int seat_number;
    char concert_name[STORE_NAME_MAX];
    int64_t starts_at_ms;
    int64_t amount_won;
    int64_t balance_won; /* the payer's balance after (after the refund, for a refund) */
    /* Orders: every seat paid (seat_id, seat_number above are the first's), the state, who paid, when. */
    int nseats;
    struct tk_hold_seat seats[HOLD_SEATS_MAX];
    enum tk_payment_state state;
    int64_t user_id;
    int64_t created_at_ms;
    int64_t schedule_id; /* the date of its seats */
};
/* Which payments payments_list visits (newest first); 0 matches any. */
struct tk_payment_filter {
    int64_t user_id;     /* the payer's */
    int64_t schedule_id; /* of one date */
};

/* A refund: by the payer (user_id > 0: FORBIDDEN for someone else's payment, REFUND_CLOSED from cutoff_ms before
 * the date's start) or by the organizer (user_id 0: any time). */
struct tk_refund_req {
    const struct tk_idem_ref *idem;
    int64_t payment_id;
    int64_t user_id;
    int64_t cutoff_ms;
    int64_t now_ms;
    unsigned from_mask; /* the states a payment may be refunded from (core/states.c payment_from_mask) */
};

/* An effect, read back to rebuild the response its request would have got (see api/router.c). */
enum tk_effect_kind { EFFECT_CHARGE, EFFECT_TRANSFER, EFFECT_HOLD, EFFECT_PAYMENT, EFFECT_REFUND };
struct tk_effect {
    enum tk_effect_kind kind;
    int64_t user_id;
    int64_t balance_won; /* charge: the balance after it */
    struct tk_transfer transfer;
    struct tk_hold hold;
    struct tk_payment payment;
};


/* The store-backed waiting room (PostgreSQL): one room's current settings (waitroom/waitroom.h struct wr_room,
 * passed on every call), one token as the store returns it, and a room's counters. */
#define TK_WR_WAIT_BUCKETS 239 /* = ADMISSION_WAIT_BUCKETS (waitroom/admission.h; checked in waitroom/store.c) */
struct tk_wr_params {
    int64_t room; /* 0 site-wide, N sale N */
    int max_active;
    int admit_per_sec;
    int64_t token_ms, idle_ms, queue_max;
    int64_t opens_at_ms;
    int mode; /* enum wr_mode: 0 OPEN, 1 PAUSED, 2 CLOSED */
};
struct tk_wr_row {
    char token[56];
    char state[12]; /* WAITING | ACTIVE | EXPIRED */
    int64_t user_id;
    int64_t position; /* 1-based among waiters; 0 unless WAITING; -1 before the opening */
    int64_t expires_at_ms, active;
    int64_t admitted_last_minute, window_ms; /* for the estimate (WAITING after the opening only) */
    bool created;
};
struct tk_wr_counts {
    int64_t waiting, active, issued, admitted, expired, abandoned;
    int64_t admitted_last_minute, window_ms;
    uint64_t wait_hist[TK_WR_WAIT_BUCKETS]; /* admissions per bucket of time in line */
};

/* Visitors: return 0 to go on, negative to stop (that error is returned). */
typedef int (*tk_concert_fn)(void *arg, const struct tk_concert *c);
typedef int (*tk_sale_fn)(void *arg, const struct tk_sale *s);
typedef int (*tk_schedule_fn)(void *arg, const struct tk_schedule *s);
typedef int (*tk_seat_fn)(void *arg, const struct tk_seat *s);
typedef int (*tk_ledger_fn)(void *arg, const struct tk_ledger_entry *e);
typedef int (*tk_payment_fn)(void *arg, const struct tk_payment *p);
/* One discrepancy found by the audit, as a readable sentence naming the row. */
typedef int (*tk_problem_fn)(void *arg, const char *problem);
typedef int (*tk_idem_audit_fn)(void *arg, const struct tk_idem_audit *row);

/* ---- the shop (issue 12): products with options, carts, orders, popular products — types ------------------------
 * The rules are core/shop.c's and docs/DECISIONS.md "Shop"; a store carries them out in one transaction per call.
 * An option's `stock` column is what is on hand; the units of a PENDING order stay reserved in its items until
 * the order is paid (SOLD) or its time is up. A reservation whose time is up is on hand again AT ONCE, whatever
 * the sweep: every read and every decrement counts it back by time (like a seat's hold), and whoever next
 * writes the option folds it back into `stock` (RETURNED). */
#define SHOP_NAME_MAX STORE_NAME_MAX     /* product and option names: 1..64 characters (account_check_name) */
#define PRODUCT_OPTIONS_MAX 20           /* options of one product */
#define ORDER_ITEMS_MAX 20               /* options in one order */
#define CART_ITEMS_MAX ORDER_ITEMS_MAX   /* options in one cart: an order from the cart always fits */
#define ORDER_QUANTITY_MAX 100           /* units of one option in an order or a cart line */
#define OPTION_STOCK_MAX 1000000000LL    /* an option's on-hand count set by the organizer */
#define ORDER_BATCH_MAX 64               /* single-item orders of one option combined into one transaction */

struct tk_option {
    int64_t id, product_id;
    char name[SHOP_NAME_MAX];
    int64_t price_won;
    int64_t stock; /* what can be ordered now: on hand plus the units of lapsed pending orders */
};
struct tk_product {
    int64_t id;
    char name[SHOP_NAME_MAX];
    int noptions;
    struct tk_option options[PRODUCT_OPTIONS_MAX]; /* by id */
};
struct tk_option_new {
    const char *name;
    int64_t price_won, stock;
};
struct tk_product_new {
    const char *name;
    int noptions;
    const struct tk_option_new *options;
};
/* PATCH /admin/options/{id}: fields with has_* false stay. stock is the new on-hand count (what can be ordered
 * now); the units reserved by pending orders stay theirs. */
struct tk_option_patch {
    int64_t option_id;
    bool has_stock, has_price;
    int64_t stock, price_won;
};
struct tk_cart_item {
    int64_t id, option_id, product_id;
    char product_name[SHOP_NAME_MAX], option_name[SHOP_NAME_MAX];
    int64_t price_won;
    int quantity;
};
/* Order states as stored. A PENDING order whose expires_at has passed reads EXPIRED at once (core/shop.c
 * shop_order_state), whether or not the sweep has marked it. */
enum tk_order_state { ORDER_PENDING, ORDER_PAID, ORDER_EXPIRED };
struct tk_order_line {
    int64_t option_id;
    int quantity;
};
struct tk_cart_take {
    int64_t cart_item_id;
    int quantity; /* the line leaves the cart only if it still holds this many (the cart as the order read it) */
};
struct tk_order_req {
    const struct tk_idem_ref *idem;
    int64_t user_id;
    int nitems;
    struct tk_order_line items[ORDER_ITEMS_MAX]; /* sorted by option id, each option once (core/shop.c) */
    int64_t fences[ORDER_ITEMS_MAX];             /* per item: its option lock's fencing token (0: none) */
    int ncart;                                   /* fromCart: the cart lines this order empties */
    struct tk_cart_take cart[CART_ITEMS_MAX];
    int64_t now_ms, hold_ms;
};
struct tk_order_item {
    int64_t option_id, product_id;
    char product_name[SHOP_NAME_MAX], option_name[SHOP_NAME_MAX];
    int quantity;
    int64_t price_won; /* the unit price when the order was placed */
};
struct tk_order {
    int64_t id, user_id;
    enum tk_order_state state; /* as stored */
    int64_t total_won, created_at_ms, expires_at_ms, paid_at_ms;
    int64_t balance_won; /* PAID: the payer's balance right after this payment (its ORDER_PAYMENT entry) */
    int nitems;
    struct tk_order_item items[ORDER_ITEMS_MAX]; /* by option id */
    /* On TK_ERR_OUT_OF_STOCK: the options short of stock; on TK_ERR_NOT_FOUND: the unknown option (1 id). */
    int nbad;
    int64_t bad_option_ids[ORDER_ITEMS_MAX];
};
struct tk_order_pay_req {
    const struct tk_idem_ref *idem;
    int64_t user_id, order_id, now_ms;
};
struct tk_popular {
    int64_t product_id;
    char name[SHOP_NAME_MAX];
    int64_t units;
};
/* One order of a batch (order_batch): single-item orders of ONE option, combined by core/shop.c into one
 * transaction so that a hot option's row is locked (and its commit flushed) once for many orders. */
struct tk_order_batch_item {
    const struct tk_idem_ref *idem;
    int64_t user_id;
    int quantity;
    struct tk_order *out;
    int rc; /* TK_OK (out filled), TK_ERR_OUT_OF_STOCK, TK_ERR_NOT_FOUND (no such option), TK_ERR_CLAIM_LOST */
};
typedef int (*tk_product_fn)(void *arg, const struct tk_product *p);
typedef int (*tk_cart_fn)(void *arg, const struct tk_cart_item *c);
typedef int (*tk_popular_fn)(void *arg, const struct tk_popular *p);
/* The demo merchandise every backend's seed_demo adds (store.c), when there are no products yet. */
struct store_demo_product {
    const char *name;
    int noptions;
    struct tk_option_new options[4];
};
extern const struct store_demo_product STORE_DEMO_PRODUCTS[];
extern const int STORE_DEMO_PRODUCT_COUNT;
/* The day (days since the epoch, UTC) of a time: the key of the daily sales aggregates. */
static inline int64_t store_day_of(int64_t ms) { return ms / 86400000LL; }
/* Stored names of order states ("PENDING", "PAID", "EXPIRED") and back (TK_ERR_INTERNAL for an unknown one). */
const char *store_order_state_name(enum tk_order_state s);
int store_order_state_parse(const char *name, enum tk_order_state *out) TK_MUST_CHECK;
/* ---- end of the shop's types ---- */

struct tk_store;

/* The run-time operations: what requests, the sweep and the waiting room call. */
struct tk_store_ops {
    const char *name;    int (*ping)(struct tk_store *st);

    /* API keys are stored and looked up only as their SHA-256 digest (64 hex digits). */
    int (*user_create)(struct tk_store *st, const char *name, const char *api_key_sha256, int64_t now_ms,
                       struct tk_user *out);
    int (*user_by_api_key)(struct tk_store *st, const char *api_key_sha256, int64_t *user_id);
    int (*user_get)(struct tk_store *st, int64_t user_id, struct tk_user *out);
    /* Adds amount to the wallet and writes one CHARGE ledger entry (its id in *entry_id).
     * TK_ERR_OVERFLOW past INT64_MAX, TK_ERR_NOT_FOUND for an unknown user. */
    int (*wallet_charge)(struct tk_store *st, enum tk_write_mode mode, int64_t user_id, int64_t amount_won,
                         int64_t now_ms, const struct tk_idem_ref *idem, int64_t *balance_won, int64_t *entry_id);
    /* Moves amount between two wallets in one transaction, rows locked in id order, with a TRANSFER_OUT and
     * a TRANSFER_IN entry: INSUFFICIENT_BALANCE, NOT_FOUND (recipient), OVERFLOW (recipient), CONFLICT. */
    int (*transfer)(struct tk_store *st, enum tk_write_mode mode, int64_t from_user, int64_t to_user,
                    int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, struct tk_transfer *out);
    /* A user's ledger entries, newest first, at most limit. */
    int (*ledger_list)(struct tk_store *st, int64_t user_id, int limit, tk_ledger_fn fn, void *arg);

    int (*concerts_list)(struct tk_store *st, tk_concert_fn fn, void *arg);
    /* The dates the filter names (struct tk_schedule_filter), oldest first. */
    int (*schedules_list)(struct tk_store *st, const struct tk_schedule_filter *f, tk_schedule_fn fn, void *arg);
    /* Seats neither sold nor held by an unexpired hold (TK_ERR_NOT_FOUND if the schedule is unknown). */
    int (*seats_available)(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg);
    /* Every seat of a date by seat number, with its status at now_ms, read in one statement (one snapshot).
     * TK_ERR_NOT_FOUND for an unknown or cancelled date (a date has 1..SCHEDULE_SEATS_MAX seats: no row is no date). */
    int (*seat_map)(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg);

    /* Holds a seat: SEAT_UNAVAILABLE, HOLD_LIMIT, NOT_FOUND. */
    int (*hold_create)(struct tk_store *st, enum tk_write_mode mode, const struct tk_hold_req *req, struct tk_hold *out);
    /* Pays a hold in one transaction: NOT_FOUND, FORBIDDEN, ALREADY_PAID, HOLD_EXPIRED, INSUFFICIENT_BALANCE. */
    int (*payment_create)(struct tk_store *st, const struct tk_pay_req *req, struct tk_payment *out);
    /* Marks at most `limit` holds past their expiry EXPIRED and frees their seats (idempotent). */
    int (*holds_expire_due)(struct tk_store *st, int64_t now_ms, int limit, int *expired);

    /* Orders (issue 11). hold_cancel: the holder gives a HELD, unexpired reservation back (CANCELLED, seats free at
     * once): NOT_FOUND, FORBIDDEN, ALREADY_PAID, HOLD_EXPIRED. from_mask (bit 1 << state): the states the hold
     * machine allows a cancel from (core/states.c hold_from_mask), the from-state of the conditional UPDATE. */
    int (*hold_cancel)(struct tk_store *st, int64_t user_id, int64_t reservation_id, int64_t now_ms, unsigned from_mask);
    /* Refunds a PAID payment in one transaction (a conditional UPDATE … WHERE status = 'PAID', the credit, one
     * REFUND ledger entry, the seats free): NOT_FOUND, FORBIDDEN, ALREADY_REFUNDED, REFUND_CLOSED, OVERFLOW. */
    int (*payment_refund)(struct tk_store *st, const struct tk_refund_req *req, struct tk_payment *out);
    /* The payments the filter matches (a user's, a date's, or every one), newest first, at most limit (1..100). */
    int (*payments_list)(struct tk_store *st, const struct tk_payment_filter *f, int limit, tk_payment_fn fn,
                         void *arg);
    /* Marks a date cancelled (no longer listed, nothing more can be held or paid on it): NOT_FOUND. Idempotent. */
    int (*schedule_cancel)(struct tk_store *st, int64_t schedule_id, int64_t now_ms);
    /* Refunds at most `limit` PAID payments of a cancelled date in one transaction; *refunded says how many. */
    int (*schedule_refund_batch)(struct tk_store *st, int64_t schedule_id, int limit, int64_t now_ms, unsigned from_mask,
                                 int *refunded);

    /* The organizer's catalogue and sales (api/admin.c via core/catalog.c and core/sales.c). */
    int (*concert_create)(struct tk_store *st, const char *name, struct tk_concert *out);
    /* Creates a date and its seats in one transaction: NOT_FOUND (concert). *out as an available-dates item. */
    int (*schedule_create)(struct tk_store *st, const struct tk_schedule_new *in, struct tk_schedule *out);
    /* NOT_FOUND (concert), TK_ERR_INVALID when the concert has a sale already. in->id is ignored. */
    int (*sale_create)(struct tk_store *st, const struct tk_sale *in, struct tk_sale *out);
    /* NOT_FOUND, CONFLICT (state_from_mask). */
    int (*sale_update)(struct tk_store *st, int64_t sale_id, const struct tk_sale_patch *p, struct tk_sale *out);
    /* Every sale, by id (at most limit). */
    int (*sales_list)(struct tk_store *st, int limit, tk_sale_fn fn, void *arg);
    int (*seat_counts)(struct tk_store *st, int64_t concert_id, int64_t now_ms, struct tk_seat_counts *out);
    /* The concert a schedule, seat or reservation belongs to: NOT_FOUND. */
    int (*owner_concert)(struct tk_store *st, enum tk_owner_kind kind, int64_t id, int64_t *concert_id);


    /* Idempotency records. claim: inserts a PENDING record and returns TK_OK when (user, key) is free (or its
     * record expired); otherwise fills *existing and returns TK_ERR_CONFLICT. complete: stores the response.
     * release: deletes a PENDING claim (the request changed nothing). expire_due: deletes expired records. */
    int (*idem_claim)(struct tk_store *st, int64_t user_id, const char *key, const char *request_hash,
                      int64_t now_ms, int64_t expires_at_ms, int64_t claim, struct tk_idem *existing);
    /* Takes over a PENDING claim with no effect whose fencing number is still old_claim: TK_OK, or
     * TK_ERR_CONFLICT when someone else got there first (or the effect committed meanwhile). */
    int (*idem_takeover)(struct tk_store *st, int64_t user_id, const char *key, int64_t old_claim,
                         int64_t new_claim, int64_t now_ms);
    /* Reads an effect ("ledger:9", "transfer:4", "reservation:7", "payment:3") of user_id back. */
    int (*effect_get)(struct tk_store *st, int64_t user_id, const char *effect_ref, struct tk_effect *out);
    int (*idem_complete)(struct tk_store *st, int64_t user_id, const char *key, int64_t claim, int status,
                         const char *body, size_t body_len, const char *effect_ref);
    int (*idem_release)(struct tk_store *st, int64_t user_id, const char *key, int64_t claim);
    int (*idem_expire_due)(struct tk_store *st, int64_t now_ms, int limit, int *deleted);


    /* The store-backed waiting room; NULL in stores that do not offer one (SQLite uses the in-process room).
     * Every call works on room p->room with p's settings. wr_issue: order_key (uniform in [0, 1) from the
     * CSPRNG) places the token if it joins before the opening; TK_ERR_UNAVAILABLE when the line is full,
     * TK_ERR_SALE_CLOSED in a CLOSED room for a user without a live token. wr_status: TK_ERR_NOT_FOUND for a
     * token unknown in that room. wr_counts applies what is due first. */
    int (*wr_issue)(struct tk_store *st, const struct tk_wr_params *p, int64_t user_id, const char *new_token,
                    double order_key, int64_t now_ms, struct tk_wr_row *out);
    int (*wr_status)(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms,
                     struct tk_wr_row *out);
    int (*wr_finish)(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms);
    int (*wr_tick)(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms);
    int (*wr_counts)(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms, struct tk_wr_counts *out);

    /* ---- the shop (core/shop.c; docs/DECISIONS.md "Shop"). now_ms decides which pending orders have lapsed. ---- */
    /* A product and its options (each starts with its stock on hand). *out as GET /products/{id} shows it. */
    int (*product_create)(struct tk_store *st, const struct tk_product_new *in, int64_t now_ms, struct tk_product *out);
    /* Products by id, at most limit, each with its options by id and their stock now. */
    int (*products_list)(struct tk_store *st, int64_t now_ms, int limit, tk_product_fn fn, void *arg);
    int (*product_get)(struct tk_store *st, int64_t product_id, int64_t now_ms, struct tk_product *out);
    /* The organizer's change of an option, run under the lock strategy's key of the option (fence: that lock's
     * fencing token, 0 for none; a newer one written already is TK_ERR_CONFLICT). NOT_FOUND. */
    int (*option_update)(struct tk_store *st, const struct tk_option_patch *p, int64_t fence, int64_t now_ms,
                         struct tk_option *out);
    /* Adds quantity of an option to the user's cart (the same option again adds up): NOT_FOUND (option),
     * TK_ERR_INVALID past ORDER_QUANTITY_MAX units of the option or CART_ITEMS_MAX options. */
    int (*cart_add)(struct tk_store *st, int64_t user_id, int64_t option_id, int quantity, int64_t now_ms,
                    struct tk_cart_item *out);
    /* The user's cart lines, oldest first. */
    int (*cart_list)(struct tk_store *st, int64_t user_id, tk_cart_fn fn, void *arg);
    /* NOT_FOUND when the line is not the user's (or does not exist). */
    int (*cart_remove)(struct tk_store *st, int64_t user_id, int64_t cart_item_id);
    /* Reserves every item or none, in one transaction, options written in id order with the strategy's mode,
     * and records a PENDING order lapsing at now + hold: OUT_OF_STOCK (out->bad_option_ids), NOT_FOUND (an
     * unknown option, out->bad_option_ids[0]), CONFLICT (optimistic race, an older fence), CLAIM_LOST. */
    int (*order_create)(struct tk_store *st, enum tk_write_mode mode, const struct tk_order_req *req,
                        struct tk_order *out);
    /* n single-item orders of one option in ONE transaction (the atomic mode's rule, option row locked once):
     * first come first served, each order reserved whole or refused (items[i].rc). A snapshot that shows none of
     * them fits is conclusive and takes no lock. TK_OK when the batch ran; an error: nothing was done. */
    int (*order_batch)(struct tk_store *st, int64_t option_id, int64_t now_ms, int64_t hold_ms,
                       struct tk_order_batch_item *items, int n);
    /* The user's order with its items: NOT_FOUND also when it is someone else's. */
    int (*order_get)(struct tk_store *st, int64_t user_id, int64_t order_id, struct tk_order *out);
    /* Pays a PENDING order in one transaction (one ORDER_PAYMENT entry, items SOLD, the daily aggregates):
     * NOT_FOUND (also someone else's), ALREADY_PAID, ORDER_EXPIRED, INSUFFICIENT_BALANCE (nothing changed). */
    int (*order_pay)(struct tk_store *st, const struct tk_order_pay_req *req, struct tk_order *out);
    /* The sweep's tidying (idempotent, safe on every instance): folds the lapsed units of at most `limit` due
     * orders back into their options' stock and marks those orders EXPIRED. Correctness never waits for it. */
    int (*orders_expire_due)(struct tk_store *st, int64_t now_ms, int limit, int *expired);
    /* The top `limit` products by units in orders paid on days from_day..to_day (store_day_of), ties by product
     * id, read from the daily aggregates. */
    int (*popular)(struct tk_store *st, int64_t from_day, int64_t to_day, int limit, tk_popular_fn fn, void *arg);
    /* ---- end of the shop's operations ---- */

    void (*close)(struct tk_store *st);
};
/* The administrative operations: schema, demo data and the reconciliation audit (ticketd migrate, seed,
 * reconcile, and serve's start-up). */
struct tk_store_admin_ops {
 /* "sqlite" | "postgres" */
    int (*migrate)(struct tk_store *st);
    /* Creates the demo data unless concerts exist already; *seeded tells which. */
    int (*seed_demo)(struct tk_store *st, int64_t now_ms, bool *seeded);
    /* The reconciliation audit: every balance equals the sum of its ledger entries, every sold seat has
     * exactly one payment and every payment a seat sold to its payer, no hold is HELD more than grace_ms past
     * its expiry, no idempotency claim is PENDING more than grace_ms. One fn call per discrepancy. */
    int (*audit)(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg);
    /* Visits every DONE idempotency record with a 2xx response, with the ledger's view of its effect. */
    int (*idem_audit)(struct tk_store *st, tk_idem_audit_fn fn, void *arg);
    /* The shop's audit (ticketd reconcile): per option on hand + reserved by unexpired pending orders + sold =
     * everything ever stocked; every paid order has one ORDER_PAYMENT entry and every such entry a paid order;
     * items agree with their order; no PENDING order more than grace_ms past its expiry; the daily aggregates
     * equal the paid items. One fn call per discrepancy. */
    int (*shop_audit)(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg);
};


struct tk_store {
    const struct tk_store_ops *ops;
    const struct tk_store_admin_ops *admin;
};

/* ---- the calls, checked: every store operation through a TK_MUST_CHECK wrapper (a function pointer cannot carry
 * warn_unused_result). Callers use these, never st->ops / st->admin directly. */
static inline int store_concert_create(struct tk_store *st, const char *name, struct tk_concert *out) TK_MUST_CHECK;
static inline int store_concert_create(struct tk_store *st, const char *name, struct tk_concert *out)
{
    return st->ops->concert_create(st, name, out);
}
static inline int store_schedule_create(struct tk_store *st, const struct tk_schedule_new *in, struct tk_schedule *out) TK_MUST_CHECK;
static inline int store_schedule_create(struct tk_store *st, const struct tk_schedule_new *in, struct tk_schedule *out)
{
    return st->ops->schedule_create(st, in, out);
}
static inline int store_sale_create(struct tk_store *st, const struct tk_sale *in, struct tk_sale *out) TK_MUST_CHECK;
static inline int store_sale_create(struct tk_store *st, const struct tk_sale *in, struct tk_sale *out)
{
    return st->ops->sale_create(st, in, out);
}
static inline int store_sale_update(struct tk_store *st, int64_t sale_id, const struct tk_sale_patch *p, struct tk_sale *out) TK_MUST_CHECK;
static inline int store_sale_update(struct tk_store *st, int64_t sale_id, const struct tk_sale_patch *p, struct tk_sale *out)
{
    return st->ops->sale_update(st, sale_id, p, out);
}
static inline int store_sales_list(struct tk_store *st, int limit, tk_sale_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_sales_list(struct tk_store *st, int limit, tk_sale_fn fn, void *arg)
{
    return st->ops->sales_list(st, limit, fn, arg);
}
static inline int store_seat_counts(struct tk_store *st, int64_t concert_id, int64_t now_ms, struct tk_seat_counts *out) TK_MUST_CHECK;
static inline int store_seat_counts(struct tk_store *st, int64_t concert_id, int64_t now_ms, struct tk_seat_counts *out)
{
    return st->ops->seat_counts(st, concert_id, now_ms, out);
}
static inline int store_owner_concert(struct tk_store *st, enum tk_owner_kind kind, int64_t id, int64_t *concert_id) TK_MUST_CHECK;
static inline int store_owner_concert(struct tk_store *st, enum tk_owner_kind kind, int64_t id, int64_t *concert_id)
{
    return st->ops->owner_concert(st, kind, id, concert_id);
}
static inline int store_ping(struct tk_store *st) TK_MUST_CHECK;
static inline int store_ping(struct tk_store *st)
{
    return st->ops->ping(st);
}
static inline int store_user_create(struct tk_store *st, const char *name, const char *api_key_sha256, int64_t now_ms, struct tk_user *out) TK_MUST_CHECK;
static inline int store_user_create(struct tk_store *st, const char *name, const char *api_key_sha256, int64_t now_ms, struct tk_user *out)
{
    return st->ops->user_create(st, name, api_key_sha256, now_ms, out);
}
static inline int store_user_by_api_key(struct tk_store *st, const char *api_key_sha256, int64_t *user_id) TK_MUST_CHECK;
static inline int store_user_by_api_key(struct tk_store *st, const char *api_key_sha256, int64_t *user_id)
{
    return st->ops->user_by_api_key(st, api_key_sha256, user_id);
}
static inline int store_user_get(struct tk_store *st, int64_t user_id, struct tk_user *out) TK_MUST_CHECK;
static inline int store_user_get(struct tk_store *st, int64_t user_id, struct tk_user *out)
{
    return st->ops->user_get(st, user_id, out);
}
static inline int store_wallet_charge(struct tk_store *st, enum tk_write_mode mode, int64_t user_id, int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, int64_t *balance_won, int64_t *entry_id) TK_MUST_CHECK;
static inline int store_wallet_charge(struct tk_store *st, enum tk_write_mode mode, int64_t user_id, int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, int64_t *balance_won, int64_t *entry_id)
{
    return st->ops->wallet_charge(st, mode, user_id, amount_won, now_ms, idem, balance_won, entry_id);
}
static inline int store_transfer(struct tk_store *st, enum tk_write_mode mode, int64_t from_user, int64_t to_user, int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, struct tk_transfer *out) TK_MUST_CHECK;
static inline int store_transfer(struct tk_store *st, enum tk_write_mode mode, int64_t from_user, int64_t to_user, int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, struct tk_transfer *out)
{
    return st->ops->transfer(st, mode, from_user, to_user, amount_won, now_ms, idem, out);
}
static inline int store_ledger_list(struct tk_store *st, int64_t user_id, int limit, tk_ledger_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_ledger_list(struct tk_store *st, int64_t user_id, int limit, tk_ledger_fn fn, void *arg)
{
    return st->ops->ledger_list(st, user_id, limit, fn, arg);
}
static inline int store_concerts_list(struct tk_store *st, tk_concert_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_concerts_list(struct tk_store *st, tk_concert_fn fn, void *arg)
{
    return st->ops->concerts_list(st, fn, arg);
}
static inline int store_schedules_list(struct tk_store *st, const struct tk_schedule_filter *f, tk_schedule_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_schedules_list(struct tk_store *st, const struct tk_schedule_filter *f, tk_schedule_fn fn, void *arg)
{
    return st->ops->schedules_list(st, f, fn, arg);
}
static inline int store_seats_available(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_seats_available(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    return st->ops->seats_available(st, schedule_id, now_ms, fn, arg);
}
static inline int store_seat_map(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_seat_map(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    return st->ops->seat_map(st, schedule_id, now_ms, fn, arg);
}
static inline int store_hold_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_hold_req *req, struct tk_hold *out) TK_MUST_CHECK;
static inline int store_hold_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_hold_req *req, struct tk_hold *out)
{
    return st->ops->hold_create(st, mode, req, out);
}
static inline int store_payment_create(struct tk_store *st, const struct tk_pay_req *req, struct tk_payment *out) TK_MUST_CHECK;
static inline int store_payment_create(struct tk_store *st, const struct tk_pay_req *req, struct tk_payment *out)
{
    return st->ops->payment_create(st, req, out);
}
static inline int store_holds_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired) TK_MUST_CHECK;
static inline int store_holds_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    return st->ops->holds_expire_due(st, now_ms, limit, expired);
}
static inline int store_hold_cancel(struct tk_store *st, int64_t user_id, int64_t reservation_id, int64_t now_ms, unsigned from_mask) TK_MUST_CHECK;
static inline int store_hold_cancel(struct tk_store *st, int64_t user_id, int64_t reservation_id, int64_t now_ms, unsigned from_mask)
{
    return st->ops->hold_cancel(st, user_id, reservation_id, now_ms, from_mask);
}
static inline int store_payment_refund(struct tk_store *st, const struct tk_refund_req *req, struct tk_payment *out) TK_MUST_CHECK;
static inline int store_payment_refund(struct tk_store *st, const struct tk_refund_req *req, struct tk_payment *out)
{
    return st->ops->payment_refund(st, req, out);
}
static inline int store_payments_list(struct tk_store *st, const struct tk_payment_filter *f, int limit, tk_payment_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_payments_list(struct tk_store *st, const struct tk_payment_filter *f, int limit, tk_payment_fn fn, void *arg)
{
    return st->ops->payments_list(st, f, limit, fn, arg);
}
static inline int store_schedule_cancel(struct tk_store *st, int64_t schedule_id, int64_t now_ms) TK_MUST_CHECK;
static inline int store_schedule_cancel(struct tk_store *st, int64_t schedule_id, int64_t now_ms)
{
    return st->ops->schedule_cancel(st, schedule_id, now_ms);
}
static inline int store_schedule_refund_batch(struct tk_store *st, int64_t schedule_id, int limit, int64_t now_ms, unsigned from_mask, int *refunded) TK_MUST_CHECK;
static inline int store_schedule_refund_batch(struct tk_store *st, int64_t schedule_id, int limit, int64_t now_ms, unsigned from_mask, int *refunded)
{
    return st->ops->schedule_refund_batch(st, schedule_id, limit, now_ms, from_mask, refunded);
}
static inline int store_idem_claim(struct tk_store *st, int64_t user_id, const char *key, const char *request_hash, int64_t now_ms, int64_t expires_at_ms, int64_t claim, struct tk_idem *existing) TK_MUST_CHECK;
static inline int store_idem_claim(struct tk_store *st, int64_t user_id, const char *key, const char *request_hash, int64_t now_ms, int64_t expires_at_ms, int64_t claim, struct tk_idem *existing)
{
    return st->ops->idem_claim(st, user_id, key, request_hash, now_ms, expires_at_ms, claim, existing);
}
static inline int store_idem_takeover(struct tk_store *st, int64_t user_id, const char *key, int64_t old_claim, int64_t new_claim, int64_t now_ms) TK_MUST_CHECK;
static inline int store_idem_takeover(struct tk_store *st, int64_t user_id, const char *key, int64_t old_claim, int64_t new_claim, int64_t now_ms)
{
    return st->ops->idem_takeover(st, user_id, key, old_claim, new_claim, now_ms);
}
static inline int store_effect_get(struct tk_store *st, int64_t user_id, const char *effect_ref, struct tk_effect *out) TK_MUST_CHECK;
static inline int store_effect_get(struct tk_store *st, int64_t user_id, const char *effect_ref, struct tk_effect *out)
{
    return st->ops->effect_get(st, user_id, effect_ref, out);
}
static inline int store_idem_complete(struct tk_store *st, int64_t user_id, const char *key, int64_t claim, int status, const char *body, size_t body_len, const char *effect_ref) TK_MUST_CHECK;
static inline int store_idem_complete(struct tk_store *st, int64_t user_id, const char *key, int64_t claim, int status, const char *body, size_t body_len, const char *effect_ref)
{
    return st->ops->idem_complete(st, user_id, key, claim, status, body, body_len, effect_ref);
}
static inline int store_idem_release(struct tk_store *st, int64_t user_id, const char *key, int64_t claim) TK_MUST_CHECK;
static inline int store_idem_release(struct tk_store *st, int64_t user_id, const char *key, int64_t claim)
{
    return st->ops->idem_release(st, user_id, key, claim);
}
static inline int store_idem_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *deleted) TK_MUST_CHECK;
static inline int store_idem_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *deleted)
{
    return st->ops->idem_expire_due(st, now_ms, limit, deleted);
}
static inline int store_wr_issue(struct tk_store *st, const struct tk_wr_params *p, int64_t user_id, const char *new_token, double order_key, int64_t now_ms, struct tk_wr_row *out) TK_MUST_CHECK;
static inline int store_wr_issue(struct tk_store *st, const struct tk_wr_params *p, int64_t user_id, const char *new_token, double order_key, int64_t now_ms, struct tk_wr_row *out)
{
    return st->ops->wr_issue(st, p, user_id, new_token, order_key, now_ms, out);
}
static inline int store_wr_status(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms, struct tk_wr_row *out) TK_MUST_CHECK;
static inline int store_wr_status(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms, struct tk_wr_row *out)
{
    return st->ops->wr_status(st, p, token, now_ms, out);
}
static inline int store_wr_finish(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms) TK_MUST_CHECK;
static inline int store_wr_finish(struct tk_store *st, const struct tk_wr_params *p, const char *token, int64_t now_ms)
{
    return st->ops->wr_finish(st, p, token, now_ms);
}
static inline int store_wr_tick(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms) TK_MUST_CHECK;
static inline int store_wr_tick(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms)
{
    return st->ops->wr_tick(st, p, now_ms);
}
static inline int store_wr_counts(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms, struct tk_wr_counts *out) TK_MUST_CHECK;
static inline int store_wr_counts(struct tk_store *st, const struct tk_wr_params *p, int64_t now_ms, struct tk_wr_counts *out)
{
    return st->ops->wr_counts(st, p, now_ms, out);
}
static inline int store_migrate(struct tk_store *st) TK_MUST_CHECK;
static inline int store_migrate(struct tk_store *st)
{
    return st->admin->migrate(st);
}
static inline int store_seed_demo(struct tk_store *st, int64_t now_ms, bool *seeded) TK_MUST_CHECK;
static inline int store_seed_demo(struct tk_store *st, int64_t now_ms, bool *seeded)
{
    return st->admin->seed_demo(st, now_ms, seeded);
}
static inline int store_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    return st->admin->audit(st, now_ms, grace_ms, fn, arg);
}
static inline int store_idem_audit(struct tk_store *st, tk_idem_audit_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_idem_audit(struct tk_store *st, tk_idem_audit_fn fn, void *arg)
{
    return st->admin->idem_audit(st, fn, arg);
}

/* Opens the store named by a --db URL ("sqlite:PATH"). pool_max bounds its connections. On failure writes a
 * readable reason to errbuf; a failed open needs no close. */
int store_open(const char *url, int pool_max, struct tk_store **out, char *errbuf, int errlen) TK_MUST_CHECK;
/* store_close(NULL) is a no-op. */
void store_close(struct tk_store *st);

/* The demo catalogue, shared by every backend's seed_demo. */
struct store_demo_concert {
    const char *name;
    int days_ahead[3];
    bool on_sale; /* has a sale (its own waiting room) opening STORE_DEMO_SALE_OPENS_IN_MS after seeding */
};
extern const struct store_demo_concert STORE_DEMO_CONCERTS[];
extern const int STORE_DEMO_CONCERT_COUNT;
#define STORE_DEMO_SEATS 50
/* The demo's on-sale (the concert with on_sale): its sale's settings. */
#define STORE_DEMO_SALE_OPENS_IN_MS 120000
#define STORE_DEMO_SALE_MAX_ACTIVE 50
#define STORE_DEMO_SALE_ADMIT_PER_SEC 10
#define STORE_DEMO_SALE_TOKEN_SECONDS 600
/* Price of a demo seat by its number (1..50). */
int64_t store_demo_price_won(int seat_number);
/* Start time of a demo date: days_ahead days after now, at 19:00 UTC. */
int64_t store_demo_starts_at_ms(int64_t now_ms, int days_ahead);

/* ---- the shop's calls, checked (one wrapper per operation, as above) ---- */
static inline int store_product_create(struct tk_store *st, const struct tk_product_new *in, int64_t now_ms, struct tk_product *out) TK_MUST_CHECK;
static inline int store_product_create(struct tk_store *st, const struct tk_product_new *in, int64_t now_ms, struct tk_product *out)
{
    return st->ops->product_create(st, in, now_ms, out);
}
static inline int store_products_list(struct tk_store *st, int64_t now_ms, int limit, tk_product_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_products_list(struct tk_store *st, int64_t now_ms, int limit, tk_product_fn fn, void *arg)
{
    return st->ops->products_list(st, now_ms, limit, fn, arg);
}
static inline int store_product_get(struct tk_store *st, int64_t product_id, int64_t now_ms, struct tk_product *out) TK_MUST_CHECK;
static inline int store_product_get(struct tk_store *st, int64_t product_id, int64_t now_ms, struct tk_product *out)
{
    return st->ops->product_get(st, product_id, now_ms, out);
}
static inline int store_option_update(struct tk_store *st, const struct tk_option_patch *p, int64_t fence, int64_t now_ms, struct tk_option *out) TK_MUST_CHECK;
static inline int store_option_update(struct tk_store *st, const struct tk_option_patch *p, int64_t fence, int64_t now_ms, struct tk_option *out)
{
    return st->ops->option_update(st, p, fence, now_ms, out);
}
static inline int store_cart_add(struct tk_store *st, int64_t user_id, int64_t option_id, int quantity, int64_t now_ms, struct tk_cart_item *out) TK_MUST_CHECK;
static inline int store_cart_add(struct tk_store *st, int64_t user_id, int64_t option_id, int quantity, int64_t now_ms, struct tk_cart_item *out)
{
    return st->ops->cart_add(st, user_id, option_id, quantity, now_ms, out);
}
static inline int store_cart_list(struct tk_store *st, int64_t user_id, tk_cart_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_cart_list(struct tk_store *st, int64_t user_id, tk_cart_fn fn, void *arg)
{
    return st->ops->cart_list(st, user_id, fn, arg);
}
static inline int store_cart_remove(struct tk_store *st, int64_t user_id, int64_t cart_item_id) TK_MUST_CHECK;
static inline int store_cart_remove(struct tk_store *st, int64_t user_id, int64_t cart_item_id)
{
    return st->ops->cart_remove(st, user_id, cart_item_id);
}
static inline int store_order_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_order_req *req, struct tk_order *out) TK_MUST_CHECK;
static inline int store_order_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_order_req *req, struct tk_order *out)
{
    return st->ops->order_create(st, mode, req, out);
}
static inline int store_order_batch(struct tk_store *st, int64_t option_id, int64_t now_ms, int64_t hold_ms, struct tk_order_batch_item *items, int n) TK_MUST_CHECK;
static inline int store_order_batch(struct tk_store *st, int64_t option_id, int64_t now_ms, int64_t hold_ms, struct tk_order_batch_item *items, int n)
{
    return st->ops->order_batch(st, option_id, now_ms, hold_ms, items, n);
}
static inline int store_order_get(struct tk_store *st, int64_t user_id, int64_t order_id, struct tk_order *out) TK_MUST_CHECK;
static inline int store_order_get(struct tk_store *st, int64_t user_id, int64_t order_id, struct tk_order *out)
{
    return st->ops->order_get(st, user_id, order_id, out);
}
static inline int store_order_pay(struct tk_store *st, const struct tk_order_pay_req *req, struct tk_order *out) TK_MUST_CHECK;
static inline int store_order_pay(struct tk_store *st, const struct tk_order_pay_req *req, struct tk_order *out)
{
    return st->ops->order_pay(st, req, out);
}
static inline int store_orders_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired) TK_MUST_CHECK;
static inline int store_orders_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    return st->ops->orders_expire_due(st, now_ms, limit, expired);
}
static inline int store_popular(struct tk_store *st, int64_t from_day, int64_t to_day, int limit, tk_popular_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_popular(struct tk_store *st, int64_t from_day, int64_t to_day, int limit, tk_popular_fn fn, void *arg)
{
    return st->ops->popular(st, from_day, to_day, limit, fn, arg);
}
static inline int store_shop_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg) TK_MUST_CHECK;
static inline int store_shop_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    return st->admin->shop_audit(st, now_ms, grace_ms, fn, arg);
}
/* ---- end of the shop's calls ---- */

#endif
