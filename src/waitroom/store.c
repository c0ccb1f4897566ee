/* store.c — the waiting rooms kept in the shared store (PostgreSQL's waitroom_* tables and tk_wr_* functions,
 * store/pg_schema.h version 3), for several instances without Redis: the database-first version of the
 * assignment. Every operation is one function call under the room's advisory lock, so it is exact but
 * serialised per room; use the Redis backend for a stampede. The pre-queue is placed as in redis.c: an arrival
 * before opens_at gets an order key drawn here from the CSPRNG, uniform in [0, 1), fixed at arrival; later ones
 * get the room's FIFO numbers 1, 2, ... This adapter only translates between the two interfaces. */
#include "waitroom/waitroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "util/rand.h"

_Static_assert(TK_WR_WAIT_BUCKETS == ADMISSION_WAIT_BUCKETS, "store/store.h and waitroom/admission.h disagree");
_Static_assert(WR_OPEN == 0 && WR_PAUSED == 1 && WR_CLOSED == 2, "tk_wr_params.mode follows enum wr_mode");

struct store_waitroom {
    struct tk_waitroom base;
    struct tk_store *st;
};

static struct store_waitroom *SW(struct tk_waitroom *w) { return (struct store_waitroom *)w; }

static struct tk_wr_params params_of(const struct store_waitroom *s, const struct wr_room *r)
{
    return (struct tk_wr_params){.room = r->id,
                                 .max_active = r->policy.max_active,
                                 .admit_per_sec = r->policy.admit_per_sec,
                                 .token_ms = r->policy.token_ms,
                                 .idle_ms = r->policy.idle_ms,
                                 .queue_max = s->base.queue_max,
                                 .opens_at_ms = r->policy.opens_at_ms,
                                 .mode = (int)r->policy.mode};
}

static void to_ticket(const struct wr_room *room, int64_t now_ms, const struct tk_wr_row *r, struct tk_ticket *t)
{
    snprintf(t->token, sizeof t->token, "%.*s", TOKEN_MAX_LEN, r->token);
    t->room_id = room->id;
    t->user_id = r->user_id;
    t->state = strcmp(r->state, "ACTIVE") == 0    ? TOKEN_ACTIVE
               : strcmp(r->state, "WAITING") == 0 ? TOKEN_WAITING
                                                  : TOKEN_EXPIRED;
    t->position = t->state == TOKEN_WAITING ? r->position : 0;
    t->expires_at_ms = t->state == TOKEN_WAITING ? 0 : r->expires_at_ms;
    t->estimated_wait_s = t->state != TOKEN_WAITING
                              ? 0
                              : admission_estimate_wait_s(&room->policy, now_ms, t->position, r->active,
                                                          r->admitted_last_minute, r->window_ms);
}

static int sw_issue(struct tk_waitroom *w, const struct wr_room *rm, int64_t user_id, int64_t now_ms,
                    struct tk_ticket *out, bool *created)
{
    struct store_waitroom *s = SW(w);
    char token[TOKEN_MAX_LEN + 1];
    TK_TRY(waitroom_token_new(rm->id, token));
    double order_key;
    TK_TRY(rand_secure_unit(&order_key));
    struct tk_wr_row row;
    struct tk_wr_params prm = params_of(s, rm);
    TK_TRY(store_wr_issue(s->st, &prm, user_id, token, order_key, now_ms, &row));
    to_ticket(rm, now_ms, &row, out);
    *created = row.created;
    return TK_OK;
}

static int sw_status(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms,
                     struct tk_ticket *out)
{
    struct store_waitroom *s = SW(w);
    struct tk_wr_row row;
    struct tk_wr_params prm = params_of(s, rm);
    TK_TRY(store_wr_status(s->st, &prm, token, now_ms, &row));
    to_ticket(rm, now_ms, &row, out);
    return TK_OK;
}

static int sw_finish(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms)
{
    struct store_waitroom *s = SW(w);
    struct tk_wr_params prm = params_of(s, rm);
    return store_wr_finish(s->st, &prm, token, now_ms);
}

static int sw_tick(struct tk_waitroom *w, const struct wr_room *rm, int64_t now_ms)
{
    struct store_waitroom *s = SW(w);
    struct tk_wr_params prm = params_of(s, rm);
    return store_wr_tick(s->st, &prm, now_ms);
}

static int sw_stats(struct tk_waitroom *w, const struct wr_room *rm, int64_t now_ms, struct tk_waitroom_stats *out)
{
    struct store_waitroom *s = SW(w);
    struct tk_wr_params prm = params_of(s, rm);
    struct tk_wr_counts *c = malloc(sizeof *c); /* ~2 KiB of histogram: not on a worker's stack */
    if (!c)
        return TK_ERR_NOMEM;
    int rc = store_wr_counts(s->st, &prm, now_ms, c);
    if (rc == TK_OK)
        *out = (struct tk_waitroom_stats){.waiting = c->waiting,
                                          .active = c->active,
                                          .issued_total = (uint64_t)c->issued,
                                          .admitted_total = (uint64_t)c->admitted,
                                          .expired_total = (uint64_t)c->expired,
                                          .abandoned_total = (uint64_t)c->abandoned,
                                          .admitted_last_minute = c->admitted_last_minute,
                                          .window_ms = c->window_ms,
                                          .wait_p50_s = admission_wait_quantile_s(c->wait_hist, 0.50),
                                          .wait_p95_s = admission_wait_quantile_s(c->wait_hist, 0.95)};
    free(c);
    return rc;
}

static void sw_free(struct tk_waitroom *w) { free(w); }

static int sw_decide(struct tk_waitroom *w, const struct admission_input *in, struct admission_decision *out)
{
    struct wr_room rm = {.id = 0, .policy = in->policy};
    struct tk_wr_params p = params_of(SW(w), &rm);
    struct tk_wr_decide_in din = {.now_ms = in->now_ms,
                                  .active = in->active,
                                  .waiting = in->waiting,
                                  .milli = in->bucket.milli,
                                  .last_ms = in->bucket.last_ms};
    struct tk_wr_decision d;
    TK_TRY(store_wr_decide(SW(w)->st, &p, &din, &d));
    *out = (struct admission_decision){.quota = d.quota,
                                       .immediate = d.immediate,
                                       .bucket = {.milli = d.milli, .last_ms = d.last_ms}};
    return TK_OK;
}

static const struct tk_waitroom_ops STORE_OPS = {
    .name = "store",
    .issue = sw_issue,
    .status = sw_status,
    .finish = sw_finish,
    .tick = sw_tick,
    .stats = sw_stats,
    .decide = sw_decide,
    .free = sw_free,
};

int waitroom_store_open(int64_t queue_max, struct tk_store *st, struct tk_waitroom **out)
{
    if (!st->ops->wr_issue)
        return TK_ERR_INVALID;
    struct store_waitroom *s = calloc(1, sizeof *s);
    if (!s)
        return TK_ERR_NOMEM;
    s->base.ops = &STORE_OPS;
    s->base.queue_max = queue_max;
    s->st = st;
    *out = &s->base;
    return TK_OK;
}
