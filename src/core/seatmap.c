/* seatmap.c — the read cache of available-seats, seat-map and available-dates pages, see seatmap.h.
 * One mutex guards the map, the list by last put and the claims; versions and counters are atomics. */
#include "core/seatmap.h"

#include <stdlib.h>
#include <string.h>

struct seatmap_entry {
    struct hnode node;
    enum seatmap_kind kind;
    int64_t id;
    struct seatmap_page *page; /* NULL until the first put */
    uint64_t ver_all, ver_key; /* the page's version snapshot */
    int64_t claim_ns;          /* when the refresh out was claimed; 0: none */
    uint64_t claim;
    struct seatmap_entry *older, *newer;
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define COUNT(p) __atomic_add_fetch((p), 1, __ATOMIC_RELAXED)

int seatmap_init(struct seatmap *m, int64_t entries_max)
{
    TK_ASSERT(entries_max >= 1 && entries_max <= SEATMAP_ENTRIES_MAX);
    memset(m, 0, sizeof *m);
    m->owners = calloc(SEATMAP_OWNER_SLOTS, sizeof *m->owners);
    if (!m->owners)
        return TK_ERR_NOMEM;
    if (hmap_init(&m->map, 64) < 0) {
        free(m->owners);
        m->owners = NULL;
        return TK_ERR_NOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->entries_max = entries_max;
    return TK_OK;
}

static void page_unref(struct seatmap_page *p)
{
    if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(p);
}

void seatmap_page_release(const struct seatmap_page *page) { page_unref((struct seatmap_page *)page); }

void seatmap_free(struct seatmap *m)
{
    if (!m->owners)
        return;
    for (struct seatmap_entry *e = m->oldest, *next; e; e = next) {
        next = e->newer;
        page_unref(e->page);
        free(e);
    }
    hmap_free(&m->map);
    pthread_mutex_destroy(&m->mu);
    free(m->owners);
    memset(m, 0, sizeof *m);
}

static uint64_t key_hash(enum seatmap_kind kind, int64_t id) { return hash_u64((uint64_t)id * 4 + (uint64_t)kind); }

static uint64_t *key_version(struct seatmap *m, enum seatmap_kind kind, int64_t id)
{
    if (kind == SEATMAP_DATES)
        return &m->ver_dates;
    return &m->ver_schedule /* SEATS and MAP: one counter per schedule stripe */[hash_u64((uint64_t)id) % SEATMAP_VERSION_STRIPES];
}

static struct seatmap_entry *find(struct seatmap *m, enum seatmap_kind kind, int64_t id)
{
    uint64_t h = key_hash(kind, id);
    for (struct hnode *n = hmap_first(&m->map, h); n; n = hmap_next(n, h)) {
        struct seatmap_entry *e = container_of(n, struct seatmap_entry, node);
        if (e->kind == kind && e->id == id)
            return e;
    }
    return NULL;
}

/* ---- the list by last put: oldest first ---- */

static void list_unlink(struct seatmap *m, struct seatmap_entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    e->older = e->newer = NULL;
}

static void list_push_newest(struct seatmap *m, struct seatmap_entry *e)
{
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
}

static void drop(struct seatmap *m, struct seatmap_entry *e)
{
    list_unlink(m, e);
    hmap_remove(&m->map, &e->node);
    if (e->page)
        m->bytes -= e->page->len;
    page_unref(e->page);
    free(e);
    m->entries--;
}

static void evict(struct seatmap *m, struct seatmap_entry *e)
{
    drop(m, e);
    COUNT(&m->evictions);
}

/* The entry of (kind, id), created (evicting the oldest when full) if missing; NULL when out of memory. */
static struct seatmap_entry *find_or_add(struct seatmap *m, enum seatmap_kind kind, int64_t id)
{
    struct seatmap_entry *e = find(m, kind, id);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    while (m->entries >= m->entries_max && m->oldest)
        evict(m, m->oldest);
    e->kind = kind;
    e->id = id;
    hmap_insert(&m->map, &e->node, key_hash(kind, id));
    list_push_newest(m, e);
    m->entries++;
    return e;
}

static bool page_valid(struct seatmap *m, const struct seatmap_entry *e, int64_t now_ns)
{
    return e->page && now_ns - e->page->stamp_ns < SEATMAP_STALE_NS && e->ver_all == LOAD(&m->ver_all) &&
           e->ver_key == LOAD(key_version(m, e->kind, e->id));
}

static void fill_out(struct seatmap *m, enum seatmap_kind kind, int64_t id, int64_t now_ns, uint64_t claim,
                     struct seatmap_fill *fill)
{
    /* Versions before the read; the stamp (the caller's now) is no later than them: a conservative stamp. */
    *fill = (struct seatmap_fill){.kind = kind, .id = id, .stamp_ns = now_ns, .claim = claim,
                                  .ver_all = LOAD(&m->ver_all), .ver_key = LOAD(key_version(m, kind, id))};
}

enum seatmap_verdict seatmap_get(struct seatmap *m, enum seatmap_kind kind, int64_t id, int64_t now_ns,
                                 unsigned flags, const struct seatmap_page **page, struct seatmap_fill *fill)
{
    *page = NULL;
    *fill = (struct seatmap_fill){.kind = kind, .id = id, .stamp_ns = now_ns};
    pthread_mutex_lock(&m->mu);
    struct seatmap_entry *e = find(m, kind, id);
    bool claim_out = e && e->claim_ns && now_ns - e->claim_ns < SEATMAP_FLIGHT_NS;
    if (e && page_valid(m, e, now_ns)) {
        bool refresh_due = now_ns - e->page->stamp_ns >= SEATMAP_AHEAD_NS && !claim_out;
        if (!refresh_due || (flags & SEATMAP_PEEK)) {
            __atomic_add_fetch(&e->page->refs, 1, __ATOMIC_RELAXED);
            *page = e->page;
            pthread_mutex_unlock(&m->mu);
            COUNT(&m->hits);
            return SEATMAP_HIT;
        }
        /* due and unclaimed: this caller refreshes it (below) while the others are still served the page */
    } else if (flags & SEATMAP_PEEK) {
        pthread_mutex_unlock(&m->mu);
        return SEATMAP_MISS;
    } else if (claim_out) {
        pthread_mutex_unlock(&m->mu);
        if (flags & (SEATMAP_INLINE | SEATMAP_NO_WAIT)) {
            if (!(flags & SEATMAP_INLINE))
                COUNT(&m->misses); /* reads the store itself, without the claim */
            fill_out(m, kind, id, now_ns, 0, fill);
            return SEATMAP_MISS;
        }
        COUNT(&m->waits);
        return SEATMAP_WAIT;
    }
    uint64_t claim = 0;
    if (!e && m->entries < m->entries_max) /* full: no claim for a new key, rather than evicting a page for it */
        e = find_or_add(m, kind, id);
    if (e) {
        claim = ++m->claim_seq;
        e->claim = claim;
        e->claim_ns = now_ns ? now_ns : 1;
    }
    fill_out(m, kind, id, now_ns, claim, fill);
    pthread_mutex_unlock(&m->mu);
    COUNT(&m->misses);
    return SEATMAP_MISS;
}

void seatmap_abandon(struct seatmap *m, const struct seatmap_fill *fill)
{
    if (!fill->claim)
        return;
    pthread_mutex_lock(&m->mu);
    struct seatmap_entry *e = find(m, fill->kind, fill->id);
    if (e && e->claim == fill->claim) {
        e->claim = 0, e->claim_ns = 0;
        if (!e->page)
            drop(m, e); /* made for this claim (a 404, a failed first read): it takes no slot from real pages */
    }
    pthread_mutex_unlock(&m->mu);
}

void seatmap_put(struct seatmap *m, const struct seatmap_fill *fill, const char *bytes, size_t len,
                 const struct seatmap_row *rows, int nrows)
{
    TK_ASSERT(nrows >= 0 && (nrows == 0 || rows));
    size_t rows_size = sizeof(struct seatmap_row) * (size_t)nrows;
    struct seatmap_page *p = len <= SEATMAP_BYTES_MAX ? malloc(sizeof *p + rows_size + len + 1) : NULL;
    if (!p) {
        seatmap_abandon(m, fill);
        return;
    }
    struct seatmap_row *prow = (struct seatmap_row *)(p + 1);
    char *pbytes = (char *)prow + rows_size;
    if (nrows)
        memcpy(prow, rows, rows_size);
    memcpy(pbytes, bytes, len);
    pbytes[len] = 0;
    *p = (struct seatmap_page){.refs = 1, .stamp_ns = fill->stamp_ns, .len = len, .bytes = pbytes,
                               .nrows = nrows, .rows = prow};

    pthread_mutex_lock(&m->mu);
    struct seatmap_entry *e = find_or_add(m, fill->kind, fill->id);
    if (e && fill->claim && e->claim == fill->claim)
        e->claim = 0, e->claim_ns = 0;
    if (!e || (e->page && e->page->stamp_ns >= fill->stamp_ns)) { /* never replace a later read */
        pthread_mutex_unlock(&m->mu);
        free(p);
        return;
    }
    if (e->page) {
        m->bytes -= e->page->len;
        page_unref(e->page);
    }
    e->page = p;
    e->ver_all = fill->ver_all;
    e->ver_key = fill->ver_key;
    m->bytes += len;
    list_unlink(m, e);
    list_push_newest(m, e);
    while (m->bytes > SEATMAP_BYTES_MAX && m->oldest != e)
        evict(m, m->oldest);
    pthread_mutex_unlock(&m->mu);
    COUNT(&m->refreshes);
}

void seatmap_changed_schedule(struct seatmap *m, int64_t schedule_id)
{
    __atomic_add_fetch(key_version(m, SEATMAP_SEATS, schedule_id), 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&m->ver_dates, 1, __ATOMIC_ACQ_REL);
}

void seatmap_changed_all(struct seatmap *m) { __atomic_add_fetch(&m->ver_all, 1, __ATOMIC_ACQ_REL); }

/* The owner table: direct-mapped, guarded by the main mutex (a lookup is a few loads). */
bool seatmap_concert_of(struct seatmap *m, int64_t schedule_id, int64_t *concert_id)
{
    struct seatmap_owner *o = &m->owners[hash_u64((uint64_t)schedule_id) % SEATMAP_OWNER_SLOTS];
    pthread_mutex_lock(&m->mu);
    bool known = o->schedule_id == schedule_id && schedule_id != 0;
    if (known)
        *concert_id = o->concert_id;
    pthread_mutex_unlock(&m->mu);
    return known;
}

void seatmap_note_concert(struct seatmap *m, int64_t schedule_id, int64_t concert_id)
{
    struct seatmap_owner *o = &m->owners[hash_u64((uint64_t)schedule_id) % SEATMAP_OWNER_SLOTS];
    pthread_mutex_lock(&m->mu);
    o->schedule_id = schedule_id;
    o->concert_id = concert_id;
    pthread_mutex_unlock(&m->mu);
}

void seatmap_stats(struct seatmap *m, struct seatmap_stats *out)
{
    pthread_mutex_lock(&m->mu);
    out->entries = m->entries;
    out->entries_max = m->entries_max;
    out->bytes = m->bytes;
    pthread_mutex_unlock(&m->mu);
    out->hits = LOAD(&m->hits);
    out->misses = LOAD(&m->misses);
    out->waits = LOAD(&m->waits);
    out->refreshes = LOAD(&m->refreshes);
    out->evictions = LOAD(&m->evictions);
}
