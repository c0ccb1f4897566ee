/* store.c — the waiting room kept in the shared store (PostgreSQL's waitroom_tokens table and tk_wr_*
 * functions), for several instances without Redis: the database-first version of the assignment.
 * Every operation is one function call under one advisory lock, so it is exact but serialised; use the
 * Redis backend for a stampede. This adapter only translates between the two interfaces. */
#include "waitroom/waitroom.h"

#include <stdlib.h>
#include <string.h>
#include "store/store.h"
#include "util/rand.h"

struct store_waitroom {
    struct tk_waitroom base;
    struct tk_store *st;
};

static struct tk_wr_params params_of(const struct store_waitroom *s, const struct wr_room *r)
{
    return (struct tk_wr_params){.max_active = r->policy.max_active, .admit_per_sec = r->policy.admit_per_sec,
                                 .token_ms = r->policy.token_ms, .idle_ms = r->policy.idle_ms,
                                 .queue_max = s->base.queue_max};
}

static struct store_waitroom *SW(struct tk_waitroom *w) { return (struct store_waitroom *)w; }

static void to_ticket(const struct wr_room *room, int64_t now_ms, const struct tk_wr_row *r, struct tk_ticket *t)
{
    snprintf(t->token, sizeof t->token, "%.32s", r->token);
    t->user_id = r->user_id;
    t->state = strcmp(r->state, "ACTIVE") == 0    ? TOKEN_ACTIVE
               : strcmp(r->state, "WAITING") == 0 ? TOKEN_WAITING
                                                  : TOKEN_EXPIRED;
    t->position = r->position;
    t->expires_at_ms = t->state == TOKEN_WAITING ? 0 : r->expires_at_ms;
    t->room_id = room->id;
    t->estimated_wait_s = admission_estimate_wait_s(&room->policy, now_ms, r->position, r->active, 0, 0);
}

static int sw_issue(struct tk_waitroom *w, const struct wr_room *rm, int64_t user_id, int64_t now_ms, struct tk_ticket *out, bool *created)
{
    struct store_waitroom *s = SW(w);
    char token[TOKEN_HEX_LEN + 1];
    TK_TRY(rand_hex(token, TOKEN_HEX_LEN / 2));
    struct tk_wr_row row;
    struct tk_wr_params prm = params_of(s, rm);
    TK_TRY(store_wr_issue(s->st, &prm, user_id, token, now_ms, &row));
    to_ticket(rm, now_ms, &row, out);
    *created = row.created;
    return TK_OK;
}

static int sw_status(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms, struct tk_ticket *out)
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
    struct tk_wr_counts c;
    TK_TRY(store_wr_counts(s->st, &c));
    *out = (struct tk_waitroom_stats){.waiting = c.waiting, .active = c.active, .issued_total = (uint64_t)c.issued,
                                      .admitted_total = (uint64_t)c.admitted, .expired_total = (uint64_t)c.expired,
                                      .wait_p50_s = -1, .wait_p95_s = -1};
    return TK_OK;
}

static void sw_free(struct tk_waitroom *w) { free(w); }

static const struct tk_waitroom_ops STORE_OPS = {
    .name = "store",
    .issue = sw_issue,
    .status = sw_status,
    .finish = sw_finish,
    .tick = sw_tick,
    .stats = sw_stats,
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
