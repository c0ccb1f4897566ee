/* seatmap.h — the instance's cache of what GET /concert/available-seats, /concert/seat-map and
 * /concert/available-dates answer:
 * shared/API.md allows them to be "at most 100 ms stale (a seat held or sold more than 100 ms ago is never shown
 * free)"; holds, payments and refunds never read it.
 *
 * Why the bound holds. Every page is stamped with a monotonic time taken before its store read was sent, so it
 * shows every write that committed before its stamp, and it is served only while now - stamp < SEATMAP_STALE_NS.
 * A read that arrives more than SEATMAP_STALE_NS after a write committed can therefore only be answered from a
 * page whose read started after that commit. That covers every instance's writes, with no coordination.
 * This instance's own writes are seen at once: core bumps a version counter after each committed hold, payment
 * and expiry, before the write's response goes out (seatmap_changed_*), and a page whose version snapshot (taken
 * before its read) is not the current version is never served.
 *
 * Single flight. A miss claims the key's refresh; while a claim younger than SEATMAP_FLIGHT_NS is out, other
 * misses of that key are told to wait (SEATMAP_WAIT, on an executor: re-run shortly, no thread held) instead of
 * reading too. A valid page older than SEATMAP_AHEAD_NS is refreshed ahead by one caller while the others keep
 * being served from it, so a steadily read key is read from the store about once per SEATMAP_AHEAD_NS and its
 * readers never see a miss. A refresh that fails (the store is down) releases its claim and caches nothing: an
 * entry past the bound is never served, whatever the store's state.
 *
 * Limits: entries_max keys (--seat-map-cache-max) and SEATMAP_BYTES_MAX bytes of pages; past either, the entry put
 * longest ago is evicted. A miss that caches nothing (a 404, a failed read) leaves no entry behind, and a new key
 * gets no refresh claim while the cache is full, so neither evicts a page. A schedule's concert (for the sale gate; it never changes) is remembered in a fixed
 * table of SEATMAP_OWNER_SLOTS (a collision forgets the older one: the gate then asks the store).
 * Thread-safe: one mutex; pages are immutable once published and reference-counted, so they are copied out
 * without the lock. Times are nanoseconds of the caller's monotonic clock (clock_mono_ns), passed in so that
 * unit tests move time instead of sleeping. */
#ifndef TK_SEATMAP_H
#define TK_SEATMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include "util/err.h"
#include "util/hmap.h"

#define SEATMAP_STALE_NS (100 * 1000000LL) /* the contract's bound: a page this old is never served */
#define SEATMAP_AHEAD_NS (80 * 1000000LL)  /* a page this old is refreshed by one caller while it still serves */
#define SEATMAP_FLIGHT_NS (50 * 1000000LL) /* a refresh claim older than this is given up: another caller may take it */
#define SEATMAP_WAIT_US 500                /* how long a miss waits for the claimed refresh before looking again */
#define SEATMAP_WAIT_TRIES 8               /* then it reads the store itself */
#define SEATMAP_ENTRIES_DEFAULT 1024
#define SEATMAP_ENTRIES_MAX 1000000
#define SEATMAP_BYTES_MAX (64u * 1024 * 1024)
#define SEATMAP_VERSION_STRIPES 256 /* per-schedule versions share this many counters */
#define SEATMAP_OWNER_SLOTS 16384

enum seatmap_kind {
    SEATMAP_SEATS, /* id: the schedule; the page is the whole response body */
    SEATMAP_DATES, /* id: the concertId filter (0: none); the page is the items, one row per date */
    SEATMAP_MAP,   /* id: the schedule; the page is the whole seat-map body (up to SCHEDULE_SEATS_MAX seats, about
                    * 100 bytes each: far below SEATMAP_BYTES_MAX); versioned with the schedule like SEATS */
};

/* One item of a dates page: bytes[off, off + len) is the date's JSON object, of concert concert_id. */
struct seatmap_row {
    int64_t concert_id;
    uint32_t off, len;
};

/* Immutable once published. The holder of a reference (seatmap_get HIT) calls seatmap_page_release. */
struct seatmap_page {
    int refs; /* atomic */
    int64_t stamp_ns;
    size_t len;
    const char *bytes;
    int nrows;
    const struct seatmap_row *rows;
};

/* A read the caller is about to make, from a MISS to seatmap_put (it succeeded) or seatmap_abandon (it did not). */
struct seatmap_fill {
    enum seatmap_kind kind;
    int64_t id;
    int64_t stamp_ns;          /* the page's stamp: the caller's now, taken before the versions and the read */
    uint64_t ver_all, ver_key; /* the version snapshot */
    uint64_t claim;            /* the refresh claim this caller holds (0: none) */
};

enum seatmap_verdict {
    SEATMAP_HIT,  /* *page is valid (a reference: release it) */
    SEATMAP_MISS, /* read the store, then seatmap_put or seatmap_abandon with *fill */
    SEATMAP_WAIT, /* another caller is refreshing this key: look again in SEATMAP_WAIT_US */
};

/* seatmap_get flags (0: a worker that may read the store and may wait) */
#define SEATMAP_INLINE 1u  /* an event thread: never WAIT; a refresh it claims is handed to the worker it passes the
                            * request to (MISS with fill.claim); a miss whose refresh is out is MISS without a claim */
#define SEATMAP_NO_WAIT 2u /* the caller has waited enough: MISS (without a claim) instead of WAIT */
#define SEATMAP_PEEK 4u    /* only the page: HIT while valid, else MISS; never claims (a failed refresh looking for
                            * the page it was refreshing ahead) */

struct seatmap_entry;
struct seatmap {
    pthread_mutex_t mu;
    struct hmap map;
    struct seatmap_entry *oldest, *newest; /* by last put */
    int64_t entries, entries_max;
    size_t bytes;
    uint64_t claim_seq;
    uint64_t ver_all;                              /* atomic: every page */
    uint64_t ver_dates;                            /* atomic: every dates page */
    uint64_t ver_schedule[SEATMAP_VERSION_STRIPES]; /* atomic: seat pages, by schedule */
    struct seatmap_owner {
        int64_t schedule_id, concert_id;
    } *owners;
    /* counters (atomic) */
    uint64_t hits, misses, waits, refreshes, evictions;
};

/* entries_max: 1..SEATMAP_ENTRIES_MAX. A failed init needs no free; seatmap_free of a zeroed struct is a no-op. */
int seatmap_init(struct seatmap *m, int64_t entries_max) TK_MUST_CHECK;
void seatmap_free(struct seatmap *m);

/* Looks up (kind, id) at now_ns. HIT: *page is a reference. MISS: *fill describes the read to make, with the
 * refresh claim when this caller got it (then seatmap_put or seatmap_abandon it). WAIT: nothing to release.
 * A valid page is a HIT unless it is due for its refresh ahead and nobody has claimed that: then the caller
 * claims it (MISS). See the flags above. */
enum seatmap_verdict seatmap_get(struct seatmap *m, enum seatmap_kind kind, int64_t id, int64_t now_ns,
                                 unsigned flags, const struct seatmap_page **page, struct seatmap_fill *fill);
/* Publishes what the read of fill found (bytes copied; rows may be NULL when nrows is 0) and releases its claim.
 * Never replaces a page stamped later; a page over SEATMAP_BYTES_MAX, or no memory, is simply not cached. */
void seatmap_put(struct seatmap *m, const struct seatmap_fill *fill, const char *bytes, size_t len,
                 const struct seatmap_row *rows, int nrows);
/* The read of fill failed: releases its claim, caches nothing. */
void seatmap_abandon(struct seatmap *m, const struct seatmap_fill *fill);
/* seatmap_page_release(NULL) is a no-op. */
void seatmap_page_release(const struct seatmap_page *page);

/* This instance changed the store: called after the write committed and before its response (holds and new
 * dates: the schedule; payments and the sweep's expiries: all; a refund or a cancelled date must call one too). */
void seatmap_changed_schedule(struct seatmap *m, int64_t schedule_id); /* its seats and map pages, every dates page */
void seatmap_changed_all(struct seatmap *m);                           /* every page */

/* A schedule's concert, if remembered. */
bool seatmap_concert_of(struct seatmap *m, int64_t schedule_id, int64_t *concert_id);
void seatmap_note_concert(struct seatmap *m, int64_t schedule_id, int64_t concert_id);

struct seatmap_stats {
    uint64_t hits, misses, waits, refreshes, evictions;
    int64_t entries, entries_max;
    size_t bytes;
};
void seatmap_stats(struct seatmap *m, struct seatmap_stats *out);

#endif
