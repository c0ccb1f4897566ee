/* seatcache.h — a per-instance negative cache: "seat S cannot be held before time T".
 *
 * Safe because of how a seat becomes free: an unexpired hold ends only at its expiry (paying it makes the
 * seat sold, which is forever), and a date that has started never reopens. So once this instance has learnt
 * from the store that a seat is held until T (or sold: T = forever), every later hold of that seat before T
 * can be refused without a round trip. The stampede's losers then cost no database work; only the winner and
 * one discovery per instance reach the store. It never says "free": a miss asks the store.
 * Bounded: a fixed table of SEATCACHE_SLOTS entries (a collision just forgets the older seat).
 * Clock skew between instances can only keep a seat cached slightly past its real expiry. */
#ifndef TK_SEATCACHE_H
#define TK_SEATCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include "util/err.h"

#define SEATCACHE_SLOTS 65536
#define SEATCACHE_STRIPES 64

struct seatcache_slot {
    int64_t seat_id;
    int64_t busy_until_ms;
};

struct seatcache {
    pthread_mutex_t stripes[SEATCACHE_STRIPES];
    struct seatcache_slot *slots;
};

int seatcache_init(struct seatcache *c) TK_MUST_CHECK;
void seatcache_free(struct seatcache *c);
/* true when the seat is known to be taken at now_ms. */
bool seatcache_busy(struct seatcache *c, int64_t seat_id, int64_t now_ms);
/* Remembers that the seat cannot be held before busy_until_ms (INT64_MAX: never). */
void seatcache_note(struct seatcache *c, int64_t seat_id, int64_t busy_until_ms);

#endif
