/* rank.c — a Fenwick (binary indexed) tree laid over a ring. */
#include "util/rank.h"

#include <stdlib.h>

int rank_init(struct rank *r, int64_t cap)
{
    TK_ASSERT(cap > 0);
    r->cap = cap;
    r->tree = calloc((size_t)cap + 1, sizeof *r->tree);
    return r->tree ? TK_OK : TK_ERR_NOMEM;
}

void rank_free(struct rank *r)
{
    free(r->tree);
    r->tree = NULL;
}

void rank_add(struct rank *r, int64_t seq, int delta)
{
    for (int64_t i = seq % r->cap + 1; i <= r->cap; i += i & -i)
        r->tree[i] += delta;
}

/* Sum of slots [0, slot]. */
static int64_t prefix(const struct rank *r, int64_t slot)
{
    int64_t sum = 0;
    for (int64_t i = slot + 1; i > 0; i -= i & -i)
        sum += r->tree[i];
    return sum;
}

int64_t rank_count(const struct rank *r, int64_t head, int64_t seq)
{
    TK_ASSERT(seq >= head && seq - head < r->cap);
    int64_t a = head % r->cap, b = seq % r->cap;
    if (a <= b)
        return prefix(r, b) - (a ? prefix(r, a - 1) : 0);
    return prefix(r, r->cap - 1) - prefix(r, a - 1) + prefix(r, b);
}
