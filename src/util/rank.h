/* rank.h — order statistics over a ring of sequence numbers: "how many live entries are there from the
 * head up to sequence s?" in O(log n). The waiting room uses it for a waiter's exact position while
 * others leave from the middle of the line (idle expiry). A Fenwick tree over `cap` slots; slot = seq % cap.
 * The caller keeps every live sequence within [head, head + cap). */
#ifndef TK_RANK_H
#define TK_RANK_H

#include <stdint.h>
#include "util/err.h"

struct rank {
    int64_t cap;
    int32_t *tree; /* 1-based Fenwick array of cap + 1 */
};

int rank_init(struct rank *r, int64_t cap) TK_MUST_CHECK;
void rank_free(struct rank *r);
/* Adds delta (+1 live, -1 gone) at sequence seq. */
void rank_add(struct rank *r, int64_t seq, int delta);
/* Live entries with sequence in [head, seq] (head <= seq < head + cap). */
int64_t rank_count(const struct rank *r, int64_t head, int64_t seq);

#endif
