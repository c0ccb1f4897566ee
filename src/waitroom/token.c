/* token.c — the queue token's format (waitroom.h): room 0's are 32 lowercase hex digits, room N's "<N>-" and
 * the same, so the token itself says which room to look in. In the waitroom layer because every backend makes
 * tokens with waitroom_token_new. */
#include "waitroom/waitroom.h"

#include <stdio.h>
#include <string.h>
#include "util/ids.h"
#include "util/rand.h"

int waitroom_token_new(int64_t room_id, char *out)
{
    char hex[TOKEN_HEX_LEN + 1];
    TK_TRY(rand_hex(hex, TOKEN_HEX_LEN / 2));
    if (room_id == 0)
        memcpy(out, hex, sizeof hex);
    else
        snprintf(out, TOKEN_MAX_LEN + 1, "%lld-%s", (long long)room_id, hex);
    return TK_OK;
}

int waitroom_token_room(const char *token, int64_t *room_id)
{
    if (!token)
        return TK_ERR_UNAUTHORIZED;
    size_t len = strlen(token);
    if (len < TOKEN_HEX_LEN || len > TOKEN_MAX_LEN)
        return TK_ERR_UNAUTHORIZED;
    const char *hex = token + len - TOKEN_HEX_LEN;
    for (const char *p = hex; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return TK_ERR_UNAUTHORIZED;
    if (hex == token) {
        *room_id = 0;
        return TK_OK;
    }
    /* "<room>-": a canonical positive decimal id */
    char id[24];
    size_t idlen = (size_t)(hex - token) - 1;
    if (hex[-1] != '-' || idlen == 0 || idlen >= sizeof id)
        return TK_ERR_UNAUTHORIZED;
    memcpy(id, token, idlen);
    id[idlen] = 0;
    int64_t v;
    if (id[0] == '0' || id_parse(id, &v) < 0)
        return TK_ERR_UNAUTHORIZED;
    *room_id = v;
    return TK_OK;
}
