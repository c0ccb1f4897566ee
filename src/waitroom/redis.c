/* redis.c — the waiting room in Redis, shared by every instance.
 *
 * Keys (all under one prefix with a hash tag, so they share a slot on a cluster):
 *   <p>waiting  ZSET token -> sequence number       the line; a position is ZRANK + 1, O(log n)
 *   <p>seen     ZSET token -> last poll (ms)        idle waiters are those with a score <= now - idle
 *   <p>active   ZSET token -> expiry (ms)           the ACTIVE count is its size; lapsed ones score <= now
 *   <p>t:<tok>  HASH state, user, exp               one per token, with a TTL
 *   <p>u:<user> STRING token                        the user's live token, with a TTL
 *   <p>seq      counter; <p>bucket HASH (admission rate); <p>stats HASH (counters)
 * Bounded: waiting and seen hold at most queue_max members, active at most max_active; every per-token
 * key has a TTL. Each operation is one Lua script: it first applies what time has made due (lapsed actives,
 * idle waiters, then FIFO admissions within free slots and the admit_per_sec bucket) and then does its own
 * work, atomically, so any number of instances admit exactly as one would. The clock is the caller's
 * (passed in), like every other time in ticketd.
 */
#include "waitroom/waitroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/rand.h"
#include "util/rpool.h"

#define LUA_PRELUDE                                                                                      \
    "local P = ARGV[1]\n"                                                                                \
    "local now = tonumber(ARGV[2])\n"                                                                    \
    "local max_active = tonumber(ARGV[3])\n"                                                             \
    "local rate = tonumber(ARGV[4])\n"                                                                   \
    "local token_ms = tonumber(ARGV[5])\n"                                                               \
    "local idle_ms = tonumber(ARGV[6])\n"                                                                \
    "local queue_max = tonumber(ARGV[7])\n"                                                              \
    "local W, S, A, B, ST = P..'waiting', P..'seen', P..'active', P..'bucket', P..'stats'\n"             \
    "local function tkey(t) return P..'t:'..t end\n"                                                     \
    "local function expire_token(t, at)\n"                                                               \
    "  redis.call('HSET', tkey(t), 'state', 'EXPIRED', 'exp', at)\n"                                     \
    "  redis.call('PEXPIRE', tkey(t), token_ms)\n"                                                       \
    "  redis.call('HINCRBY', ST, 'expired', 1)\n"                                                        \
    "end\n"                                                                                              \
    "local function advance()\n"                                                                         \
    "  local due = redis.call('ZRANGEBYSCORE', A, '-inf', now, 'LIMIT', 0, 1000)\n"                      \
    "  for _, t in ipairs(due) do redis.call('ZREM', A, t); expire_token(t, now) end\n"                  \
    "  local idle = redis.call('ZRANGEBYSCORE', S, '-inf', now - idle_ms, 'LIMIT', 0, 1000)\n"           \
    "  for _, t in ipairs(idle) do\n"                                                                    \
    "    redis.call('ZREM', W, t); redis.call('ZREM', S, t); expire_token(t, now)\n"                     \
    "  end\n"                                                                                            \
    "  local cap = rate * 1000\n"                                                                        \
    "  local b = redis.call('HMGET', B, 'milli', 'last')\n"                                              \
    "  local milli = tonumber(b[1]) or cap\n"                                                            \
    "  local last = tonumber(b[2]) or now\n"                                                             \
    "  if now > last then\n"                                                                             \
    "    if now - last >= 1000 then milli = cap else milli = math.min(cap, milli + (now - last) * rate) end\n" \
    "    last = now\n"                                                                                   \
    "  end\n"                                                                                            \
    "  local n = math.min(max_active - redis.call('ZCARD', A), math.floor(milli / 1000),\n"              \
    "                     redis.call('ZCARD', W))\n"                                                     \
    "  if n > 0 then\n"                                                                                  \
    "    local popped = redis.call('ZPOPMIN', W, n)\n"                                                   \
    "    for i = 1, #popped, 2 do\n"                                                                     \
    "      local t = popped[i]\n"                                                                        \
    "      redis.call('ZREM', S, t)\n"                                                                   \
    "      redis.call('HSET', tkey(t), 'state', 'ACTIVE', 'exp', now + token_ms)\n"                      \
    "      redis.call('PEXPIRE', tkey(t), token_ms * 2)\n"                                               \
    "      redis.call('ZADD', A, now + token_ms, t)\n"                                                   \
    "      milli = milli - 1000\n"                                                                       \
    "      redis.call('HINCRBY', ST, 'admitted', 1)\n"                                                   \
    "    end\n"                                                                                          \
    "  end\n"                                                                                            \
    "  redis.call('HSET', B, 'milli', milli, 'last', last)\n"                                            \
    "  redis.call('PEXPIRE', B, 3600000)\n"                                                              \
    "end\n"                                                                                              \
    "local function info(t, created)\n"                                                                  \
    "  local h = redis.call('HMGET', tkey(t), 'state', 'user', 'exp')\n"                                 \
    "  if not h[1] then return false end\n"                                                              \
    "  local pos = 0\n"                                                                                  \
    "  if h[1] == 'WAITING' then pos = (redis.call('ZRANK', W, t) or -1) + 1 end\n"                      \
    "  return {t, h[1], h[2], pos, tonumber(h[3]) or 0, redis.call('ZCARD', A), created}\n"              \
    "end\n"                                                                                              \
    "local function touch(t, user)\n"                                                                    \
    "  redis.call('ZADD', S, now, t)\n"                                                                  \
    "  redis.call('PEXPIRE', tkey(t), idle_ms + token_ms * 2)\n"                                         \
    "  redis.call('PEXPIRE', P..'u:'..user, idle_ms + token_ms * 2)\n"                                   \
    "end\n"

/* ARGV[8] = user, ARGV[9] = a fresh token to use if the user has no live one. */
static const char LUA_ISSUE[] = LUA_PRELUDE
    "advance()\n"
    "local user = ARGV[8]\n"
    "local ukey = P..'u:'..user\n"
    "local cur = redis.call('GET', ukey)\n"
    "if cur then\n"
    "  local st = redis.call('HGET', tkey(cur), 'state')\n"
    "  if st == 'WAITING' then touch(cur, user) end\n"
    "  if st == 'WAITING' or st == 'ACTIVE' then return info(cur, 0) end\n"
    "end\n"
    "local t = ARGV[9]\n"
    "local active, waiting = redis.call('ZCARD', A), redis.call('ZCARD', W)\n"
    "if waiting == 0 and active < max_active then\n"
    "  redis.call('HSET', tkey(t), 'state', 'ACTIVE', 'user', user, 'exp', now + token_ms)\n"
    "  redis.call('PEXPIRE', tkey(t), token_ms * 2)\n"
    "  redis.call('ZADD', A, now + token_ms, t)\n"
    "  redis.call('HINCRBY', ST, 'admitted', 1)\n"
    "elseif waiting >= queue_max then\n"
    "  return {'FULL'}\n"
    "else\n"
    "  redis.call('ZADD', W, redis.call('INCR', P..'seq'), t)\n"
    "  redis.call('HSET', tkey(t), 'state', 'WAITING', 'user', user, 'exp', 0)\n"
    "  touch(t, user)\n"
    "end\n"
    "redis.call('SET', ukey, t, 'PX', idle_ms + token_ms * 2)\n"
    "redis.call('HINCRBY', ST, 'issued', 1)\n"
    "return info(t, 1)\n";

/* ARGV[8] = token; a poll. */
static const char LUA_STATUS[] = LUA_PRELUDE
    "advance()\n"
    "local t = ARGV[8]\n"
    "local r = info(t, 0)\n"
    "if r and r[2] == 'WAITING' then touch(t, r[3]) end\n"
    "return r\n";

/* ARGV[8] = token: its user paid. */
static const char LUA_FINISH[] = LUA_PRELUDE
    "local t = ARGV[8]\n"
    "if redis.call('HGET', tkey(t), 'state') == 'ACTIVE' then\n"
    "  redis.call('ZREM', A, t)\n"
    "  expire_token(t, now)\n"
    "end\n"
    "advance()\n"
    "return 1\n";

static const char LUA_TICK[] = LUA_PRELUDE "advance()\nreturn 1\n";

static const char LUA_STATS[] = LUA_PRELUDE
    "local s = redis.call('HMGET', ST, 'issued', 'admitted', 'expired')\n"
    "return {redis.call('ZCARD', W), redis.call('ZCARD', A), tonumber(s[1]) or 0, tonumber(s[2]) or 0,\n"
    "        tonumber(s[3]) or 0}\n";

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

/* Runs script `sc` with the common ARGV plus extra; EVALSHA, loading the script on NOSCRIPT. */
static int run_script(struct redis_waitroom *r, const struct wr_room *rm, enum script sc, int64_t now_ms, const char *extra1,
                      const char *extra2, redisReply **out)
{
    char a_now[24], a_max[24], a_rate[24], a_tok[24], a_idle[24], a_qmax[24];
    snprintf(a_now, sizeof a_now, "%lld", (long long)now_ms);
    snprintf(a_max, sizeof a_max, "%d", rm->policy.max_active);
    snprintf(a_rate, sizeof a_rate, "%d", rm->policy.admit_per_sec);
    snprintf(a_tok, sizeof a_tok, "%lld", (long long)rm->policy.token_ms);
    snprintf(a_idle, sizeof a_idle, "%lld", (long long)rm->policy.idle_ms);
    snprintf(a_qmax, sizeof a_qmax, "%lld", (long long)r->base.queue_max);
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
        const char *argv[12] = {"EVALSHA", sha, "0", r->prefix, a_now, a_max, a_rate, a_tok, a_idle, a_qmax,
                                extra1, extra2};
        int argc = 10 + (extra1 != NULL) + (extra2 != NULL);
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

/* Reads {token, state, user, position, exp, active, created} into a ticket. */
static int read_ticket(const struct wr_room *rm, int64_t now_ms, const redisReply *rep, struct tk_ticket *out, bool *created)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 7 || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING)
        return TK_ERR_INTERNAL;
    snprintf(out->token, sizeof out->token, "%s", rep->element[0]->str);
    const char *st = rep->element[1]->str;
    out->state = strcmp(st, "ACTIVE") == 0 ? TOKEN_ACTIVE : strcmp(st, "WAITING") == 0 ? TOKEN_WAITING : TOKEN_EXPIRED;
    out->user_id = elem_int(rep, 2);
    out->position = elem_int(rep, 3);
    out->expires_at_ms = out->state == TOKEN_WAITING ? 0 : elem_int(rep, 4);
    out->room_id = rm->id;
    out->estimated_wait_s = admission_estimate_wait_s(&rm->policy, now_ms, out->position, elem_int(rep, 5), 0, 0);
    if (created)
        *created = elem_int(rep, 6) == 1;
    return TK_OK;
}

static int redis_issue(struct tk_waitroom *w, const struct wr_room *rm, int64_t user_id, int64_t now_ms, struct tk_ticket *out, bool *created)
{
    struct redis_waitroom *r = RW(w);
    char user[24], token[TOKEN_HEX_LEN + 1];
    snprintf(user, sizeof user, "%lld", (long long)user_id);
    TK_TRY(rand_hex(token, TOKEN_HEX_LEN / 2));
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_ISSUE, now_ms, user, token, &rep));
    int rc;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1)
        rc = TK_ERR_UNAVAILABLE; /* {'FULL'}: the line is at queue_max */
    else
        rc = read_ticket(rm, now_ms, rep, out, created);
    freeReplyObject(rep);
    return rc;
}

static int redis_status(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms, struct tk_ticket *out)
{
    struct redis_waitroom *r = RW(w);
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_STATUS, now_ms, token, NULL, &rep));
    int rc = rep->type == REDIS_REPLY_NIL ? TK_ERR_NOT_FOUND : read_ticket(rm, now_ms, rep, out, NULL);
    freeReplyObject(rep);
    return rc;
}

static int simple(struct tk_waitroom *w, const struct wr_room *rm, enum script sc, const char *token, int64_t now_ms)
{
    redisReply *rep;
    TK_TRY(run_script(RW(w), rm, sc, now_ms, token, NULL, &rep));
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
    TK_TRY(run_script(RW(w), rm, SC_STATS, now_ms, NULL, NULL, &rep));
    int rc = TK_ERR_INTERNAL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 5) {
        *out = (struct tk_waitroom_stats){.waiting = elem_int(rep, 0), .active = elem_int(rep, 1),
                                          .issued_total = (uint64_t)elem_int(rep, 2),
                                          .admitted_total = (uint64_t)elem_int(rep, 3),
                                          .expired_total = (uint64_t)elem_int(rep, 4),
                                          .wait_p50_s = -1, .wait_p95_s = -1};
        rc = TK_OK;
    }
    freeReplyObject(rep);
    return rc;
}

/* One HMGET: ACTIVE and not lapsed (by the caller's clock) is admitted; nothing else is touched. */
static int redis_check(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms, int64_t *user_id)
{
    struct redis_waitroom *r = RW(w);
    char key[128];
    snprintf(key, sizeof key, "%st:%s", r->prefix, token);
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

int waitroom_redis_open(int64_t queue_max, const char *url, const char *prefix,
                        int pool_max, struct tk_waitroom **out, char *errbuf, int errlen)
{
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
