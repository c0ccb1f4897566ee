/* mem.c — the in-process waiting room, for the embedded deployment (one process).
 *
 * Under one mutex it keeps:
 *   - every known token in a hash map (and each user's latest token in another), so lookups are O(1);
 *   - the waiting line as a ring of sequence numbers with a Fenwick tree (util/rank.h), so a waiter's
 *     exact position is O(log n) even when others leave from the middle (idle expiry);
 *   - ACTIVE tokens in activation order, which is also expiry order (every token lives token_ms);
 *   - EXPIRED tokens for token_ms more, so a late poll still reads "EXPIRED", then they are forgotten.
 * Every call first applies what time has made due (advance()), so correctness never waits for the sweep;
 * the sweep only keeps the work small and admits waiters who are not polling.
 * Limits: queue_max waiters; at most queue_max remembered expired tokens; max_active ACTIVE tokens.
 */
#include "waitroom/waitroom.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/hmap.h"
#include "util/rank.h"
#include "util/rand.h"

#define IDLE_SCAN_EVERY_MS 1000

struct wr_entry {
    struct hnode by_token;
    struct hnode by_user;
    char token[TOKEN_HEX_LEN + 1];
    int64_t user_id;
    enum tk_token_state state;
    bool in_user_map;
    bool in_ring;
    int64_t seq;           /* place in the waiting ring (WAITING only) */
    int64_t last_seen_ms;  /* last poll */
    int64_t expires_at_ms; /* ACTIVE: when it lapses; EXPIRED: when it did */
    struct wr_entry *prev, *next; /* in the active list or the expired list */
};

struct wr_list {
    struct wr_entry *head, *tail;
    int64_t count;
};

struct mem_waitroom {
    struct tk_waitroom base;
    pthread_mutex_t mu;
    struct hmap tokens;
    struct hmap users;
    struct wr_entry **ring; /* queue_max slots, NULL = left the line */
    struct rank rank;
    int64_t head_seq, tail_seq;
    int64_t waiting;
    struct wr_list active;
    struct wr_list expired;
    struct admit_bucket bucket;
    int64_t last_idle_scan_ms;
    uint64_t issued_total, admitted_total, expired_total;
};

static struct mem_waitroom *MW(struct tk_waitroom *w) { return (struct mem_waitroom *)w; }

static void list_push(struct wr_list *l, struct wr_entry *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->count++;
}

static void list_unlink(struct wr_list *l, struct wr_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    l->count--;
}

static struct wr_entry *find_token(struct mem_waitroom *m, const char *token)
{
    uint64_t h = hash_str(token);
    for (struct hnode *n = hmap_first(&m->tokens, h); n; n = hmap_next(n, h)) {
        struct wr_entry *e = container_of(n, struct wr_entry, by_token);
        if (strcmp(e->token, token) == 0)
            return e;
    }
    return NULL;
}

static struct wr_entry *find_user(struct mem_waitroom *m, int64_t user_id)
{
    uint64_t h = hash_u64((uint64_t)user_id);
    for (struct hnode *n = hmap_first(&m->users, h); n; n = hmap_next(n, h)) {
        struct wr_entry *e = container_of(n, struct wr_entry, by_user);
        if (e->user_id == user_id)
            return e;
    }
    return NULL;
}

/* Takes e out of the waiting ring (admitted or dropped). */
static void ring_remove(struct mem_waitroom *m, struct wr_entry *e)
{
    int64_t slot = e->seq % m->base.queue_max;
    TK_ASSERT(m->ring[slot] == e);
    m->ring[slot] = NULL;
    e->in_ring = false;
    rank_add(&m->rank, e->seq, -1);
    m->waiting--;
    while (m->head_seq < m->tail_seq && !m->ring[m->head_seq % m->base.queue_max])
        m->head_seq++;
}

static void make_expired(struct mem_waitroom *m, struct wr_entry *e, int64_t now_ms)
{
    if (e->state == TOKEN_ACTIVE)
        list_unlink(&m->active, e);
    else if (e->in_ring)
        ring_remove(m, e);
    token_transition(&e->state, TOKEN_EXPIRED);
    e->expires_at_ms = now_ms;
    list_push(&m->expired, e);
    m->expired_total++;
}

static void make_active(struct mem_waitroom *m, struct wr_entry *e, int64_t now_ms)
{
    if (e->in_ring)
        ring_remove(m, e);
    token_transition(&e->state, TOKEN_ACTIVE);
    e->expires_at_ms = now_ms + m->base.policy.token_ms;
    list_push(&m->active, e);
    m->admitted_total++;
}

static void forget(struct mem_waitroom *m, struct wr_entry *e)
{
    list_unlink(&m->expired, e);
    hmap_remove(&m->tokens, &e->by_token);
    if (e->in_user_map)
        hmap_remove(&m->users, &e->by_user);
    free(e);
}

static bool idle(const struct mem_waitroom *m, const struct wr_entry *e, int64_t now_ms)
{
    return e->last_seen_ms + m->base.policy.idle_ms <= now_ms;
}

/* Applies everything time has made due; called under mu by every operation. */
static void advance(struct mem_waitroom *m, int64_t now_ms)
{
    while (m->active.head && m->active.head->expires_at_ms <= now_ms)
        make_expired(m, m->active.head, now_ms);

    if (now_ms - m->last_idle_scan_ms >= IDLE_SCAN_EVERY_MS) {
        m->last_idle_scan_ms = now_ms;
        for (int64_t seq = m->head_seq; seq < m->tail_seq; seq++) {
            struct wr_entry *e = m->ring[seq % m->base.queue_max];
            if (e && idle(m, e, now_ms))
                make_expired(m, e, now_ms);
        }
    }

    int64_t quota = admission_quota(&m->base.policy, &m->bucket, now_ms, m->active.count, m->waiting);
    while (quota > 0 && m->waiting > 0) {
        struct wr_entry *e = m->ring[m->head_seq % m->base.queue_max];
        TK_ASSERT(e);
        if (idle(m, e, now_ms)) { /* a silent waiter loses its place instead of taking a slot */
            make_expired(m, e, now_ms);
            continue;
        }
        make_active(m, e, now_ms);
        admit_bucket_take(&m->bucket, 1);
        quota--;
    }

    while (m->expired.head && (m->expired.head->expires_at_ms + m->base.policy.token_ms <= now_ms ||
                               m->expired.count > m->base.queue_max))
        forget(m, m->expired.head);
}

static void fill(struct mem_waitroom *m, const struct wr_entry *e, struct tk_ticket *out)
{
    memcpy(out->token, e->token, sizeof out->token);
    out->user_id = e->user_id;
    out->state = e->state;
    out->position = e->state == TOKEN_WAITING ? rank_count(&m->rank, m->head_seq, e->seq) : 0;
    out->estimated_wait_s = admission_estimate_wait_s(&m->base.policy, out->position, m->active.count);
    out->expires_at_ms = e->state == TOKEN_WAITING ? 0 : e->expires_at_ms;
}

static int mem_issue(struct tk_waitroom *w, int64_t user_id, int64_t now_ms, struct tk_ticket *out, bool *created)
{
    struct mem_waitroom *m = MW(w);
    pthread_mutex_lock(&m->mu);
    advance(m, now_ms);
    struct wr_entry *old = find_user(m, user_id);
    if (old && old->state != TOKEN_EXPIRED) {
        old->last_seen_ms = now_ms;
        fill(m, old, out);
        *created = false;
        pthread_mutex_unlock(&m->mu);
        return TK_OK;
    }
    bool immediate = admission_immediate(&w->policy, m->active.count, m->waiting);
    if (!immediate && m->tail_seq - m->head_seq >= w->queue_max) {
        pthread_mutex_unlock(&m->mu);
        return TK_ERR_UNAVAILABLE; /* the line is full */
    }
    struct wr_entry *e = calloc(1, sizeof *e);
    int rc = e ? rand_hex(e->token, TOKEN_HEX_LEN / 2) : TK_ERR_NOMEM;
    if (rc < 0) {
        free(e);
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    e->user_id = user_id;
    e->state = TOKEN_WAITING;
    e->last_seen_ms = now_ms;
    if (old) { /* the user's previous token is EXPIRED: it stays known by token only */
        hmap_remove(&m->users, &old->by_user);
        old->in_user_map = false;
    }
    hmap_insert(&m->tokens, &e->by_token, hash_str(e->token));
    hmap_insert(&m->users, &e->by_user, hash_u64((uint64_t)user_id));
    e->in_user_map = true;
    m->issued_total++;
    if (immediate) {
        make_active(m, e, now_ms);
    } else {
        e->seq = m->tail_seq++;
        m->ring[e->seq % w->queue_max] = e;
        e->in_ring = true;
        rank_add(&m->rank, e->seq, +1);
        m->waiting++;
    }
    fill(m, e, out);
    *created = true;
    pthread_mutex_unlock(&m->mu);
    return TK_OK;
}

static int mem_status(struct tk_waitroom *w, const char *token, int64_t now_ms, struct tk_ticket *out)
{
    struct mem_waitroom *m = MW(w);
    pthread_mutex_lock(&m->mu);
    advance(m, now_ms);
    struct wr_entry *e = find_token(m, token);
    if (e) {
        if (e->state == TOKEN_WAITING)
            e->last_seen_ms = now_ms;
        fill(m, e, out);
    }
    pthread_mutex_unlock(&m->mu);
    return e ? TK_OK : TK_ERR_NOT_FOUND;
}

static int mem_finish(struct tk_waitroom *w, const char *token, int64_t now_ms)
{
    struct mem_waitroom *m = MW(w);
    pthread_mutex_lock(&m->mu);
    struct wr_entry *e = find_token(m, token);
    if (e && e->state == TOKEN_ACTIVE)
        make_expired(m, e, now_ms);
    advance(m, now_ms); /* the freed slot admits the next waiter now */
    pthread_mutex_unlock(&m->mu);
    return TK_OK;
}

static int mem_tick(struct tk_waitroom *w, int64_t now_ms)
{
    struct mem_waitroom *m = MW(w);
    pthread_mutex_lock(&m->mu);
    advance(m, now_ms);
    pthread_mutex_unlock(&m->mu);
    return TK_OK;
}

static int mem_stats(struct tk_waitroom *w, struct tk_waitroom_stats *out)
{
    struct mem_waitroom *m = MW(w);
    pthread_mutex_lock(&m->mu);
    *out = (struct tk_waitroom_stats){
        .waiting = m->waiting,
        .active = m->active.count,
        .issued_total = m->issued_total,
        .admitted_total = m->admitted_total,
        .expired_total = m->expired_total,
    };
    pthread_mutex_unlock(&m->mu);
    return TK_OK;
}

static void mem_free(struct tk_waitroom *w)
{
    struct mem_waitroom *m = MW(w);
    for (int64_t seq = m->head_seq; m->ring && seq < m->tail_seq; seq++)
        free(m->ring[seq % w->queue_max]);
    for (struct wr_list *l = &m->active; l; l = (l == &m->active ? &m->expired : NULL)) {
        struct wr_entry *e = l->head;
        while (e) {
            struct wr_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    hmap_free(&m->tokens);
    hmap_free(&m->users);
    rank_free(&m->rank);
    free(m->ring);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const struct tk_waitroom_ops MEM_OPS = {
    .name = "memory",
    .issue = mem_issue,
    .status = mem_status,
    .finish = mem_finish,
    .tick = mem_tick,
    .stats = mem_stats,
    .free = mem_free,
};

int waitroom_mem_open(const struct admission_policy *p, int64_t queue_max, int64_t now_ms, struct tk_waitroom **out)
{
    TK_ASSERT(queue_max > 0 && p->max_active > 0 && p->admit_per_sec > 0);
    struct mem_waitroom *m = calloc(1, sizeof *m);
    if (!m)
        return TK_ERR_NOMEM;
    m->base.ops = &MEM_OPS;
    m->base.policy = *p;
    m->base.queue_max = queue_max;
    pthread_mutex_init(&m->mu, NULL);
    m->ring = calloc((size_t)queue_max, sizeof *m->ring);
    int rc = m->ring ? TK_OK : TK_ERR_NOMEM;
    if (rc == TK_OK)
        rc = rank_init(&m->rank, queue_max);
    if (rc == TK_OK)
        rc = hmap_init(&m->tokens, 1024);
    if (rc == TK_OK)
        rc = hmap_init(&m->users, 1024);
    if (rc < 0) {
        mem_free(&m->base);
        return rc;
    }
    admit_bucket_init(&m->bucket, p, now_ms);
    m->last_idle_scan_ms = now_ms;
    *out = &m->base;
    return TK_OK;
}
