/* store.c — picks a store implementation from the --db URL, and the demo catalogue every backend seeds. */
#include "store/store.h"

#include <string.h>
#include <stdio.h>

int sqlite_store_open(const char *path, int pool_max, struct tk_store **out, char *errbuf, int errlen);
int pg_store_open(const char *url, int pool_max, struct tk_store **out, char *errbuf, int errlen);

int store_open(const char *url, int pool_max, struct tk_store **out, char *errbuf, int errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return sqlite_store_open(url + 7, pool_max, out, errbuf, errlen);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return pg_store_open(url, pool_max, out, errbuf, errlen);
    snprintf(errbuf, (size_t)errlen, "unknown --db '%s': expected sqlite:PATH or postgres://…", url);
    return TK_ERR_INVALID;
}

void store_close(struct tk_store *st)
{
    if (st)
        st->ops->close(st);
}

const struct store_demo_concert STORE_DEMO_CONCERTS[] = {
    {"Aurora Symphony Night", {7, 14, 21}},
    {"Neon Harbor Live", {10, 17, 24}},
};
const int STORE_DEMO_CONCERT_COUNT = 2;

int64_t store_demo_price_won(int seat_number)
{
    if (seat_number <= 10)
        return 150000;
    if (seat_number <= 30)
        return 110000;
    return 80000;
}

int64_t store_demo_starts_at_ms(int64_t now_ms, int days_ahead)
{
    const int64_t day_ms = 86400000LL;
    int64_t midnight = now_ms - now_ms % day_ms;
    return midnight + days_ahead * day_ms + 19LL * 3600000LL;
}
