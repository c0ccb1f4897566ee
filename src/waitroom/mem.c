/* mem.c — the in-process waiting room, for the embedded deployment (one process).
 *
 * One backend object holds many rooms (waitroom.h): a map room id -> room under a read-write lock, a room
 * created by its first issue, at most WAITROOM_ROOMS_MAX of them (then TK_ERR_UNAVAILABLE), kept until the
 * backend is freed. Each room has its own mutex and keeps:
 *   - its tokens in a hash map (and each user's latest token in another), so lookups are O(1);
 *   - the pre-queue: an array of those who arrived before opens_at_ms, in no meaningful order;
 *   - the waiting line as a ring of sequence numbers with a Fenwick tree (util/rank.h), so a waiter's exact
 *     position is O(log n) even when others leave from the middle (idle expiry). The ring starts at
 *     RING_MIN slots and doubles up to queue_max as the line grows (a rebuild, O(n log n), amortised O(log n)
 *     per arrival), and shrinks back once the line is empty: an idle room costs ~1 KiB, not queue_max × 12 bytes;
 *   - ACTIVE tokens ordered by expiry; EXPIRED tokens for token_ms more, so a late poll still reads "EXPIRED";
 *   - the admission bucket, counters, 60 per-second admission counters and the wait histogram (stats).
 * The opening: the first operation on a room at or after opens_at_ms shuffles the whole pre-queue once
 * (Fisher–Yates, every draw from the CSPRNG: util/rand.h rand_secure_below) and appends it to the line;
 * it happens under the room's mutex and empties the pre-queue, so nobody is placed twice. (If opens_at_ms is
 * moved later afterwards, new arrivals form a new pre-queue, placed the same way behind the line.)
 * Every call first applies what time has made due (advance()), so correctness never waits for the sweep;
 * the sweep only keeps the work small and admits waiters who are not polling. The settings are the caller's
 * (struct wr_room), read at every call: nothing of them is copied.
 * Limits: queue_max waiters per room (pre-queue included); at most queue_max remembered expired tokens per
 * room; max_active ACTIVE tokens (a live cut admits nobody until enough lapse); WAITROOM_ROOMS_MAX rooms.
 */
#include "waitroom/waitroom.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/hmap.h"
#include "util/rank.h"
#include "util/rand.h"

#define IDLE_SCAN_EVERY_MS 1000
#define RING_MIN 64
#define RATE_SECONDS (ADMISSION_RATE_WINDOW_MS / 1000)

enum wr_place { PLACE_NONE, PLACE_PRE, PLACE_RING };

struct wr_entry {
    struct hnode by_token;
    struct hnode by_user;
    char token[TOKEN_MAX_LEN + 1];
    int64_t user_id;
    enum tk_token_state state;
    bool in_user_map;
    enum wr_place place;
    int64_t seq;           /* PLACE_RING: sequence in the ring; PLACE_PRE: index in the pre-queue array */
    int64_t arrived_ms;    /* issue time (the wait is measured from max(this, opens_at_ms)) */
    int64_t last_seen_ms;  /* last poll */
    int64_t expires_at_ms; /* ACTIVE: when it lapses; EXPIRED: when it did */
    struct wr_entry *prev, *next; /* in the active list or the expired list */
};

struct wr_list {
    struct wr_entry *head, *tail;
    int64_t count;
};

struct mem_room {
    struct hnode by_id;
    int64_t id;
    pthread_mutex_t mu;
    struct hmap tokens;
    struct hmap users;
    struct wr_entry **pre; /* the pre-queue, pre_len of pre_cap used */
    int64_t pre_len, pre_cap;
    struct wr_entry **ring; /* ring_cap slots, NULL = left the line */
    int64_t ring_cap;
    struct rank rank;
    int64_t head_seq, tail_seq;
    int64_t waiting; /* in the ring */
    struct wr_list active;
    struct wr_list expired;
    struct admit_bucket bucket;
    int64_t last_idle_scan_ms;
    uint64_t issued_total, admitted_total, expired_total, abandoned_total;
    int64_t first_admit_ms; /* 0: nobody admitted yet */
    int64_t sec_stamp[RATE_SECONDS], sec_count[RATE_SECONDS]; /* admissions in second sec_stamp[i] */
    uint64_t wait_hist[ADMISSION_WAIT_BUCKETS];
};

struct mem_waitroom {
    struct tk_waitroom base;
    pthread_rwlock_t rooms_mu;
    struct hmap rooms;
    int64_t room_count;
};

static struct mem_waitroom *MW(struct tk_waitroom *w) { return (struct mem_waitroom *)w; }

/* ---- lists ---- */

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

/* Inserts e keeping the list ordered by expires_at_ms (from the tail: with a constant token_ms it is a push;
 * a live cut of token_ms can make a later admission lapse first). */
static void list_insert_by_expiry(struct wr_list *l, struct wr_entry *e)
{
    struct wr_entry *after = l->tail;
    while (after && after->expires_at_ms > e->expires_at_ms)
        after = after->prev;
    if (after == l->tail) {
        list_push(l, e);
        return;
    }
    e->prev = after;
    e->next = after ? after->next : l->head;
    e->next->prev = e;
    if (after)
        after->next = e;
    else
        l->head = e;
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

/* ---- lookups ---- */

static struct wr_entry *find_token(struct mem_room *m, const char *token)
{
    uint64_t h = hash_str(token);
    for (struct hnode *n = hmap_first(&m->tokens, h); n; n = hmap_next(n, h)) {
        struct wr_entry *e = container_of(n, struct wr_entry, by_token);
        if (strcmp(e->token, token) == 0)
            return e;
    }
    return NULL;
}

static struct wr_entry *find_user(struct mem_room *m, int64_t user_id)
{
    uint64_t h = hash_u64((uint64_t)user_id);
    for (struct hnode *n = hmap_first(&m->users, h); n; n = hmap_next(n, h)) {
        struct wr_entry *e = container_of(n, struct wr_entry, by_user);
        if (e->user_id == user_id)
            return e;
    }
    return NULL;
}

/* ---- the line: pre-queue and ring ---- */

static int64_t room_waiting(const struct mem_room *m) { return m->pre_len + m->waiting; }

/* Re-lays the ring over cap slots (cap >= the span in use); the Fenwick tree is rebuilt. */
static int ring_resize(struct mem_room *m, int64_t cap)
{
    TK_ASSERT(cap >= m->tail_seq - m->head_seq && cap > 0);
    struct wr_entry **ring = calloc((size_t)cap, sizeof *ring);
    struct rank rk;
    if (!ring || rank_init(&rk, cap) < 0) {
        free(ring);
        return TK_ERR_NOMEM;
    }
    for (int64_t seq = m->head_seq; seq < m->tail_seq; seq++) {
        struct wr_entry *e = m->ring[seq % m->ring_cap];
        if (e) {
            ring[seq % cap] = e;
            rank_add(&rk, seq, +1);
        }
    }
    free(m->ring);
    rank_free(&m->rank);
    m->ring = ring;
    m->rank = rk;
    m->ring_cap = cap;
    return TK_OK;
}

/* Appends e at the tail of the line, growing the ring (doubling, up to queue_max) when its span is full.
 * The caller has checked the room's limit, so the span never needs more than queue_max slots. */
static int ring_append(struct mem_room *m, int64_t queue_max, struct wr_entry *e)
{
    if (m->tail_seq - m->head_seq >= m->ring_cap) {
        int64_t cap = m->ring_cap * 2 < queue_max ? m->ring_cap * 2 : queue_max;
        TK_ASSERT(cap > m->ring_cap);
        TK_TRY(ring_resize(m, cap));
    }
    e->seq = m->tail_seq++;
    e->place = PLACE_RING;
    m->ring[e->seq % m->ring_cap] = e;
    rank_add(&m->rank, e->seq, +1);
    m->waiting++;
    return TK_OK;
}

static int pre_append(struct mem_room *m, struct wr_entry *e)
{
    if (m->pre_len == m->pre_cap) {
        int64_t cap = m->pre_cap ? m->pre_cap * 2 : RING_MIN;
        struct wr_entry **p = realloc(m->pre, (size_t)cap * sizeof *p);
        if (!p)
            return TK_ERR_NOMEM;
        m->pre = p;
        m->pre_cap = cap;
    }
    e->seq = m->pre_len;
    e->place = PLACE_PRE;
    m->pre[m->pre_len++] = e;
    return TK_OK;
}

/* Takes e out of the line (admitted or dropped). The pre-queue has no order yet: the last one fills the hole. */
static void line_remove(struct mem_room *m, struct wr_entry *e)
{
    if (e->place == PLACE_PRE) {
        TK_ASSERT(m->pre[e->seq] == e);
        struct wr_entry *last = m->pre[--m->pre_len];
        m->pre[e->seq] = last;
        last->seq = e->seq;
    } else if (e->place == PLACE_RING) {
        int64_t slot = e->seq % m->ring_cap;
        TK_ASSERT(m->ring[slot] == e);
        m->ring[slot] = NULL;
        rank_add(&m->rank, e->seq, -1);
        m->waiting--;
        while (m->head_seq < m->tail_seq && !m->ring[m->head_seq % m->ring_cap])
            m->head_seq++;
    }
    e->place = PLACE_NONE;
}

/* The opening: the pre-queue, shuffled once with draws from the CSPRNG, goes behind the line. A failed draw
 * leaves the pre-queue in place for the next call (a Fisher–Yates shuffle from any order is uniform). */
static int open_pre_queue(struct mem_room *m, int64_t queue_max)
{
    for (int64_t i = m->pre_len - 1; i > 0; i--) {
        uint64_t j;
        TK_TRY(rand_secure_below((uint64_t)i + 1, &j));
        struct wr_entry *t = m->pre[i];
        m->pre[i] = m->pre[j];
        m->pre[j] = t;
    }
    int64_t need = m->tail_seq - m->head_seq + m->pre_len, cap = m->ring_cap;
    while (cap < need)
        cap = cap * 2 < queue_max ? cap * 2 : queue_max;
    TK_ASSERT(cap >= need);
    if (cap != m->ring_cap)
        TK_TRY(ring_resize(m, cap));
    for (int64_t i = 0; i < m->pre_len; i++) {
        int rc = ring_append(m, queue_max, m->pre[i]);
        TK_ASSERT(rc == TK_OK); /* the span fits: no allocation */
    }
    m->pre_len = 0;
    if (m->pre_cap > RING_MIN) { /* the pre-queue array is used once per opening: give its memory back */
        free(m->pre);
        m->pre = NULL;
        m->pre_cap = 0;
    }
    return TK_OK;
}

/* ---- state changes ---- */

static void make_expired(struct mem_room *m, struct wr_entry *e, int64_t now_ms, bool abandoned)
{
    if (e->state == TOKEN_ACTIVE)
        list_unlink(&m->active, e);
    else
        line_remove(m, e);
    token_transition(&e->state, TOKEN_EXPIRED);
    e->expires_at_ms = now_ms;
    list_push(&m->expired, e);
    m->expired_total++;
    if (abandoned)
        m->abandoned_total++;
}

static void count_admission(struct mem_room *m, const struct admission_policy *p, const struct wr_entry *e,
                            int64_t now_ms)
{
    m->admitted_total++;
    if (m->first_admit_ms == 0)
        m->first_admit_ms = now_ms;
    int64_t s = now_ms / 1000;
    int i = (int)(s % RATE_SECONDS);
    if (m->sec_stamp[i] != s) {
        m->sec_stamp[i] = s;
        m->sec_count[i] = 0;
    }
    m->sec_count[i]++;
    int64_t from = e->arrived_ms > p->opens_at_ms ? e->arrived_ms : p->opens_at_ms;
    m->wait_hist[admission_wait_bucket(now_ms - from)]++;
}

static void make_active(struct mem_room *m, const struct admission_policy *p, struct wr_entry *e, int64_t now_ms)
{
    line_remove(m, e);
    token_transition(&e->state, TOKEN_ACTIVE);
    e->expires_at_ms = now_ms + p->token_ms;
    list_insert_by_expiry(&m->active, e);
    count_admission(m, p, e, now_ms);
}

static void forget(struct mem_room *m, struct wr_entry *e)
{
    list_unlink(&m->expired, e);
    hmap_remove(&m->tokens, &e->by_token);
    if (e->in_user_map)
        hmap_remove(&m->users, &e->by_user);
    free(e);
}

static bool idle(const struct admission_policy *p, const struct wr_entry *e, int64_t now_ms)
{
    return e->last_seen_ms + p->idle_ms <= now_ms;
}

/* Expires every waiter, pre-queue included (only_idle: only the idle ones, counted as abandoned). */
static void expire_waiters(struct mem_room *m, const struct admission_policy *p, int64_t now_ms, bool only_idle)
{
    for (int64_t i = m->pre_len - 1; i >= 0; i--) /* backwards: a removal moves the last one into the hole */
        if (!only_idle || idle(p, m->pre[i], now_ms))
            make_expired(m, m->pre[i], now_ms, only_idle);
    for (int64_t seq = m->head_seq; seq < m->tail_seq; seq++) {
        struct wr_entry *e = m->ring[seq % m->ring_cap];
        if (e && (!only_idle || idle(p, e, now_ms)))
            make_expired(m, e, now_ms, only_idle);
    }
}

/* Applies everything time has made due in room m; called under its mutex by every operation. */
static int advance(struct tk_waitroom *w, struct mem_room *m, const struct admission_policy *p, int64_t now_ms)
{
    while (m->active.head && m->active.head->expires_at_ms <= now_ms)
        make_expired(m, m->active.head, now_ms, false);

    if (p->mode == WR_CLOSED) {
        expire_waiters(m, p, now_ms, false);
    } else if (now_ms - m->last_idle_scan_ms >= IDLE_SCAN_EVERY_MS) {
        m->last_idle_scan_ms = now_ms;
        expire_waiters(m, p, now_ms, true);
    }

    if (m->pre_len > 0 && admission_opened(p, now_ms))
        TK_TRY(open_pre_queue(m, w->queue_max));

    int64_t quota = admission_quota(p, &m->bucket, now_ms, m->active.count, m->waiting);
    while (quota > 0 && m->waiting > 0) {
        struct wr_entry *e = m->ring[m->head_seq % m->ring_cap];
        TK_ASSERT(e);
        if (idle(p, e, now_ms)) { /* a silent waiter loses its place instead of taking a slot */
            make_expired(m, e, now_ms, true);
            continue;
        }
        make_active(m, p, e, now_ms);
        admit_bucket_take(&m->bucket, 1);
        quota--;
    }
    if (m->head_seq == m->tail_seq && m->ring_cap > RING_MIN)
        (void)ring_resize(m, RING_MIN); /* the line is empty: give the memory back (failed: keep the big one) */

    while (m->expired.head &&
           (m->expired.head->expires_at_ms + p->token_ms <= now_ms || m->expired.count > w->queue_max))
        forget(m, m->expired.head);
    return TK_OK;
}

static int64_t last_minute(const struct mem_room *m, int64_t now_ms, int64_t *window_ms)
{
    int64_t s = now_ms / 1000, n = 0;
    for (int i = 0; i < RATE_SECONDS; i++)
        if (m->sec_stamp[i] <= s && s - m->sec_stamp[i] < RATE_SECONDS)
            n += m->sec_count[i];
    int64_t span = m->first_admit_ms ? now_ms - m->first_admit_ms : 0;
    *window_ms = span < ADMISSION_RATE_WINDOW_MS ? span : ADMISSION_RATE_WINDOW_MS;
    return n;
}

static void fill(struct mem_room *m, const struct admission_policy *p, const struct wr_entry *e, int64_t now_ms,
                 struct tk_ticket *out)
{
    memcpy(out->token, e->token, sizeof out->token);
    out->room_id = m->id;
    out->user_id = e->user_id;
    out->state = e->state;
    out->expires_at_ms = e->state == TOKEN_WAITING ? 0 : e->expires_at_ms;
    if (e->state != TOKEN_WAITING) {
        out->position = 0;
        out->estimated_wait_s = 0;
    } else if (e->place != PLACE_RING || !admission_opened(p, now_ms)) {
        out->position = -1;
        out->estimated_wait_s = -1;
    } else {
        out->position = rank_count(&m->rank, m->head_seq, e->seq);
        int64_t window_ms, n = last_minute(m, now_ms, &window_ms);
        out->estimated_wait_s = admission_estimate_wait_s(p, now_ms, out->position, m->active.count, n, window_ms);
    }
}

/* ---- rooms ---- */

static void room_free(struct mem_room *m)
{
    for (int64_t i = 0; i < m->pre_len; i++)
        free(m->pre[i]);
    for (int64_t seq = m->head_seq; m->ring && seq < m->tail_seq; seq++)
        free(m->ring[seq % m->ring_cap]);
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
    free(m->pre);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static struct mem_room *room_lookup(struct mem_waitroom *mw, int64_t id)
{
    uint64_t h = hash_u64((uint64_t)id);
    for (struct hnode *n = hmap_first(&mw->rooms, h); n; n = hmap_next(n, h)) {
        struct mem_room *m = container_of(n, struct mem_room, by_id);
        if (m->id == id)
            return m;
    }
    return NULL;
}

static int room_new(struct mem_waitroom *mw, const struct wr_room *r, int64_t now_ms, struct mem_room **out)
{
    struct mem_room *m = calloc(1, sizeof *m);
    if (!m)
        return TK_ERR_NOMEM;
    m->id = r->id;
    pthread_mutex_init(&m->mu, NULL);
    m->ring_cap = RING_MIN < mw->base.queue_max ? RING_MIN : mw->base.queue_max;
    m->ring = calloc((size_t)m->ring_cap, sizeof *m->ring);
    int rc = m->ring ? TK_OK : TK_ERR_NOMEM;
    if (rc == TK_OK)
        rc = rank_init(&m->rank, m->ring_cap);
    if (rc == TK_OK)
        rc = hmap_init(&m->tokens, 64);
    if (rc == TK_OK)
        rc = hmap_init(&m->users, 64);
    if (rc < 0) {
        room_free(m);
        return rc;
    }
    admit_bucket_init(&m->bucket, &r->policy, now_ms);
    m->last_idle_scan_ms = now_ms;
    hmap_insert(&mw->rooms, &m->by_id, hash_u64((uint64_t)r->id));
    mw->room_count++;
    *out = m;
    return TK_OK;
}

/* Room r, locked; created when `create` (TK_ERR_UNAVAILABLE past WAITROOM_ROOMS_MAX), else TK_ERR_NOT_FOUND
 * when it does not exist yet. Rooms live until the backend is freed, so the pointer stays valid. */
static int room_get(struct mem_waitroom *mw, const struct wr_room *r, int64_t now_ms, bool create,
                    struct mem_room **out)
{
    pthread_rwlock_rdlock(&mw->rooms_mu);
    struct mem_room *m = room_lookup(mw, r->id);
    pthread_rwlock_unlock(&mw->rooms_mu);
    if (!m && !create)
        return TK_ERR_NOT_FOUND;
    if (!m) {
        pthread_rwlock_wrlock(&mw->rooms_mu);
        m = room_lookup(mw, r->id); /* another thread may have made it meanwhile */
        int rc = TK_OK;
        if (!m)
            rc = mw->room_count >= WAITROOM_ROOMS_MAX ? TK_ERR_UNAVAILABLE : room_new(mw, r, now_ms, &m);
        pthread_rwlock_unlock(&mw->rooms_mu);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&m->mu);
    *out = m;
    return TK_OK;
}

/* ---- operations ---- */

static int mem_issue(struct tk_waitroom *w, const struct wr_room *r, int64_t user_id, int64_t now_ms,
                     struct tk_ticket *out, bool *created)
{
    const struct admission_policy *p = &r->policy;
    struct mem_room *m;
    TK_TRY(room_get(MW(w), r, now_ms, true, &m));
    int rc = advance(w, m, p, now_ms);
    struct wr_entry *old = find_user(m, user_id);
    if (rc == TK_OK && old && old->state != TOKEN_EXPIRED) {
        if (old->state == TOKEN_WAITING)
            old->last_seen_ms = now_ms;
        fill(m, p, old, now_ms, out);
        *created = false;
        pthread_mutex_unlock(&m->mu);
        return TK_OK;
    }
    bool immediate = admission_immediate(p, now_ms, m->active.count, room_waiting(m));
    if (rc == TK_OK && p->mode == WR_CLOSED)
        rc = TK_ERR_SALE_CLOSED;
    else if (rc == TK_OK && !immediate && m->pre_len + m->tail_seq - m->head_seq >= w->queue_max)
        rc = TK_ERR_UNAVAILABLE; /* the line is full */
    struct wr_entry *e = NULL;
    if (rc == TK_OK) {
        e = calloc(1, sizeof *e);
        rc = e ? waitroom_token_new(r->id, e->token) : TK_ERR_NOMEM;
    }
    if (rc == TK_OK) {
        e->user_id = user_id;
        e->state = TOKEN_WAITING;
        e->arrived_ms = e->last_seen_ms = now_ms;
        if (!immediate)
            rc = admission_opened(p, now_ms) ? ring_append(m, w->queue_max, e) : pre_append(m, e);
    }
    if (rc < 0) {
        free(e);
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    if (old) { /* the user's previous token is EXPIRED: it stays known by token only */
        hmap_remove(&m->users, &old->by_user);
        old->in_user_map = false;
    }
    hmap_insert(&m->tokens, &e->by_token, hash_str(e->token));
    hmap_insert(&m->users, &e->by_user, hash_u64((uint64_t)user_id));
    e->in_user_map = true;
    m->issued_total++;
    if (immediate)
        make_active(m, p, e, now_ms);
    fill(m, p, e, now_ms, out);
    *created = true;
    pthread_mutex_unlock(&m->mu);
    return TK_OK;
}

static int mem_status(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms,
                      struct tk_ticket *out)
{
    struct mem_room *m;
    TK_TRY(room_get(MW(w), r, now_ms, false, &m));
    int rc = advance(w, m, &r->policy, now_ms);
    struct wr_entry *e = find_token(m, token);
    if (rc == TK_OK && e) {
        if (e->state == TOKEN_WAITING)
            e->last_seen_ms = now_ms;
        fill(m, &r->policy, e, now_ms, out);
    }
    pthread_mutex_unlock(&m->mu);
    return rc < 0 ? rc : e ? TK_OK : TK_ERR_NOT_FOUND;
}

static int mem_finish(struct tk_waitroom *w, const struct wr_room *r, const char *token, int64_t now_ms)
{
    struct mem_room *m;
    int rc = room_get(MW(w), r, now_ms, false, &m);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_OK;
    TK_TRY(rc);
    struct wr_entry *e = find_token(m, token);
    if (e && e->state == TOKEN_ACTIVE)
        make_expired(m, e, now_ms, false);
    rc = advance(w, m, &r->policy, now_ms); /* the freed slot admits the next waiter now */
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_tick(struct tk_waitroom *w, const struct wr_room *r, int64_t now_ms)
{
    struct mem_room *m;
    int rc = room_get(MW(w), r, now_ms, false, &m);
    if (rc == TK_ERR_NOT_FOUND)
        return TK_OK; /* nobody ever came: nothing is due */
    TK_TRY(rc);
    rc = advance(w, m, &r->policy, now_ms);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_stats(struct tk_waitroom *w, const struct wr_room *r, int64_t now_ms, struct tk_waitroom_stats *out)
{
    struct mem_room *m;
    int rc = room_get(MW(w), r, now_ms, false, &m);
    if (rc == TK_ERR_NOT_FOUND) {
        *out = (struct tk_waitroom_stats){.wait_p50_s = -1, .wait_p95_s = -1};
        return TK_OK;
    }
    TK_TRY(rc);
    rc = advance(w, m, &r->policy, now_ms);
    int64_t window_ms, n = last_minute(m, now_ms, &window_ms);
    *out = (struct tk_waitroom_stats){
        .waiting = room_waiting(m),
        .active = m->active.count,
        .issued_total = m->issued_total,
        .admitted_total = m->admitted_total,
        .expired_total = m->expired_total,
        .abandoned_total = m->abandoned_total,
        .admitted_last_minute = n,
        .window_ms = window_ms,
        .wait_p50_s = admission_wait_quantile_s(m->wait_hist, 0.50),
        .wait_p95_s = admission_wait_quantile_s(m->wait_hist, 0.95),
    };
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void mem_free(struct tk_waitroom *w)
{
    struct mem_waitroom *mw = MW(w);
    if (mw->rooms.buckets) {
        for (size_t i = 0; i <= mw->rooms.mask; i++) {
            struct hnode *n = mw->rooms.buckets[i];
            while (n) {
                struct hnode *next = n->next;
                room_free(container_of(n, struct mem_room, by_id));
                n = next;
            }
        }
    }
    hmap_free(&mw->rooms);
    pthread_rwlock_destroy(&mw->rooms_mu);
    free(mw);
}

static int mem_decide(struct tk_waitroom *w, const struct admission_input *in, struct admission_decision *out)
{
    (void)w;
    admission_decide(in, out);
    return TK_OK;
}

static const struct tk_waitroom_ops MEM_OPS = {
    .name = "memory",
    .issue = mem_issue,
    .status = mem_status,
    .finish = mem_finish,
    .tick = mem_tick,
    .stats = mem_stats,
    .decide = mem_decide,
    .free = mem_free,
};

int waitroom_mem_open(int64_t queue_max, struct tk_waitroom **out)
{
    TK_ASSERT(queue_max > 0);
    struct mem_waitroom *mw = calloc(1, sizeof *mw);
    if (!mw)
        return TK_ERR_NOMEM;
    mw->base.ops = &MEM_OPS;
    mw->base.queue_max = queue_max;
    pthread_rwlock_init(&mw->rooms_mu, NULL);
    if (hmap_init(&mw->rooms, 64) < 0) {
        pthread_rwlock_destroy(&mw->rooms_mu);
        free(mw);
        return TK_ERR_NOMEM;
    }
    *out = &mw->base;
    return TK_OK;
}
