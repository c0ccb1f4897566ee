/* sqlite.c — the embedded store: one SQLite file in WAL mode, for one ticketd process.
 *
 * Connections come from a bounded pool (pool_max); each connection caches its prepared statements.
 * SQLite allows one writer at a time, so writers queue on an in-process mutex (write_mu) before
 * BEGIN IMMEDIATE instead of spinning in SQLite's busy handler, which sleeps in 1–100 ms steps and would
 * ruin latency under contention. Readers never take write_mu: WAL lets them read a consistent snapshot
 * while a writer commits. synchronous=FULL: a committed payment survives a power cut.
 *
 * Every write goes through sq_run(): an optional pre-read outside the transaction (the optimistic and
 * unsafe modes read there), then the body inside one transaction that commits whole or rolls back whole.
 * A statement expected to return one row goes through run_row() (TK_ERR_NOT_FOUND when it returns none), the
 * twin of pg.c's; loops over rows step with step_row().
 */
#include "store/store.h"

#include <sqlite3.h>
#include <pthread.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <time.h>
#include "util/money.h"
#include "util/exec.h"

enum stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_PING,
    ST_USER_INSERT, ST_USER_BY_KEY, ST_USER_GET,
    ST_CHARGE_ATOMIC, ST_USER_SET_BALANCE, ST_USER_SET_BALANCE_CAS, ST_USER_DEBIT,
    ST_LEDGER_INSERT,
    ST_CONCERTS, ST_CONCERT_EXISTS, ST_SCHEDULES, ST_SCHEDULE_EXISTS, ST_SCHEDULE_LIVE, ST_SEATS_AVAIL, ST_SEAT_MAP, ST_SEAT_GET,
    ST_HOLDS_COUNT, ST_SEAT_HOLD_ATOMIC, ST_SEAT_HOLD_CAS, ST_SEAT_HOLD_BLIND, ST_SEAT_SET_HOLD_ID,
    ST_RES_EXPIRE_PREV, ST_RES_INSERT, ST_RES_GET, ST_RES_BY_SEAT,
    ST_PAYMENT_INSERT, ST_SEAT_SELL, ST_RES_SET_PAID,
    ST_HOLDS_DUE, ST_RES_SET_EXPIRED, ST_SEAT_RELEASE,
    ST_CONCERT_COUNT, ST_CONCERT_INSERT, ST_SCHEDULE_INSERT, ST_SEAT_INSERT,
    ST_TRANSFER_INSERT, ST_LEDGER_LIST,
    ST_IDEM_GET, ST_IDEM_DELETE, ST_IDEM_INSERT, ST_IDEM_COMPLETE, ST_IDEM_RELEASE, ST_IDEM_EXPIRE,
    ST_IDEM_APPLY, ST_IDEM_TAKEOVER,
    ST_EFFECT_CHARGE, ST_EFFECT_TRANSFER, ST_EFFECT_HOLD, ST_EFFECT_PAYMENT,
    ST_SEAT_INSERT_CAT, ST_SALE_INSERT, ST_SALE_GET, ST_SALE_BY_CONCERT, ST_SALE_UPDATE, ST_SALES_LIST,
    ST_SEAT_COUNTS, ST_CONCERT_GET_NAME, ST_OWNER_SCHEDULE, ST_OWNER_SEAT, ST_OWNER_RESERVATION,
    /* orders (issue 11) */
    ST_RS_INSERT, ST_RS_LIST, ST_RS_SELL, ST_RS_UNSELL, ST_RES_CANCEL, ST_SEAT_FREE_RES, ST_PAY_GET, ST_PAY_REFUND,
    ST_SEAT_UNSELL, ST_PAYMENTS_LIST, ST_SCHED_CANCEL, ST_SCHED_PAID, ST_SCHED_CANCELLED, ST_REFUND_BALANCE,
    ST__COUNT
};

static const char *const SQL[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_USER_INSERT] = "INSERT INTO users(name, api_key_sha256, balance, version, created_at) VALUES(?1, ?2, 0, 0, ?3)",
    [ST_USER_BY_KEY] = "SELECT id FROM users WHERE api_key_sha256 = ?1",
    [ST_USER_GET] = "SELECT id, name, balance, version FROM users WHERE id = ?1",
    [ST_CHARGE_ATOMIC] = "UPDATE users SET balance = balance + ?2, version = version + 1 "
                         "WHERE id = ?1 AND balance <= ?3 RETURNING balance",
    [ST_USER_SET_BALANCE] = "UPDATE users SET balance = ?2, version = version + 1 WHERE id = ?1",
    [ST_USER_SET_BALANCE_CAS] = "UPDATE users SET balance = ?2, version = version + 1 WHERE id = ?1 AND version = ?3",
    [ST_USER_DEBIT] = "UPDATE users SET balance = balance - ?2, version = version + 1 "
                      "WHERE id = ?1 AND balance >= ?2 RETURNING balance",
    [ST_LEDGER_INSERT] = "INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_CONCERTS] = "SELECT id, name FROM concerts ORDER BY id",
    [ST_CONCERT_EXISTS] = "SELECT 1 FROM concerts WHERE id = ?1",
    [ST_SCHEDULES] = "SELECT sc.id, sc.concert_id, c.name, sc.starts_at, sc.total_seats, "
                     "(SELECT COUNT(*) FROM seats s WHERE s.schedule_id = sc.id "
                     "   AND (s.sold_to IS NOT NULL OR s.hold_expires_at > ?1)) "
                     "FROM schedules sc JOIN concerts c ON c.id = sc.concert_id "
                     "WHERE (?3 OR sc.starts_at > ?1) AND sc.cancelled = 0 AND (?2 = 0 OR sc.concert_id = ?2) "
                     "ORDER BY sc.starts_at, sc.id",
    [ST_SCHEDULE_EXISTS] = "SELECT 1 FROM schedules WHERE id = ?1",
    [ST_SCHEDULE_LIVE] = "SELECT 1 FROM schedules WHERE id = ?1 AND cancelled = 0", /* a cancelled date: NOT_FOUND */
    [ST_SEATS_AVAIL] = "SELECT id, seat_number, price, category FROM seats WHERE schedule_id = ?1 AND sold_to IS NULL "
                       "AND (hold_expires_at IS NULL OR hold_expires_at <= ?2) ORDER BY seat_number",
    /* the seat map: 2 SOLD, 1 HELD, 0 FREE (enum tk_seat_status); a cancelled date has no rows */
    [ST_SEAT_MAP] = "SELECT s.id, s.seat_number, s.price, COALESCE(s.category, ''), "
                    "CASE WHEN s.sold_to IS NOT NULL THEN 2 WHEN s.hold_expires_at > ?2 THEN 1 ELSE 0 END "
                    "FROM seats s JOIN schedules sc ON sc.id = s.schedule_id "
                    "WHERE s.schedule_id = ?1 AND sc.cancelled = 0 ORDER BY s.seat_number",
    /* a cancelled date reads as one that has started: nothing on it can be held again */
    [ST_SEAT_GET] = "SELECT s.id, s.schedule_id, s.seat_number, s.price, s.sold_to, s.hold_expires_at, s.version, "
                    "CASE WHEN sc.cancelled THEN 0 ELSE sc.starts_at END, COALESCE(s.category, '') FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE s.id = ?1",
    [ST_HOLDS_COUNT] = "SELECT COUNT(*) FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id "
                       "WHERE r.user_id = ?1 AND r.status = 'HELD' AND r.expires_at > ?2",
    [ST_SEAT_HOLD_ATOMIC] = "UPDATE seats SET held_by = ?2, hold_expires_at = ?3, hold_id = NULL, version = version + 1 "
                            "WHERE id = ?1 AND sold_to IS NULL AND (hold_expires_at IS NULL OR hold_expires_at <= ?4)",
    [ST_SEAT_HOLD_CAS] = "UPDATE seats SET held_by = ?2, hold_expires_at = ?3, hold_id = NULL, version = version + 1 "
                         "WHERE id = ?1 AND version = ?4",
    [ST_SEAT_HOLD_BLIND] = "UPDATE seats SET held_by = ?2, hold_expires_at = ?3, hold_id = NULL, version = version + 1 "
                           "WHERE id = ?1",
    [ST_SEAT_SET_HOLD_ID] = "UPDATE seats SET hold_id = ?2 WHERE id = ?1",
    [ST_RES_EXPIRE_PREV] = "UPDATE reservations SET status = 'EXPIRED' WHERE id IN "
                           "(SELECT reservation_id FROM reservation_seats WHERE seat_id = ?1) AND status = 'HELD' "
                           "AND expires_at <= ?2",
    [ST_RES_INSERT] = "INSERT INTO reservations(seat_id, user_id, status, created_at, expires_at) "
                      "VALUES(?1, ?2, 'HELD', ?3, ?4)",
    [ST_RES_GET] = "SELECT r.id, r.seat_id, r.user_id, r.status, r.expires_at, s.seat_number, s.price, s.schedule_id, "
                   "c.name, sc.starts_at FROM reservations r JOIN seats s ON s.id = r.seat_id "
                   "JOIN schedules sc ON sc.id = s.schedule_id JOIN concerts c ON c.id = sc.concert_id WHERE r.id = ?1",
    [ST_RES_BY_SEAT] = "SELECT r.id FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id "
                       "WHERE rs.seat_id = ?1 AND r.user_id = ?2 ORDER BY r.id DESC LIMIT 1",
    [ST_PAYMENT_INSERT] = "INSERT INTO payments(reservation_id, seat_id, user_id, amount, created_at) "
                          "VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_SEAT_SELL] = "UPDATE seats SET sold_to = ?2, held_by = NULL, hold_expires_at = NULL, hold_id = NULL, "
                     "version = version + 1 WHERE id = ?1 AND sold_to IS NULL AND held_by = ?2 AND hold_id = ?3 "
                     "AND hold_expires_at > ?4",
    [ST_RES_SET_PAID] = "UPDATE reservations SET status = 'PAID' WHERE id = ?1 AND status = 'HELD'",
    [ST_HOLDS_DUE] = "SELECT id, seat_id FROM reservations WHERE status = 'HELD' AND expires_at <= ?1 "
                     "ORDER BY expires_at LIMIT ?2",
    [ST_RES_SET_EXPIRED] = "UPDATE reservations SET status = 'EXPIRED' WHERE id = ?1 AND status = 'HELD'",
    [ST_SEAT_RELEASE] = "UPDATE seats SET held_by = NULL, hold_expires_at = NULL, hold_id = NULL "
                        "WHERE id IN (SELECT seat_id FROM reservation_seats WHERE reservation_id = ?2) "
                        "AND ?1 > 0 AND hold_id = ?2 AND sold_to IS NULL AND hold_expires_at <= ?3",
    [ST_CONCERT_COUNT] = "SELECT COUNT(*) FROM concerts",
    [ST_CONCERT_INSERT] = "INSERT INTO concerts(name) VALUES(?1)",
    [ST_SCHEDULE_INSERT] = "INSERT INTO schedules(concert_id, starts_at, total_seats) VALUES(?1, ?2, ?3)",
    [ST_SEAT_INSERT] = "INSERT INTO seats(schedule_id, seat_number, price) VALUES(?1, ?2, ?3)",
    [ST_TRANSFER_INSERT] = "INSERT INTO transfers(from_user, to_user, amount, created_at) VALUES(?1, ?2, ?3, ?4)",
    [ST_LEDGER_LIST] = "SELECT id, kind, amount, balance_after, ref, created_at FROM ledger WHERE user_id = ?1 "
                       "ORDER BY id DESC LIMIT ?2",
    [ST_IDEM_GET] = "SELECT state, request_hash, status, body, expires_at, claim, created_at, COALESCE(effect_ref, '') "
                    "FROM idempotency WHERE user_id = ?1 AND key = ?2",
    [ST_IDEM_DELETE] = "DELETE FROM idempotency WHERE user_id = ?1 AND key = ?2",
    [ST_IDEM_INSERT] = "INSERT INTO idempotency(user_id, key, request_hash, state, created_at, expires_at, claim) "
                       "VALUES(?1, ?2, ?3, 'PENDING', ?4, ?5, ?6)",
    [ST_IDEM_COMPLETE] = "UPDATE idempotency SET state = 'DONE', status = ?3, body = ?4, "
                         "effect_ref = CASE WHEN COALESCE(effect_ref, '') = '' THEN ?5 ELSE effect_ref END "
                         "WHERE user_id = ?1 AND key = ?2 AND state = 'PENDING' AND claim = ?6",
    [ST_IDEM_RELEASE] = "DELETE FROM idempotency WHERE user_id = ?1 AND key = ?2 AND state = 'PENDING' AND claim = ?3 "
                        "AND COALESCE(effect_ref, '') = ''",
    [ST_IDEM_APPLY] = "UPDATE idempotency SET effect_ref = ?4 WHERE user_id = ?1 AND key = ?2 AND claim = ?3 "
                      "AND state = 'PENDING' AND COALESCE(effect_ref, '') = ''",
    [ST_IDEM_TAKEOVER] = "UPDATE idempotency SET claim = ?4, created_at = ?5 WHERE user_id = ?1 AND key = ?2 "
                         "AND claim = ?3 AND state = 'PENDING' AND COALESCE(effect_ref, '') = ''",
    [ST_EFFECT_CHARGE] = "SELECT balance_after FROM ledger WHERE id = ?1 AND user_id = ?2 AND kind = 'CHARGE'",
    [ST_EFFECT_TRANSFER] = "SELECT t.id, t.from_user, t.to_user, t.amount, l.balance_after FROM transfers t "
                           "JOIN ledger l ON l.ref = 'transfer:' || t.id AND l.kind = 'TRANSFER_OUT' "
                           "WHERE t.id = ?1 AND t.from_user = ?2",
    [ST_EFFECT_HOLD] = "SELECT r.id, r.seat_id, s.schedule_id, s.seat_number, s.price, r.expires_at FROM reservations r "
                       "JOIN seats s ON s.id = r.seat_id WHERE r.id = ?1 AND r.user_id = ?2",
    [ST_EFFECT_PAYMENT] = "SELECT p.id, p.reservation_id, p.seat_id, s.seat_number, c.name, sc.starts_at, p.amount, "
                          "l.balance_after FROM payments p JOIN seats s ON s.id = p.seat_id "
                          "JOIN schedules sc ON sc.id = s.schedule_id JOIN concerts c ON c.id = sc.concert_id "
                          "JOIN ledger l ON l.ref = 'payment:' || p.id AND l.kind = 'PAYMENT' "
                          "WHERE p.id = ?1 AND p.user_id = ?2",
    [ST_SEAT_INSERT_CAT] = "INSERT INTO seats(schedule_id, seat_number, price, category) VALUES(?1, ?2, ?3, ?4)",
    [ST_SALE_INSERT] = "INSERT INTO sales(concert_id, state, opens_at, max_active, admit_per_sec, token_seconds) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SALE_GET] = "SELECT id, concert_id, state, opens_at, max_active, admit_per_sec, token_seconds FROM sales "
                    "WHERE id = ?1",
    [ST_SALE_BY_CONCERT] = "SELECT id FROM sales WHERE concert_id = ?1",
    [ST_SALE_UPDATE] = "UPDATE sales SET max_active = ?2, admit_per_sec = ?3, state = ?4 WHERE id = ?1",
    [ST_SALES_LIST] = "SELECT id, concert_id, state, opens_at, max_active, admit_per_sec, token_seconds FROM sales "
                      "ORDER BY id LIMIT ?1",
    [ST_SEAT_COUNTS] = "SELECT COALESCE(SUM(s.sold_to IS NULL AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= ?2)), 0), "
                       "COALESCE(SUM(s.sold_to IS NULL AND s.hold_expires_at > ?2), 0), "
                       "COALESCE(SUM(s.sold_to IS NOT NULL), 0) "
                       "FROM seats s JOIN schedules sc ON sc.id = s.schedule_id "
                       "WHERE sc.concert_id = ?1 AND sc.starts_at > ?2",
    [ST_CONCERT_GET_NAME] = "SELECT name FROM concerts WHERE id = ?1",
    [ST_OWNER_SCHEDULE] = "SELECT concert_id FROM schedules WHERE id = ?1",
    [ST_OWNER_SEAT] = "SELECT sc.concert_id FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE s.id = ?1",
    [ST_OWNER_RESERVATION] = "SELECT sc.concert_id FROM reservations r JOIN seats s ON s.id = r.seat_id "
                             "JOIN schedules sc ON sc.id = s.schedule_id WHERE r.id = ?1",
    [ST_IDEM_EXPIRE] = "DELETE FROM idempotency WHERE rowid IN "
                       "(SELECT rowid FROM idempotency WHERE expires_at <= ?1 LIMIT ?2)",
    /* orders (issue 11): the seats of a reservation, cancel, refund, a cancelled date */
    [ST_RS_INSERT] = "INSERT INTO reservation_seats(reservation_id, seat_id) VALUES(?1, ?2)",
    [ST_RS_LIST] = "SELECT s.id, s.seat_number, s.price, COALESCE(s.category, ''), s.schedule_id FROM reservation_seats rs "
                   "JOIN seats s ON s.id = rs.seat_id WHERE rs.reservation_id = ?1 ORDER BY s.id",
    [ST_RS_SELL] = "UPDATE reservation_seats SET sold = 1 WHERE reservation_id = ?1",
    [ST_RS_UNSELL] = "UPDATE reservation_seats SET sold = 0 WHERE reservation_id = ?1",
    [ST_RES_CANCEL] = "UPDATE reservations SET status = 'CANCELLED' WHERE id = ?1 AND status = 'HELD' AND expires_at > ?2",
    [ST_SEAT_FREE_RES] = "UPDATE seats SET held_by = NULL, hold_expires_at = NULL, hold_id = NULL, version = version + 1 "
                         "WHERE id IN (SELECT seat_id FROM reservation_seats WHERE reservation_id = ?1) "
                         "AND hold_id = ?1 AND sold_to IS NULL",
    [ST_PAY_GET] = "SELECT p.id, p.reservation_id, p.seat_id, p.user_id, p.amount, p.status, p.created_at, sc.starts_at, "
                   "c.name, COALESCE((SELECT l.balance_after FROM ledger l WHERE l.ref = 'payment:' || p.id "
                   "AND l.kind = 'PAYMENT'), 0) FROM payments p JOIN seats s ON s.id = p.seat_id "
                   "JOIN schedules sc ON sc.id = s.schedule_id JOIN concerts c ON c.id = sc.concert_id WHERE p.id = ?1",
    [ST_PAY_REFUND] = "UPDATE payments SET status = 'REFUNDED', refunded_at = ?2 WHERE id = ?1 AND status = ?3",
    [ST_SEAT_UNSELL] = "UPDATE seats SET sold_to = NULL, version = version + 1 WHERE id IN "
                       "(SELECT seat_id FROM reservation_seats WHERE reservation_id = ?1 AND sold = 1) AND sold_to = ?2",
    /* a payment's seats are of one date: its first seat (payments.seat_id) names it */
    [ST_PAYMENTS_LIST] = "SELECT p.id FROM payments p JOIN seats s ON s.id = p.seat_id "
                         "WHERE (?1 = 0 OR p.user_id = ?1) AND (?3 = 0 OR s.schedule_id = ?3) "
                         "ORDER BY p.id DESC LIMIT ?2",
    [ST_SCHED_CANCEL] = "UPDATE schedules SET cancelled = 1 WHERE id = ?1",
    [ST_SCHED_PAID] = "SELECT p.id FROM payments p JOIN seats s ON s.id = p.seat_id WHERE s.schedule_id = ?1 "
                      "AND p.status = 'PAID' ORDER BY p.id LIMIT ?2",
    [ST_SCHED_CANCELLED] = "SELECT cancelled FROM schedules WHERE id = ?1",
    [ST_REFUND_BALANCE] = "SELECT balance_after FROM ledger WHERE ref = 'refund:' || ?1 AND kind = 'REFUND'",
};

/* Schema version 1. Money columns are INTEGER won; times are INTEGER ms since the epoch. */
static const char SCHEMA_V1[] =
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, api_key_sha256 TEXT NOT NULL UNIQUE,"
    "  balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0), version INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE ledger(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('CHARGE','PAYMENT','TRANSFER_IN','TRANSFER_OUT')),"
    "  amount INTEGER NOT NULL, balance_after INTEGER NOT NULL, ref TEXT, created_at INTEGER NOT NULL);"
    "CREATE INDEX ledger_user ON ledger(user_id, id);"
    "CREATE TABLE concerts(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE schedules(id INTEGER PRIMARY KEY, concert_id INTEGER NOT NULL REFERENCES concerts(id),"
    "  starts_at INTEGER NOT NULL, total_seats INTEGER NOT NULL);"
    "CREATE TABLE seats(id INTEGER PRIMARY KEY, schedule_id INTEGER NOT NULL REFERENCES schedules(id),"
    "  seat_number INTEGER NOT NULL, price INTEGER NOT NULL CHECK (price > 0),"
    "  held_by INTEGER, hold_expires_at INTEGER, hold_id INTEGER, sold_to INTEGER,"
    "  version INTEGER NOT NULL DEFAULT 0, UNIQUE (schedule_id, seat_number));"
    "CREATE TABLE reservations(id INTEGER PRIMARY KEY, seat_id INTEGER NOT NULL REFERENCES seats(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id), status TEXT NOT NULL CHECK (status IN ('HELD','PAID','EXPIRED')),"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE INDEX reservations_user ON reservations(user_id, status, expires_at);"
    "CREATE INDEX reservations_seat ON reservations(seat_id, user_id);"
    "CREATE INDEX reservations_due ON reservations(status, expires_at);"
    "CREATE TABLE payments(id INTEGER PRIMARY KEY, reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations(id),"
    "  seat_id INTEGER NOT NULL UNIQUE REFERENCES seats(id), user_id INTEGER NOT NULL REFERENCES users(id),"
    "  amount INTEGER NOT NULL, created_at INTEGER NOT NULL);";

/* Schema version 2: transfers and idempotency records (the money-safety issue). */
static const char SCHEMA_V2[] =
    "CREATE TABLE transfers(id INTEGER PRIMARY KEY, from_user INTEGER NOT NULL REFERENCES users(id),"
    "  to_user INTEGER NOT NULL REFERENCES users(id), amount INTEGER NOT NULL CHECK (amount > 0),"
    "  created_at INTEGER NOT NULL, CHECK (from_user != to_user));"
    "CREATE INDEX ledger_ref ON ledger(ref);"
    "CREATE TABLE idempotency(user_id INTEGER NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('PENDING','DONE')), status INTEGER, body TEXT, effect_ref TEXT DEFAULT '',"
    "  claim INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, key));"
    "CREATE INDEX idempotency_expiry ON idempotency(expires_at);";

/* Schema version 3: the organizer's catalogue (seat categories) and sales (the sale issue). */
static const char SCHEMA_V3[] =
    "ALTER TABLE seats ADD COLUMN category TEXT;"
    "CREATE TABLE sales(id INTEGER PRIMARY KEY, concert_id INTEGER NOT NULL UNIQUE REFERENCES concerts(id),"
    "  state TEXT NOT NULL CHECK (state IN ('OPEN','PAUSED','CLOSED','SOLD_OUT')), opens_at INTEGER NOT NULL,"
    "  max_active INTEGER NOT NULL CHECK (max_active > 0), admit_per_sec INTEGER NOT NULL CHECK (admit_per_sec > 0),"
    "  token_seconds INTEGER NOT NULL CHECK (token_seconds > 0));";

/* Orders (issue 11): a reservation has many seats (reservation_seats; reservations.seat_id stays, the first
 * seat), a payment can be REFUNDED, a date cancelled, the ledger has REFUND entries. payments.seat_id was UNIQUE:
 * a refunded seat must be sellable again, so the last guard against a seat sold twice is now the partial unique
 * index reservation_seats_sold (one sold row per seat). SQLite cannot drop a constraint: reservations (status
 * CHECK gains CANCELLED), payments and ledger (kind CHECK gains REFUND) are rebuilt, children before parents are
 * dropped, and the renames carry the foreign keys over. Existing rows keep working: each reservation gets its
 * one seat row. */
static const char SCHEMA_ORDERS[] =
    "CREATE TABLE reservations_new(id INTEGER PRIMARY KEY, seat_id INTEGER NOT NULL REFERENCES seats(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  status TEXT NOT NULL CHECK (status IN ('HELD','PAID','EXPIRED','CANCELLED')),"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "INSERT INTO reservations_new SELECT id, seat_id, user_id, status, created_at, expires_at FROM reservations;"
    "CREATE TABLE payments_new(id INTEGER PRIMARY KEY,"
    "  reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations_new(id),"
    "  seat_id INTEGER NOT NULL REFERENCES seats(id), user_id INTEGER NOT NULL REFERENCES users(id),"
    "  amount INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'PAID' CHECK (status IN ('PAID','REFUNDED')), refunded_at INTEGER);"
    "INSERT INTO payments_new(id, reservation_id, seat_id, user_id, amount, created_at)"
    "  SELECT id, reservation_id, seat_id, user_id, amount, created_at FROM payments;"
    "DROP TABLE payments;"
    "DROP TABLE reservations;"
    "ALTER TABLE reservations_new RENAME TO reservations;"
    "ALTER TABLE payments_new RENAME TO payments;"
    "CREATE INDEX reservations_user ON reservations(user_id, status, expires_at);"
    "CREATE INDEX reservations_seat ON reservations(seat_id, user_id);"
    "CREATE INDEX reservations_due ON reservations(status, expires_at);"
    "CREATE INDEX payments_user ON payments(user_id, id);"
    "CREATE INDEX payments_seat ON payments(seat_id);"
    "CREATE TABLE ledger_new(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('CHARGE','PAYMENT','TRANSFER_IN','TRANSFER_OUT','REFUND')),"
    "  amount INTEGER NOT NULL, balance_after INTEGER NOT NULL, ref TEXT, created_at INTEGER NOT NULL);"
    "INSERT INTO ledger_new SELECT id, user_id, kind, amount, balance_after, ref, created_at FROM ledger;"
    "DROP TABLE ledger;"
    "ALTER TABLE ledger_new RENAME TO ledger;"
    "CREATE INDEX ledger_user ON ledger(user_id, id);"
    "CREATE INDEX ledger_ref ON ledger(ref);"
    "CREATE TABLE reservation_seats(reservation_id INTEGER NOT NULL REFERENCES reservations(id),"
    "  seat_id INTEGER NOT NULL REFERENCES seats(id), sold INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (reservation_id, seat_id));"
    "CREATE INDEX reservation_seats_seat ON reservation_seats(seat_id);"
    "CREATE UNIQUE INDEX reservation_seats_sold ON reservation_seats(seat_id) WHERE sold = 1;"
    "INSERT INTO reservation_seats(reservation_id, seat_id, sold)"
    "  SELECT id, seat_id, status = 'PAID' FROM reservations;"
    "ALTER TABLE schedules ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;";

/* The shop (issue 12): products with options, carts, orders and their items, the daily sales aggregates behind
 * GET /products/popular, and the ledger's part-2 kinds (REFUND, ORDER_PAYMENT). SQLite cannot change a CHECK in
 * place, so the ledger is rebuilt (same columns, ids and indexes). An option's `stock` is on hand; `stocked` is
 * every unit ever put on hand (reconcile: stock + reserved + sold = stocked). An item is RESERVED while its
 * order is pending, SOLD once paid, RETURNED once its lapsed units were folded back into the option's stock. */
static const char SCHEMA_SHOP[] =
    "CREATE TABLE ledger_shop(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('CHARGE','PAYMENT','TRANSFER_IN','TRANSFER_OUT','REFUND','ORDER_PAYMENT')),"
    "  amount INTEGER NOT NULL, balance_after INTEGER NOT NULL, ref TEXT, created_at INTEGER NOT NULL);"
    "INSERT INTO ledger_shop(id, user_id, kind, amount, balance_after, ref, created_at)"
    "  SELECT id, user_id, kind, amount, balance_after, ref, created_at FROM ledger;"
    "DROP TABLE ledger;"
    "ALTER TABLE ledger_shop RENAME TO ledger;"
    "CREATE INDEX ledger_user ON ledger(user_id, id);"
    "CREATE INDEX ledger_ref ON ledger(ref);"
    "CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE product_options(id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id),"
    "  name TEXT NOT NULL, price INTEGER NOT NULL CHECK (price > 0), stock INTEGER NOT NULL CHECK (stock >= 0),"
    "  stocked INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, fence INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX product_options_product ON product_options(product_id, id);"
    "CREATE TABLE cart_items(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  option_id INTEGER NOT NULL REFERENCES product_options(id),"
    "  quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 100), created_at INTEGER NOT NULL,"
    "  UNIQUE (user_id, option_id));"
    "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    "  status TEXT NOT NULL CHECK (status IN ('PENDING','PAID','EXPIRED')), total INTEGER NOT NULL CHECK (total > 0),"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, paid_at INTEGER);"
    "CREATE INDEX orders_user ON orders(user_id, id);"
    "CREATE INDEX orders_due ON orders(status, expires_at);"
    "CREATE TABLE order_items(order_id INTEGER NOT NULL REFERENCES orders(id),"
    "  option_id INTEGER NOT NULL REFERENCES product_options(id), product_id INTEGER NOT NULL REFERENCES products(id),"
    "  quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 100), price INTEGER NOT NULL CHECK (price > 0),"
    "  state TEXT NOT NULL CHECK (state IN ('RESERVED','SOLD','RETURNED')), expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (order_id, option_id));"
    "CREATE INDEX order_items_due ON order_items(option_id, expires_at) WHERE state = 'RESERVED';"
    "CREATE TABLE daily_popular_products(day INTEGER NOT NULL, product_id INTEGER NOT NULL REFERENCES products(id),"
    "  units INTEGER NOT NULL CHECK (units > 0), PRIMARY KEY (day, product_id)) WITHOUT ROWID;";

static const char *const MIGRATIONS[] = {SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_ORDERS, SCHEMA_SHOP};
#define SCHEMA_VERSION (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0])

struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST__COUNT];
    sqlite3_stmt **shop; /* the shop's statements (SHOP_SQL), allocated at first use */
    struct sq_conn *next_free;
};

struct sq_store {
    struct tk_store base;
    char path[512];
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct sq_conn *free_list;
    int open_count;
    int pool_max;
    pthread_mutex_t write_mu;
};

#define POOL_WAIT_MS 5000
#define BUSY_TIMEOUT_MS 5000
/* On an executor worker a writer waits at most this long for the write lock (the in-process one, then the
 * file's), then hands the request back to be run again after a backoff: a lock held elsewhere (another
 * process, a long transaction) must not pin the workers that reads need. */
#define WORKER_WRITE_WAIT_MS 20
#define WORKER_RETRY_BASE_US 500
#define WORKER_RETRY_CAP_US 20000

/* ---------- errors ---------- */

static int sq_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return TK_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
        return TK_ERR_UNAVAILABLE;
    case SQLITE_NOMEM:
        return TK_ERR_NOMEM;
    default:
        return TK_ERR_INTERNAL;
    }
}

static int sq_fail(struct sq_conn *c, int rc, const char *what)
{
    fprintf(stderr, "ticketd: sqlite %s: %s (%d)\n", what, sqlite3_errmsg(c->db), rc);
    int e = sq_err(rc);
    return e == TK_OK ? TK_ERR_INTERNAL : e;
}

/* ---------- connections ---------- */

/* Waits ms from now (bounded by the request's deadline): the absolute CLOCK_REALTIME time for a timed wait. */
static struct timespec wait_until(int64_t ms)
{
    int64_t left = exec_remaining_ms();
    if (left < ms)
        ms = left;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t ns = t.tv_nsec + ms * 1000000;
    t.tv_sec += ns / 1000000000;
    t.tv_nsec = ns % 1000000000;
    return t;
}

/* SQLite's busy handler: wait in 1 ms steps, BUSY_TIMEOUT_MS off a worker, WORKER_WRITE_WAIT_MS on one. */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    int limit = exec_on_worker() ? WORKER_WRITE_WAIT_MS : BUSY_TIMEOUT_MS;
    if (count >= limit)
        return 0;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&ts, NULL);
    return 1;
}

static void shop_stmts_free(struct sq_conn *c); /* the shop's section */
static int shop_seed(struct sq_conn *c, int64_t now_ms, bool *seeded);
static const char *shop_idem_effect_sql(const char *ref, size_t kind_len);

static void conn_free(struct sq_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    shop_stmts_free(c);
    sqlite3_close(c->db);
    free(c);
}

static int conn_open(struct sq_store *s, struct sq_conn **out)
{
    struct sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ERR_NOMEM;
    int rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "ticketd: cannot open sqlite database %s: %s\n", s->path, c->db ? sqlite3_errmsg(c->db) : "?");
        conn_free(c);
        return TK_ERR_UNAVAILABLE;
    }
    sqlite3_busy_handler(c->db, busy_wait, NULL);
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        int e = sq_fail(c, rc, "pragmas");
        conn_free(c);
        return e;
    }
    *out = c;
    return TK_OK;
}

static int conn_get(struct sq_store *s, struct sq_conn **out)
{
    pthread_mutex_lock(&s->pool_mu);
    struct timespec deadline = wait_until(POOL_WAIT_MS);
    while (!s->free_list && s->open_count >= s->pool_max) {
        if (pthread_cond_timedwait(&s->pool_cv, &s->pool_mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->pool_mu);
            return TK_ERR_UNAVAILABLE;
        }
    }
    if (s->free_list) {
        *out = s->free_list;
        s->free_list = (*out)->next_free;
        pthread_mutex_unlock(&s->pool_mu);
        return TK_OK;
    }
    s->open_count++;
    pthread_mutex_unlock(&s->pool_mu);
    int rc = conn_open(s, out);
    if (rc < 0) {
        pthread_mutex_lock(&s->pool_mu);
        s->open_count--;
        pthread_cond_signal(&s->pool_cv);
        pthread_mutex_unlock(&s->pool_mu);
    }
    return rc;
}

static void conn_put(struct sq_store *s, struct sq_conn *c)
{
    pthread_mutex_lock(&s->pool_mu);
    c->next_free = s->free_list;
    s->free_list = c;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* Returns the connection's prepared statement `id`, reset and unbound, or NULL (error logged). */
static sqlite3_stmt *stmt(struct sq_conn *c, enum stmt_id id)
{
    if (!c->stmts[id]) {
        int rc = sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            sq_fail(c, rc, SQL[id]);
            return NULL;
        }
    } else {
        sqlite3_reset(c->stmts[id]);
        sqlite3_clear_bindings(c->stmts[id]);
    }
    return c->stmts[id];
}

/* Steps a statement that returns no rows (or ignores them); 0 or an error. Leaves it reset. */
static int exec_stmt(struct sq_conn *c, sqlite3_stmt *q)
{
    if (!q)
        return TK_ERR_INTERNAL;
    int rc = sqlite3_step(q);
    int e = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? TK_OK : sq_fail(c, rc, sqlite3_sql(q));
    sqlite3_reset(q);
    return e;
}

/* Steps once (a loop over rows): 1 if a row is there, 0 at the end, negative on error (statement reset on
 * error). */
static int step_row(struct sq_conn *c, sqlite3_stmt *q)
{
    if (!q)
        return TK_ERR_INTERNAL;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    int e = sq_fail(c, rc, sqlite3_sql(q));
    sqlite3_reset(q);
    return e;
}

/* Runs a statement expected to return one row (pg.c's run_row): TK_OK with q on that row (the caller reads it,
 * then resets q); TK_ERR_NOT_FOUND when it returns none, or the error (sq_err's), with q reset. */
static int run_row(struct sq_conn *c, sqlite3_stmt *q)
{
    int r = step_row(c, q);
    if (r == 0)
        sqlite3_reset(q);
    return r == 1 ? TK_OK : r == 0 ? TK_ERR_NOT_FOUND : r;
}

/* run_row with id bound to ?1 (q NULL, a statement that did not prepare: TK_ERR_INTERNAL). */
static int row_by_id(struct sq_conn *c, sqlite3_stmt *q, int64_t id)
{
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, id);
    return run_row(c, q);
}

/* Runs a statement that yields one int64 in its first column; TK_ERR_NOT_FOUND if no row. */
static int query_int64(struct sq_conn *c, sqlite3_stmt *q, int64_t *out)
{
    TK_TRY(run_row(c, q));
    *out = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return TK_OK;
}

/* query_int64 with id bound to ?1. */
static int int64_by_id(struct sq_conn *c, sqlite3_stmt *q, int64_t id, int64_t *out)
{
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, id);
    return query_int64(c, q, out);
}

/* Does q (by id at ?1) return a row? TK_OK or TK_ERR_NOT_FOUND. */
static int exists(struct sq_conn *c, sqlite3_stmt *q, int64_t id)
{
    int64_t one;
    return int64_by_id(c, q, id, &one);
}

static void copy_text(char *dst, size_t dstlen, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

/* ---------- the write runner ---------- */

typedef int (*sq_phase_fn)(struct sq_conn *c, void *arg);

/* Runs pre(c, arg) outside any transaction (if pre is not NULL), then body(c, arg) inside BEGIN IMMEDIATE
 * under write_mu. Commits when body returns 0, rolls back otherwise; returns body's result. */
static int sq_run(struct sq_store *s, sq_phase_fn pre, sq_phase_fn body, void *arg)
{
    struct sq_conn *c;
    TK_TRY(conn_get(s, &c));
    int rc = pre ? pre(c, arg) : TK_OK;
    if (rc == TK_OK) {
        bool worker = exec_on_worker();
        if (worker) {
            struct timespec until = wait_until(WORKER_WRITE_WAIT_MS);
            if (pthread_mutex_timedlock(&s->write_mu, &until) != 0) {
                conn_put(s, c); /* the writer ahead is slow: hand the request back, holding nothing */
                return exec_defer_backoff(WORKER_RETRY_BASE_US, WORKER_RETRY_CAP_US);
            }
        } else {
            pthread_mutex_lock(&s->write_mu);
        }
        rc = exec_stmt(c, stmt(c, ST_BEGIN));
        if (worker && rc == TK_ERR_UNAVAILABLE && sqlite3_extended_errcode(c->db) == SQLITE_BUSY) {
            /* the file is locked by someone else (another process): run again later, nothing was done */
            pthread_mutex_unlock(&s->write_mu);
            conn_put(s, c);
            return exec_defer_backoff(WORKER_RETRY_BASE_US, WORKER_RETRY_CAP_US);
        }
        if (rc == TK_OK) {
            rc = body(c, arg);
            if (rc == TK_OK)
                rc = exec_stmt(c, stmt(c, ST_COMMIT));
            if (rc != TK_OK && !sqlite3_get_autocommit(c->db))
                (void)exec_stmt(c, stmt(c, ST_ROLLBACK));
        }
        pthread_mutex_unlock(&s->write_mu);
    }
    conn_put(s, c);
    return rc;
}

/* Runs fn(c, arg) on a pooled connection without a write transaction (reads). */
static int sq_read(struct sq_store *s, sq_phase_fn fn, void *arg)
{
    struct sq_conn *c;
    TK_TRY(conn_get(s, &c));
    int rc = fn(c, arg);
    conn_put(s, c);
    return rc;
}

static struct sq_store *SQ(struct tk_store *st) { return (struct sq_store *)st; }

/* ---------- schema and demo data ---------- */

static int migrate_body(struct sq_conn *c, void *arg)
{
    (void)arg;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, "user_version");
    int version = run_row(c, q) == TK_OK ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    for (; version < SCHEMA_VERSION; version++) {
        rc = sqlite3_exec(c->db, MIGRATIONS[version], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return sq_fail(c, rc, "schema migration");
    }
    char set[48];
    snprintf(set, sizeof set, "PRAGMA user_version = %d", SCHEMA_VERSION);
    rc = sqlite3_exec(c->db, set, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TK_OK : sq_fail(c, rc, "set user_version");
}

static int sq_migrate(struct tk_store *st) { return sq_run(SQ(st), NULL, migrate_body, NULL); }

struct seed_args {
    int64_t now_ms;
    bool seeded;
};

static int seed_body(struct sq_conn *c, void *argp)
{
    struct seed_args *a = argp;
    TK_TRY(shop_seed(c, a->now_ms, &a->seeded)); /* the demo merchandise, once (when there are no products) */
    int64_t n = 0;
    TK_TRY(query_int64(c, stmt(c, ST_CONCERT_COUNT), &n));
    if (n > 0)
        return TK_OK;
    for (int ci = 0; ci < STORE_DEMO_CONCERT_COUNT; ci++) {
        sqlite3_stmt *q = stmt(c, ST_CONCERT_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_text(q, 1, STORE_DEMO_CONCERTS[ci].name, -1, SQLITE_STATIC);
        TK_TRY(exec_stmt(c, q));
        int64_t concert_id = sqlite3_last_insert_rowid(c->db);
        for (int d = 0; d < 3; d++) {
            q = stmt(c, ST_SCHEDULE_INSERT);
            if (!q)
                return TK_ERR_INTERNAL;
            sqlite3_bind_int64(q, 1, concert_id);
            sqlite3_bind_int64(q, 2, store_demo_starts_at_ms(a->now_ms, STORE_DEMO_CONCERTS[ci].days_ahead[d]));
            sqlite3_bind_int(q, 3, STORE_DEMO_SEATS);
            TK_TRY(exec_stmt(c, q));
            int64_t schedule_id = sqlite3_last_insert_rowid(c->db);
            for (int seat = 1; seat <= STORE_DEMO_SEATS; seat++) {
                q = stmt(c, ST_SEAT_INSERT);
                if (!q)
                    return TK_ERR_INTERNAL;
                sqlite3_bind_int64(q, 1, schedule_id);
                sqlite3_bind_int(q, 2, seat);
                sqlite3_bind_int64(q, 3, store_demo_price_won(seat));
                TK_TRY(exec_stmt(c, q));
            }
        }
        if (STORE_DEMO_CONCERTS[ci].on_sale) {
            q = stmt(c, ST_SALE_INSERT);
            if (!q)
                return TK_ERR_INTERNAL;
            sqlite3_bind_int64(q, 1, concert_id);
            sqlite3_bind_text(q, 2, "OPEN", -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, a->now_ms + STORE_DEMO_SALE_OPENS_IN_MS);
            sqlite3_bind_int(q, 4, STORE_DEMO_SALE_MAX_ACTIVE);
            sqlite3_bind_int(q, 5, STORE_DEMO_SALE_ADMIT_PER_SEC);
            sqlite3_bind_int(q, 6, STORE_DEMO_SALE_TOKEN_SECONDS);
            TK_TRY(exec_stmt(c, q));
        }
    }
    a->seeded = true;
    return TK_OK;
}

static int sq_seed_demo(struct tk_store *st, int64_t now_ms, bool *seeded)
{
    struct seed_args a = {.now_ms = now_ms};
    int rc = sq_run(SQ(st), NULL, seed_body, &a);
    *seeded = a.seeded;
    return rc;
}

static int ping_fn(struct sq_conn *c, void *arg)
{
    (void)arg;
    int64_t one;
    return query_int64(c, stmt(c, ST_PING), &one);
}

static int sq_ping(struct tk_store *st) { return sq_read(SQ(st), ping_fn, NULL); }

/* ---------- users and wallet ---------- */

struct user_args {
    const char *name;
    const char *api_key;
    int64_t now_ms;
    int64_t user_id;
    struct tk_user *out;
};

static int user_create_body(struct sq_conn *c, void *argp)
{
    struct user_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_USER_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_text(q, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, a->api_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    a->out->id = sqlite3_last_insert_rowid(c->db);
    snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
    a->out->balance_won = 0;
    return TK_OK;
}

static int sq_user_create(struct tk_store *st, const char *name, const char *api_key, int64_t now_ms,
                          struct tk_user *out)
{
    struct user_args a = {.name = name, .api_key = api_key, .now_ms = now_ms, .out = out};
    return sq_run(SQ(st), NULL, user_create_body, &a);
}

static int user_by_key_fn(struct sq_conn *c, void *argp)
{
    struct user_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_USER_BY_KEY);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_text(q, 1, a->api_key, -1, SQLITE_STATIC);
    return query_int64(c, q, &a->user_id);
}

static int sq_user_by_api_key(struct tk_store *st, const char *api_key, int64_t *user_id)
{
    struct user_args a = {.api_key = api_key};
    TK_TRY(sq_read(SQ(st), user_by_key_fn, &a));
    *user_id = a.user_id;
    return TK_OK;
}

/* Reads a user row; *version may be NULL. */
static int user_read(struct sq_conn *c, int64_t user_id, struct tk_user *out, int64_t *version)
{
    sqlite3_stmt *q = stmt(c, ST_USER_GET);
    TK_TRY(row_by_id(c, q, user_id));
    out->id = sqlite3_column_int64(q, 0);
    copy_text(out->name, sizeof out->name, q, 1);
    out->balance_won = sqlite3_column_int64(q, 2);
    if (version)
        *version = sqlite3_column_int64(q, 3);
    sqlite3_reset(q);
    return TK_OK;
}

static int user_get_fn(struct sq_conn *c, void *argp)
{
    struct user_args *a = argp;
    return user_read(c, a->user_id, a->out, NULL);
}

static int sq_user_get(struct tk_store *st, int64_t user_id, struct tk_user *out)
{
    struct user_args a = {.user_id = user_id, .out = out};
    return sq_read(SQ(st), user_get_fn, &a);
}

static int ledger_append(struct sq_conn *c, int64_t user_id, const char *kind, int64_t amount, int64_t balance_after,
                         const char *ref, int64_t now_ms)
{
    sqlite3_stmt *q = stmt(c, ST_LEDGER_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, amount);
    sqlite3_bind_int64(q, 4, balance_after);
    if (ref)
        sqlite3_bind_text(q, 5, ref, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, now_ms);
    return exec_stmt(c, q);
}

/* Records, in the effect's own transaction, that the idempotency claim produced effect_ref; refuses if the
 * claim is no longer this request's (another one took the key over). */
static int idem_apply(struct sq_conn *c, const struct tk_idem_ref *idem, const char *kind, int64_t id)
{
    if (!idem)
        return TK_OK;
    char ref[48];
    snprintf(ref, sizeof ref, "%s:%lld", kind, (long long)id);
    sqlite3_stmt *q = stmt(c, ST_IDEM_APPLY);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, idem->user_id);
    sqlite3_bind_text(q, 2, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, idem->claim);
    sqlite3_bind_text(q, 4, ref, -1, SQLITE_TRANSIENT);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : TK_ERR_CLAIM_LOST;
}

struct charge_args {
    const struct tk_idem_ref *idem;
    enum tk_write_mode mode;
    int64_t user_id;
    int64_t amount_won;
    int64_t now_ms;
    int64_t read_balance; /* pre-read (optimistic, unsafe) */
    int64_t read_version;
    int64_t balance_after;
    int64_t entry_id;
};

static int charge_pre(struct sq_conn *c, void *argp)
{
    struct charge_args *a = argp;
    if (a->mode != TK_WRITE_OPTIMISTIC && a->mode != TK_WRITE_UNSAFE)
        return TK_OK;
    struct tk_user u;
    TK_TRY(user_read(c, a->user_id, &u, &a->read_version));
    a->read_balance = u.balance_won;
    return TK_OK;
}

/* The atomic balance moves, one conditional UPDATE ... RETURNING: *after the balance after, TK_ERR_NOT_FOUND when
 * the guard refused it (a debit beyond the balance, a credit past INT64_MAX) or there is no such user. */
static int balance_move(struct sq_conn *c, bool debit, int64_t user_id, int64_t amount, int64_t *after)
{
    sqlite3_stmt *q = stmt(c, debit ? ST_USER_DEBIT : ST_CHARGE_ATOMIC);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_int64(q, 2, amount);
    if (!debit)
        sqlite3_bind_int64(q, 3, INT64_MAX - amount);
    return query_int64(c, q, after);
}

/* Writes new_balance over the row: blind, or compare-and-set on the version read before. */
static int balance_write(struct sq_conn *c, int64_t user_id, int64_t new_balance, const int64_t *cas_version)
{
    sqlite3_stmt *q = stmt(c, cas_version ? ST_USER_SET_BALANCE_CAS : ST_USER_SET_BALANCE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_int64(q, 2, new_balance);
    if (cas_version)
        sqlite3_bind_int64(q, 3, *cas_version);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : (cas_version ? TK_ERR_CONFLICT : TK_ERR_NOT_FOUND);
}

static int charge_body(struct sq_conn *c, void *argp)
{
    struct charge_args *a = argp;
    switch (a->mode) {
    case TK_WRITE_ATOMIC: {
        int rc = balance_move(c, false, a->user_id, a->amount_won, &a->balance_after);
        if (rc == TK_ERR_NOT_FOUND) {
            struct tk_user u;
            TK_TRY(user_read(c, a->user_id, &u, NULL));
            return TK_ERR_OVERFLOW; /* the row exists, so the guard refused it */
        }
        TK_TRY(rc);
        break;
    }
    case TK_WRITE_PESSIMISTIC: {
        struct tk_user u;
        TK_TRY(user_read(c, a->user_id, &u, NULL));
        TK_TRY(money_credit(u.balance_won, a->amount_won, &a->balance_after));
        TK_TRY(balance_write(c, a->user_id, a->balance_after, NULL));
        break;
    }
    case TK_WRITE_OPTIMISTIC:
        TK_TRY(money_credit(a->read_balance, a->amount_won, &a->balance_after));
        TK_TRY(balance_write(c, a->user_id, a->balance_after, &a->read_version));
        break;
    case TK_WRITE_UNSAFE:
        TK_TRY(money_credit(a->read_balance, a->amount_won, &a->balance_after));
        TK_TRY(balance_write(c, a->user_id, a->balance_after, NULL));
        break;
    }
    TK_TRY(ledger_append(c, a->user_id, "CHARGE", a->amount_won, a->balance_after, NULL, a->now_ms));
    a->entry_id = sqlite3_last_insert_rowid(c->db);
    return idem_apply(c, a->idem, "ledger", a->entry_id);
}

static int sq_wallet_charge(struct tk_store *st, enum tk_write_mode mode, int64_t user_id, int64_t amount_won,
                            int64_t now_ms, const struct tk_idem_ref *idem, int64_t *balance_won, int64_t *entry_id)
{
    struct charge_args a = {.idem = idem, .mode = mode, .user_id = user_id, .amount_won = amount_won,
                            .now_ms = now_ms};
    TK_TRY(sq_run(SQ(st), charge_pre, charge_body, &a));
    *balance_won = a.balance_after;
    if (entry_id)
        *entry_id = a.entry_id;
    return TK_OK;
}

/* ---------- catalogue ---------- */

struct list_args {
    int64_t id;
    int64_t now_ms;
    void *fn;
    void *arg;
    bool every; /* schedules_list: tk_schedule_filter.every */
};

static int concerts_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_CONCERTS);
    int r;
    while ((r = step_row(c, q)) == 1) {
        struct tk_concert row = {.id = sqlite3_column_int64(q, 0)};
        copy_text(row.name, sizeof row.name, q, 1);
        int rc = ((tk_concert_fn)a->fn)(a->arg, &row);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    if (q)
        sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int sq_concerts_list(struct tk_store *st, tk_concert_fn fn, void *arg)
{
    struct list_args a = {.fn = (void *)fn, .arg = arg};
    return sq_read(SQ(st), concerts_fn, &a);
}

static int schedules_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    if (a->id)
        TK_TRY(exists(c, stmt(c, ST_CONCERT_EXISTS), a->id));
    sqlite3_stmt *q = stmt(c, ST_SCHEDULES);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int64(q, 2, a->id);
    sqlite3_bind_int(q, 3, a->every);
    int r;
    while ((r = step_row(c, q)) == 1) {
        struct tk_schedule row = {
            .id = sqlite3_column_int64(q, 0),
            .concert_id = sqlite3_column_int64(q, 1),
            .starts_at_ms = sqlite3_column_int64(q, 3),
            .total_seats = sqlite3_column_int(q, 4),
            .reserved_seats = sqlite3_column_int(q, 5),
        };
        if (!a->every && row.reserved_seats >= row.total_seats)
            continue;
        copy_text(row.concert_name, sizeof row.concert_name, q, 2);
        int rc = ((tk_schedule_fn)a->fn)(a->arg, &row);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int sq_schedules_list(struct tk_store *st, const struct tk_schedule_filter *f, tk_schedule_fn fn, void *arg)
{
    struct list_args a = {.id = f->concert_id, .now_ms = f->now_ms, .fn = (void *)fn, .arg = arg, .every = f->every};
    return sq_read(SQ(st), schedules_fn, &a);
}

static int seats_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    TK_TRY(exists(c, stmt(c, ST_SCHEDULE_LIVE), a->id));
    sqlite3_stmt *q = stmt(c, ST_SEATS_AVAIL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int64(q, 2, a->now_ms);
    int r;
    while ((r = step_row(c, q)) == 1) {
        struct tk_seat row = {
            .id = sqlite3_column_int64(q, 0),
            .schedule_id = a->id,
            .seat_number = sqlite3_column_int(q, 1),
            .price_won = sqlite3_column_int64(q, 2),
        };
        copy_text(row.category, sizeof row.category, q, 3);
        int rc = ((tk_seat_fn)a->fn)(a->arg, &row);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int sq_seats_available(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    struct list_args a = {.id = schedule_id, .now_ms = now_ms, .fn = (void *)fn, .arg = arg};
    return sq_read(SQ(st), seats_fn, &a);
}

static int seat_map_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_SEAT_MAP);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int64(q, 2, a->now_ms);
    int r, n = 0;
    while ((r = step_row(c, q)) == 1) {
        struct tk_seat row = {
            .id = sqlite3_column_int64(q, 0),
            .schedule_id = a->id,
            .seat_number = sqlite3_column_int(q, 1),
            .price_won = sqlite3_column_int64(q, 2),
            .status = (enum tk_seat_status)sqlite3_column_int(q, 4),
        };
        copy_text(row.category, sizeof row.category, q, 3);
        n++;
        int rc = ((tk_seat_fn)a->fn)(a->arg, &row);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    sqlite3_reset(q);
    return r < 0 ? r : n ? TK_OK : TK_ERR_NOT_FOUND;
}

static int sq_seat_map(struct tk_store *st, int64_t schedule_id, int64_t now_ms, tk_seat_fn fn, void *arg)
{
    struct list_args a = {.id = schedule_id, .now_ms = now_ms, .fn = (void *)fn, .arg = arg};
    return sq_read(SQ(st), seat_map_fn, &a);
}

/* ---------- the organizer's catalogue and sales ---------- */

struct concert_create_args {
    const char *name;
    struct tk_concert *out;
};

static int concert_create_body(struct sq_conn *c, void *argp)
{
    struct concert_create_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_CONCERT_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_text(q, 1, a->name, -1, SQLITE_STATIC);
    TK_TRY(exec_stmt(c, q));
    a->out->id = sqlite3_last_insert_rowid(c->db);
    snprintf(a->out->name, sizeof a->out->name, "%s", a->name);
    return TK_OK;
}

static int sq_concert_create(struct tk_store *st, const char *name, struct tk_concert *out)
{
    struct concert_create_args a = {.name = name, .out = out};
    return sq_run(SQ(st), NULL, concert_create_body, &a);
}

struct schedule_create_args {
    const struct tk_schedule_new *in;
    struct tk_schedule *out;
};

static int schedule_create_body(struct sq_conn *c, void *argp)
{
    struct schedule_create_args *a = argp;
    const struct tk_schedule_new *in = a->in;
    sqlite3_stmt *q = stmt(c, ST_CONCERT_GET_NAME);
    TK_TRY(row_by_id(c, q, in->concert_id));
    char concert_name[STORE_NAME_MAX];
    copy_text(concert_name, sizeof concert_name, q, 0);
    sqlite3_reset(q);
    q = stmt(c, ST_SCHEDULE_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, in->concert_id);
    sqlite3_bind_int64(q, 2, in->starts_at_ms);
    sqlite3_bind_int(q, 3, in->seat_count);
    TK_TRY(exec_stmt(c, q));
    int64_t schedule_id = sqlite3_last_insert_rowid(c->db);
    for (int i = 0; i < in->nranges; i++) {
        const struct tk_price_range *pr = &in->ranges[i];
        for (int seat = pr->from_seat; seat <= pr->to_seat; seat++) {
            q = stmt(c, ST_SEAT_INSERT_CAT);
            if (!q)
                return TK_ERR_INTERNAL;
            sqlite3_bind_int64(q, 1, schedule_id);
            sqlite3_bind_int(q, 2, seat);
            sqlite3_bind_int64(q, 3, pr->price_won);
            if (pr->category[0])
                sqlite3_bind_text(q, 4, pr->category, -1, SQLITE_STATIC);
            TK_TRY(exec_stmt(c, q));
        }
    }
    *a->out = (struct tk_schedule){.id = schedule_id, .concert_id = in->concert_id, .starts_at_ms = in->starts_at_ms,
                                   .total_seats = in->seat_count, .reserved_seats = 0};
    snprintf(a->out->concert_name, sizeof a->out->concert_name, "%s", concert_name);
    return TK_OK;
}

static int sq_schedule_create(struct tk_store *st, const struct tk_schedule_new *in, struct tk_schedule *out)
{
    struct schedule_create_args a = {.in = in, .out = out};
    return sq_run(SQ(st), NULL, schedule_create_body, &a);
}

static int sale_row(struct sq_conn *c, sqlite3_stmt *q, struct tk_sale *out)
{
    (void)c;
    char state[16];
    copy_text(state, sizeof state, q, 2);
    *out = (struct tk_sale){.id = sqlite3_column_int64(q, 0), .concert_id = sqlite3_column_int64(q, 1),
                            .opens_at_ms = sqlite3_column_int64(q, 3), .max_active = sqlite3_column_int(q, 4),
                            .admit_per_sec = sqlite3_column_int(q, 5), .token_seconds = sqlite3_column_int(q, 6)};
    return store_sale_state_parse(state, &out->state);
}

static int sale_read(struct sq_conn *c, int64_t sale_id, struct tk_sale *out)
{
    sqlite3_stmt *q = stmt(c, ST_SALE_GET);
    TK_TRY(row_by_id(c, q, sale_id));
    int rc = sale_row(c, q, out);
    sqlite3_reset(q);
    return rc;
}

struct sale_args {
    int64_t id;
    const struct tk_sale *in;
    const struct tk_sale_patch *patch;
    struct tk_sale *out;
};

static int sale_create_body(struct sq_conn *c, void *argp)
{
    struct sale_args *a = argp;
    TK_TRY(exists(c, stmt(c, ST_CONCERT_EXISTS), a->in->concert_id));
    int rc = exists(c, stmt(c, ST_SALE_BY_CONCERT), a->in->concert_id);
    if (rc != TK_ERR_NOT_FOUND)
        return rc == TK_OK ? TK_ERR_INVALID : rc;
    sqlite3_stmt *q = stmt(c, ST_SALE_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->in->concert_id);
    sqlite3_bind_text(q, 2, store_sale_state_name(a->in->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a->in->opens_at_ms);
    sqlite3_bind_int(q, 4, a->in->max_active);
    sqlite3_bind_int(q, 5, a->in->admit_per_sec);
    sqlite3_bind_int(q, 6, a->in->token_seconds);
    TK_TRY(exec_stmt(c, q));
    return sale_read(c, sqlite3_last_insert_rowid(c->db), a->out);
}

static int sq_sale_create(struct tk_store *st, const struct tk_sale *in, struct tk_sale *out)
{
    struct sale_args a = {.in = in, .out = out};
    return sq_run(SQ(st), NULL, sale_create_body, &a);
}

static int sale_update_body(struct sq_conn *c, void *argp)
{
    struct sale_args *a = argp;
    struct tk_sale cur;
    TK_TRY(sale_read(c, a->id, &cur));
    TK_TRY(store_sale_patch_apply(&cur, a->patch));
    sqlite3_stmt *q = stmt(c, ST_SALE_UPDATE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int(q, 2, cur.max_active);
    sqlite3_bind_int(q, 3, cur.admit_per_sec);
    sqlite3_bind_text(q, 4, store_sale_state_name(cur.state), -1, SQLITE_STATIC);
    TK_TRY(exec_stmt(c, q));
    *a->out = cur;
    return TK_OK;
}

static int sq_sale_update(struct tk_store *st, int64_t sale_id, const struct tk_sale_patch *p, struct tk_sale *out)
{
    struct sale_args a = {.id = sale_id, .patch = p, .out = out};
    return sq_run(SQ(st), NULL, sale_update_body, &a);
}

static int sales_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_SALES_LIST);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->id);
    int r;
    while ((r = step_row(c, q)) == 1) {
        struct tk_sale row;
        int rc = sale_row(c, q, &row);
        if (rc == TK_OK)
            rc = ((tk_sale_fn)a->fn)(a->arg, &row);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int sq_sales_list(struct tk_store *st, int limit, tk_sale_fn fn, void *arg)
{
    struct list_args a = {.id = limit, .fn = (void *)fn, .arg = arg};
    return sq_read(SQ(st), sales_fn, &a);
}

struct counts_args {
    int64_t concert_id, now_ms;
    struct tk_seat_counts *out;
};

static int seat_counts_fn(struct sq_conn *c, void *argp)
{
    struct counts_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_SEAT_COUNTS);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->concert_id);
    sqlite3_bind_int64(q, 2, a->now_ms);
    int rc = run_row(c, q);
    if (rc == TK_OK)
        *a->out = (struct tk_seat_counts){.free = sqlite3_column_int64(q, 0), .held = sqlite3_column_int64(q, 1),
                                          .sold = sqlite3_column_int64(q, 2)};
    sqlite3_reset(q);
    return rc == TK_ERR_NOT_FOUND ? TK_OK : rc;
}

static int sq_seat_counts(struct tk_store *st, int64_t concert_id, int64_t now_ms, struct tk_seat_counts *out)
{
    struct counts_args a = {.concert_id = concert_id, .now_ms = now_ms, .out = out};
    *out = (struct tk_seat_counts){0};
    return sq_read(SQ(st), seat_counts_fn, &a);
}

struct owner_args {
    enum tk_owner_kind kind;
    int64_t id;
    int64_t *concert_id;
};

static int owner_fn(struct sq_conn *c, void *argp)
{
    struct owner_args *a = argp;
    static const enum stmt_id BY_KIND[] = {[OWNER_SCHEDULE] = ST_OWNER_SCHEDULE, [OWNER_SEAT] = ST_OWNER_SEAT,
                                           [OWNER_RESERVATION] = ST_OWNER_RESERVATION};
    return int64_by_id(c, stmt(c, BY_KIND[a->kind]), a->id, a->concert_id);
}

static int sq_owner_concert(struct tk_store *st, enum tk_owner_kind kind, int64_t id, int64_t *concert_id)
{
    struct owner_args a = {.kind = kind, .id = id, .concert_id = concert_id};
    return sq_read(SQ(st), owner_fn, &a);
}

/* ---------- holds ---------- */

struct seat_row {
    int64_t id, schedule_id, price, hold_expires_at, version, starts_at;
    int seat_number;
    bool sold;
    char category[SEAT_CATEGORY_MAX];
};

static int seat_read(struct sq_conn *c, int64_t seat_id, struct seat_row *out)
{
    sqlite3_stmt *q = stmt(c, ST_SEAT_GET);
    TK_TRY(row_by_id(c, q, seat_id));
    out->id = sqlite3_column_int64(q, 0);
    out->schedule_id = sqlite3_column_int64(q, 1);
    out->seat_number = sqlite3_column_int(q, 2);
    out->price = sqlite3_column_int64(q, 3);
    out->sold = sqlite3_column_type(q, 4) != SQLITE_NULL;
    out->hold_expires_at = sqlite3_column_type(q, 5) == SQLITE_NULL ? 0 : sqlite3_column_int64(q, 5);
    out->version = sqlite3_column_int64(q, 6);
    out->starts_at = sqlite3_column_int64(q, 7);
    copy_text(out->category, sizeof out->category, q, 8);
    sqlite3_reset(q);
    return TK_OK;
}

static bool seat_free(const struct seat_row *s, int64_t now_ms)
{
    return !s->sold && s->hold_expires_at <= now_ms && s->starts_at > now_ms;
}

/* A hold of n seats (the single-seat form is n = 1), all or none: the seats are written in ascending id order
 * (the caller sorted them); any seat taken rolls the whole transaction back with the taken ones listed. */
struct hold_args {
    enum tk_write_mode mode;
    const struct tk_hold_req *req;
    int n;
    const int64_t *ids;
    struct seat_row pre[HOLD_SEATS_MAX];
    struct tk_hold *out;
};

static void hold_note_unavailable(struct tk_hold *out, int64_t seat_id)
{
    if (out->nunavailable < HOLD_SEATS_MAX)
        out->unavailable[out->nunavailable++] = seat_id;
}

static int hold_pre(struct sq_conn *c, void *argp)
{
    struct hold_args *a = argp;
    for (int i = 0; i < a->n; i++) {
        TK_TRY(seat_read(c, a->ids[i], &a->pre[i]));
        if (a->pre[i].schedule_id != a->pre[0].schedule_id)
            return TK_ERR_INVALID; /* seats of two dates */
    }
    if (a->mode != TK_WRITE_OPTIMISTIC && a->mode != TK_WRITE_UNSAFE)
        return TK_OK;
    for (int i = 0; i < a->n; i++)
        if (!seat_free(&a->pre[i], a->req->now_ms))
            hold_note_unavailable(a->out, a->ids[i]);
    return a->out->nunavailable ? TK_ERR_SEAT_UNAVAILABLE : TK_OK;
}

static int hold_body(struct sq_conn *c, void *argp)
{
    struct hold_args *a = argp;
    const struct tk_hold_req *r = a->req;
    int64_t expires = r->now_ms + r->hold_ms;
    sqlite3_stmt *q;
    a->out->nunavailable = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t seat_id = a->ids[i];
        switch (a->mode) {
        case TK_WRITE_ATOMIC:
            if (a->pre[i].starts_at <= r->now_ms) {
                hold_note_unavailable(a->out, seat_id);
                continue;
            }
            q = stmt(c, ST_SEAT_HOLD_ATOMIC);
            break;
        case TK_WRITE_PESSIMISTIC: {
            struct seat_row now_row;
            TK_TRY(seat_read(c, seat_id, &now_row));
            if (!seat_free(&now_row, r->now_ms)) {
                hold_note_unavailable(a->out, seat_id);
                continue;
            }
            q = stmt(c, ST_SEAT_HOLD_BLIND);
            break;
        }
        case TK_WRITE_OPTIMISTIC:
            q = stmt(c, ST_SEAT_HOLD_CAS);
            break;
        default:
            q = stmt(c, ST_SEAT_HOLD_BLIND);
            break;
        }
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, seat_id);
        sqlite3_bind_int64(q, 2, r->user_id);
        sqlite3_bind_int64(q, 3, expires);
        if (a->mode == TK_WRITE_ATOMIC)
            sqlite3_bind_int64(q, 4, r->now_ms);
        else if (a->mode == TK_WRITE_OPTIMISTIC)
            sqlite3_bind_int64(q, 4, a->pre[i].version);
        TK_TRY(exec_stmt(c, q));
        if (sqlite3_changes(c->db) != 1) {
            if (a->mode == TK_WRITE_OPTIMISTIC)
                return TK_ERR_CONFLICT;
            hold_note_unavailable(a->out, seat_id);
        }
    }
    if (a->out->nunavailable)
        return TK_ERR_SEAT_UNAVAILABLE; /* rolled back whole: nothing held */

    q = stmt(c, ST_HOLDS_COUNT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, r->user_id);
    sqlite3_bind_int64(q, 2, r->now_ms);
    int64_t held = 0;
    TK_TRY(query_int64(c, q, &held));
    if (held + a->n > r->max_holds)
        return TK_ERR_HOLD_LIMIT;

    for (int i = 0; i < a->n; i++) {
        q = stmt(c, ST_RES_EXPIRE_PREV);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, a->ids[i]);
        sqlite3_bind_int64(q, 2, r->now_ms);
        TK_TRY(exec_stmt(c, q));
    }

    q = stmt(c, ST_RES_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->ids[0]);
    sqlite3_bind_int64(q, 2, r->user_id);
    sqlite3_bind_int64(q, 3, r->now_ms);
    sqlite3_bind_int64(q, 4, expires);
    TK_TRY(exec_stmt(c, q));
    int64_t reservation_id = sqlite3_last_insert_rowid(c->db);

    struct tk_hold *o = a->out;
    *o = (struct tk_hold){
        .reservation_id = reservation_id,
        .seat_id = a->ids[0],
        .schedule_id = a->pre[0].schedule_id,
        .user_id = r->user_id,
        .seat_number = a->pre[0].seat_number,
        .price_won = a->pre[0].price,
        .expires_at_ms = expires,
        .state = HOLD_HELD,
        .nseats = a->n,
    };
    for (int i = 0; i < a->n; i++) {
        q = stmt(c, ST_RS_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, reservation_id);
        sqlite3_bind_int64(q, 2, a->ids[i]);
        TK_TRY(exec_stmt(c, q));
        q = stmt(c, ST_SEAT_SET_HOLD_ID);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, a->ids[i]);
        sqlite3_bind_int64(q, 2, reservation_id);
        TK_TRY(exec_stmt(c, q));
        o->seats[i] = (struct tk_hold_seat){.seat_id = a->ids[i], .seat_number = a->pre[i].seat_number,
                                            .price_won = a->pre[i].price};
        snprintf(o->seats[i].category, sizeof o->seats[i].category, "%s", a->pre[i].category);
        o->amount_won += a->pre[i].price;
    }
    return idem_apply(c, r->idem, "reservation", reservation_id);
}

static int sq_hold_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_hold_req *req,
                          struct tk_hold *out)
{
    struct hold_args a = {.mode = mode, .req = req, .out = out,
                          .n = req->nseats ? req->nseats : 1, .ids = req->nseats ? req->seat_ids : &req->seat_id};
    TK_ASSERT(a.n >= 1 && a.n <= HOLD_SEATS_MAX);
    out->busy_until_ms = 0;
    out->nunavailable = 0;
    int rc = sq_run(SQ(st), hold_pre, hold_body, &a);
    if (rc == TK_ERR_SEAT_UNAVAILABLE && a.n == 1) { /* tell the caller until when (a fresh read, after the fact) */
        struct sq_conn *c;
        struct seat_row now_row;
        if (conn_get(SQ(st), &c) == TK_OK) {
            if (seat_read(c, req->seat_id ? req->seat_id : a.ids[0], &now_row) == TK_OK)
                out->busy_until_ms = (now_row.sold || now_row.starts_at <= req->now_ms) ? INT64_MAX
                                     : now_row.hold_expires_at > req->now_ms ? now_row.hold_expires_at
                                                                             : 0;
            conn_put(SQ(st), c);
        }
    }
    return rc;
}

/* The seats of a reservation, ascending by id; *schedule_id (may be NULL) their date. */
static int res_seats_read(struct sq_conn *c, int64_t res_id, struct tk_hold_seat *seats, int *n, int64_t *amount,
                          int64_t *schedule_id)
{
    sqlite3_stmt *q = stmt(c, ST_RS_LIST);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, res_id);
    int r;
    *n = 0;
    *amount = 0;
    while ((r = step_row(c, q)) == 1) {
        if (*n < HOLD_SEATS_MAX) {
            struct tk_hold_seat *h = &seats[(*n)++];
            h->seat_id = sqlite3_column_int64(q, 0);
            h->seat_number = sqlite3_column_int(q, 1);
            h->price_won = sqlite3_column_int64(q, 2);
            copy_text(h->category, sizeof h->category, q, 3);
            if (schedule_id)
                *schedule_id = sqlite3_column_int64(q, 4);
        }
        *amount += sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

/* A reservation as a move from HELD (a payment, a cancel) reads it: ST_RES_GET. */
struct res_row {
    int64_t seat_id, schedule_id, starts_at;
    int seat_number;
    bool held; /* HELD and not expired at the time given */
    char concert_name[STORE_NAME_MAX];
};

/* Reads reservation res_id for a move from HELD by user_id at now_ms: TK_ERR_NOT_FOUND, TK_ERR_FORBIDDEN
 * (another user's), TK_ERR_ALREADY_PAID, else TK_OK (out->held: may it still move). */
static int res_read(struct sq_conn *c, int64_t res_id, int64_t user_id, int64_t now_ms, struct res_row *out)
{
    sqlite3_stmt *q = stmt(c, ST_RES_GET);
    TK_TRY(row_by_id(c, q, res_id));
    out->seat_id = sqlite3_column_int64(q, 1);
    int64_t owner = sqlite3_column_int64(q, 2);
    char status[16];
    copy_text(status, sizeof status, q, 3);
    out->held = strcmp(status, "HELD") == 0 && sqlite3_column_int64(q, 4) > now_ms;
    out->seat_number = sqlite3_column_int(q, 5);
    out->schedule_id = sqlite3_column_int64(q, 7);
    copy_text(out->concert_name, sizeof out->concert_name, q, 8);
    out->starts_at = sqlite3_column_int64(q, 9);
    sqlite3_reset(q);
    if (owner != user_id)
        return TK_ERR_FORBIDDEN;
    return strcmp(status, "PAID") == 0 ? TK_ERR_ALREADY_PAID : TK_OK;
}

/* ---------- payment ---------- */

/* Steps a payment's write that a constraint guards: TK_ERR_ALREADY_PAID when the constraint refuses it. */
static int exec_paid_once(struct sq_conn *c, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return TK_ERR_ALREADY_PAID;
    return rc == SQLITE_DONE ? TK_OK : sq_fail(c, rc, what);
}

struct pay_args {
    const struct tk_pay_req *req;
    struct tk_payment *out;
};

static int pay_body(struct sq_conn *c, void *argp)
{
    struct pay_args *a = argp;
    const struct tk_pay_req *r = a->req;
    int64_t res_id = r->reservation_id;
    sqlite3_stmt *q;
    if (!res_id) {
        q = stmt(c, ST_RES_BY_SEAT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, r->seat_id);
        sqlite3_bind_int64(q, 2, r->user_id);
        TK_TRY(query_int64(c, q, &res_id));
    }
    struct res_row res;
    TK_TRY(res_read(c, res_id, r->user_id, r->now_ms, &res));
    if (!res.held)
        return TK_ERR_HOLD_EXPIRED;
    struct tk_payment *p = a->out;
    p->reservation_id = res_id;
    p->seat_id = res.seat_id;
    p->seat_number = res.seat_number;
    snprintf(p->concert_name, sizeof p->concert_name, "%s", res.concert_name);
    p->starts_at_ms = res.starts_at;
    /* the whole reservation: every seat, one debit of their sum */
    TK_TRY(res_seats_read(c, res_id, p->seats, &p->nseats, &p->amount_won, &p->schedule_id));
    if (p->nseats == 0)
        return TK_ERR_INTERNAL;
    int64_t cancelled = 0;
    TK_TRY(int64_by_id(c, stmt(c, ST_SCHED_CANCELLED), res.schedule_id, &cancelled));
    if (cancelled)
        return TK_ERR_HOLD_EXPIRED; /* the date was cancelled: nothing on it can be bought */
    p->state = PAYMENT_PAID;
    p->user_id = r->user_id;
    p->created_at_ms = r->now_ms;

    int rc = balance_move(c, true, r->user_id, p->amount_won, &p->balance_won);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_ERR_INSUFFICIENT_BALANCE;
    TK_TRY(rc);

    q = stmt(c, ST_PAYMENT_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, res_id);
    sqlite3_bind_int64(q, 2, p->seat_id);
    sqlite3_bind_int64(q, 3, r->user_id);
    sqlite3_bind_int64(q, 4, p->amount_won);
    sqlite3_bind_int64(q, 5, r->now_ms);
    TK_TRY(exec_paid_once(c, q, "payment insert")); /* UNIQUE(reservation_id) */
    p->payment_id = sqlite3_last_insert_rowid(c->db);

    char ref[48];
    snprintf(ref, sizeof ref, "payment:%lld", (long long)p->payment_id);
    TK_TRY(ledger_append(c, r->user_id, "PAYMENT", -p->amount_won, p->balance_won, ref, r->now_ms));

    for (int i = 0; i < p->nseats; i++) {
        q = stmt(c, ST_SEAT_SELL);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, p->seats[i].seat_id);
        sqlite3_bind_int64(q, 2, r->user_id);
        sqlite3_bind_int64(q, 3, res_id);
        sqlite3_bind_int64(q, 4, r->now_ms);
        TK_TRY(exec_stmt(c, q));
        if (sqlite3_changes(c->db) != 1)
            return TK_ERR_HOLD_EXPIRED; /* the seat's current hold is not this reservation */
    }
    q = stmt(c, ST_RS_SELL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, res_id);
    TK_TRY(exec_paid_once(c, q, "reservation seats sold")); /* reservation_seats_sold: never sell a seat twice */

    q = stmt(c, ST_RES_SET_PAID);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, res_id);
    TK_TRY(exec_stmt(c, q));
    if (sqlite3_changes(c->db) != 1)
        return TK_ERR_ALREADY_PAID;
    return idem_apply(c, r->idem, "payment", p->payment_id);
}

static int sq_payment_create(struct tk_store *st, const struct tk_pay_req *req, struct tk_payment *out)
{
    struct pay_args a = {.req = req, .out = out};
    return sq_run(SQ(st), NULL, pay_body, &a);
}

/* ---------- orders: cancel a hold, refunds, a cancelled date (issue 11) ---------- */

struct cancel_args {
    int64_t user_id, res_id, now_ms;
    unsigned from_mask;
};

static int cancel_body(struct sq_conn *c, void *argp)
{
    struct cancel_args *a = argp;
    struct res_row res;
    TK_TRY(res_read(c, a->res_id, a->user_id, a->now_ms, &res));
    if (!(a->from_mask & (1u << (res.held ? HOLD_HELD : HOLD_EXPIRED))))
        return TK_ERR_HOLD_EXPIRED;
    sqlite3_stmt *q = stmt(c, ST_RES_CANCEL); /* conditional on the from-state HELD (and unexpired) */
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->res_id);
    sqlite3_bind_int64(q, 2, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    if (sqlite3_changes(c->db) != 1)
        return TK_ERR_HOLD_EXPIRED;
    q = stmt(c, ST_SEAT_FREE_RES);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->res_id);
    return exec_stmt(c, q);
}

static int sq_hold_cancel(struct tk_store *st, int64_t user_id, int64_t reservation_id, int64_t now_ms,
                          unsigned from_mask)
{
    struct cancel_args a = {.user_id = user_id, .res_id = reservation_id, .now_ms = now_ms, .from_mask = from_mask};
    return sq_run(SQ(st), NULL, cancel_body, &a);
}

/* Reads a payment with its seats (balance_won: the payer's balance after the payment, or after its refund). */
static int pay_read(struct sq_conn *c, int64_t payment_id, struct tk_payment *p)
{
    sqlite3_stmt *q = stmt(c, ST_PAY_GET);
    TK_TRY(row_by_id(c, q, payment_id));
    memset(p, 0, sizeof *p);
    p->payment_id = sqlite3_column_int64(q, 0);
    p->reservation_id = sqlite3_column_int64(q, 1);
    p->seat_id = sqlite3_column_int64(q, 2);
    p->user_id = sqlite3_column_int64(q, 3);
    p->amount_won = sqlite3_column_int64(q, 4);
    char status[16];
    copy_text(status, sizeof status, q, 5);
    p->state = strcmp(status, "REFUNDED") == 0 ? PAYMENT_REFUNDED : PAYMENT_PAID;
    p->created_at_ms = sqlite3_column_int64(q, 6);
    p->starts_at_ms = sqlite3_column_int64(q, 7);
    copy_text(p->concert_name, sizeof p->concert_name, q, 8);
    p->balance_won = sqlite3_column_int64(q, 9);
    sqlite3_reset(q);
    int64_t sum;
    TK_TRY(res_seats_read(c, p->reservation_id, p->seats, &p->nseats, &sum, &p->schedule_id));
    for (int i = 0; i < p->nseats; i++)
        if (p->seats[i].seat_id == p->seat_id)
            p->seat_number = p->seats[i].seat_number;
    if (p->state == PAYMENT_REFUNDED) {
        int rc = int64_by_id(c, stmt(c, ST_REFUND_BALANCE), p->payment_id, &p->balance_won);
        if (rc != TK_OK && rc != TK_ERR_NOT_FOUND)
            return rc;
    }
    return TK_OK;
}

/* The refund itself, inside the caller's transaction: the payment's move PAID -> REFUNDED as a conditional
 * UPDATE on the from-state, the credit, one REFUND entry, the seats free again. */
static int refund_apply(struct sq_conn *c, struct tk_payment *p, int64_t now_ms, unsigned from_mask)
{
    if (!(from_mask & (1u << p->state)) || !(from_mask & (1u << PAYMENT_PAID)))
        return TK_ERR_ALREADY_REFUNDED; /* the only state a refund moves from is PAID: that is the UPDATE's */
    sqlite3_stmt *q = stmt(c, ST_PAY_REFUND);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, p->payment_id);
    sqlite3_bind_int64(q, 2, now_ms);
    sqlite3_bind_text(q, 3, "PAID", -1, SQLITE_STATIC);
    TK_TRY(exec_stmt(c, q));
    if (sqlite3_changes(c->db) != 1)
        return TK_ERR_ALREADY_REFUNDED;
    int rc = balance_move(c, false, p->user_id, p->amount_won, &p->balance_won);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_ERR_OVERFLOW;
    TK_TRY(rc);
    char ref[48];
    snprintf(ref, sizeof ref, "refund:%lld", (long long)p->payment_id);
    TK_TRY(ledger_append(c, p->user_id, "REFUND", p->amount_won, p->balance_won, ref, now_ms));
    q = stmt(c, ST_SEAT_UNSELL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, p->reservation_id);
    sqlite3_bind_int64(q, 2, p->user_id);
    TK_TRY(exec_stmt(c, q));
    q = stmt(c, ST_RS_UNSELL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, p->reservation_id);
    TK_TRY(exec_stmt(c, q));
    p->state = PAYMENT_REFUNDED;
    return TK_OK;
}

struct refund_args {
    const struct tk_refund_req *req;
    struct tk_payment *out;
};

static int refund_body(struct sq_conn *c, void *argp)
{
    struct refund_args *a = argp;
    const struct tk_refund_req *r = a->req;
    TK_TRY(pay_read(c, r->payment_id, a->out));
    if (r->user_id && a->out->user_id != r->user_id)
        return TK_ERR_FORBIDDEN;
    if (a->out->state == PAYMENT_REFUNDED)
        return TK_ERR_ALREADY_REFUNDED;
    if (r->user_id && r->now_ms > a->out->starts_at_ms - r->cutoff_ms)
        return TK_ERR_REFUND_CLOSED;
    TK_TRY(refund_apply(c, a->out, r->now_ms, r->from_mask));
    return idem_apply(c, r->idem, "refund", r->payment_id);
}

static int sq_payment_refund(struct tk_store *st, const struct tk_refund_req *req, struct tk_payment *out)
{
    struct refund_args a = {.req = req, .out = out};
    return sq_run(SQ(st), NULL, refund_body, &a);
}

struct payments_list_args {
    const struct tk_payment_filter *f;
    int limit;
    tk_payment_fn fn;
    void *arg;
};

static int payments_list_fn(struct sq_conn *c, void *argp)
{
    struct payments_list_args *a = argp;
    enum { PAGE = 100 };
    int64_t ids[PAGE];
    int n = 0, r;
    sqlite3_stmt *q = stmt(c, ST_PAYMENTS_LIST);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->f->user_id);
    sqlite3_bind_int(q, 2, a->limit < PAGE ? a->limit : PAGE);
    sqlite3_bind_int64(q, 3, a->f->schedule_id);
    while (n < PAGE && (r = step_row(c, q)) == 1)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (r < 0)
        return r;
    for (int i = 0; i < n; i++) {
        struct tk_payment p;
        TK_TRY(pay_read(c, ids[i], &p));
        TK_TRY(a->fn(a->arg, &p));
    }
    return TK_OK;
}

static int sq_payments_list(struct tk_store *st, const struct tk_payment_filter *f, int limit, tk_payment_fn fn,
                            void *arg)
{
    struct payments_list_args a = {.f = f, .limit = limit, .fn = fn, .arg = arg};
    return sq_read(SQ(st), payments_list_fn, &a);
}

struct sched_cancel_args {
    int64_t schedule_id, now_ms;
    int limit, refunded;
    unsigned from_mask;
};

static int sched_cancel_body(struct sq_conn *c, void *argp)
{
    struct sched_cancel_args *a = argp;
    TK_TRY(exists(c, stmt(c, ST_SCHEDULE_EXISTS), a->schedule_id));
    sqlite3_stmt *q = stmt(c, ST_SCHED_CANCEL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->schedule_id);
    return exec_stmt(c, q);
}

static int sq_schedule_cancel(struct tk_store *st, int64_t schedule_id, int64_t now_ms)
{
    struct sched_cancel_args a = {.schedule_id = schedule_id, .now_ms = now_ms};
    return sq_run(SQ(st), NULL, sched_cancel_body, &a);
}

static int sched_refund_body(struct sq_conn *c, void *argp)
{
    struct sched_cancel_args *a = argp;
    enum { BATCH = 1000 };
    int64_t ids[BATCH];
    int n = 0, r;
    sqlite3_stmt *q = stmt(c, ST_SCHED_PAID);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->schedule_id);
    sqlite3_bind_int(q, 2, a->limit < BATCH ? a->limit : BATCH);
    while (n < BATCH && (r = step_row(c, q)) == 1)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (r < 0)
        return r;
    a->refunded = 0;
    for (int i = 0; i < n; i++) {
        struct tk_payment p;
        TK_TRY(pay_read(c, ids[i], &p));
        int rc = refund_apply(c, &p, a->now_ms, a->from_mask);
        if (rc == TK_ERR_ALREADY_REFUNDED)
            continue;
        TK_TRY(rc);
        a->refunded++;
    }
    return TK_OK;
}

static int sq_schedule_refund_batch(struct tk_store *st, int64_t schedule_id, int limit, int64_t now_ms,
                                    unsigned from_mask, int *refunded)
{
    struct sched_cancel_args a = {.schedule_id = schedule_id, .now_ms = now_ms, .limit = limit,
                                  .from_mask = from_mask};
    *refunded = 0;
    TK_TRY(sq_run(SQ(st), NULL, sched_refund_body, &a));
    *refunded = a.refunded;
    return TK_OK;
}

/* ---------- sweep ---------- */

struct expire_args {
    int64_t now_ms;
    int limit;
    int expired;
};

static int expire_body(struct sq_conn *c, void *argp)
{
    struct expire_args *a = argp;
    enum { BATCH = 256 };
    int64_t ids[BATCH][2];
    int n = 0;
    sqlite3_stmt *q = stmt(c, ST_HOLDS_DUE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int(q, 2, a->limit < BATCH ? a->limit : BATCH);
    int r = 0;
    while (n < BATCH && (r = step_row(c, q)) == 1) {
        ids[n][0] = sqlite3_column_int64(q, 0);
        ids[n][1] = sqlite3_column_int64(q, 1);
        n++;
    }
    sqlite3_reset(q);
    if (r < 0) /* a failed read of the due holds: expire nothing this time (the transaction rolls back) */
        return r;
    for (int i = 0; i < n; i++) {
        q = stmt(c, ST_RES_SET_EXPIRED);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, ids[i][0]);
        TK_TRY(exec_stmt(c, q));
        q = stmt(c, ST_SEAT_RELEASE);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, ids[i][1]);
        sqlite3_bind_int64(q, 2, ids[i][0]);
        sqlite3_bind_int64(q, 3, a->now_ms);
        TK_TRY(exec_stmt(c, q));
    }
    a->expired = n;
    return TK_OK;
}

static int sq_holds_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    struct expire_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(sq_run(SQ(st), NULL, expire_body, &a));
    *expired = a.expired;
    return TK_OK;
}

/* ---------- transfers and the ledger ---------- */

struct transfer_args {
    const struct tk_idem_ref *idem;
    enum tk_write_mode mode;
    int64_t from, to, amount_won, now_ms;
    struct tk_user read_from, read_to; /* pre-read (optimistic, unsafe) */
    int64_t ver_from, ver_to;
    struct tk_transfer *out;
};

static int transfer_pre(struct sq_conn *c, void *argp)
{
    struct transfer_args *a = argp;
    if (a->mode != TK_WRITE_OPTIMISTIC && a->mode != TK_WRITE_UNSAFE)
        return TK_OK;
    TK_TRY(user_read(c, a->from, &a->read_from, &a->ver_from));
    return user_read(c, a->to, &a->read_to, &a->ver_to);
}

/* Debit `from` and credit `to` under the mode, touching the rows in id order (no lock-order deadlock). */
static int transfer_rows(struct sq_conn *c, struct transfer_args *a, int64_t *from_after, int64_t *to_after)
{
    if (a->mode == TK_WRITE_ATOMIC) {
        for (int pass = 0; pass < 2; pass++) {
            bool debit = (pass == 0) == (a->from < a->to);
            int rc = balance_move(c, debit, debit ? a->from : a->to, a->amount_won, debit ? from_after : to_after);
            if (rc == TK_ERR_NOT_FOUND) {
                struct tk_user u;
                TK_TRY(user_read(c, debit ? a->from : a->to, &u, NULL)); /* NOT_FOUND if the row is missing */
                return debit ? TK_ERR_INSUFFICIENT_BALANCE : TK_ERR_OVERFLOW;
            }
            TK_TRY(rc);
        }
        return TK_OK;
    }
    struct tk_user f = a->read_from, t = a->read_to;
    if (a->mode == TK_WRITE_PESSIMISTIC) { /* read both inside the transaction, in id order */
        TK_TRY(user_read(c, a->from < a->to ? a->from : a->to, a->from < a->to ? &f : &t, NULL));
        TK_TRY(user_read(c, a->from < a->to ? a->to : a->from, a->from < a->to ? &t : &f, NULL));
    }
    TK_TRY(money_debit(f.balance_won, a->amount_won, from_after));
    TK_TRY(money_credit(t.balance_won, a->amount_won, to_after));
    const int64_t *vf = a->mode == TK_WRITE_OPTIMISTIC ? &a->ver_from : NULL;
    const int64_t *vt = a->mode == TK_WRITE_OPTIMISTIC ? &a->ver_to : NULL;
    if (a->from < a->to) {
        TK_TRY(balance_write(c, a->from, *from_after, vf));
        return balance_write(c, a->to, *to_after, vt);
    }
    TK_TRY(balance_write(c, a->to, *to_after, vt));
    return balance_write(c, a->from, *from_after, vf);
}

static int transfer_body(struct sq_conn *c, void *argp)
{
    struct transfer_args *a = argp;
    int64_t from_after = 0, to_after = 0;
    TK_TRY(transfer_rows(c, a, &from_after, &to_after));
    sqlite3_stmt *q = stmt(c, ST_TRANSFER_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->from);
    sqlite3_bind_int64(q, 2, a->to);
    sqlite3_bind_int64(q, 3, a->amount_won);
    sqlite3_bind_int64(q, 4, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    int64_t id = sqlite3_last_insert_rowid(c->db);
    char ref[48];
    snprintf(ref, sizeof ref, "transfer:%lld", (long long)id);
    TK_TRY(ledger_append(c, a->from, "TRANSFER_OUT", -a->amount_won, from_after, ref, a->now_ms));
    TK_TRY(ledger_append(c, a->to, "TRANSFER_IN", a->amount_won, to_after, ref, a->now_ms));
    TK_TRY(idem_apply(c, a->idem, "transfer", id));
    *a->out = (struct tk_transfer){.transfer_id = id, .from_user_id = a->from, .to_user_id = a->to,
                                   .amount_won = a->amount_won, .from_balance_won = from_after};
    return TK_OK;
}

static int sq_transfer(struct tk_store *st, enum tk_write_mode mode, int64_t from_user, int64_t to_user,
                       int64_t amount_won, int64_t now_ms, const struct tk_idem_ref *idem, struct tk_transfer *out)
{
    TK_ASSERT(from_user != to_user);
    struct transfer_args a = {.idem = idem, .mode = mode, .from = from_user, .to = to_user, .amount_won = amount_won,
                              .now_ms = now_ms, .out = out};
    return sq_run(SQ(st), transfer_pre, transfer_body, &a);
}

static int ledger_fn(struct sq_conn *c, void *argp)
{
    struct list_args *a = argp;
    struct tk_user u;
    TK_TRY(user_read(c, a->id, &u, NULL));
    sqlite3_stmt *q = stmt(c, ST_LEDGER_LIST);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int64(q, 2, a->now_ms); /* the limit travels in now_ms */
    int r;
    while ((r = step_row(c, q)) == 1) {
        struct tk_ledger_entry e = {
            .id = sqlite3_column_int64(q, 0),
            .amount_won = sqlite3_column_int64(q, 2),
            .balance_after_won = sqlite3_column_int64(q, 3),
            .created_at_ms = sqlite3_column_int64(q, 5),
        };
        copy_text(e.kind, sizeof e.kind, q, 1);
        copy_text(e.ref, sizeof e.ref, q, 4);
        int rc = ((tk_ledger_fn)a->fn)(a->arg, &e);
        if (rc < 0) {
            sqlite3_reset(q);
            return rc;
        }
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int sq_ledger_list(struct tk_store *st, int64_t user_id, int limit, tk_ledger_fn fn, void *arg)
{
    struct list_args a = {.id = user_id, .now_ms = limit, .fn = (void *)fn, .arg = arg};
    return sq_read(SQ(st), ledger_fn, &a);
}

/* ---------- idempotency records ---------- */

struct idem_args {
    int64_t user_id;
    int64_t claim, new_claim;
    const char *key;
    const char *request_hash;
    int64_t now_ms, expires_at_ms;
    struct tk_idem *existing;
    int status;
    const char *body;
    size_t body_len;
    const char *effect_ref;
    int limit, deleted;
};

static int idem_bind_key(sqlite3_stmt *q, const struct idem_args *a)
{
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->user_id);
    sqlite3_bind_text(q, 2, a->key, -1, SQLITE_STATIC);
    return TK_OK;
}

/* Copies the live record q is on (ST_IDEM_GET) into *e, body too when DONE: TK_ERR_CONFLICT (or NOMEM). */
static int idem_existing(sqlite3_stmt *q, struct tk_idem *e)
{
    char state[16];
    copy_text(state, sizeof state, q, 0);
    e->state = strcmp(state, "DONE") == 0 ? IDEM_DONE : IDEM_PENDING;
    copy_text(e->request_hash, sizeof e->request_hash, q, 1);
    e->status = sqlite3_column_int(q, 2);
    e->claim = sqlite3_column_int64(q, 5);
    e->claimed_at_ms = sqlite3_column_int64(q, 6);
    copy_text(e->effect_ref, sizeof e->effect_ref, q, 7);
    e->body = NULL;
    e->body_len = 0;
    if (e->state == IDEM_DONE) {
        const void *b = sqlite3_column_blob(q, 3);
        int n = sqlite3_column_bytes(q, 3);
        e->body = malloc((size_t)n + 1);
        if (!e->body)
            return TK_ERR_NOMEM;
        if (n)
            memcpy(e->body, b, (size_t)n);
        e->body[n] = 0;
        e->body_len = (size_t)n;
    }
    return TK_ERR_CONFLICT;
}

static int idem_claim_body(struct sq_conn *c, void *argp)
{
    struct idem_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_IDEM_GET);
    TK_TRY(idem_bind_key(q, a));
    int rc = run_row(c, q);
    if (rc != TK_OK && rc != TK_ERR_NOT_FOUND)
        return rc;
    if (rc == TK_OK) {
        if (sqlite3_column_int64(q, 4) > a->now_ms) { /* not expired: the request that has the key */
            rc = idem_existing(q, a->existing);
            sqlite3_reset(q);
            return rc;
        }
        sqlite3_reset(q);
        q = stmt(c, ST_IDEM_DELETE); /* expired: the key is free again */
        TK_TRY(idem_bind_key(q, a));
        TK_TRY(exec_stmt(c, q));
    }
    q = stmt(c, ST_IDEM_INSERT);
    TK_TRY(idem_bind_key(q, a));
    sqlite3_bind_text(q, 3, a->request_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, a->now_ms);
    sqlite3_bind_int64(q, 5, a->expires_at_ms);
    sqlite3_bind_int64(q, 6, a->claim);
    return exec_stmt(c, q);
}

static int sq_idem_claim(struct tk_store *st, int64_t user_id, const char *key, const char *request_hash,
                         int64_t now_ms, int64_t expires_at_ms, int64_t claim, struct tk_idem *existing)
{
    struct idem_args a = {.user_id = user_id, .key = key, .request_hash = request_hash, .now_ms = now_ms,
                          .expires_at_ms = expires_at_ms, .claim = claim, .existing = existing};
    return sq_run(SQ(st), NULL, idem_claim_body, &a);
}

static int idem_complete_body(struct sq_conn *c, void *argp)
{
    struct idem_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_IDEM_COMPLETE);
    TK_TRY(idem_bind_key(q, a));
    sqlite3_bind_int(q, 3, a->status);
    sqlite3_bind_text(q, 4, a->body, (int)a->body_len, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, a->effect_ref ? a->effect_ref : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, a->claim);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : TK_ERR_CLAIM_LOST;
}

static int sq_idem_complete(struct tk_store *st, int64_t user_id, const char *key, int64_t claim, int status,
                            const char *body, size_t body_len, const char *effect_ref)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = claim, .status = status, .body = body,
                          .body_len = body_len, .effect_ref = effect_ref};
    return sq_run(SQ(st), NULL, idem_complete_body, &a);
}

static int idem_release_body(struct sq_conn *c, void *argp)
{
    struct idem_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_IDEM_RELEASE);
    TK_TRY(idem_bind_key(q, a));
    sqlite3_bind_int64(q, 3, a->claim);
    return exec_stmt(c, q);
}

static int sq_idem_release(struct tk_store *st, int64_t user_id, const char *key, int64_t claim)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = claim};
    return sq_run(SQ(st), NULL, idem_release_body, &a);
}

static int idem_takeover_body(struct sq_conn *c, void *argp)
{
    struct idem_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_IDEM_TAKEOVER);
    TK_TRY(idem_bind_key(q, a));
    sqlite3_bind_int64(q, 3, a->claim);
    sqlite3_bind_int64(q, 4, a->new_claim);
    sqlite3_bind_int64(q, 5, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : TK_ERR_CONFLICT;
}

static int sq_idem_takeover(struct tk_store *st, int64_t user_id, const char *key, int64_t old_claim,
                            int64_t new_claim, int64_t now_ms)
{
    struct idem_args a = {.user_id = user_id, .key = key, .claim = old_claim, .new_claim = new_claim, .now_ms = now_ms};
    return sq_run(SQ(st), NULL, idem_takeover_body, &a);
}

struct effect_args {
    int64_t user_id;
    const char *ref;
    struct tk_effect *out;
};

static int effect_fn(struct sq_conn *c, void *argp)
{
    struct effect_args *a = argp;
    const char *colon = strchr(a->ref, ':');
    if (!colon)
        return TK_ERR_NOT_FOUND;
    int64_t id = atoll(colon + 1);
    size_t klen = (size_t)(colon - a->ref);
    struct tk_effect *e = a->out;
    memset(e, 0, sizeof *e);
    e->user_id = a->user_id;
    enum stmt_id sid;
    if (klen == 6 && !strncmp(a->ref, "ledger", 6))
        e->kind = EFFECT_CHARGE, sid = ST_EFFECT_CHARGE;
    else if (klen == 8 && !strncmp(a->ref, "transfer", 8))
        e->kind = EFFECT_TRANSFER, sid = ST_EFFECT_TRANSFER;
    else if (klen == 11 && !strncmp(a->ref, "reservation", 11))
        e->kind = EFFECT_HOLD, sid = ST_EFFECT_HOLD;
    else if (klen == 7 && !strncmp(a->ref, "payment", 7))
        e->kind = EFFECT_PAYMENT, sid = ST_EFFECT_PAYMENT;
    else if (klen == 6 && !strncmp(a->ref, "refund", 6)) { /* orders: the refunded payment */
        e->kind = EFFECT_REFUND;
        TK_TRY(pay_read(c, id, &e->payment));
        return e->payment.user_id == a->user_id && e->payment.state == PAYMENT_REFUNDED ? TK_OK : TK_ERR_NOT_FOUND;
    } else
        return TK_ERR_NOT_FOUND;
    sqlite3_stmt *q = stmt(c, sid);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, a->user_id);
    TK_TRY(run_row(c, q));
#define I64(col) sqlite3_column_int64(q, (col))
    switch (e->kind) {
    case EFFECT_CHARGE:
        e->balance_won = I64(0);
        break;
    case EFFECT_TRANSFER:
        e->transfer = (struct tk_transfer){.transfer_id = I64(0), .from_user_id = I64(1), .to_user_id = I64(2),
                                           .amount_won = I64(3), .from_balance_won = I64(4)};
        break;
    case EFFECT_HOLD:
        e->hold = (struct tk_hold){.reservation_id = I64(0), .seat_id = I64(1), .schedule_id = I64(2),
                                   .user_id = a->user_id, .seat_number = (int)I64(3), .price_won = I64(4),
                                   .expires_at_ms = I64(5), .state = HOLD_HELD};
        break;
    case EFFECT_PAYMENT:
        e->payment = (struct tk_payment){.payment_id = I64(0), .reservation_id = I64(1), .seat_id = I64(2),
                                         .seat_number = (int)I64(3), .starts_at_ms = I64(5), .amount_won = I64(6),
                                         .balance_won = I64(7)};
        copy_text(e->payment.concert_name, sizeof e->payment.concert_name, q, 4);
        break;
    case EFFECT_REFUND:
        break;
    }
#undef I64
    sqlite3_reset(q);
    if (e->kind == EFFECT_HOLD) { /* orders: every seat of the reservation */
        int64_t sched;
        TK_TRY(res_seats_read(c, e->hold.reservation_id, e->hold.seats, &e->hold.nseats, &e->hold.amount_won, &sched));
    } else if (e->kind == EFFECT_PAYMENT) {
        int64_t sum;
        TK_TRY(res_seats_read(c, e->payment.reservation_id, e->payment.seats, &e->payment.nseats, &sum, NULL));
        e->payment.state = PAYMENT_PAID;
        e->payment.user_id = a->user_id;
    }
    return TK_OK;
}

static int sq_effect_get(struct tk_store *st, int64_t user_id, const char *effect_ref, struct tk_effect *out)
{
    struct effect_args a = {.user_id = user_id, .ref = effect_ref, .out = out};
    return sq_read(SQ(st), effect_fn, &a);
}

static int idem_expire_body(struct sq_conn *c, void *argp)
{
    struct idem_args *a = argp;
    sqlite3_stmt *q = stmt(c, ST_IDEM_EXPIRE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int(q, 2, a->limit);
    TK_TRY(exec_stmt(c, q));
    a->deleted = sqlite3_changes(c->db);
    return TK_OK;
}

static int sq_idem_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *deleted)
{
    struct idem_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(sq_run(SQ(st), NULL, idem_expire_body, &a));
    *deleted = a.deleted;
    return TK_OK;
}

/* ---------- the reconciliation audit ---------- */

struct audit_args {
    int64_t now_ms, grace_ms;
    tk_problem_fn fn;
    tk_idem_audit_fn idem_fn;
    void *arg;
};

/* Runs one audit query; each row becomes one problem sentence through fmt_row. */
typedef void (*audit_fmt)(sqlite3_stmt *q, char *out, size_t outlen);

static int audit_query(struct sq_conn *c, const char *sql, int64_t bind1, audit_fmt fmt, struct audit_args *a)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, sql);
    if (sqlite3_bind_parameter_count(q) >= 1)
        sqlite3_bind_int64(q, 1, bind1);
    int out = TK_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && out == TK_OK) {
        char line[256];
        fmt(q, line, sizeof line);
        out = a->fn(a->arg, line);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        out = sq_fail(c, rc, sql);
    sqlite3_finalize(q);
    return out;
}

#define COL(i) ((long long)sqlite3_column_int64(q, (i)))

static void fmt_balance(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "users.id=%lld: balance %lld but its ledger entries sum to %lld", COL(0), COL(1), COL(2));
}
static void fmt_sold(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "seats.id=%lld: sold to user %lld but has %lld payments (expected exactly 1)", COL(0), COL(1),
             COL(2));
}
static void fmt_payment_seat(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "payments.id=%lld: seat %lld is not sold to its payer (user %lld)", COL(0), COL(1), COL(2));
}
static void fmt_payment_ledger(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "payments.id=%lld: no PAYMENT ledger entry of -%lld for user %lld", COL(0), COL(2), COL(1));
}
static void fmt_transfer(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "transfers.id=%lld: has %lld ledger entries (expected TRANSFER_OUT and TRANSFER_IN)", COL(0),
             COL(1));
}
static void fmt_hold(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "reservations.id=%lld: HELD on seat %lld but expired at %lld ms", COL(0), COL(1), COL(2));
}
static void fmt_pending(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "idempotency user %lld key '%.128s': PENDING since %lld ms: its outcome is unknown", COL(0),
             (const char *)sqlite3_column_text(q, 1), COL(2));
}

static void fmt_refund(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "payments.id=%lld: has %lld matching REFUND ledger entries and %lld in all (expected 1 and 1 "
             "when REFUNDED, none when PAID)", COL(0), COL(1), COL(2));
}
static void fmt_refund_seat(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "payments.id=%lld: REFUNDED but seat %lld is still sold through it (user %lld)", COL(0), COL(1),
             COL(2));
}

static int audit_body(struct sq_conn *c, void *argp)
{
    struct audit_args *a = argp;
    int64_t due = a->now_ms - a->grace_ms;
    TK_TRY(audit_query(c,
                       "SELECT u.id, u.balance, COALESCE(l.s, 0) FROM users u LEFT JOIN "
                       "(SELECT user_id, SUM(amount) AS s FROM ledger GROUP BY user_id) l ON l.user_id = u.id "
                       "WHERE u.balance != COALESCE(l.s, 0) ORDER BY u.id",
                       0, fmt_balance, a));
    TK_TRY(audit_query(c,
                       "SELECT s.id, s.sold_to, (SELECT COUNT(*) FROM payments p JOIN reservation_seats rs "
                       "ON rs.reservation_id = p.reservation_id WHERE rs.seat_id = s.id AND p.status = 'PAID') AS n "
                       "FROM seats s WHERE s.sold_to IS NOT NULL AND n != 1 ORDER BY s.id",
                       0, fmt_sold, a));
    TK_TRY(audit_query(c,
                       "SELECT p.id, rs.seat_id, p.user_id FROM payments p JOIN reservation_seats rs "
                       "ON rs.reservation_id = p.reservation_id LEFT JOIN seats s ON s.id = rs.seat_id "
                       "WHERE p.status = 'PAID' AND (s.sold_to IS NULL OR s.sold_to != p.user_id OR rs.sold != 1) "
                       "ORDER BY p.id, rs.seat_id",
                       0, fmt_payment_seat, a));
    TK_TRY(audit_query(c,
                       "SELECT p.id, p.user_id, p.amount FROM payments p WHERE NOT EXISTS (SELECT 1 FROM ledger l "
                       "WHERE l.ref = 'payment:' || p.id AND l.user_id = p.user_id AND l.kind = 'PAYMENT' "
                       "AND l.amount = -p.amount) ORDER BY p.id",
                       0, fmt_payment_ledger, a));
    TK_TRY(audit_query(c,
                       "SELECT t.id, (SELECT COUNT(*) FROM ledger l WHERE l.ref = 'transfer:' || t.id "
                       "AND ((l.kind = 'TRANSFER_OUT' AND l.user_id = t.from_user AND l.amount = -t.amount) "
                       "OR (l.kind = 'TRANSFER_IN' AND l.user_id = t.to_user AND l.amount = t.amount))) AS n "
                       "FROM transfers t WHERE n != 2 ORDER BY t.id",
                       0, fmt_transfer, a));
    /* orders: each refunded payment has exactly one REFUND entry of its amount, and none of its seats is still
     * sold through it */
    TK_TRY(audit_query(c,
                       "SELECT p.id, (SELECT COUNT(*) FROM ledger l WHERE l.ref = 'refund:' || p.id AND l.kind = 'REFUND' "
                       "AND l.user_id = p.user_id AND l.amount = p.amount) AS n, "
                       "(SELECT COUNT(*) FROM ledger l WHERE l.ref = 'refund:' || p.id) AS m FROM payments p "
                       "WHERE (p.status = 'REFUNDED' AND (n != 1 OR m != 1)) OR (p.status = 'PAID' AND m != 0) "
                       "ORDER BY p.id",
                       0, fmt_refund, a));
    TK_TRY(audit_query(c,
                       "SELECT p.id, rs.seat_id, p.user_id FROM payments p JOIN reservation_seats rs "
                       "ON rs.reservation_id = p.reservation_id WHERE p.status = 'REFUNDED' AND rs.sold != 0 "
                       "ORDER BY p.id, rs.seat_id",
                       0, fmt_refund_seat, a));
    TK_TRY(audit_query(c,
                       "SELECT id, seat_id, expires_at FROM reservations WHERE status = 'HELD' AND expires_at <= ?1 "
                       "ORDER BY id",
                       due, fmt_hold, a));
    return audit_query(c,
                       "SELECT user_id, key, created_at FROM idempotency WHERE state = 'PENDING' AND created_at <= ?1 "
                       "ORDER BY created_at",
                       due, fmt_pending, a);
}

static int sq_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    struct audit_args a = {.now_ms = now_ms, .grace_ms = grace_ms, .fn = fn, .arg = arg};
    return sq_read(SQ(st), audit_body, &a);
}

/* Looks up the ledger's view of an idempotency record's effect. */
static int idem_effect(struct sq_conn *c, struct tk_idem_audit *row)
{
    const char *ref = row->effect_ref;
    const char *colon = strchr(ref, ':');
    row->effect_found = false;
    row->has_balance = false;
    if (!*ref) {
        row->effect_found = true;
        return TK_OK;
    }
    if (!colon)
        return TK_OK;
    long long id = atoll(colon + 1);
    size_t kind_len = (size_t)(colon - ref);
    const char *sql;
    bool by_ref = false;
    if (kind_len == 6 && strncmp(ref, "ledger", 6) == 0) {
        sql = "SELECT balance_after FROM ledger WHERE id = ?1 AND user_id = ?2";
    } else if ((kind_len == 7 && strncmp(ref, "payment", 7) == 0) ||
               (kind_len == 8 && strncmp(ref, "transfer", 8) == 0)) {
        sql = "SELECT balance_after FROM ledger WHERE ref = ?3 AND user_id = ?2 AND kind IN ('PAYMENT','TRANSFER_OUT')";
        by_ref = true;
    } else if (kind_len == 6 && strncmp(ref, "refund", 6) == 0) { /* the balance after the credit */
        sql = "SELECT balance_after FROM ledger WHERE ref = ?3 AND user_id = ?2 AND kind = 'REFUND'";
        by_ref = true;
    } else if (kind_len == 11 && strncmp(ref, "reservation", 11) == 0) {
        sql = "SELECT NULL FROM reservations WHERE id = ?1 AND user_id = ?2";
    } else if ((sql = shop_idem_effect_sql(ref, kind_len)) != NULL) {
        /* the shop's effects: bound like the others (?1 the id, ?2 the user) */
    } else {
        return TK_OK;
    }
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, sql);
    if (!by_ref)
        sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, row->user_id);
    if (by_ref)
        sqlite3_bind_text(q, 3, ref, -1, SQLITE_STATIC);
    rc = run_row(c, q);
    if (rc == TK_OK) {
        row->effect_found = true;
        row->has_balance = sqlite3_column_type(q, 0) != SQLITE_NULL;
        row->balance_after_won = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return (rc == TK_OK || rc == TK_ERR_NOT_FOUND) ? TK_OK : TK_ERR_INTERNAL;
}

static int idem_audit_body(struct sq_conn *c, void *argp)
{
    struct audit_args *a = argp;
    sqlite3_stmt *q;
    const char *sql = "SELECT user_id, key, body, effect_ref FROM idempotency WHERE state = 'DONE' "
                      "AND status BETWEEN 200 AND 299 ORDER BY user_id, key";
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(c, rc, sql);
    int out = TK_OK;
    while (out == TK_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tk_idem_audit row = {
            .user_id = sqlite3_column_int64(q, 0),
            .key = (const char *)sqlite3_column_text(q, 1),
            .body = (const char *)sqlite3_column_text(q, 2),
            .effect_ref = (const char *)sqlite3_column_text(q, 3),
        };
        if (!row.body)
            row.body = "";
        if (!row.effect_ref)
            row.effect_ref = "";
        out = idem_effect(c, &row);
        if (out == TK_OK)
            out = a->idem_fn(a->arg, &row);
    }
    if (out == TK_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        out = sq_fail(c, rc, sql);
    sqlite3_finalize(q);
    return out;
}

static int sq_idem_audit(struct tk_store *st, tk_idem_audit_fn fn, void *arg)
{
    struct audit_args a = {.idem_fn = fn, .arg = arg};
    return sq_read(SQ(st), idem_audit_body, &a);
}

/* ---------- the shop (issue 12): products, carts, orders, popular products ----------
 * Its own statements (SHOP_SQL, cached per connection in c->shop) so that this section stays apart from the
 * rest. The decrement rule has one home here, shop_take(); the PostgreSQL store's is tk_shop_take
 * (pg_schema.h). A reservation (an order item RESERVED) whose time is up counts as on hand by time
 * (SHOP_DUE) in every read and every decrement, and the next writer of its option folds it back into
 * `stock` (shop_reclaim): stock is on hand again at once, whatever the sweep. SQLite has one writer at a time,
 * so every order is one serial transaction; the optimistic and unsafe modes read before it, as the lab
 * measures. */

/* Units of lapsed reservations of option `opt` at time `now` (SQL expressions). */
#define SHOP_DUE(opt, now)                                                                                        \
    "COALESCE((SELECT SUM(i.quantity) FROM order_items i WHERE i.option_id = " opt " AND i.state = 'RESERVED' "  \
    "AND i.expires_at <= " now "), 0)"

enum shop_stmt {
    SH_PRODUCT_INSERT, SH_OPTION_INSERT, SH_PRODUCTS, SH_PRODUCT_ONE, SH_OPTION_GET, SH_RECLAIM, SH_TAKE_ATOMIC,
    SH_STOCK_SET, SH_STOCK_CAS, SH_STOCK_FENCED, SH_STOCK_ADD, SH_OPTION_PATCH, SH_ORDER_INSERT, SH_ITEM_INSERT,
    SH_CART_TAKE, SH_ORDER_GET, SH_ORDER_ITEMS, SH_ORDER_SET_PAID, SH_ITEMS_SELL, SH_ITEMS_COUNT, SH_POPULAR_ADD,
    SH_DUE_OPTIONS, SH_ORDERS_EXPIRE, SH_CART_FIND, SH_CART_COUNT, SH_CART_INSERT, SH_CART_SET, SH_CART_LIST,
    SH_CART_DELETE, SH_OPTION_EXISTS, SH_POPULAR, SH_PRODUCT_COUNT, SH_IDEM_LIVE,
    SH__COUNT
};

static const char *const SHOP_SQL[SH__COUNT] = {
    [SH_PRODUCT_INSERT] = "INSERT INTO products(name, created_at) VALUES(?1, ?2)",
    [SH_OPTION_INSERT] = "INSERT INTO product_options(product_id, name, price, stock, stocked) VALUES(?1, ?2, ?3, ?4, ?4)",
    [SH_PRODUCTS] = "SELECT p.id, p.name, o.id, o.name, o.price, o.stock + " SHOP_DUE("o.id", "?1") " "
                    "FROM products p JOIN product_options o ON o.product_id = p.id "
                    "WHERE p.id IN (SELECT id FROM products ORDER BY id LIMIT ?2) ORDER BY p.id, o.id",
    [SH_PRODUCT_ONE] = "SELECT p.id, p.name, o.id, o.name, o.price, o.stock + " SHOP_DUE("o.id", "?1") " "
                       "FROM products p JOIN product_options o ON o.product_id = p.id WHERE p.id = ?2 ORDER BY o.id",
    [SH_OPTION_GET] = "SELECT o.product_id, o.name, p.name, o.price, o.stock, o.version, o.fence, " SHOP_DUE("o.id", "?2")
                      " FROM product_options o JOIN products p ON p.id = o.product_id WHERE o.id = ?1",
    [SH_RECLAIM] = "UPDATE order_items SET state = 'RETURNED' WHERE option_id = ?1 AND state = 'RESERVED' "
                   "AND expires_at <= ?2 RETURNING quantity",
    [SH_TAKE_ATOMIC] = "UPDATE product_options SET stock = stock + ?3 - ?2, version = version + 1 "
                       "WHERE id = ?1 AND stock + ?3 >= ?2",
    [SH_STOCK_SET] = "UPDATE product_options SET stock = ?2, version = version + 1 WHERE id = ?1",
    [SH_STOCK_CAS] = "UPDATE product_options SET stock = ?2, version = version + 1 WHERE id = ?1 AND version = ?3",
    [SH_STOCK_FENCED] = "UPDATE product_options SET stock = ?2, version = version + 1, fence = ?3 "
                        "WHERE id = ?1 AND fence < ?3",
    [SH_STOCK_ADD] = "UPDATE product_options SET stock = stock + ?2, version = version + 1 WHERE id = ?1",
    [SH_OPTION_PATCH] = "UPDATE product_options SET stocked = stocked + ?2 - ?3, stock = ?2, price = ?4, "
                        "version = version + 1, fence = MAX(fence, ?5) WHERE id = ?1",
    [SH_ORDER_INSERT] = "INSERT INTO orders(user_id, status, total, created_at, expires_at) "
                        "VALUES(?1, 'PENDING', ?2, ?3, ?4)",
    [SH_ITEM_INSERT] = "INSERT INTO order_items(order_id, option_id, product_id, quantity, price, state, expires_at) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, 'RESERVED', ?6)",
    [SH_CART_TAKE] = "DELETE FROM cart_items WHERE id = ?1 AND user_id = ?2 AND quantity = ?3",
    [SH_ORDER_GET] = "SELECT id, user_id, status, total, created_at, expires_at, COALESCE(paid_at, 0), "
                     "COALESCE((SELECT l.balance_after FROM ledger l WHERE l.ref = 'order:' || orders.id "
                     "  AND l.kind = 'ORDER_PAYMENT'), 0) FROM orders WHERE id = ?1",
    [SH_ORDER_ITEMS] = "SELECT i.option_id, i.product_id, p.name, o.name, i.quantity, i.price FROM order_items i "
                       "JOIN product_options o ON o.id = i.option_id JOIN products p ON p.id = i.product_id "
                       "WHERE i.order_id = ?1 ORDER BY i.option_id",
    [SH_ORDER_SET_PAID] = "UPDATE orders SET status = 'PAID', paid_at = ?2 WHERE id = ?1 AND status = 'PENDING' "
                          "AND expires_at > ?2",
    [SH_ITEMS_SELL] = "UPDATE order_items SET state = 'SOLD' WHERE order_id = ?1 AND state = 'RESERVED'",
    [SH_ITEMS_COUNT] = "SELECT COUNT(*) FROM order_items WHERE order_id = ?1",
    [SH_POPULAR_ADD] = "INSERT INTO daily_popular_products(day, product_id, units) SELECT ?2, product_id, SUM(quantity) "
                       "FROM order_items WHERE order_id = ?1 GROUP BY product_id ORDER BY product_id "
                       "ON CONFLICT(day, product_id) DO UPDATE SET units = units + excluded.units",
    [SH_DUE_OPTIONS] = "SELECT DISTINCT i.option_id FROM order_items i WHERE i.state = 'RESERVED' AND i.order_id IN "
                       "(SELECT id FROM orders WHERE status = 'PENDING' AND expires_at <= ?1 ORDER BY expires_at "
                       "LIMIT ?2) ORDER BY i.option_id",
    [SH_ORDERS_EXPIRE] = "UPDATE orders SET status = 'EXPIRED' WHERE id IN (SELECT o.id FROM orders o "
                         "WHERE o.status = 'PENDING' AND o.expires_at <= ?1 AND NOT EXISTS (SELECT 1 FROM order_items i "
                         "WHERE i.order_id = o.id AND i.state = 'RESERVED') ORDER BY o.expires_at LIMIT ?2)",
    [SH_CART_FIND] = "SELECT id, quantity FROM cart_items WHERE user_id = ?1 AND option_id = ?2",
    [SH_CART_COUNT] = "SELECT COUNT(*) FROM cart_items WHERE user_id = ?1",
    [SH_CART_INSERT] = "INSERT INTO cart_items(user_id, option_id, quantity, created_at) VALUES(?1, ?2, ?3, ?4)",
    [SH_CART_SET] = "UPDATE cart_items SET quantity = ?2 WHERE id = ?1",
    [SH_CART_LIST] = "SELECT c.id, c.option_id, o.product_id, p.name, o.name, o.price, c.quantity FROM cart_items c "
                     "JOIN product_options o ON o.id = c.option_id JOIN products p ON p.id = o.product_id "
                     "WHERE c.user_id = ?1 ORDER BY c.id",
    [SH_CART_DELETE] = "DELETE FROM cart_items WHERE id = ?1 AND user_id = ?2",
    [SH_OPTION_EXISTS] = "SELECT product_id FROM product_options WHERE id = ?1",
    [SH_POPULAR] = "SELECT t.product_id, p.name, t.u FROM (SELECT product_id, SUM(units) AS u "
                   "FROM daily_popular_products WHERE day BETWEEN ?1 AND ?2 GROUP BY product_id "
                   "ORDER BY u DESC, product_id LIMIT ?3) t JOIN products p ON p.id = t.product_id "
                   "ORDER BY t.u DESC, t.product_id",
    [SH_PRODUCT_COUNT] = "SELECT COUNT(*) FROM products",
    [SH_IDEM_LIVE] = "SELECT 1 FROM idempotency WHERE user_id = ?1 AND key = ?2 AND claim = ?3 AND state = 'PENDING' "
                     "AND COALESCE(effect_ref, '') = ''",
};

/* The connection's shop statement `id`, reset and unbound, or NULL (error logged). */
static sqlite3_stmt *sh(struct sq_conn *c, enum shop_stmt id)
{
    if (!c->shop && !(c->shop = calloc(SH__COUNT, sizeof *c->shop)))
        return NULL;
    if (!c->shop[id]) {
        int rc = sqlite3_prepare_v3(c->db, SHOP_SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->shop[id], NULL);
        if (rc != SQLITE_OK) {
            sq_fail(c, rc, SHOP_SQL[id]);
            return NULL;
        }
    } else {
        sqlite3_reset(c->shop[id]);
        sqlite3_clear_bindings(c->shop[id]);
    }
    return c->shop[id];
}

static void shop_stmts_free(struct sq_conn *c)
{
    if (!c->shop)
        return;
    for (int i = 0; i < SH__COUNT; i++)
        sqlite3_finalize(c->shop[i]);
    free(c->shop);
    c->shop = NULL;
}

/* Demo merchandise (seed_demo), once: when there are no products yet. */
static int shop_seed(struct sq_conn *c, int64_t now_ms, bool *seeded)
{
    int64_t n = 0;
    TK_TRY(query_int64(c, sh(c, SH_PRODUCT_COUNT), &n));
    if (n > 0)
        return TK_OK;
    for (int i = 0; i < STORE_DEMO_PRODUCT_COUNT; i++) {
        const struct store_demo_product *d = &STORE_DEMO_PRODUCTS[i];
        sqlite3_stmt *q = sh(c, SH_PRODUCT_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_text(q, 1, d->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, now_ms);
        TK_TRY(exec_stmt(c, q));
        int64_t pid = sqlite3_last_insert_rowid(c->db);
        for (int k = 0; k < d->noptions; k++) {
            q = sh(c, SH_OPTION_INSERT);
            if (!q)
                return TK_ERR_INTERNAL;
            sqlite3_bind_int64(q, 1, pid);
            sqlite3_bind_text(q, 2, d->options[k].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, d->options[k].price_won);
            sqlite3_bind_int64(q, 4, d->options[k].stock);
            TK_TRY(exec_stmt(c, q));
        }
    }
    *seeded = true;
    return TK_OK;
}

/* ---- products ---- */

/* Visits products from a SH_PRODUCTS / SH_PRODUCT_ONE statement (rows by product, then option). */
static int products_visit(struct sq_conn *c, sqlite3_stmt *q, tk_product_fn fn, void *arg, int *count)
{
    struct tk_product *p = malloc(sizeof *p);
    if (!p) {
        sqlite3_reset(q);
        return TK_ERR_NOMEM;
    }
    int rc = TK_OK, r;
    p->id = 0;
    *count = 0;
    while (rc == TK_OK && (r = step_row(c, q)) == 1) {
        int64_t pid = sqlite3_column_int64(q, 0);
        if (pid != p->id) {
            if (p->id)
                rc = fn(arg, p);
            p->id = pid;
            p->noptions = 0;
            copy_text(p->name, sizeof p->name, q, 1);
            ++*count;
        }
        if (rc == TK_OK && p->noptions < PRODUCT_OPTIONS_MAX) {
            struct tk_option *o = &p->options[p->noptions++];
            o->id = sqlite3_column_int64(q, 2);
            o->product_id = pid;
            copy_text(o->name, sizeof o->name, q, 3);
            o->price_won = sqlite3_column_int64(q, 4);
            o->stock = sqlite3_column_int64(q, 5);
        }
    }
    if (rc == TK_OK && r < 0)
        rc = r;
    if (rc == TK_OK && p->id)
        rc = fn(arg, p);
    sqlite3_reset(q);
    free(p);
    return rc;
}

struct products_args {
    int64_t id, now_ms;
    int limit;
    tk_product_fn fn;
    void *arg;
    struct tk_product *out;
    int count;
};

static int products_fn(struct sq_conn *c, void *argp)
{
    struct products_args *a = argp;
    sqlite3_stmt *q = sh(c, SH_PRODUCTS);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int(q, 2, a->limit);
    return products_visit(c, q, a->fn, a->arg, &a->count);
}

static int sq_products_list(struct tk_store *st, int64_t now_ms, int limit, tk_product_fn fn, void *arg)
{
    struct products_args a = {.now_ms = now_ms, .limit = limit, .fn = fn, .arg = arg};
    return sq_read(SQ(st), products_fn, &a);
}

static int product_copy(void *arg, const struct tk_product *p)
{
    memcpy(arg, p, sizeof *p);
    return TK_OK;
}

static int product_one_fn(struct sq_conn *c, void *argp)
{
    struct products_args *a = argp;
    sqlite3_stmt *q = sh(c, SH_PRODUCT_ONE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int64(q, 2, a->id);
    TK_TRY(products_visit(c, q, product_copy, a->out, &a->count));
    return a->count ? TK_OK : TK_ERR_NOT_FOUND;
}

static int sq_product_get(struct tk_store *st, int64_t product_id, int64_t now_ms, struct tk_product *out)
{
    struct products_args a = {.id = product_id, .now_ms = now_ms, .out = out};
    return sq_read(SQ(st), product_one_fn, &a);
}

struct product_create_args {
    const struct tk_product_new *in;
    int64_t now_ms;
    struct tk_product *out;
};

static int product_create_body(struct sq_conn *c, void *argp)
{
    struct product_create_args *a = argp;
    TK_ASSERT(a->in->noptions >= 1 && a->in->noptions <= PRODUCT_OPTIONS_MAX);
    sqlite3_stmt *q = sh(c, SH_PRODUCT_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_text(q, 1, a->in->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    struct tk_product *p = a->out;
    p->id = sqlite3_last_insert_rowid(c->db);
    snprintf(p->name, sizeof p->name, "%s", a->in->name);
    p->noptions = a->in->noptions;
    for (int i = 0; i < a->in->noptions; i++) {
        const struct tk_option_new *o = &a->in->options[i];
        q = sh(c, SH_OPTION_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, p->id);
        sqlite3_bind_text(q, 2, o->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, o->price_won);
        sqlite3_bind_int64(q, 4, o->stock);
        TK_TRY(exec_stmt(c, q));
        p->options[i] = (struct tk_option){.id = sqlite3_last_insert_rowid(c->db), .product_id = p->id,
                                           .price_won = o->price_won, .stock = o->stock};
        snprintf(p->options[i].name, sizeof p->options[i].name, "%s", o->name);
    }
    return TK_OK;
}

static int sq_product_create(struct tk_store *st, const struct tk_product_new *in, int64_t now_ms,
                             struct tk_product *out)
{
    struct product_create_args a = {.in = in, .now_ms = now_ms, .out = out};
    return sq_run(SQ(st), NULL, product_create_body, &a);
}

/* ---- the decrement rule ---- */

struct option_row {
    int64_t product_id, price, stock, version, fence, due;
    char name[SHOP_NAME_MAX], product_name[SHOP_NAME_MAX];
};

/* Reads an option with the units of its lapsed reservations at now_ms: NOT_FOUND. */
static int option_read(struct sq_conn *c, int64_t option_id, int64_t now_ms, struct option_row *out)
{
    sqlite3_stmt *q = sh(c, SH_OPTION_GET);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, option_id);
    sqlite3_bind_int64(q, 2, now_ms);
    TK_TRY(run_row(c, q));
    out->product_id = sqlite3_column_int64(q, 0);
    copy_text(out->name, sizeof out->name, q, 1);
    copy_text(out->product_name, sizeof out->product_name, q, 2);
    out->price = sqlite3_column_int64(q, 3);
    out->stock = sqlite3_column_int64(q, 4);
    out->version = sqlite3_column_int64(q, 5);
    out->fence = sqlite3_column_int64(q, 6);
    out->due = sqlite3_column_int64(q, 7);
    sqlite3_reset(q);
    return TK_OK;
}

/* Marks the option's lapsed reservations RETURNED; *units: how many units they held (the caller adds them to
 * the option's stock in the same transaction). */
static int shop_reclaim(struct sq_conn *c, int64_t option_id, int64_t now_ms, int64_t *units)
{
    sqlite3_stmt *q = sh(c, SH_RECLAIM);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, option_id);
    sqlite3_bind_int64(q, 2, now_ms);
    *units = 0;
    int r;
    while ((r = step_row(c, q)) == 1)
        *units += sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int stock_write(struct sq_conn *c, enum shop_stmt id, int64_t option_id, int64_t value, int64_t extra,
                       bool bind_extra)
{
    sqlite3_stmt *q = sh(c, id);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, option_id);
    sqlite3_bind_int64(q, 2, value);
    if (bind_extra)
        sqlite3_bind_int64(q, 3, extra);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : TK_ERR_CONFLICT;
}

/* THE DECREMENT RULE (this store's one home of it; the lab's stock scenario reaches it through the shop's
 * core/shop.c shop_order_create). Takes q units of an option inside the caller's transaction, with the lock
 * strategy's write mode: what can be taken is the stock on hand plus the units of lapsed reservations (those are
 * folded back into stock as they are found), and stock never goes below zero (CHECK (stock >= 0) as the last
 * guard). pre: the row read before the transaction (optimistic and unsafe modes). TK_OK, TK_ERR_OUT_OF_STOCK,
 * TK_ERR_CONFLICT (an optimistic race, an older fencing token, or a read made stale by someone else). */
static int shop_take(struct sq_conn *c, enum tk_write_mode mode, int64_t option_id, int q, const struct option_row *pre,
                     int64_t fence, int64_t now_ms)
{
    int64_t got = 0;
    switch (mode) {
    case TK_WRITE_ATOMIC: /* one conditional statement; the lapsed units only when the stock alone is short */
        if (stock_write(c, SH_TAKE_ATOMIC, option_id, q, 0, true) == TK_OK)
            return TK_OK;
        TK_TRY(shop_reclaim(c, option_id, now_ms, &got));
        if (got > 0 && stock_write(c, SH_TAKE_ATOMIC, option_id, q, got, true) == TK_OK)
            return TK_OK;
        if (got > 0)
            TK_TRY(stock_write(c, SH_STOCK_ADD, option_id, got, 0, false));
        return TK_ERR_OUT_OF_STOCK;
    case TK_WRITE_PESSIMISTIC: { /* read then write in the transaction that holds the lock (BEGIN IMMEDIATE) */
        struct option_row now_row;
        TK_TRY(option_read(c, option_id, now_ms, &now_row));
        TK_TRY(shop_reclaim(c, option_id, now_ms, &got));
        int64_t avail = now_row.stock + got;
        TK_TRY(stock_write(c, SH_STOCK_SET, option_id, avail >= q ? avail - q : avail, 0, false));
        return avail >= q ? TK_OK : TK_ERR_OUT_OF_STOCK;
    }
    case TK_WRITE_OPTIMISTIC:
    case TK_WRITE_UNSAFE: {
        int64_t avail = pre->stock + pre->due;
        if (avail < q)
            return TK_ERR_OUT_OF_STOCK;
        int rc = mode == TK_WRITE_OPTIMISTIC ? stock_write(c, SH_STOCK_CAS, option_id, avail - q, pre->version, true)
                 : fence > 0               ? stock_write(c, SH_STOCK_FENCED, option_id, avail - q, fence, true)
                                           : stock_write(c, SH_STOCK_SET, option_id, avail - q, 0, false);
        TK_TRY(rc);
        TK_TRY(shop_reclaim(c, option_id, now_ms, &got));
        return got == pre->due ? TK_OK : TK_ERR_CONFLICT; /* the lapsed units changed since the read */
    }
    }
    return TK_ERR_INTERNAL;
}

/* ---- orders ---- */

struct order_args {
    enum tk_write_mode mode;
    const struct tk_order_req *req;
    const struct tk_order_pay_req *pay;
    struct option_row pre[ORDER_ITEMS_MAX];
    struct tk_order *out;
    int64_t user_id, order_id;
};

static void order_bad(struct tk_order *o, int64_t option_id)
{
    if (o->nbad < ORDER_ITEMS_MAX)
        o->bad_option_ids[o->nbad++] = option_id;
}

/* The optimistic and unsafe modes read every option before the transaction. */
static int order_pre(struct sq_conn *c, void *argp)
{
    struct order_args *a = argp;
    const struct tk_order_req *r = a->req;
    if (a->mode != TK_WRITE_OPTIMISTIC && a->mode != TK_WRITE_UNSAFE)
        return TK_OK;
    for (int i = 0; i < r->nitems; i++) {
        int rc = option_read(c, r->items[i].option_id, r->now_ms, &a->pre[i]);
        if (rc == TK_ERR_NOT_FOUND) {
            a->out->nbad = 0;
            order_bad(a->out, r->items[i].option_id);
        }
        TK_TRY(rc);
        if (a->pre[i].stock + a->pre[i].due < r->items[i].quantity)
            order_bad(a->out, r->items[i].option_id);
    }
    return a->out->nbad ? TK_ERR_OUT_OF_STOCK : TK_OK;
}

static int order_create_body(struct sq_conn *c, void *argp)
{
    struct order_args *a = argp;
    const struct tk_order_req *r = a->req;
    struct tk_order *o = a->out;
    o->nbad = 0;
    int64_t total = 0;
    for (int i = 0; i < r->nitems; i++) { /* in option id order: the caller sorted them */
        const struct tk_order_line *l = &r->items[i];
        if (a->mode != TK_WRITE_OPTIMISTIC && a->mode != TK_WRITE_UNSAFE) {
            int rc = option_read(c, l->option_id, r->now_ms, &a->pre[i]);
            if (rc == TK_ERR_NOT_FOUND) {
                o->nbad = 0;
                order_bad(o, l->option_id);
            }
            TK_TRY(rc);
        }
        int rc = shop_take(c, a->mode, l->option_id, l->quantity, &a->pre[i], r->fences[i], r->now_ms);
        if (rc == TK_ERR_OUT_OF_STOCK)
            order_bad(o, l->option_id); /* go on: the answer names every option short of stock */
        else
            TK_TRY(rc);
        total += (int64_t)l->quantity * a->pre[i].price;
    }
    if (o->nbad)
        return TK_ERR_OUT_OF_STOCK; /* rolls back every item taken */
    int64_t expires = r->now_ms + r->hold_ms;
    sqlite3_stmt *q = sh(c, SH_ORDER_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, r->user_id);
    sqlite3_bind_int64(q, 2, total);
    sqlite3_bind_int64(q, 3, r->now_ms);
    sqlite3_bind_int64(q, 4, expires);
    TK_TRY(exec_stmt(c, q));
    int64_t order_id = sqlite3_last_insert_rowid(c->db);
    *o = (struct tk_order){.id = order_id, .user_id = r->user_id, .state = ORDER_PENDING, .total_won = total,
                           .created_at_ms = r->now_ms, .expires_at_ms = expires, .nitems = r->nitems};
    for (int i = 0; i < r->nitems; i++) {
        const struct option_row *row = &a->pre[i];
        q = sh(c, SH_ITEM_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, order_id);
        sqlite3_bind_int64(q, 2, r->items[i].option_id);
        sqlite3_bind_int64(q, 3, row->product_id);
        sqlite3_bind_int(q, 4, r->items[i].quantity);
        sqlite3_bind_int64(q, 5, row->price);
        sqlite3_bind_int64(q, 6, expires);
        TK_TRY(exec_stmt(c, q));
        struct tk_order_item *it = &o->items[i];
        *it = (struct tk_order_item){.option_id = r->items[i].option_id, .product_id = row->product_id,
                                     .quantity = r->items[i].quantity, .price_won = row->price};
        snprintf(it->product_name, sizeof it->product_name, "%s", row->product_name);
        snprintf(it->option_name, sizeof it->option_name, "%s", row->name);
    }
    for (int i = 0; i < r->ncart; i++) { /* the ordered cart lines leave the cart */
        q = sh(c, SH_CART_TAKE);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, r->cart[i].cart_item_id);
        sqlite3_bind_int64(q, 2, r->user_id);
        sqlite3_bind_int(q, 3, r->cart[i].quantity);
        TK_TRY(exec_stmt(c, q));
    }
    return idem_apply(c, r->idem, "order", order_id);
}

struct batch_args {
    int64_t option_id, now_ms, hold_ms;
    struct tk_order_batch_item *items;
    int n;
    bool decided; /* the snapshot decided every item (no such option, or none fits): no transaction */
};

static void batch_refuse(struct batch_args *a, int rc)
{
    for (int i = 0; i < a->n; i++) {
        a->items[i].rc = rc;
        memset(a->items[i].out, 0, sizeof *a->items[i].out);
        a->items[i].out->nbad = 1;
        a->items[i].out->bad_option_ids[0] = a->option_id;
    }
    a->decided = true;
}

/* The snapshot: none of the orders fits (or no such option) is conclusive, before the write lock. */
static int batch_pre(struct sq_conn *c, void *argp)
{
    struct batch_args *a = argp;
    struct option_row row;
    int rc = option_read(c, a->option_id, a->now_ms, &row);
    if (rc == TK_ERR_NOT_FOUND) {
        batch_refuse(a, TK_ERR_NOT_FOUND);
        return TK_ERR_NOT_FOUND;
    }
    TK_TRY(rc);
    int min_q = ORDER_QUANTITY_MAX + 1;
    for (int i = 0; i < a->n; i++)
        min_q = a->items[i].quantity < min_q ? a->items[i].quantity : min_q;
    if (row.stock + row.due < min_q) {
        batch_refuse(a, TK_ERR_OUT_OF_STOCK);
        return TK_ERR_OUT_OF_STOCK;
    }
    return TK_OK;
}

/* Is the claim still this request's (so that its effect may be recorded on it)? */
static int claim_live(struct sq_conn *c, const struct tk_idem_ref *idem, bool *live)
{
    sqlite3_stmt *q = sh(c, SH_IDEM_LIVE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, idem->user_id);
    sqlite3_bind_text(q, 2, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, idem->claim);
    int rc = run_row(c, q);
    sqlite3_reset(q);
    *live = rc == TK_OK;
    return rc == TK_ERR_NOT_FOUND ? TK_OK : rc;
}

/* n single-item orders of one option, first come first served, in one transaction: the atomic rule (what is
 * there now, lapsed units folded back, never below zero) with the option written once. */
static int batch_body(struct sq_conn *c, void *argp)
{
    struct batch_args *a = argp;
    struct option_row row;
    TK_TRY(option_read(c, a->option_id, a->now_ms, &row));
    int64_t got = 0;
    TK_TRY(shop_reclaim(c, a->option_id, a->now_ms, &got));
    int64_t left = row.stock + got, expires = a->now_ms + a->hold_ms;
    for (int i = 0; i < a->n; i++) {
        struct tk_order_batch_item *it = &a->items[i];
        struct tk_order *o = it->out;
        memset(o, 0, sizeof *o);
        if (it->quantity > left) {
            it->rc = TK_ERR_OUT_OF_STOCK;
            o->nbad = 1;
            o->bad_option_ids[0] = a->option_id;
            continue;
        }
        if (it->idem) {
            bool live = false;
            TK_TRY(claim_live(c, it->idem, &live));
            if (!live) {
                it->rc = TK_ERR_CLAIM_LOST; /* only this order: another request took its key over */
                continue;
            }
        }
        sqlite3_stmt *q = sh(c, SH_ORDER_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, it->user_id);
        sqlite3_bind_int64(q, 2, row.price * it->quantity);
        sqlite3_bind_int64(q, 3, a->now_ms);
        sqlite3_bind_int64(q, 4, expires);
        TK_TRY(exec_stmt(c, q));
        int64_t order_id = sqlite3_last_insert_rowid(c->db);
        q = sh(c, SH_ITEM_INSERT);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, order_id);
        sqlite3_bind_int64(q, 2, a->option_id);
        sqlite3_bind_int64(q, 3, row.product_id);
        sqlite3_bind_int(q, 4, it->quantity);
        sqlite3_bind_int64(q, 5, row.price);
        sqlite3_bind_int64(q, 6, expires);
        TK_TRY(exec_stmt(c, q));
        TK_TRY(idem_apply(c, it->idem, "order", order_id));
        left -= it->quantity;
        it->rc = TK_OK;
        *o = (struct tk_order){.id = order_id, .user_id = it->user_id, .state = ORDER_PENDING,
                               .total_won = row.price * it->quantity, .created_at_ms = a->now_ms,
                               .expires_at_ms = expires, .nitems = 1};
        o->items[0] = (struct tk_order_item){.option_id = a->option_id, .product_id = row.product_id,
                                             .quantity = it->quantity, .price_won = row.price};
        snprintf(o->items[0].product_name, sizeof o->items[0].product_name, "%s", row.product_name);
        snprintf(o->items[0].option_name, sizeof o->items[0].option_name, "%s", row.name);
    }
    return stock_write(c, SH_STOCK_SET, a->option_id, left, 0, false);
}

static int sq_order_batch(struct tk_store *st, int64_t option_id, int64_t now_ms, int64_t hold_ms,
                          struct tk_order_batch_item *items, int n)
{
    TK_ASSERT(n >= 1 && n <= ORDER_BATCH_MAX);
    struct batch_args a = {.option_id = option_id, .now_ms = now_ms, .hold_ms = hold_ms, .items = items, .n = n};
    int rc = sq_run(SQ(st), batch_pre, batch_body, &a);
    return a.decided ? TK_OK : rc;
}

static int sq_order_create(struct tk_store *st, enum tk_write_mode mode, const struct tk_order_req *req,
                           struct tk_order *out)
{
    TK_ASSERT(req->nitems >= 1 && req->nitems <= ORDER_ITEMS_MAX && req->ncart <= CART_ITEMS_MAX);
    struct order_args *a = calloc(1, sizeof *a);
    if (!a)
        return TK_ERR_NOMEM;
    *a = (struct order_args){.mode = mode, .req = req, .out = out};
    out->nbad = 0;
    int rc = sq_run(SQ(st), order_pre, order_create_body, a);
    free(a);
    return rc;
}

/* Reads an order and its items (the user's: NOT_FOUND otherwise). */
static int order_read(struct sq_conn *c, int64_t user_id, int64_t order_id, struct tk_order *o)
{
    sqlite3_stmt *q = sh(c, SH_ORDER_GET);
    TK_TRY(row_by_id(c, q, order_id));
    char state[16];
    *o = (struct tk_order){.id = sqlite3_column_int64(q, 0), .user_id = sqlite3_column_int64(q, 1),
                           .total_won = sqlite3_column_int64(q, 3), .created_at_ms = sqlite3_column_int64(q, 4),
                           .expires_at_ms = sqlite3_column_int64(q, 5), .paid_at_ms = sqlite3_column_int64(q, 6),
                           .balance_won = sqlite3_column_int64(q, 7)};
    copy_text(state, sizeof state, q, 2);
    sqlite3_reset(q);
    if (o->user_id != user_id)
        return TK_ERR_NOT_FOUND;
    TK_TRY(store_order_state_parse(state, &o->state));
    q = sh(c, SH_ORDER_ITEMS);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, order_id);
    int r;
    while (o->nitems < ORDER_ITEMS_MAX && (r = step_row(c, q)) == 1) {
        struct tk_order_item *it = &o->items[o->nitems++];
        it->option_id = sqlite3_column_int64(q, 0);
        it->product_id = sqlite3_column_int64(q, 1);
        copy_text(it->product_name, sizeof it->product_name, q, 2);
        copy_text(it->option_name, sizeof it->option_name, q, 3);
        it->quantity = sqlite3_column_int(q, 4);
        it->price_won = sqlite3_column_int64(q, 5);
    }
    sqlite3_reset(q);
    return r < 0 ? r : TK_OK;
}

static int order_get_fn(struct sq_conn *c, void *argp)
{
    struct order_args *a = argp;
    return order_read(c, a->user_id, a->order_id, a->out);
}

static int sq_order_get(struct tk_store *st, int64_t user_id, int64_t order_id, struct tk_order *out)
{
    struct order_args a = {.user_id = user_id, .order_id = order_id, .out = out};
    return sq_read(SQ(st), order_get_fn, &a);
}

static int order_pay_body(struct sq_conn *c, void *argp)
{
    struct order_args *a = argp;
    const struct tk_order_pay_req *r = a->pay;
    struct tk_order *o = a->out;
    TK_TRY(order_read(c, r->user_id, r->order_id, o));
    if (o->state == ORDER_PAID)
        return TK_ERR_ALREADY_PAID;
    if (o->state != ORDER_PENDING || o->expires_at_ms <= r->now_ms)
        return TK_ERR_ORDER_EXPIRED;
    int64_t balance = 0;
    int rc = balance_move(c, true, r->user_id, o->total_won, &balance);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_ERR_INSUFFICIENT_BALANCE;
    TK_TRY(rc);
    int64_t nitems = 0;
    TK_TRY(int64_by_id(c, sh(c, SH_ITEMS_COUNT), r->order_id, &nitems));
    sqlite3_stmt *q = sh(c, SH_ITEMS_SELL);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, r->order_id);
    TK_TRY(exec_stmt(c, q));
    if (sqlite3_changes(c->db) != nitems)
        return TK_ERR_ORDER_EXPIRED; /* an item was folded back into stock: its time was up elsewhere */
    q = sh(c, SH_ORDER_SET_PAID);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, r->order_id);
    sqlite3_bind_int64(q, 2, r->now_ms);
    TK_TRY(exec_stmt(c, q));
    if (sqlite3_changes(c->db) != 1)
        return TK_ERR_ORDER_EXPIRED;
    char ref[48];
    snprintf(ref, sizeof ref, "order:%lld", (long long)r->order_id);
    TK_TRY(ledger_append(c, r->user_id, "ORDER_PAYMENT", -o->total_won, balance, ref, r->now_ms));
    q = sh(c, SH_POPULAR_ADD);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, r->order_id);
    sqlite3_bind_int64(q, 2, store_day_of(r->now_ms));
    TK_TRY(exec_stmt(c, q));
    TK_TRY(idem_apply(c, r->idem, "order_payment", r->order_id));
    o->state = ORDER_PAID;
    o->paid_at_ms = r->now_ms;
    o->balance_won = balance;
    return TK_OK;
}

static int sq_order_pay(struct tk_store *st, const struct tk_order_pay_req *req, struct tk_order *out)
{
    struct order_args a = {.pay = req, .out = out};
    return sq_run(SQ(st), NULL, order_pay_body, &a);
}

struct shop_sweep_args {
    int64_t now_ms;
    int limit, expired;
};

static int orders_expire_body(struct sq_conn *c, void *argp)
{
    struct shop_sweep_args *a = argp;
    enum { BATCH = 256 };
    int limit = a->limit < BATCH ? a->limit : BATCH;
    int64_t *opts = malloc(sizeof *opts * BATCH * ORDER_ITEMS_MAX);
    if (!opts)
        return TK_ERR_NOMEM;
    int n = 0, r;
    sqlite3_stmt *q = sh(c, SH_DUE_OPTIONS);
    int rc = q ? TK_OK : TK_ERR_INTERNAL;
    if (rc == TK_OK) {
        sqlite3_bind_int64(q, 1, a->now_ms);
        sqlite3_bind_int(q, 2, limit);
        while (n < BATCH * ORDER_ITEMS_MAX && (r = step_row(c, q)) == 1)
            opts[n++] = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        if (r < 0)
            rc = r;
    }
    for (int i = 0; i < n && rc == TK_OK; i++) { /* fold the lapsed units back, option by option in id order */
        int64_t got = 0;
        rc = shop_reclaim(c, opts[i], a->now_ms, &got);
        if (rc == TK_OK && got > 0)
            rc = stock_write(c, SH_STOCK_ADD, opts[i], got, 0, false);
    }
    free(opts);
    TK_TRY(rc);
    q = sh(c, SH_ORDERS_EXPIRE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->now_ms);
    sqlite3_bind_int(q, 2, limit);
    TK_TRY(exec_stmt(c, q));
    a->expired = sqlite3_changes(c->db);
    return TK_OK;
}

static int sq_orders_expire_due(struct tk_store *st, int64_t now_ms, int limit, int *expired)
{
    struct shop_sweep_args a = {.now_ms = now_ms, .limit = limit};
    TK_TRY(sq_run(SQ(st), NULL, orders_expire_body, &a));
    *expired = a.expired;
    return TK_OK;
}

/* ---- the organizer's option changes ---- */

struct option_update_args {
    const struct tk_option_patch *p;
    int64_t fence, now_ms;
    struct tk_option *out;
};

static int option_update_body(struct sq_conn *c, void *argp)
{
    struct option_update_args *a = argp;
    const struct tk_option_patch *p = a->p;
    struct option_row row;
    TK_TRY(option_read(c, p->option_id, a->now_ms, &row));
    if (a->fence > 0 && row.fence >= a->fence)
        return TK_ERR_CONFLICT; /* a newer lock holder wrote already */
    int64_t got = 0;
    TK_TRY(shop_reclaim(c, p->option_id, a->now_ms, &got));
    int64_t avail = row.stock + got, stock = p->has_stock ? p->stock : avail;
    int64_t price = p->has_price ? p->price_won : row.price;
    sqlite3_stmt *q = sh(c, SH_OPTION_PATCH);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, p->option_id);
    sqlite3_bind_int64(q, 2, stock);
    sqlite3_bind_int64(q, 3, avail);
    sqlite3_bind_int64(q, 4, price);
    sqlite3_bind_int64(q, 5, a->fence);
    TK_TRY(exec_stmt(c, q));
    *a->out = (struct tk_option){.id = p->option_id, .product_id = row.product_id, .price_won = price, .stock = stock};
    snprintf(a->out->name, sizeof a->out->name, "%s", row.name);
    return TK_OK;
}

static int sq_option_update(struct tk_store *st, const struct tk_option_patch *p, int64_t fence, int64_t now_ms,
                            struct tk_option *out)
{
    struct option_update_args a = {.p = p, .fence = fence, .now_ms = now_ms, .out = out};
    return sq_run(SQ(st), NULL, option_update_body, &a);
}

/* ---- carts ---- */

struct cart_args {
    int64_t user_id, option_id, item_id, now_ms;
    int quantity;
    tk_cart_fn fn;
    void *arg;
    struct tk_cart_item *out;
};

static int cart_add_body(struct sq_conn *c, void *argp)
{
    struct cart_args *a = argp;
    struct tk_cart_item *out = a->out;
    memset(out, 0, sizeof *out);
    TK_TRY(exists(c, sh(c, SH_OPTION_EXISTS), a->option_id));
    sqlite3_stmt *q = sh(c, SH_CART_FIND);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->user_id);
    sqlite3_bind_int64(q, 2, a->option_id);
    int rc = run_row(c, q);
    if (rc != TK_OK && rc != TK_ERR_NOT_FOUND)
        return rc;
    if (rc == TK_OK) { /* a line of this option already: add to it */
        int64_t id = sqlite3_column_int64(q, 0);
        int have = sqlite3_column_int(q, 1);
        sqlite3_reset(q);
        out->quantity = have;
        if (have + a->quantity > ORDER_QUANTITY_MAX)
            return TK_ERR_INVALID;
        q = sh(c, SH_CART_SET);
        if (!q)
            return TK_ERR_INTERNAL;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int(q, 2, have + a->quantity);
        TK_TRY(exec_stmt(c, q));
        *out = (struct tk_cart_item){.id = id, .option_id = a->option_id, .quantity = have + a->quantity};
        return TK_OK;
    }
    int64_t lines = 0;
    TK_TRY(int64_by_id(c, sh(c, SH_CART_COUNT), a->user_id, &lines));
    if (lines >= CART_ITEMS_MAX)
        return TK_ERR_INVALID; /* out->quantity 0: the cart is full */
    q = sh(c, SH_CART_INSERT);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->user_id);
    sqlite3_bind_int64(q, 2, a->option_id);
    sqlite3_bind_int(q, 3, a->quantity);
    sqlite3_bind_int64(q, 4, a->now_ms);
    TK_TRY(exec_stmt(c, q));
    *out = (struct tk_cart_item){.id = sqlite3_last_insert_rowid(c->db), .option_id = a->option_id,
                                 .quantity = a->quantity};
    return TK_OK;
}

static int sq_cart_add(struct tk_store *st, int64_t user_id, int64_t option_id, int quantity, int64_t now_ms,
                       struct tk_cart_item *out)
{
    struct cart_args a = {.user_id = user_id, .option_id = option_id, .quantity = quantity, .now_ms = now_ms,
                          .out = out};
    return sq_run(SQ(st), NULL, cart_add_body, &a);
}

static int cart_list_fn(struct sq_conn *c, void *argp)
{
    struct cart_args *a = argp;
    sqlite3_stmt *q = sh(c, SH_CART_LIST);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->user_id);
    int rc = TK_OK, r;
    while (rc == TK_OK && (r = step_row(c, q)) == 1) {
        struct tk_cart_item it = {.id = sqlite3_column_int64(q, 0), .option_id = sqlite3_column_int64(q, 1),
                                  .product_id = sqlite3_column_int64(q, 2), .price_won = sqlite3_column_int64(q, 5),
                                  .quantity = sqlite3_column_int(q, 6)};
        copy_text(it.product_name, sizeof it.product_name, q, 3);
        copy_text(it.option_name, sizeof it.option_name, q, 4);
        rc = a->fn(a->arg, &it);
    }
    sqlite3_reset(q);
    return rc < 0 ? rc : r < 0 ? r : TK_OK;
}

static int sq_cart_list(struct tk_store *st, int64_t user_id, tk_cart_fn fn, void *arg)
{
    struct cart_args a = {.user_id = user_id, .fn = fn, .arg = arg};
    return sq_read(SQ(st), cart_list_fn, &a);
}

static int cart_remove_body(struct sq_conn *c, void *argp)
{
    struct cart_args *a = argp;
    sqlite3_stmt *q = sh(c, SH_CART_DELETE);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->item_id);
    sqlite3_bind_int64(q, 2, a->user_id);
    TK_TRY(exec_stmt(c, q));
    return sqlite3_changes(c->db) == 1 ? TK_OK : TK_ERR_NOT_FOUND;
}

static int sq_cart_remove(struct tk_store *st, int64_t user_id, int64_t cart_item_id)
{
    struct cart_args a = {.user_id = user_id, .item_id = cart_item_id};
    return sq_run(SQ(st), NULL, cart_remove_body, &a);
}

/* ---- popular products ---- */

struct popular_args {
    int64_t from_day, to_day;
    int limit;
    tk_popular_fn fn;
    void *arg;
};

static int popular_fn(struct sq_conn *c, void *argp)
{
    struct popular_args *a = argp;
    sqlite3_stmt *q = sh(c, SH_POPULAR);
    if (!q)
        return TK_ERR_INTERNAL;
    sqlite3_bind_int64(q, 1, a->from_day);
    sqlite3_bind_int64(q, 2, a->to_day);
    sqlite3_bind_int(q, 3, a->limit);
    int rc = TK_OK, r;
    while (rc == TK_OK && (r = step_row(c, q)) == 1) {
        struct tk_popular p = {.product_id = sqlite3_column_int64(q, 0), .units = sqlite3_column_int64(q, 2)};
        copy_text(p.name, sizeof p.name, q, 1);
        rc = a->fn(a->arg, &p);
    }
    sqlite3_reset(q);
    return rc < 0 ? rc : r < 0 ? r : TK_OK;
}

static int sq_popular(struct tk_store *st, int64_t from_day, int64_t to_day, int limit, tk_popular_fn fn, void *arg)
{
    struct popular_args a = {.from_day = from_day, .to_day = to_day, .limit = limit, .fn = fn, .arg = arg};
    return sq_read(SQ(st), popular_fn, &a);
}

/* ---- the shop's audit (ticketd reconcile) ---- */

static void fmt_option_stock(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "product_options.id=%lld: on hand %lld + reserved %lld + sold %lld = %lld, but %lld were stocked",
             COL(0), COL(1), COL(2), COL(3), COL(1) + COL(2) + COL(3), COL(4));
}
static void fmt_order_ledger(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "orders.id=%lld: PAID but has %lld ORDER_PAYMENT entries of -%lld for user %lld (expected 1)",
             COL(0), COL(3), COL(2), COL(1));
}
static void fmt_ledger_order(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "ledger.id=%lld: ORDER_PAYMENT of %lld for user %lld but %.40s is not a paid order of that user",
             COL(0), COL(2), COL(1), (const char *)sqlite3_column_text(q, 3));
}
static void fmt_order_items(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "orders.id=%lld: %.10s but %lld of its items are %s", COL(0), (const char *)sqlite3_column_text(q, 1),
             COL(2), strcmp((const char *)sqlite3_column_text(q, 1), "PAID") == 0 ? "not SOLD" : "SOLD");
}
static void fmt_order_pending(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "orders.id=%lld: PENDING but expired at %lld ms", COL(0), COL(1));
}
static void fmt_popular(sqlite3_stmt *q, char *o, size_t n)
{
    snprintf(o, n, "daily_popular_products day %lld product %lld: %lld units but its paid order items hold %lld",
             COL(0), COL(1), COL(2), COL(3));
}

static int shop_audit_body(struct sq_conn *c, void *argp)
{
    struct audit_args *a = argp;
    int64_t due = a->now_ms - a->grace_ms;
    TK_TRY(audit_query(c,
                       "SELECT o.id, o.stock + COALESCE(SUM(CASE WHEN i.state = 'RESERVED' AND i.expires_at <= ?1 "
                       "THEN i.quantity END), 0), COALESCE(SUM(CASE WHEN i.state = 'RESERVED' AND i.expires_at > ?1 "
                       "THEN i.quantity END), 0), COALESCE(SUM(CASE WHEN i.state = 'SOLD' THEN i.quantity END), 0), "
                       "o.stocked FROM product_options o LEFT JOIN order_items i ON i.option_id = o.id GROUP BY o.id "
                       "HAVING o.stock + COALESCE(SUM(CASE WHEN i.state IN ('RESERVED', 'SOLD') THEN i.quantity END), 0) "
                       "!= o.stocked OR o.stock < 0 ORDER BY o.id",
                       a->now_ms, fmt_option_stock, a));
    TK_TRY(audit_query(c,
                       "SELECT o.id, o.user_id, o.total, (SELECT COUNT(*) FROM ledger l WHERE l.ref = 'order:' || o.id "
                       "AND l.kind = 'ORDER_PAYMENT' AND l.user_id = o.user_id AND l.amount = -o.total) AS n "
                       "FROM orders o WHERE o.status = 'PAID' AND n != 1 ORDER BY o.id",
                       0, fmt_order_ledger, a));
    TK_TRY(audit_query(c,
                       "SELECT l.id, l.user_id, l.amount, l.ref FROM ledger l WHERE l.kind = 'ORDER_PAYMENT' AND NOT "
                       "EXISTS (SELECT 1 FROM orders o WHERE o.id = CAST(substr(l.ref, 7) AS INTEGER) AND "
                       "l.ref = 'order:' || o.id AND o.status = 'PAID' AND o.user_id = l.user_id) ORDER BY l.id",
                       0, fmt_ledger_order, a));
    TK_TRY(audit_query(c,
                       "SELECT o.id, o.status, COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
                       "WHERE (o.status = 'PAID') != (i.state = 'SOLD') GROUP BY o.id ORDER BY o.id",
                       0, fmt_order_items, a));
    TK_TRY(audit_query(c, "SELECT id, expires_at FROM orders WHERE status = 'PENDING' AND expires_at <= ?1 ORDER BY id",
                       due, fmt_order_pending, a));
    return audit_query(c,
                       "WITH x AS (SELECT o.paid_at / 86400000 AS day, i.product_id, SUM(i.quantity) AS u FROM orders o "
                       "JOIN order_items i ON i.order_id = o.id WHERE o.status = 'PAID' GROUP BY 1, 2) "
                       "SELECT COALESCE(d.day, x.day), COALESCE(d.product_id, x.product_id), COALESCE(d.units, 0), "
                       "COALESCE(x.u, 0) FROM daily_popular_products d FULL JOIN x ON x.day = d.day "
                       "AND x.product_id = d.product_id WHERE COALESCE(d.units, 0) != COALESCE(x.u, 0) ORDER BY 1, 2",
                       0, fmt_popular, a);
}

static int sq_shop_audit(struct tk_store *st, int64_t now_ms, int64_t grace_ms, tk_problem_fn fn, void *arg)
{
    struct audit_args a = {.now_ms = now_ms, .grace_ms = grace_ms, .fn = fn, .arg = arg};
    return sq_read(SQ(st), shop_audit_body, &a);
}

/* The idempotency audit's view of the shop's effects ("order:N", "order_payment:N"): the SQL that finds the
 * effect of the user (?1 the order id, ?2 the user), and whether it reports a balance. NULL: not the shop's. */
static const char *shop_idem_effect_sql(const char *ref, size_t kind_len)
{
    if (kind_len == 5 && strncmp(ref, "order", 5) == 0)
        return "SELECT NULL FROM orders WHERE id = ?1 AND user_id = ?2";
    if (kind_len == 13 && strncmp(ref, "order_payment", 13) == 0)
        return "SELECT balance_after FROM ledger WHERE ref = 'order:' || ?1 AND user_id = ?2 AND kind = 'ORDER_PAYMENT'";
    return NULL;
}

/* ---------- end of the shop ---------- */

/* ---------- lifecycle ---------- */

static void sq_close(struct tk_store *st)
{
    struct sq_store *s = SQ(st);
    TK_ASSERT(s->open_count == 0 || s->free_list);
    while (s->free_list) {
        struct sq_conn *c = s->free_list;
        s->free_list = c->next_free;
        conn_free(c);
    }
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->write_mu);
    free(s);
}

static const struct tk_store_admin_ops SQLITE_OPS_ADMIN = {
    .migrate = sq_migrate,
    .seed_demo = sq_seed_demo,
    .audit = sq_audit,
    .idem_audit = sq_idem_audit,
    .shop_audit = sq_shop_audit,
};

static const struct tk_store_ops SQLITE_OPS = {
    .name = "sqlite",
    .ping = sq_ping,
    .user_create = sq_user_create,
    .user_by_api_key = sq_user_by_api_key,
    .user_get = sq_user_get,
    .wallet_charge = sq_wallet_charge,
    .concerts_list = sq_concerts_list,
    .schedules_list = sq_schedules_list,
    .seats_available = sq_seats_available,
    .seat_map = sq_seat_map,
    .hold_create = sq_hold_create,
    .payment_create = sq_payment_create,
    .holds_expire_due = sq_holds_expire_due,
    .hold_cancel = sq_hold_cancel,
    .payment_refund = sq_payment_refund,
    .payments_list = sq_payments_list,
    .schedule_cancel = sq_schedule_cancel,
    .schedule_refund_batch = sq_schedule_refund_batch,
    .concert_create = sq_concert_create,
    .schedule_create = sq_schedule_create,
    .sale_create = sq_sale_create,
    .sale_update = sq_sale_update,
    .sales_list = sq_sales_list,
    .seat_counts = sq_seat_counts,
    .owner_concert = sq_owner_concert,
    .transfer = sq_transfer,
    .ledger_list = sq_ledger_list,
    .idem_claim = sq_idem_claim,
    .idem_complete = sq_idem_complete,
    .idem_release = sq_idem_release,
    .idem_takeover = sq_idem_takeover,
    .effect_get = sq_effect_get,
    .idem_expire_due = sq_idem_expire_due,
    .product_create = sq_product_create, /* the shop */
    .products_list = sq_products_list,
    .product_get = sq_product_get,
    .option_update = sq_option_update,
    .cart_add = sq_cart_add,
    .cart_list = sq_cart_list,
    .cart_remove = sq_cart_remove,
    .order_create = sq_order_create,
    .order_batch = sq_order_batch,
    .order_get = sq_order_get,
    .order_pay = sq_order_pay,
    .orders_expire_due = sq_orders_expire_due,
    .popular = sq_popular,
    .close = sq_close,
};

int sqlite_store_open(const char *path, int pool_max, struct tk_store **out, char *errbuf, int errlen)
{
    if (!*path || strlen(path) >= sizeof(((struct sq_store *)0)->path)) {
        snprintf(errbuf, (size_t)errlen, "sqlite: a file path is needed (sqlite:PATH)");
        return TK_ERR_INVALID;
    }
    struct sq_store *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->base.ops = &SQLITE_OPS;
    s->base.admin = &SQLITE_OPS_ADMIN;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->pool_max = pool_max > 0 ? pool_max : 4;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    /* Open one connection now so that a bad path fails at start-up, not on the first request. */
    struct sq_conn *c;
    int rc = conn_get(s, &c);
    if (rc < 0) {
        snprintf(errbuf, (size_t)errlen, "sqlite: cannot open '%s'", path);
        s->open_count = 0;
        sq_close(&s->base);
        return rc;
    }
    conn_put(s, c);
    *out = &s->base;
    return TK_OK;
}
