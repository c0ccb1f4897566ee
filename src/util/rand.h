/* rand.h — secrets (API keys, queue tokens) from the kernel's CSPRNG, and cheap jitter for backoff. */
#ifndef TK_RAND_H
#define TK_RAND_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Writes 2*nbytes lowercase hex digits and a NUL into out (size >= 2*nbytes+1). */
int rand_hex(char *out, size_t nbytes) TK_MUST_CHECK;
/* A uniformly distributed value in [0, bound) from a per-thread xorshift generator (not a secret). */
uint64_t rand_below(uint64_t bound);
/* Fair, unpredictable draws from the kernel's CSPRNG (getrandom, read 512 bytes at a time into a per-thread
 * buffer): for choices a client must not be able to predict or bias, such as the waiting room's pre-queue order.
 * rand_secure_below: uniform in [0, bound) (bound >= 1), by rejection, without modulo bias.
 * rand_secure_unit: uniform in [0, 1), a multiple of 2^-53. TK_ERR_INTERNAL when the kernel refuses. */
int rand_secure_below(uint64_t bound, uint64_t *out) TK_MUST_CHECK;
int rand_secure_unit(double *out) TK_MUST_CHECK;

/* Capped exponential backoff with full jitter: uniform in [0, min(cap_us, base_us * 2^attempt)] (attempt >= 1).
 * rnd(n) returns a uniform value in [0, n) (rand_below, or a fake in tests). */
int64_t backoff_full_jitter_us(int attempt, int base_us, int cap_us, uint64_t (*rnd)(uint64_t));

#endif
