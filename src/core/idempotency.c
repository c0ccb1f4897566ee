/* idempotency.c — what an Idempotency-Key may look like, and what "the same request" means: the same
 * method, path and body bytes. The protocol itself (claim, run, store the first response, replay) lives
 * in api/router.c around the handler; the records live in the store. */
#include "core/app.h"

#include <stdio.h>
#include <string.h>
#include "util/sha256.h"

int idem_key_check(const char *key)
{
    if (!key)
        return TK_ERR_INVALID;
    size_t n = strlen(key);
    if (n < 1 || n > IDEM_KEY_MAX)
        return TK_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
            return TK_ERR_INVALID;
    return TK_OK;
}

void idem_request_hash(const char *method, const char *path, const char *body, size_t body_len, char out[65])
{
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, method, strlen(method));
    sha256_update(&s, " ", 1);
    sha256_update(&s, path, strlen(path));
    sha256_update(&s, "\n", 1);
    if (body_len)
        sha256_update(&s, body, body_len);
    unsigned char d[32];
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}
