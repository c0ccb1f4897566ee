/* hmap.h — an intrusive chained hash map: nodes live inside the caller's structs (container_of), the map
 * owns only its bucket array. Lookups walk the nodes with the same hash; the caller compares keys. */
#ifndef TK_HMAP_H
#define TK_HMAP_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct hnode {
    struct hnode *next;
    uint64_t hash;
};

struct hmap {
    struct hnode **buckets;
    size_t mask;
    size_t count;
};

int hmap_init(struct hmap *m, size_t initial_buckets) TK_MUST_CHECK;
/* Frees the bucket array only; the nodes belong to the caller. */
void hmap_free(struct hmap *m);
/* Inserts n under hash (grows the table at load 1; a failed grow keeps the old table). */
void hmap_insert(struct hmap *m, struct hnode *n, uint64_t hash);
void hmap_remove(struct hmap *m, struct hnode *n);
/* The first node with this hash, then the next ones; NULL at the end. */
struct hnode *hmap_first(const struct hmap *m, uint64_t hash);
struct hnode *hmap_next(const struct hnode *n, uint64_t hash);

uint64_t hash_str(const char *s);
uint64_t hash_u64(uint64_t x);

#endif
