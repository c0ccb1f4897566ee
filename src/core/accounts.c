/* accounts.c — users and their API keys. The key is a 128-bit secret shown once, at creation. */
#include "core/app.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/hmap.h"
#include "util/sha256.h"

/* Decodes one UTF-8 code point at s; returns its length (1–4) or 0 if malformed. */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len)
        return 0;
    uint32_t v = s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < MIN[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

int account_check_name(const char *name)
{
    if (!name)
        return TK_ERR_INVALID;
    int chars = 0;
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        uint32_t cp;
        int n = utf8_decode(p, &cp);
        if (!n || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return TK_ERR_INVALID;
        p += n;
        if (++chars > USER_NAME_MAX_CHARS)
            return TK_ERR_INVALID;
    }
    return chars >= 1 ? TK_OK : TK_ERR_INVALID;
}

static void key_cache_put(struct key_cache *c, const char *digest, int64_t user_id);

int account_create(struct tk_app *app, const char *name, struct tk_user *out, char *api_key)
{
    TK_TRY(account_check_name(name));
    memcpy(api_key, API_KEY_PREFIX, 3);
    TK_TRY(rand_hex(api_key + 3, 16));
    char digest[65];
    sha256_hex(api_key, API_KEY_LEN, digest);
    TK_TRY(store_user_create(app->store, name, digest, app_now_ms(app), out));
    if (app->key_cache)
        key_cache_put(app->key_cache, digest, out->id);
    APP_COUNT(app, users_created, 1);
    return TK_OK;
}

static bool key_well_formed(const char *key)
{
    if (strlen(key) != API_KEY_LEN || memcmp(key, API_KEY_PREFIX, 3) != 0)
        return false;
    for (const char *p = key + 3; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* The known keys: a key's digest, once found in the store, always names the same user (a key is never changed or
 * revoked, a user never deleted), so an instance may remember it and skip the store's lookup — the one store round
 * trip of every Bearer request besides its own work (a flash sale's thousands of refused orders are mostly that).
 * Direct-mapped: a slot per digest hash, a colliding digest simply replaces the one there; unknown keys are never
 * remembered (a made-up key always asks the store). Bounded: KEY_CACHE_SLOTS slots (~1.2 MB). If keys ever become
 * revocable, this cache must be invalidated with them. */
#define KEY_CACHE_SLOTS 16384
#define KEY_CACHE_STRIPES 64
struct key_slot {
    char digest[65];
    int64_t user_id;
};
struct key_cache {
    pthread_mutex_t mu[KEY_CACHE_STRIPES];
    struct key_slot slot[KEY_CACHE_SLOTS];
};

int key_cache_new(struct key_cache **out)
{
    struct key_cache *c = calloc(1, sizeof *c);
    if (!c)
        return TK_ERR_NOMEM;
    for (int i = 0; i < KEY_CACHE_STRIPES; i++)
        pthread_mutex_init(&c->mu[i], NULL);
    *out = c;
    return TK_OK;
}

void key_cache_free(struct key_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < KEY_CACHE_STRIPES; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c);
}

static bool key_cache_get(struct key_cache *c, const char *digest, int64_t *user_id)
{
    size_t i = hash_str(digest) & (KEY_CACHE_SLOTS - 1);
    pthread_mutex_t *mu = &c->mu[i % KEY_CACHE_STRIPES];
    pthread_mutex_lock(mu);
    bool hit = c->slot[i].user_id > 0 && memcmp(c->slot[i].digest, digest, 64) == 0;
    if (hit)
        *user_id = c->slot[i].user_id;
    pthread_mutex_unlock(mu);
    return hit;
}

static void key_cache_put(struct key_cache *c, const char *digest, int64_t user_id)
{
    size_t i = hash_str(digest) & (KEY_CACHE_SLOTS - 1);
    pthread_mutex_t *mu = &c->mu[i % KEY_CACHE_STRIPES];
    pthread_mutex_lock(mu);
    memcpy(c->slot[i].digest, digest, 65);
    c->slot[i].user_id = user_id;
    pthread_mutex_unlock(mu);
}

int account_authenticate(struct tk_app *app, const char *authorization, int64_t *user_id)
{
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
        return TK_ERR_UNAUTHORIZED;
    const char *key = authorization + 7;
    if (!key_well_formed(key))
        return TK_ERR_UNAUTHORIZED;
    char digest[65];
    sha256_hex(key, API_KEY_LEN, digest);
    if (app->key_cache && key_cache_get(app->key_cache, digest, user_id))
        return TK_OK;
    int rc = store_user_by_api_key(app->store, digest, user_id);
    if (rc == TK_OK && app->key_cache)
        key_cache_put(app->key_cache, digest, *user_id);
    return rc == TK_ERR_NOT_FOUND ? TK_ERR_UNAUTHORIZED : rc;
}
