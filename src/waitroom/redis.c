/* redis.c — the waiting rooms in Redis, shared by every instance.
 *
 * Rooms: room 0 keeps the base prefix (e.g. "tk:{wr}:", today's keys); room N's keys have ":N" added inside the
 * base's hash tag ("tk:{wr:N}:"), so each room's keys share one cluster slot and rooms spread over a cluster.
 * Keys of a room (<p> its prefix):
 *   <p>waiting  ZSET token -> order key           the line; a position is ZRANK + 1, O(log n)
 *   <p>seen     ZSET token -> last poll (ms)        idle waiters are those with a score <= now - idle
 *   <p>active   ZSET token -> expiry (ms)           the ACTIVE count is its size; lapsed ones score <= now
 *   <p>t:<tok>  HASH state, user, exp, arr          one per token, with a TTL
 *   <p>u:<user> STRING token                        the user's live token, with a TTL
 *   <p>seq      counter of FIFO arrivals; <p>bucket HASH (admission rate);
 *   <p>stats    HASH issued, admitted, expired, abandoned, first (the first admission, ms)
 *   <p>persec   HASH 60 slots: s<i> = a second, c<i> = its admissions (i = second % 60): the last minute's rate
 *   <p>hist     HASH wait bucket (admission_wait_bucket) -> admissions: the p50/p95 of time in line
 * The pre-queue, exactly once across instances without a shuffle step: an arrival before opens_at gets as its
 * order key a uniform fraction in [0, 1) drawn from the CSPRNG in C (rand_secure_unit, passed as ARGV); an
 * arrival after it gets INCR seq (1, 2, ...). Sorting by i.i.d. uniform keys is a uniformly random permutation
 * (a tie, chance ~n^2/2^54, falls back to the token's order, itself random), fixed once at arrival; positions are
 * hidden (null) until opens_at, so it is revealed at the opening, whichever instance serves who, and later
 * arrivals queue FIFO behind. (opens_at is fixed per sale; were it moved later, new early arrivals would be
 * placed among the earlier pre-queue, ahead of FIFO arrivals.)
 * Bounded: waiting and seen hold at most queue_max members, active at most max_active; persec 120 fields, hist
 * 239; every per-token key has a TTL and a room's keys expire a day after its last issue or tick. Each
 * operation is one Lua script with the room's current settings in ARGV (mode and opens_at included: a backend
 * keeps no copy): it first applies what time has made due (lapsed actives, in a CLOSED room the waiters,
 * idle waiters, then FIFO admissions within free slots and the admit_per_sec bucket, only when OPEN and opened;
 * at most BATCH of each kind a call) and then does its own work, atomically, so any number of instances admit
 * exactly as one would. The clock is the caller's (passed in), like every other time in ticketd.
 */
#include "waitroom/waitroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/rand.h"
#include "util/rpool.h"

/* ARGV[1..9], every script: the room's key prefix, now, then the room's current settings (a backend keeps no
 * copy of them): max_active, admit_per_sec, token_ms, idle_ms, queue_max, mode, opens_at. */
#define LUA_PRELUDE                                                                                      \
    "local P = ARGV[1]\n"                                                                                \
    "local now = tonumber(ARGV[2])\n"                                                                    \
    "local max_active = tonumber(ARGV[3])\n"                                                             \
    "local rate = tonumber(ARGV[4])\n"                                                                   \
    "local token_ms = tonumber(ARGV[5])\n"                                                               \
    "local idle_ms = tonumber(ARGV[6])\n"                                                                \
    "local queue_max = tonumber(ARGV[7])\n"                                                              \
    "local mode = ARGV[8]\n"                                                                             \
    "local opens_at = tonumber(ARGV[9])\n"                                                               \
    "local opened = now >= opens_at\n"                                                                   \
    "local BATCH = 1000\n"                                                                               \
    "local W, S, A, B, ST = P..'waiting', P..'seen', P..'active', P..'bucket', P..'stats'\n"             \
    "local PS, H = P..'persec', P..'hist'\n"                                                             \
    "local function tkey(t) return P..'t:'..t end\n"                                                     \
    "local function expire_token(t, abandoned)\n"                                                        \
    "  redis.call('HSET', tkey(t), 'state', 'EXPIRED', 'exp', now)\n"                                    \
    "  redis.call('PEXPIRE', tkey(t), token_ms)\n"                                                       \
    "  redis.call('HINCRBY', ST, 'expired', 1)\n"                                                        \
    "  if abandoned then redis.call('HINCRBY', ST, 'abandoned', 1) end\n"                                \
    "end\n"                                                                                              \
    "local function drop_waiter(t, abandoned)\n"                                                         \
    "  redis.call('ZREM', W, t); redis.call('ZREM', S, t); expire_token(t, abandoned)\n"                 \
    "end\n"                                                                                              \
    /* admission_wait_bucket (admission.c), in Lua */                                                    \
    "local function wait_bucket(ms)\n"                                                                   \
    "  local s = math.floor(math.max(ms, 0) / 1000)\n"                                                   \
    "  if s < 120 then return s end\n"                                                                   \
    "  local m = math.floor(s / 60)\n"                                                                   \
    "  if m < 120 then return 120 + m - 2 end\n"                                                         \
    "  return 238\n"                                                                                     \
    "end\n"                                                                                              \
    /* persec: 60 slots, field s<i> = the second it counts, c<i> = its admissions (i = second % 60) */   \
    "local function count_admission(arrived)\n"                                                          \
    "  local sec = math.floor(now / 1000)\n"                                                             \
    "  local i = sec % 60\n"                                                                             \
    "  if tonumber(redis.call('HGET', PS, 's'..i)) == sec then redis.call('HINCRBY', PS, 'c'..i, 1)\n"    \
    "  else redis.call('HSET', PS, 's'..i, sec, 'c'..i, 1) end\n"                                        \
    "  redis.call('HINCRBY', ST, 'admitted', 1)\n"                                                       \
    "  redis.call('HSETNX', ST, 'first', now)\n"                                                         \
    "  redis.call('HINCRBY', H, wait_bucket(now - math.max(arrived, opens_at)), 1)\n"                    \
    "end\n"                                                                                              \
    "local function activate(t, arrived)\n"                                                              \
    "  redis.call('HSET', tkey(t), 'state', 'ACTIVE', 'exp', now + token_ms)\n"                          \
    "  redis.call('PEXPIRE', tkey(t), token_ms * 2)\n"                                                   \
    "  redis.call('ZADD', A, now + token_ms, t)\n"                                                       \
    "  count_admission(arrived)\n"                                                                       \
    "end\n"                                                                                              \
    "local function advance()\n"                                                                         \
    "  local due = redis.call('ZRANGEBYSCORE', A, '-inf', now, 'LIMIT', 0, BATCH)\n"                     \
    "  for _, t in ipairs(due) do redis.call('ZREM', A, t); expire_token(t, false) end\n"                \
    "  if mode == 'CLOSED' then\n" /* BATCH a call; info() expires any waiter it is asked about */      \
    "    for _, t in ipairs(redis.call('ZRANGE', W, 0, BATCH - 1)) do drop_waiter(t, false) end\n"       \
    "  end\n"                                                                                            \
    "  local idle = redis.call('ZRANGEBYSCORE', S, '-inf', now - idle_ms, 'LIMIT', 0, BATCH)\n"          \
    "  for _, t in ipairs(idle) do drop_waiter(t, true) end\n"                                           \
    "  local cap = rate * 1000\n"                                                                        \
    "  local b = redis.call('HMGET', B, 'milli', 'last')\n"                                              \
    "  local milli = tonumber(b[1]) or cap\n"                                                            \
    "  local last = tonumber(b[2]) or now\n"                                                             \
    "  if now > last then\n"                                                                             \
    "    if now - last >= 1000 then milli = cap else milli = math.min(cap, milli + (now - last) * rate) end\n" \
    "    last = now\n"                                                                                   \
    "  end\n"                                                                                            \
    "  milli = math.min(milli, cap)\n"                                                                   \
    "  if mode == 'OPEN' and opened then\n"                                                              \
    "    local n = math.min(max_active - redis.call('ZCARD', A), math.floor(milli / 1000),\n"            \
    "                       redis.call('ZCARD', W))\n"                                                   \
    "    if n > 0 then\n"                                                                                \
    "      local popped = redis.call('ZPOPMIN', W, n)\n"                                                 \
    "      for i = 1, #popped, 2 do\n"                                                                   \
    "        local t = popped[i]\n"                                                                      \
    "        redis.call('ZREM', S, t)\n"                                                                 \
    "        activate(t, tonumber(redis.call('HGET', tkey(t), 'arr')) or now)\n"                         \
    "        milli = milli - 1000\n"                                                                     \
    "      end\n"                                                                                        \
    "    end\n"                                                                                          \
    "  end\n"                                                                                            \
    "  redis.call('HSET', B, 'milli', milli, 'last', last)\n"                                            \
    "  redis.call('PEXPIRE', B, 3600000)\n"                                                              \
    "end\n"                                                                                              \
    /* admissions in the last 60 s and the span they were counted over (tk_waitroom_stats) */            \
    "local function last_minute()\n"                                                                     \
    "  local sec = math.floor(now / 1000)\n"                                                             \
    "  local v = redis.call('HGETALL', PS)\n"                                                            \
    "  local f = {}\n"                                                                                   \
    "  for i = 1, #v, 2 do f[v[i]] = tonumber(v[i + 1]) end\n"                                           \
    "  local n = 0\n"                                                                                    \
    "  for i = 0, 59 do\n"                                                                               \
    "    local s = f['s'..i]\n"                                                                          \
    "    if s and s <= sec and sec - s < 60 then n = n + (f['c'..i] or 0) end\n"                         \
    "  end\n"                                                                                            \
    "  local first = tonumber(redis.call('HGET', ST, 'first'))\n"                                        \
    "  local win = 0\n"                                                                                  \
    "  if first then win = math.min(60000, now - first) end\n"                                           \
    "  return n, win\n"                                                                                  \
    "end\n"                                                                                              \
    "local function info(t, created)\n"                                                                  \
    "  local h = redis.call('HMGET', tkey(t), 'state', 'user', 'exp')\n"                                 \
    "  if not h[1] then return false end\n"                                                              \
    "  if h[1] == 'WAITING' and mode == 'CLOSED' then drop_waiter(t, false); h[1] = 'EXPIRED'; h[3] = now end\n" \
    "  local pos, n, win = 0, 0, 0\n"                                                                    \
    "  if h[1] == 'WAITING' then\n"                                                                      \
    "    if opened then pos = (redis.call('ZRANK', W, t) or -1) + 1; n, win = last_minute()\n"           \
    "    else pos = -1 end\n"                                                                            \
    "  end\n"                                                                                            \
    "  return {t, h[1], h[2], pos, tonumber(h[3]) or 0, redis.call('ZCARD', A), created, n, win}\n"      \
    "end\n"                                                                                              \
    "local function touch(t, user)\n"                                                                    \
    "  redis.call('ZADD', S, now, t)\n"                                                                  \
    "  redis.call('PEXPIRE', tkey(t), idle_ms + token_ms * 2)\n"                                         \
    "  redis.call('PEXPIRE', P..'u:'..user, idle_ms + token_ms * 2)\n"                                   \
    "end\n"                                                                                              \
    /* the room's own keys live ROOM_TTL past its last issue or tick (the sweep ticks every room) */     \
    "local function keep_room()\n"                                                                       \
    "  for _, k in ipairs({W, S, A, ST, PS, H, P..'seq'}) do redis.call('PEXPIRE', k, 86400000) end\n"   \
    "end\n"

/* ARGV[10] = user, ARGV[11] = a fresh token to use if the user has no live one, ARGV[12] = a uniform fraction
 * in [0, 1) from the CSPRNG: the order key of a pre-opening arrival. */
static const char LUA_ISSUE[] = LUA_PRELUDE
    "advance()\n"
    "local user = ARGV[10]\n"
    "local ukey = P..'u:'..user\n"
    "local cur = redis.call('GET', ukey)\n"
    "if cur then\n"
    "  local r = info(cur, 0)\n"
    "  if r and r[2] == 'WAITING' then touch(cur, user) end\n"
    "  if r and (r[2] == 'WAITING' or r[2] == 'ACTIVE') then return r end\n"
    "end\n"
    "if mode == 'CLOSED' then return {'CLOSED'} end\n"
    "local t = ARGV[11]\n"
    "local active, waiting = redis.call('ZCARD', A), redis.call('ZCARD', W)\n"
    "if mode == 'OPEN' and opened and waiting == 0 and active < max_active then\n"
    "  redis.call('HSET', tkey(t), 'state', 'ACTIVE', 'user', user, 'exp', now + token_ms, 'arr', now)\n"
    "  redis.call('PEXPIRE', tkey(t), token_ms * 2)\n"
    "  redis.call('ZADD', A, now + token_ms, t)\n"
    "  count_admission(now)\n"
    "elseif waiting >= queue_max then\n"
    "  return {'FULL'}\n"
    "else\n"
    "  local score = ARGV[12]\n" /* before the opening: a random key in [0, 1); after: FIFO, 1, 2, ... */
    "  if opened then score = redis.call('INCR', P..'seq') end\n"
    "  redis.call('ZADD', W, score, t)\n"
    "  redis.call('HSET', tkey(t), 'state', 'WAITING', 'user', user, 'exp', 0, 'arr', now)\n"
    "  touch(t, user)\n"
    "end\n"
    "redis.call('SET', ukey, t, 'PX', idle_ms + token_ms * 2)\n"
    "redis.call('HINCRBY', ST, 'issued', 1)\n"
    "keep_room()\n"
    "return info(t, 1)\n";

/* ARGV[10] = token; a poll. */
static const char LUA_STATUS[] = LUA_PRELUDE
    "advance()\n"
    "local t = ARGV[10]\n"
    "local r = info(t, 0)\n"
    "if r and r[2] == 'WAITING' then touch(t, r[3]) end\n"
    "return r\n";

/* ARGV[10] = token: its user paid. */
static const char LUA_FINISH[] = LUA_PRELUDE
    "local t = ARGV[10]\n"
    "if redis.call('HGET', tkey(t), 'state') == 'ACTIVE' then\n"
    "  redis.call('ZREM', A, t)\n"
    "  expire_token(t, false)\n"
    "end\n"
    "advance()\n"
    "return 1\n";

static const char LUA_TICK[] = LUA_PRELUDE "advance()\nkeep_room()\nreturn 1\n";

/* {waiting, active, issued, admitted, expired, abandoned, last minute, window, {histogram field, count, ...}} */
static const char LUA_STATS[] = LUA_PRELUDE
    "advance()\n"
    "local s = redis.call('HMGET', ST, 'issued', 'admitted', 'expired', 'abandoned')\n"
    "local n, win = last_minute()\n"
    "return {redis.call('ZCARD', W), redis.call('ZCARD', A), tonumber(s[1]) or 0, tonumber(s[2]) or 0,\n"
    "        tonumber(s[3]) or 0, tonumber(s[4]) or 0, n, win, redis.call('HGETALL', H)}\n";

enum script { SC_ISSUE, SC_STATUS, SC_FINISH, SC_TICK, SC_STATS, SC__COUNT };
static const char *const SCRIPTS[SC__COUNT] = {LUA_ISSUE, LUA_STATUS, LUA_FINISH, LUA_TICK, LUA_STATS};

struct redis_waitroom {
    struct tk_waitroom base;
    struct rpool pool;
    char prefix[64];
    char sha[SC__COUNT][41]; /* from SCRIPT LOAD; "" until loaded */
    pthread_mutex_t sha_mu;
};

static struct redis_waitroom *RW(struct tk_waitroom *w) { return (struct redis_waitroom *)w; }

#define ROOM_PREFIX_MAX 96

/* Room id's key prefix: the base prefix for room 0; for room N the base with ":N" inside its hash tag
 * ("tk:{wr}:" -> "tk:{wr:5}:"), or "{rN}:" appended when the base has none, so that each room's keys share one
 * cluster slot and different rooms spread over the cluster. */
static void room_prefix(const struct redis_waitroom *r, int64_t room_id, char out[ROOM_PREFIX_MAX])
{
    const char *open = strchr(r->prefix, '{');
    const char *close = open ? strchr(open, '}') : NULL;
    if (room_id == 0)
        snprintf(out, ROOM_PREFIX_MAX, "%s", r->prefix);
    else if (close && close > open + 1)
        snprintf(out, ROOM_PREFIX_MAX, "%.*s:%lld%s", (int)(close - r->prefix), r->prefix, (long long)room_id, close);
    else
        snprintf(out, ROOM_PREFIX_MAX, "%s{r%lld}:", r->prefix, (long long)room_id);
}

static const char *mode_name(enum wr_mode m) { return m == WR_OPEN ? "OPEN" : m == WR_PAUSED ? "PAUSED" : "CLOSED"; }

/* Runs script `sc` for room rm with the common ARGV plus up to three extras (NULL-terminated); EVALSHA, loading
 * the script on NOSCRIPT. KEYS[1] is the room's line, so a cluster client routes the call to the room's slot. */
static int run_script(struct redis_waitroom *r, const struct wr_room *rm, enum script sc, int64_t now_ms,
                      const char *x1, const char *x2, const char *x3, redisReply **out)
{
    char prefix[ROOM_PREFIX_MAX], key[ROOM_PREFIX_MAX + 8];
    char a_now[24], a_max[24], a_rate[24], a_tok[24], a_idle[24], a_qmax[24], a_opens[24];
    room_prefix(r, rm->id, prefix);
    snprintf(key, sizeof key, "%swaiting", prefix);
    snprintf(a_now, sizeof a_now, "%lld", (long long)now_ms);
    snprintf(a_max, sizeof a_max, "%d", rm->policy.max_active);
    snprintf(a_rate, sizeof a_rate, "%d", rm->policy.admit_per_sec);
    snprintf(a_tok, sizeof a_tok, "%lld", (long long)rm->policy.token_ms);
    snprintf(a_idle, sizeof a_idle, "%lld", (long long)rm->policy.idle_ms);
    snprintf(a_qmax, sizeof a_qmax, "%lld", (long long)r->base.queue_max);
    snprintf(a_opens, sizeof a_opens, "%lld", (long long)rm->policy.opens_at_ms);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    int rc = TK_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&r->sha_mu);
        bool loaded = r->sha[sc][0] != 0;
        char sha[41];
        memcpy(sha, r->sha[sc], sizeof sha);
        pthread_mutex_unlock(&r->sha_mu);
        if (!loaded) {
            const char *argv[] = {"SCRIPT", "LOAD", SCRIPTS[sc]};
            redisReply *lr;
            rc = rpool_command(c, 3, argv, NULL, &lr, &broken);
            if (rc < 0)
                break;
            if (lr->type != REDIS_REPLY_STRING || lr->len != 40) {
                fprintf(stderr, "ticketd: redis SCRIPT LOAD failed: %s\n", lr->type == REDIS_REPLY_ERROR ? lr->str : "?");
                freeReplyObject(lr);
                rc = TK_ERR_UNAVAILABLE;
                break;
            }
            memcpy(sha, lr->str, 41);
            freeReplyObject(lr);
            pthread_mutex_lock(&r->sha_mu);
            memcpy(r->sha[sc], sha, sizeof sha);
            pthread_mutex_unlock(&r->sha_mu);
        }
        const char *argv[16] = {"EVALSHA", sha,    "1",    key,    prefix,  a_now,
                                a_max,     a_rate, a_tok,  a_idle, a_qmax, mode_name(rm->policy.mode),
                                a_opens,   x1,     x2,     x3};
        int argc = 13;
        while (argc < 16 && argv[argc])
            argc++;
        redisReply *rep;
        rc = rpool_command(c, argc, argv, NULL, &rep, &broken);
        if (rc < 0)
            break;
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(rep); /* the server lost its script cache (restart): load again */
            pthread_mutex_lock(&r->sha_mu);
            r->sha[sc][0] = 0;
            pthread_mutex_unlock(&r->sha_mu);
            continue;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ticketd: redis waiting room: %s\n", rep->str);
            freeReplyObject(rep);
            rc = TK_ERR_UNAVAILABLE;
            break;
        }
        *out = rep;
        rc = TK_OK;
        break;
    }
    rpool_put(&r->pool, c, broken);
    return rc;
}

static int64_t elem_int(const redisReply *r, size_t i)
{
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

/* Reads {token, state, user, position, exp, active, created, last minute, window} into a ticket. */
static int read_ticket(const struct wr_room *rm, int64_t now_ms, const redisReply *rep, struct tk_ticket *out,
                       bool *created)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 9 || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING)
        return TK_ERR_INTERNAL;
    snprintf(out->token, sizeof out->token, "%s", rep->element[0]->str);
    const char *st = rep->element[1]->str;
    out->state = strcmp(st, "ACTIVE") == 0 ? TOKEN_ACTIVE : strcmp(st, "WAITING") == 0 ? TOKEN_WAITING : TOKEN_EXPIRED;
    out->room_id = rm->id;
    out->user_id = elem_int(rep, 2);
    out->position = out->state == TOKEN_WAITING ? elem_int(rep, 3) : 0;
    out->expires_at_ms = out->state == TOKEN_WAITING ? 0 : elem_int(rep, 4);
    out->estimated_wait_s = out->state != TOKEN_WAITING ? 0
                            : admission_estimate_wait_s(&rm->policy, now_ms, out->position, elem_int(rep, 5),
                                                        elem_int(rep, 7), elem_int(rep, 8));
    if (created)
        *created = elem_int(rep, 6) == 1;
    return TK_OK;
}

static int redis_issue(struct tk_waitroom *w, const struct wr_room *rm, int64_t user_id, int64_t now_ms,
                       struct tk_ticket *out, bool *created)
{
    struct redis_waitroom *r = RW(w);
    char user[24], token[TOKEN_MAX_LEN + 1], order[32];
    snprintf(user, sizeof user, "%lld", (long long)user_id);
    TK_TRY(waitroom_token_new(rm->id, token));
    double u;
    TK_TRY(rand_secure_unit(&u));
    snprintf(order, sizeof order, "%.17g", u); /* exact: a multiple of 2^-53 */
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_ISSUE, now_ms, user, token, order, &rep));
    int rc;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_STRING)
        rc = strcmp(rep->element[0]->str, "CLOSED") == 0 ? TK_ERR_SALE_CLOSED
                                                         : TK_ERR_UNAVAILABLE; /* {'FULL'}: at queue_max */
    else
        rc = read_ticket(rm, now_ms, rep, out, created);
    freeReplyObject(rep);
    return rc;
}

static int redis_status(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms,
                        struct tk_ticket *out)
{
    struct redis_waitroom *r = RW(w);
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_STATUS, now_ms, token, NULL, NULL, &rep));
    int rc = rep->type == REDIS_REPLY_NIL ? TK_ERR_NOT_FOUND : read_ticket(rm, now_ms, rep, out, NULL);
    freeReplyObject(rep);
    return rc;
}

static int simple(struct tk_waitroom *w, const struct wr_room *rm, enum script sc, const char *token, int64_t now_ms)
{
    redisReply *rep;
    TK_TRY(run_script(RW(w), rm, sc, now_ms, token, NULL, NULL, &rep));
    freeReplyObject(rep);
    return TK_OK;
}

static int redis_finish(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms)
{
    return simple(w, rm, SC_FINISH, token, now_ms);
}

static int redis_tick(struct tk_waitroom *w, const struct wr_room *rm, int64_t now_ms)
{
    return simple(w, rm, SC_TICK, NULL, now_ms);
}

static int redis_stats(struct tk_waitroom *w, const struct wr_room *rm, int64_t now_ms, struct tk_waitroom_stats *out)
{
    redisReply *rep;
    TK_TRY(run_script(RW(w), rm, SC_STATS, now_ms, NULL, NULL, NULL, &rep));
    int rc = TK_ERR_INTERNAL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 9 && rep->element[8]->type == REDIS_REPLY_ARRAY) {
        uint64_t hist[ADMISSION_WAIT_BUCKETS] = {0};
        const redisReply *h = rep->element[8];
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            int64_t b = elem_int(h, i);
            if (b >= 0 && b < ADMISSION_WAIT_BUCKETS)
                hist[b] = (uint64_t)elem_int(h, i + 1);
        }
        *out = (struct tk_waitroom_stats){.waiting = elem_int(rep, 0),
                                          .active = elem_int(rep, 1),
                                          .issued_total = (uint64_t)elem_int(rep, 2),
                                          .admitted_total = (uint64_t)elem_int(rep, 3),
                                          .expired_total = (uint64_t)elem_int(rep, 4),
                                          .abandoned_total = (uint64_t)elem_int(rep, 5),
                                          .admitted_last_minute = elem_int(rep, 6),
                                          .window_ms = elem_int(rep, 7),
                                          .wait_p50_s = admission_wait_quantile_s(hist, 0.50),
                                          .wait_p95_s = admission_wait_quantile_s(hist, 0.95)};
        rc = TK_OK;
    }
    freeReplyObject(rep);
    return rc;
}

/* One HMGET: ACTIVE and not lapsed (by the caller's clock) is admitted; nothing else is touched. */
static int redis_check(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms,
                       int64_t *user_id)
{
    struct redis_waitroom *r = RW(w);
    char prefix[ROOM_PREFIX_MAX], key[ROOM_PREFIX_MAX + TOKEN_MAX_LEN + 4];
    room_prefix(r, rm->id, prefix);
    snprintf(key, sizeof key, "%st:%s", prefix, token);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    const char *argv[] = {"HMGET", key, "state", "user", "exp"};
    redisReply *rep;
    int rc = rpool_command(c, 5, argv, NULL, &rep, &broken);
    rpool_put(&r->pool, c, broken);
    TK_TRY(rc);
    rc = TK_ERR_INTERNAL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3) {
        redisReply *st = rep->element[0];
        if (st->type != REDIS_REPLY_STRING) {
            rc = TK_ERR_NOT_FOUND;
        } else if (strcmp(st->str, "ACTIVE") == 0 && elem_int(rep, 2) > now_ms) {
            *user_id = elem_int(rep, 1);
            rc = TK_OK;
        } else {
            rc = TK_ERR_NOT_ADMITTED;
        }
    }
    freeReplyObject(rep);
    return rc;
}

static int redis_ping(struct tk_waitroom *w)
{
    struct redis_waitroom *r = RW(w);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    const char *argv[] = {"PING"};
    redisReply *rep;
    int rc = rpool_command(c, 1, argv, NULL, &rep, &broken);
    if (rc == TK_OK) {
        rc = rep->type == REDIS_REPLY_STATUS ? TK_OK : TK_ERR_UNAVAILABLE;
        freeReplyObject(rep);
    }
    rpool_put(&r->pool, c, broken);
    return rc;
}

static void redis_free(struct tk_waitroom *w)
{
    struct redis_waitroom *r = RW(w);
    rpool_free(&r->pool);
    pthread_mutex_destroy(&r->sha_mu);
    free(r);
}

static const struct tk_waitroom_ops REDIS_OPS = {
    .name = "redis",
    .issue = redis_issue,
    .status = redis_status,
    .check = redis_check,
    .finish = redis_finish,
    .tick = redis_tick,
    .stats = redis_stats,
    .ping = redis_ping,
    .free = redis_free,
};

int waitroom_redis_open(int64_t queue_max, const char *url, const char *prefix, int pool_max,
                        struct tk_waitroom **out, char *errbuf, int errlen)
{
    if (strlen(prefix) >= sizeof RW(NULL)->prefix) {
        snprintf(errbuf, (size_t)errlen, "redis prefix too long (at most %zu bytes)", sizeof RW(NULL)->prefix - 1);
        return TK_ERR_INVALID;
    }
    struct redis_waitroom *r = calloc(1, sizeof *r);
    if (!r)
        return TK_ERR_NOMEM;
    r->base.ops = &REDIS_OPS;
    r->base.queue_max = queue_max;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    pthread_mutex_init(&r->sha_mu, NULL);
    int rc = rpool_init(&r->pool, url, pool_max, errbuf, errlen);
    if (rc < 0) {
        pthread_mutex_destroy(&r->sha_mu);
        free(r);
        return rc;
    }
    *out = &r->base;
    return TK_OK;
}
