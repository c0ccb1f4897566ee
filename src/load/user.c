/* user.c — the simulated users of `ticketd load` (see user.h): their requests, the responses that move them,
 * and the checks of what they won. */
#include "load/user.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "load/catalogue.h"
#include "util/clock.h"

#define FAILURES_SHOWN 5          /* users whose failure is written to stderr, at most */
#define POLL_PAUSE_NS 200000000LL /* between two polls of a WAITING token */

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static void fail_user(struct load_user *u, struct load_call *c, const char *what)
{
    struct load_run *r = u->r;
    if (u->state != U_FAILED) {
        r->failed_users++;
        if (r->failed_users <= FAILURES_SHOWN)
            fprintf(stderr, "load: user %d: %s failed: HTTP %ld %s\n", u->index, what, c ? c->status : 0,
                    c && c->resp ? c->resp : "");
    }
    u->state = U_FAILED;
}

static void next(struct load_user *u) { u->r->sc->next(u); }

/* A call of u's to method path, sent with its queue token (with_token) or its API key. */
static struct load_call *user_call(struct load_user *u, const char *method, const char *path, bool with_token,
                                   load_call_done done)
{
    struct load_call *c = load_call_new(u, method, path, done);
    if (with_token)
        snprintf(c->token_hdr, sizeof c->token_hdr, "%s", u->token);
    else
        snprintf(c->auth, sizeof c->auth, "%s", u->key);
    return c;
}

static void on_user_created(struct load_call *c)
{
    struct load_user *u = c->u;
    if (c->status != 201 || !c->json) {
        fail_user(u, c, "create user");
    } else {
        snprintf(u->key, sizeof u->key, "%s", load_data_str(c->json, "apiKey"));
        snprintf(u->id, sizeof u->id, "%s", load_data_str(c->json, "userId"));
        u->state = U_NEW;
        if (u->r->users_move)
            next(u);
    }
    load_call_free(c);
}

int load_users_create(struct load_run *r, bool go_on)
{
    int n = r->o->users;
    r->users = calloc((size_t)n, sizeof *r->users);
    r->n = n;
    if (!r->users)
        return -1;
    r->users_move = go_on;
    for (int i = 0; i < n; i++) {
        struct load_user *u = &r->users[i];
        u->r = r;
        u->index = i;
        u->state = U_FAILED; /* until created */
        struct load_call *c = load_call_new(u, "POST", "/users", on_user_created);
        c->body = dupf("{\"name\":\"load-%d\"}", i);
        load_engine_enqueue(&r->e, c);
    }
    load_engine_run(&r->e);
    load_engine_restart(&r->e, r->o->seconds);
    return 0;
}

void load_users_start(struct load_run *r)
{
    r->users_move = true;
    for (int i = 0; i < r->n; i++)
        if (r->users[i].key[0] && r->users[i].state == U_NEW)
            next(&r->users[i]);
}

static void on_charged(struct load_call *c)
{
    struct load_user *u = c->u;
    if (c->status != 200) {
        fail_user(u, c, "charge");
    } else {
        u->state = U_CHARGED;
        next(u);
    }
    load_call_free(c);
}

void load_user_charge(struct load_user *u)
{
    int64_t won = u->r->o->charge_won;
    struct load_call *c = user_call(u, "POST", "/user/charge", false, on_charged);
    c->body = dupf("{\"amount\":%lld}", (long long)won);
    snprintf(c->idem, sizeof c->idem, "charge-%d", u->index);
    u->charged_won = won;
    load_engine_enqueue(&u->r->e, c);
}

static void on_queued(struct load_call *c)
{
    struct load_user *u = c->u;
    if ((c->status != 200 && c->status != 201) || !c->json) {
        fail_user(u, c, "queue");
    } else {
        snprintf(u->token, sizeof u->token, "%s", load_data_str(c->json, "token"));
        u->state = strcmp(load_data_str(c->json, "status"), "ACTIVE") == 0 ? U_ACTIVE : U_QUEUED;
        next(u);
    }
    load_call_free(c);
}

static void on_polled(struct load_call *c)
{
    struct load_user *u = c->u;
    if (c->status != 200 || !c->json) {
        fail_user(u, c, "queue status");
    } else if (strcmp(load_data_str(c->json, "status"), "ACTIVE") == 0) {
        u->state = U_ACTIVE;
        next(u);
    } else if (strcmp(load_data_str(c->json, "status"), "EXPIRED") == 0) {
        fail_user(u, c, "waiting (token expired)");
    } else {
        u->polls++;
        /* poll again after a short pause: through the retry queue's timer */
        load_engine_delay(&u->r->e, user_call(u, "GET", "/queue/status", true, on_polled),
                          clock_mono_ns() + POLL_PAUSE_NS);
    }
    load_call_free(c);
}

bool load_user_queue_next(struct load_user *u)
{
    switch (u->state) {
    case U_NEW:
        u->state = U_CHARGED; /* nothing to charge */
        /* fall through */
    case U_CHARGED:
        load_engine_enqueue(&u->r->e, user_call(u, "POST", "/queue/issue", false, on_queued));
        return true;
    case U_QUEUED:
        load_engine_enqueue(&u->r->e, user_call(u, "GET", "/queue/status", true, on_polled));
        return true;
    default:
        return false;
    }
}

static void on_held(struct load_call *c)
{
    struct load_user *u = c->u;
    const char *code = c->json ? load_error_code(c->json) : NULL;
    if (c->status == 201 && c->json) {
        snprintf(u->reservation_id, sizeof u->reservation_id, "%s", load_data_str(c->json, "reservationId"));
        u->state = U_HELD;
        u->r->holds++;
        next(u);
    } else if (c->status == 409 && code && strcmp(code, "SEAT_UNAVAILABLE") == 0) {
        u->r->holds_conflict++;
        u->state = U_REFUSED;
        next(u);
    } else {
        fail_user(u, c, "hold");
    }
    load_call_free(c);
}

void load_user_hold(struct load_user *u, int seat, bool with_key)
{
    const char *seat_id = u->r->seat_ids[seat];
    snprintf(u->seat_id, sizeof u->seat_id, "%s", seat_id);
    struct load_call *c = user_call(u, "POST", "/reservation", true, on_held);
    c->body = dupf("{\"seatId\":\"%s\"}", seat_id);
    if (with_key)
        snprintf(c->idem, sizeof c->idem, "hold-%d-%d", u->index, u->attempts);
    load_engine_enqueue(&u->r->e, c);
}

static void on_paid(struct load_call *c)
{
    struct load_user *u = c->u;
    if (c->status == 200 && c->json) {
        u->paid_won = load_data_int(c->json, "amount");
        u->state = U_PAID;
        u->r->payments++;
    } else if (c->status == 409) {
        u->state = U_DONE; /* hold expired or balance: a clean refusal */
    } else {
        fail_user(u, c, "pay");
    }
    load_call_free(c);
}

void load_user_pay(struct load_user *u)
{
    struct load_call *c = user_call(u, "POST", "/payment", true, on_paid);
    c->body = dupf("{\"reservationId\":\"%s\"}", u->reservation_id);
    snprintf(c->idem, sizeof c->idem, "pay-%d-%s", u->index, u->reservation_id);
    load_engine_enqueue(&u->r->e, c);
}

/* ---------- end-state checks ---------- */

static bool won(const struct load_user *u) { return u->state == U_PAID || u->state == U_HELD; }

json_t *load_users_check(struct load_run *r, bool *ok)
{
    json_t *c = json_object();
    *ok = true;
    /* one seat, one winner */
    int dup = 0;
    for (int i = 0; i < r->n; i++) {
        if (!won(&r->users[i]))
            continue;
        for (int j = i + 1; j < r->n; j++)
            if (won(&r->users[j]) && strcmp(r->users[i].seat_id, r->users[j].seat_id) == 0)
                dup++;
    }
    json_object_set_new(c, "seats_won_twice", json_integer(dup));
    if (dup)
        *ok = false;
    json_object_set_new(c, "holds", json_integer(r->holds));
    json_object_set_new(c, "hold_conflicts", json_integer(r->holds_conflict));
    json_object_set_new(c, "payments", json_integer(r->payments));
    json_object_set_new(c, "failed_users", json_integer(r->failed_users));
    if (r->failed_users)
        *ok = false;
    return c;
}

struct listed {
    const struct load_run *r;
    int won_but_free;
};

static void count_won(const char *seat_id, void *arg)
{
    struct listed *l = arg;
    for (int i = 0; i < l->r->n; i++)
        if (won(&l->r->users[i]) && strcmp(l->r->users[i].seat_id, seat_id) == 0)
            l->won_but_free++;
}

#define LOAD_READ_STALE_MS 100 /* the contract's bound on a cached seat read */

void load_users_check_listed(struct load_run *r, json_t *c, bool *ok)
{
    char token[LOAD_TOKEN_MAX];
    if (load_browse_token(&r->o->net, "load-checker", true, token, sizeof token) < 0 || !token[0]) {
        json_object_set_new(c, "seats_won_but_listed_free", json_string("not checked: no ACTIVE token"));
        return;
    }
    /* available-seats may be up to 100 ms stale on an instance other than the one that took a hold (shared/API.md):
     * read only once every hold of the run is older than that. */
    struct timespec settle = {0, (LOAD_READ_STALE_MS + 10) * 1000000L};
    nanosleep(&settle, NULL);
    struct listed l = {.r = r};
    (void)load_listed_seats(&r->o->net, token, INT_MAX, INT_MAX, count_won, &l); /* unreadable: nothing listed */
    json_object_set_new(c, "seats_won_but_listed_free", json_integer(l.won_but_free));
    if (l.won_but_free)
        *ok = false;
}
