/* scenario_multi_seat.c — several seats in one hold (issue 11): every request is a different user holding
 * MULTI_SEAT_K seats of ONE date of S seats (--stock S, default 50), drawn at random and named in random order,
 * through booking_hold_seats — the service's path: the ids sorted, one lock per seat taken in key order
 * (strategy_run_keys), the store's all-or-nothing write. The sets overlap, so most requests lose.
 * Invariant (read from the database): no seat in two live holds, no partial hold (every HELD reservation of the
 * run has exactly K seats), no user with two holds (a re-run never holds twice), every held seat's own row
 * points at its reservation, and at least one hold. No deadlock reaches a client: the requests fail 0 times
 * (failed_count; PostgreSQL's own deadlock count for the run is reported as final.postgres_deadlocks). */
#include "lab/scenario.h"

#include <stdio.h>

#define MULTI_SEAT_K 4          /* seats per request (the service's default max_holds_per_user) */
#define MULTI_SEAT_DEFAULT 50   /* seats of the date without --stock (the 50-seat date) */
#define MULTI_SEAT_MAX 100000   /* a bigger date is a setup error, not an hour of inserts */

struct multi_state {
    int64_t first_seat, seats; /* the date's seats are first_seat .. first_seat + seats - 1 */
    int64_t first_user;        /* request i is user first_user + i */
    int64_t last_user;
    int64_t deadlocks_before;  /* PostgreSQL: pg_stat_database.deadlocks at setup; -1 on SQLite */
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s ? *s : 88172645463325252ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const char DEADLOCKS_SQL[] = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()";

static int multi_setup(const struct lab_params *p, struct tk_store *st, struct labdb *db, void *state)
{
    (void)st;
    struct multi_state *s = state;
    s->seats = p->stock > 0 ? p->stock : MULTI_SEAT_DEFAULT;
    if (s->seats < MULTI_SEAT_K || s->seats > MULTI_SEAT_MAX) {
        fprintf(stderr, "lab: multi-seat: --stock (the date's seats) must be %d..%d\n", MULTI_SEAT_K, MULTI_SEAT_MAX);
        return TK_ERR_INVALID;
    }
    int64_t now = clock_now_ms(clock_real()), concert = 0, schedule = 0;
    char sql[320];
    TK_TRY(labdb_begin(db)); /* one transaction: fast, and the ids come out consecutive */
    int rc = labdb_int(db, "INSERT INTO concerts(name) VALUES ('lock lab: multi-seat') RETURNING id", &concert);
    if (rc == TK_OK) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO schedules(concert_id, starts_at, total_seats) VALUES (%lld, %lld, %lld) RETURNING id",
                 (long long)concert, (long long)(now + 30LL * 86400000), (long long)s->seats);
        rc = labdb_int(db, sql, &schedule);
    }
    for (int64_t n = 1; rc == TK_OK && n <= s->seats; n++) {
        int64_t id = 0;
        snprintf(sql, sizeof sql,
                 "INSERT INTO seats(schedule_id, seat_number, price) VALUES (%lld, %lld, 1000) RETURNING id",
                 (long long)schedule, (long long)n);
        rc = labdb_int(db, sql, &id);
        if (rc == TK_OK && n == 1)
            s->first_seat = id;
        else if (rc == TK_OK && id != s->first_seat + n - 1)
            rc = TK_ERR_INTERNAL; /* ids must be consecutive for the requests to address them */
    }
    for (int i = 0; rc == TK_OK && i < p->requests; i++) {
        int64_t u = labdb_new_user(db, 0, now);
        if (!u)
            rc = TK_ERR_INTERNAL;
        else if (i == 0)
            s->first_user = u;
        else if (u != s->first_user + i)
            rc = TK_ERR_INTERNAL;
    }
    if (rc == TK_OK)
        rc = labdb_commit(db);
    if (rc != TK_OK) {
        labdb_rollback(db);
        return rc;
    }
    s->last_user = s->first_user + p->requests - 1;
    s->deadlocks_before = -1;
    if (labdb_is_pg(db) && labdb_int(db, DEADLOCKS_SQL, &s->deadlocks_before) != TK_OK)
        s->deadlocks_before = -1;
    return TK_OK;
}

/* Request i's seats: K distinct seats of the date, drawn from i (a re-run asks for the same ones), in the
 * order drawn — not sorted: putting them in a fixed order is booking_hold_seats' job. */
static void multi_pick(const struct multi_state *s, int i, int64_t ids[MULTI_SEAT_K])
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    for (int k = 0; k < MULTI_SEAT_K; k++) {
        bool dup;
        do {
            ids[k] = s->first_seat + (int64_t)(xorshift(&rng) % (uint64_t)s->seats);
            dup = false;
            for (int j = 0; j < k; j++)
                dup |= ids[j] == ids[k];
        } while (dup);
    }
}

static int multi_request(const struct lab_env *env, int i, struct lab_keep *keep)
{
    (void)keep;
    const struct multi_state *s = env->state;
    int64_t ids[MULTI_SEAT_K];
    multi_pick(s, i, ids);
    struct tk_hold h;
    return booking_hold_seats(env->app, s->first_user + i, ids, MULTI_SEAT_K, NULL, &h);
}

static void multi_warm_up(const struct lab_env *env, int64_t ghost)
{
    int64_t ids[MULTI_SEAT_K];
    for (int k = 0; k < MULTI_SEAT_K; k++)
        ids[k] = ghost + k;
    struct tk_hold h;
    int rc = booking_hold_seats(env->app, ghost, ids, MULTI_SEAT_K, NULL, &h);
    (void)rc; /* NOT_FOUND: nothing changed */
}

static bool multi_check(const struct lab_params *p, void *state, struct labdb *db, json_t *final, json_t *expected)
{
    (void)p;
    const struct multi_state *s = state;
    long long u0 = (long long)s->first_user, u1 = (long long)s->last_user;
    /* the run's live holds: HELD reservations of its users (the lab's holds last 10 minutes) */
    char held[160];
    snprintf(held, sizeof held, "r.status = 'HELD' AND r.user_id BETWEEN %lld AND %lld", u0, u1);
    int64_t holds = labdb_value(db, "SELECT COUNT(*) FROM reservations r WHERE %s", held);
    int64_t seats_held = labdb_value(db,
                                     "SELECT COUNT(*) FROM reservation_seats rs JOIN reservations r ON "
                                     "r.id = rs.reservation_id WHERE %s",
                                     held);
    int64_t twice = labdb_value(db,
                                "SELECT COUNT(*) FROM (SELECT rs.seat_id FROM reservation_seats rs JOIN reservations r "
                                "ON r.id = rs.reservation_id WHERE %s GROUP BY rs.seat_id HAVING COUNT(*) > 1) x",
                                held);
    int64_t partial = labdb_value(db,
                                  "SELECT COUNT(*) FROM reservations r WHERE %s AND (SELECT COUNT(*) FROM "
                                  "reservation_seats rs WHERE rs.reservation_id = r.id) <> %d",
                                  held, MULTI_SEAT_K);
    int64_t users_twice = labdb_value(db,
                                      "SELECT COUNT(*) FROM (SELECT r.user_id FROM reservations r WHERE %s "
                                      "GROUP BY r.user_id HAVING COUNT(*) > 1) x",
                                      held);
    int64_t disagree = labdb_value(db,
                                   "SELECT COUNT(*) FROM reservation_seats rs JOIN reservations r ON "
                                   "r.id = rs.reservation_id JOIN seats se ON se.id = rs.seat_id WHERE %s AND "
                                   "(se.hold_id IS NULL OR se.hold_id <> r.id)",
                                   held);
    json_object_set_new(final, "holds", json_integer(holds));
    json_object_set_new(final, "seats_held", json_integer(seats_held));
    json_object_set_new(final, "seats_in_two_holds", json_integer(twice));
    json_object_set_new(final, "partial_holds", json_integer(partial));
    json_object_set_new(final, "users_with_two_holds", json_integer(users_twice));
    json_object_set_new(final, "seats_not_marked_held", json_integer(disagree));
    json_object_set_new(expected, "seats_held", json_integer(holds * MULTI_SEAT_K));
    json_object_set_new(expected, "seats_in_two_holds", json_integer(0));
    json_object_set_new(expected, "partial_holds", json_integer(0));
    json_object_set_new(expected, "users_with_two_holds", json_integer(0));
    json_object_set_new(expected, "seats_not_marked_held", json_integer(0));
    if (s->deadlocks_before >= 0) { /* informational: the statistics may trail the run by a moment */
        int64_t after = -1;
        if (labdb_int(db, DEADLOCKS_SQL, &after) == TK_OK)
            json_object_set_new(final, "postgres_deadlocks", json_integer(after - s->deadlocks_before));
    }
    json_object_set_new(final, "date_seats", json_integer(s->seats));
    json_object_set_new(final, "seats_per_request", json_integer(MULTI_SEAT_K));
    return holds >= 1 && seats_held == holds * MULTI_SEAT_K && twice == 0 && partial == 0 && users_twice == 0 &&
           disagree == 0;
}

const struct lab_scenario LAB_SCENARIO_MULTI_SEAT = {
    .name = "multi-seat",
    .default_requests = 200,
    .state_size = sizeof(struct multi_state),
    .setup = multi_setup,
    .request = multi_request,
    .warm_up = multi_warm_up,
    .check = multi_check,
};
