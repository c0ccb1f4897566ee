/* seatcache.c — striped fixed table, see seatcache.h. */
#include "core/seatcache.h"

#include <stdlib.h>
#include "util/hmap.h"

int seatcache_init(struct seatcache *c)
{
    c->slots = calloc(SEATCACHE_SLOTS, sizeof *c->slots);
    if (!c->slots)
        return TK_ERR_NOMEM;
    for (int i = 0; i < SEATCACHE_STRIPES; i++)
        pthread_mutex_init(&c->stripes[i], NULL);
    return TK_OK;
}

void seatcache_free(struct seatcache *c)
{
    if (!c->slots)
        return;
    for (int i = 0; i < SEATCACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i]);
    free(c->slots);
    c->slots = NULL;
}

static size_t slot_of(int64_t seat_id) { return hash_u64((uint64_t)seat_id) % SEATCACHE_SLOTS; }

bool seatcache_busy(struct seatcache *c, int64_t seat_id, int64_t now_ms)
{
    size_t i = slot_of(seat_id);
    pthread_mutex_t *mu = &c->stripes[i % SEATCACHE_STRIPES];
    pthread_mutex_lock(mu);
    bool busy = c->slots[i].seat_id == seat_id && c->slots[i].busy_until_ms > now_ms;
    pthread_mutex_unlock(mu);
    return busy;
}

void seatcache_note(struct seatcache *c, int64_t seat_id, int64_t busy_until_ms)
{
    size_t i = slot_of(seat_id);
    pthread_mutex_t *mu = &c->stripes[i % SEATCACHE_STRIPES];
    pthread_mutex_lock(mu);
    struct seatcache_slot *s = &c->slots[i];
    if (s->seat_id != seat_id || s->busy_until_ms < busy_until_ms) {
        s->seat_id = seat_id;
        s->busy_until_ms = busy_until_ms;
    }
    pthread_mutex_unlock(mu);
}
