/* hmap.c — chained buckets, power-of-two table, doubled at load factor 1. */
#include "util/hmap.h"

#include <stdlib.h>

int hmap_init(struct hmap *m, size_t initial_buckets)
{
    size_t n = 16;
    while (n < initial_buckets)
        n *= 2;
    m->buckets = calloc(n, sizeof *m->buckets);
    m->mask = n - 1;
    m->count = 0;
    return m->buckets ? TK_OK : TK_ERR_NOMEM;
}

void hmap_free(struct hmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
}

static void grow(struct hmap *m)
{
    size_t n = (m->mask + 1) * 2;
    struct hnode **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i <= m->mask; i++) {
        struct hnode *node = m->buckets[i];
        while (node) {
            struct hnode *next = node->next;
            size_t b = node->hash & (n - 1);
            node->next = nb[b];
            nb[b] = node;
            node = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->mask = n - 1;
}

void hmap_insert(struct hmap *m, struct hnode *n, uint64_t hash)
{
    if (m->count >= m->mask + 1)
        grow(m);
    n->hash = hash;
    size_t b = hash & m->mask;
    n->next = m->buckets[b];
    m->buckets[b] = n;
    m->count++;
}

void hmap_remove(struct hmap *m, struct hnode *n)
{
    struct hnode **p = &m->buckets[n->hash & m->mask];
    while (*p && *p != n)
        p = &(*p)->next;
    TK_ASSERT(*p == n);
    *p = n->next;
    m->count--;
}

struct hnode *hmap_first(const struct hmap *m, uint64_t hash)
{
    struct hnode *n = m->buckets[hash & m->mask];
    while (n && n->hash != hash)
        n = n->next;
    return n;
}

struct hnode *hmap_next(const struct hnode *n, uint64_t hash)
{
    struct hnode *x = n->next;
    while (x && x->hash != hash)
        x = x->next;
    return x;
}

uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
