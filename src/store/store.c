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
    {"Aurora Symphony Night", {7, 14, 21}, false},
    {"Neon Harbor Live", {10, 17, 24}, false},
    {"Midnight Comet World Tour", {30, 31, 32}, true},
};
const int STORE_DEMO_CONCERT_COUNT = 3;

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

static const char *const SALE_STATE_NAMES[] = {"OPEN", "PAUSED", "CLOSED", "SOLD_OUT"};

const char *store_sale_state_name(enum tk_sale_state s)
{
    TK_ASSERT(s >= SALE_OPEN && s <= SALE_SOLD_OUT);
    return SALE_STATE_NAMES[s];
}

int store_sale_state_parse(const char *name, enum tk_sale_state *out)
{
    for (int i = 0; i <= SALE_SOLD_OUT; i++)
        if (strcmp(name, SALE_STATE_NAMES[i]) == 0) {
            *out = (enum tk_sale_state)i;
            return TK_OK;
        }
    return TK_ERR_INTERNAL;
}

int store_sale_patch_apply(struct tk_sale *cur, const struct tk_sale_patch *p)
{
    if (p->has_state && p->state_from_mask && !(p->state_from_mask & (1u << cur->state)))
        return TK_ERR_CONFLICT;
    if (p->has_max_active)
        cur->max_active = p->max_active;
    if (p->has_admit_per_sec)
        cur->admit_per_sec = p->admit_per_sec;
    if (p->has_state)
        cur->state = p->state;
    return TK_OK;
}

/* ---- the shop: demo merchandise and order state names ---- */

const struct store_demo_product STORE_DEMO_PRODUCTS[] = {
    {"Tour T-shirt", 4,
     {{"S", 35000, 200}, {"M", 35000, 300}, {"L", 35000, 300}, {"XL", 38000, 150}}},
    {"Light stick", 2, {{"Standard", 45000, 500}, {"Bluetooth", 65000, 200}}},
    {"Poster set", 1, {{"A2, set of 3", 20000, 300}}},
    {"Tote bag", 2, {{"Natural", 25000, 150}, {"Black", 25000, 150}}},
};
const int STORE_DEMO_PRODUCT_COUNT = (int)(sizeof STORE_DEMO_PRODUCTS / sizeof STORE_DEMO_PRODUCTS[0]);

static const char *const ORDER_STATE_NAMES[] = {"PENDING", "PAID", "EXPIRED"};

const char *store_order_state_name(enum tk_order_state s)
{
    TK_ASSERT(s >= ORDER_PENDING && s <= ORDER_EXPIRED);
    return ORDER_STATE_NAMES[s];
}

int store_order_state_parse(const char *name, enum tk_order_state *out)
{
    for (int i = 0; i <= ORDER_EXPIRED; i++)
        if (strcmp(name, ORDER_STATE_NAMES[i]) == 0) {
            *out = (enum tk_order_state)i;
            return TK_OK;
        }
    return TK_ERR_INTERNAL;
}
