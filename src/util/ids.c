/* ids.c — strict id parsing: no signs, spaces, leading '+', or values beyond 18 digits. */
#include "util/ids.h"

#include <stdio.h>

int id_parse(const char *s, int64_t *out)
{
    if (!s || !*s || s[0] == '0')
        return TK_ERR_INVALID; /* canonical form only: no leading zeros */
    int64_t v = 0;
    int n = 0;
    for (; s[n]; n++) {
        if (n >= 18 || s[n] < '0' || s[n] > '9')
            return TK_ERR_INVALID;
        v = v * 10 + (s[n] - '0');
    }
    if (v < 1)
        return TK_ERR_INVALID;
    *out = v;
    return TK_OK;
}

int uint_parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return TK_ERR_INVALID;
    int64_t v = 0;
    for (int n = 0; s[n]; n++) {
        if (n >= 18 || s[n] < '0' || s[n] > '9')
            return TK_ERR_INVALID;
        v = v * 10 + (s[n] - '0');
    }
    if (v < min || v > max)
        return TK_ERR_INVALID;
    *out = v;
    return TK_OK;
}

void id_format(int64_t id, char *buf) { snprintf(buf, ID_STR_MAX, "%lld", (long long)id); }
