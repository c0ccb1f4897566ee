/* rand.c — getrandom(2) for secrets, a seeded per-thread xorshift for jitter. */
#include "util/rand.h"

#include <sys/random.h>
#include <errno.h>
#include "util/clock.h"

int rand_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    TK_ASSERT(nbytes <= sizeof raw);
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(raw + got, nbytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return TK_ERR_INTERNAL;
        }
        got += (size_t)n;
    }
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = HEX[raw[i] >> 4];
        out[2 * i + 1] = HEX[raw[i] & 15];
    }
    out[2 * nbytes] = 0;
    return TK_OK;
}

static __thread uint64_t sec_buf[64];
static __thread int sec_left;

static int secure_u64(uint64_t *out)
{
    if (sec_left == 0) {
        size_t got = 0;
        while (got < sizeof sec_buf) {
            ssize_t n = getrandom((char *)sec_buf + got, sizeof sec_buf - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return TK_ERR_INTERNAL;
            }
            got += (size_t)n;
        }
        sec_left = 64;
    }
    *out = sec_buf[--sec_left];
    sec_buf[sec_left] = 0; /* a used draw is not left lying around */
    return TK_OK;
}

int rand_secure_below(uint64_t bound, uint64_t *out)
{
    TK_ASSERT(bound >= 1);
    /* reject the top (2^64 mod bound) values so every residue is equally likely */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound + 1) % bound;
    uint64_t x;
    do
        TK_TRY(secure_u64(&x));
    while (x > limit);
    *out = x % bound;
    return TK_OK;
}

int rand_secure_unit(double *out)
{
    uint64_t x;
    TK_TRY(secure_u64(&x));
    *out = (double)(x >> 11) * (1.0 / 9007199254740992.0); /* 53 bits / 2^53 */
    return TK_OK;
}

static __thread uint64_t xs_state;

uint64_t rand_below(uint64_t bound)
{
    if (bound == 0)
        return 0;
    if (xs_state == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
            seed = (uint64_t)clock_mono_ns();
        xs_state = seed | 1;
    }
    uint64_t x = xs_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    xs_state = x;
    return x % bound;
}

int64_t backoff_full_jitter_us(int attempt, int base_us, int cap_us, uint64_t (*rnd)(uint64_t))
{
    TK_ASSERT(attempt >= 1 && base_us > 0 && cap_us >= base_us);
    int64_t ceiling = base_us;
    for (int i = 0; i < attempt && ceiling < cap_us; i++)
        ceiling *= 2;
    if (ceiling > cap_us)
        ceiling = cap_us;
    return (int64_t)rnd((uint64_t)ceiling + 1);
}
