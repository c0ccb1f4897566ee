/* redis.c — the waiting rooms in Redis, shared by every instance.
 *
 * Rooms: room 0 keeps the base prefix (e.g. "tk:{wr}:", today's keys); room N's keys have ":N" added inside the
 * base's hash tag ("tk:{wr:N}:"), so each room's keys share one cluster slot and rooms spread over a cluster.
 *
 * Layout of a room (<p> its prefix), lean so that a waiter costs ~135-145 bytes of Redis memory (measured with
 * bench/wr_memory.c; figures in docs/PERFORMANCE.md; one key per token and per user, as before, cost 708 B).
 * Tokens are stored as their 32 hex digits (the room is in the prefix). Small hashes and sorted sets stay in
 * Redis's compact listpack encoding (hash <= 512 entries, zset <= 128), so waiters share keys:
 *   <p>k:<b>   HASH token -> record, b = first 4 hex digits mod 4096. Records (numbers after the user in base 36):
 *              "W|user|arrived|last poll|shard", "A|user|arrived|expires", "E|user|expired" (read EXPIRED for
 *              token_ms, then forgotten: <p>gone LIST "ms|token" in expiry order, at most queue_max long)
 *   <p>u:<b>   HASH user -> token hex of the user's live token, b = user mod 4096
 *   <p>l:<s>   ZSET user -> order key: the line, cut into shards; shard s < 8192 holds the pre-queue (order key
 *              x - 2^53, shard x / 2^40), FIFO arrival n (INCR <p>seq) goes to shard 8192 + (n-1)/64 with key n
 *   <p>c, <p>C HASH shard -> members, super-shard (64 shards) -> members: they find the head shard and let
 *              the idle scan skip empty runs
 *   <p>f       HASH a Fenwick tree (binary indexed tree) of the shard counts, node i (1-based: shard i - 1) ->
 *              the members of shards i - lowbit(i) .. i - 1, nodes that would be 0 left out: the members of every
 *              shard ahead of s are a sum of at most 30 nodes (one HMGET), so a position is the ZRANK in the shard
 *              plus that, O(log shards); adding to a shard is one HMGET and one HSET of its <= 30 ancestors
 *              (admissions and scans update it once per shard drained, not per waiter). Shard numbers stay below
 *              2^30 (FIFO arrivals per room below ~6.9e10). meta's fv marks a room whose tree is built: a room
 *              written by an older version (no tree) gets it rebuilt from <p>c once, by its first advance()
 *   <p>active  ZSET token -> expiry: the ACTIVE tokens (at most max_active); the count is its size
 *   <p>meta    HASH the admission bucket (milli, last), w (waiting), issued, admitted, expired, abandoned,
 *              first (the first admission, ms), hsup (the head super-shard), scan/scan_at (the idle scan),
 *              adv (the last full advance(), ms), ttl/ttl_c (the last TTL renewal, ms, and its cursor), fv,
 *              lm_s/lm_n (the last minute's admissions summed from persec for second lm_s: an answer in that
 *              second reads it, one in another second sums persec again; an admission in lm_s adds to it, one in
 *              any other second drops it — so the 120-field sum runs about once a second per room, not per call)
 *   <p>persec  HASH 60 slots: s<i> = a second, c<i> = its admissions (i = second % 60): the last minute's rate
 *   <p>hist    HASH wait bucket (admission_wait_bucket) -> admissions: the p50/p95 of time in line
 * The pre-queue, exactly once across instances without a shuffle step: an arrival before opens_at gets as its
 * order key x - 2^53 with x uniform in [0, 2^53) drawn from the CSPRNG in C (rand_secure_below, passed as
 * ARGV; an integer, x / 2^53 being the suggested uniform fraction, so that it packs small), an arrival after it
 * gets INCR seq (1, 2, ...). Sorting by i.i.d. uniform keys is a uniformly random permutation (a tie, chance
 * ~n^2/2^54, falls back to the user id's order), fixed once at arrival; positions are hidden (null) until
 * opens_at, so it is revealed at the opening, whichever instance serves who, and later arrivals queue FIFO
 * behind. (opens_at is fixed per sale; were it moved later, new early arrivals would be placed among the earlier
 * pre-queue, ahead of FIFO arrivals.)
 * Idle waiters: a waiter's own poll or issue finds it idle exactly (it is dropped, abandoned, and reads
 * EXPIRED), admission skips idle ones at the head, and a scan of at most 1,000 waiters a second (a cursor over
 * the shards, per room) drops the others: in a line longer than that, positions and the waiting count may
 * include idle waiters for up to line/1000 s. (An index of last polls, a second sorted set, would make that exact
 * at ~110 more bytes a waiter.) A poll rewrites the record's last poll only when it moved by SEEN_STEP
 * (min(1 s, idle_ms / 10)): a client polling faster costs no listpack write, and a waiter may read idle at most
 * that much early.
 * Bounded: the line at queue_max, active at max_active, gone at queue_max, persec 120 fields, hist 239.
 * Every key has a TTL, a day: set by the script that creates the key (born(): a bucket when a new field goes in,
 * a shard when its count becomes 1, c/C/f when the line goes from empty to 1, active at an admission, gone at
 * its first push, persec/hist at the room's first admission, seq at 1; meta is renewed in the script that
 * creates it), and renewed at most once a second per room by keep_room() at the end of a script (meta's ttl, by
 * the caller's clock; a clock more than a minute behind it renews too): the room's own keys every time, and
 * 128 of its record, user and shard keys in rotation (a full turn every ~(8192 + shards) / 128 renewals, minutes
 * in a live room). So a room nobody touches for a day is gone, as before, and no write pays a PEXPIRE otherwise.
 * Each operation is one Lua script with the room's current settings in ARGV (mode and opens_at included: a
 * backend keeps no copy): it first applies what time has made due (advance(): lapsed actives; in a CLOSED room up
 * to 1,000 waiters a call, and info() expires any waiter it is asked about; the idle scan; forgetting; then FIFO
 * admissions within free slots and the admit_per_sec bucket, only when OPEN and opened) and then does its own
 * work, atomically, so any number of instances admit exactly as one would. The exception is a status poll: it
 * runs advance() only when something due changes its own answer (advance_due(): its token ACTIVE and lapsed,
 * EXPIRED and due to be forgotten, or WAITING while the rule would admit someone now: free slots after lapses,
 * a whole admission in the bucket, mode OPEN and opened), when the room's last advance() is 50 ms old or more
 * (meta's adv), or when the room's tree is not built; otherwise it only reads (and renews its record). So every
 * answer is what a full advance() would give, admissions are never delayed for a waiter who asks, and what
 * nobody asks about (others' lapses, the idle scan, forgetting, CLOSED draining) waits at most 50 ms of calls or
 * the sweep's next tick. The clock is the caller's (passed in), like every other time in ticketd.
 */
#include "waitroom/waitroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/rand.h"
#include "util/rpool.h"

/* ARGV[1..9], every script: the room's key prefix, now, then the room's current settings (a backend keeps no
 * copy of them): max_active, admit_per_sec, token_ms, idle_ms, queue_max, mode, opens_at. Tokens travel as their
 * 32 hex digits (the room is in the prefix). The prelude's functions, in order: records (rec/put_waiting; times
 * and shard numbers in base 36; rec parses a record into {state, user=, arr=, ...}, and put_waiting and activate
 * return the same table for what they wrote, so a script need not read back its own write), the line (the Fenwick tree fen_add/fen_ahead/fen_build, line_add/line_del,
 * head_shard, position: ZRANK in the shard plus the tree's count of the shards ahead), expiry (gone: the token
 * reads EXPIRED for token_ms, then forget() drops it), admissions (count_admission: persec, hist, totals), the
 * periodic idle scan, advance() and advance_due(), info(), keep_room(): info() is the ticket as {hex, state,
 * user, position, exp, active, created, last minute, window}. */
/* The admission rule (waitroom/admission.c's admission_decide, in Lua: a script cannot call C): pure functions of
 * plain numbers, checked against the C function on one table of cases through the `decide` op (SC_DECIDE). */
#define LUA_RULES \
    "local function admit_opened(now, opens_at) return now >= opens_at end\n" \
    "local function admit_refill(milli, last, now, rate)\n" \
    "  local cap = rate * 1000\n" \
    "  if now > last then\n" \
    "    if now - last >= 1000 then milli = cap else milli = milli + (now - last) * rate end\n" \
    "    last = now\n" \
    "  end\n" \
    "  return math.min(milli, cap), last\n" \
    "end\n" \
    "local function admit_quota(mode, opened, max_active, active, milli, waiting)\n" \
    "  if mode ~= 'OPEN' or not opened then return 0 end\n" \
    "  return math.max(0, math.min(max_active - active, math.floor(milli / 1000), waiting))\n" \
    "end\n" \
    "local function admit_immediate(mode, opened, max_active, active, waiting)\n" \
    "  return mode == 'OPEN' and opened and waiting == 0 and active < max_active\n" \
    "end\n"

#define LUA_PRELUDE \
    LUA_RULES \
    "local P = ARGV[1]\n" \
    "local now = tonumber(ARGV[2])\n" \
    "local max_active = tonumber(ARGV[3])\n" \
    "local rate = tonumber(ARGV[4])\n" \
    "local token_ms = tonumber(ARGV[5])\n" \
    "local idle_ms = tonumber(ARGV[6])\n" \
    "local queue_max = tonumber(ARGV[7])\n" \
    "local mode = ARGV[8]\n" \
    "local opens_at = tonumber(ARGV[9])\n" \
    "local opened = admit_opened(now, opens_at)\n" \
    "local BATCH, SCAN, DAY, RENEW, LAZY = 1000, 1000, 86400000, 128, 50\n" \
    "local NB, PS, FW = 4096, 8192, 64\n" \
    "local M, A, G, PSK, H = P..'meta', P..'active', P..'gone', P..'persec', P..'hist'\n" \
    "local CS, CU, SEQ, FT, FN = P..'c', P..'C', P..'seq', P..'f', 1073741824\n" \
    "local NAMES = {W = 'WAITING', A = 'ACTIVE', E = 'EXPIRED'}\n" \
    "local function b36(x)\n" \
    "  local d, s = '0123456789abcdefghijklmnopqrstuvwxyz', ''\n" \
    "  x = math.floor(x)\n" \
    "  repeat local r = x % 36; s = string.sub(d, r + 1, r + 1)..s; x = (x - r) / 36 until x == 0\n" \
    "  return s\n" \
    "end\n" \
    "local function kb(t) return P..'k:'..((tonumber(string.sub(t, 1, 4), 16) or 0) % NB) end\n" \
    "local function ub(u) return P..'u:'..((tonumber(u) or 0) % NB) end\n" \
    "local function lk(s) return P..'l:'..s end\n" \
    "local renew_due, a_born = false, false\n" \
    "local function born(key) redis.call('PEXPIRE', key, DAY) end\n" \
    "local function put(key, f, v) if redis.call('HSET', key, f, v) == 1 then born(key) end end\n" \
    "local function rec(t)\n" \
    "  local v = redis.call('HGET', kb(t), t)\n" \
    "  if not v then return nil end\n" \
    "  local r = {}\n" \
    "  for x in string.gmatch(v, '[^|]+') do r[#r + 1] = x end\n" \
    "  r[1] = string.sub(v, 1, 1)\n" \
    "  r.user = r[2]\n" \
    "  if r[1] == 'W' then r.arr, r.seen, r.shard = tonumber(r[3], 36), tonumber(r[4], 36), tonumber(r[5], 36)\n" \
    "  elseif r[1] == 'A' then r.arr, r.exp = tonumber(r[3], 36), tonumber(r[4], 36)\n" \
    "  else r.exp = tonumber(r[3], 36) end\n" \
    "  return r\n" \
    "end\n" \
    "local function put_waiting(t, user, arr, seen, shard)\n" \
    "  put(kb(t), t, 'W|'..user..'|'..b36(arr)..'|'..b36(seen)..'|'..b36(shard))\n" \
    "  return {'W', user = user, arr = arr, seen = seen, shard = shard}\n" \
    "end\n" \
    "local function idle(r) return r.seen + idle_ms <= now end\n" \
    "local function fen_add(shard, d)\n" \
    "  if d == 0 then return end\n" \
    "  local f, i = {}, shard + 1\n" \
    "  while i <= FN do f[#f + 1] = i; i = i + bit.band(i, -i) end\n" \
    "  local v = redis.call('HMGET', FT, unpack(f))\n" \
    "  local set, del = {}, {}\n" \
    "  for j = 1, #f do\n" \
    "    local c = (tonumber(v[j]) or 0) + d\n" \
    "    if c > 0 then set[#set + 1] = f[j]; set[#set + 1] = c else del[#del + 1] = f[j] end\n" \
    "  end\n" \
    "  if #set > 0 then redis.call('HSET', FT, unpack(set)) end\n" \
    "  if #del > 0 then redis.call('HDEL', FT, unpack(del)) end\n" \
    "end\n" \
    "local function fen_ahead(shard)\n" \
    "  local f, i = {}, shard\n" \
    "  while i > 0 do f[#f + 1] = i; i = i - bit.band(i, -i) end\n" \
    "  if #f == 0 then return 0 end\n" \
    "  local n = 0\n" \
    "  for _, c in ipairs(redis.call('HMGET', FT, unpack(f))) do n = n + (tonumber(c) or 0) end\n" \
    "  return n\n" \
    "end\n" \
    "local function fen_build()\n" \
    "  redis.call('DEL', FT)\n" \
    "  local v, t = redis.call('HGETALL', CS), {}\n" \
    "  for k = 1, #v, 2 do\n" \
    "    local i, c = tonumber(v[k]) + 1, tonumber(v[k + 1])\n" \
    "    while i <= FN do t[i] = (t[i] or 0) + c; i = i + bit.band(i, -i) end\n" \
    "  end\n" \
    "  local f = {}\n" \
    "  for i, c in pairs(t) do\n" \
    "    if c > 0 then f[#f + 1] = i; f[#f + 1] = c end\n" \
    "    if #f >= 1000 then redis.call('HSET', FT, unpack(f)); f = {} end\n" \
    "  end\n" \
    "  if #f > 0 then redis.call('HSET', FT, unpack(f)) end\n" \
    "  born(FT)\n" \
    "end\n" \
    "local function line_add(user, ord, shard)\n" \
    "  redis.call('ZADD', lk(shard), ord, user)\n" \
    "  if redis.call('HINCRBY', CS, shard, 1) == 1 then born(lk(shard)) end\n" \
    "  redis.call('HINCRBY', CU, math.floor(shard / 64), 1)\n" \
    "  fen_add(shard, 1)\n" \
    "  if redis.call('HINCRBY', M, 'w', 1) == 1 then born(CS); born(CU); born(FT) end\n" \
    "end\n" \
    "local function line_del(user, shard, batch)\n" \
    "  if redis.call('ZREM', lk(shard), user) == 1 then\n" \
    "    if redis.call('HINCRBY', CS, shard, -1) <= 0 then redis.call('HDEL', CS, shard) end\n" \
    "    local sup = math.floor(shard / 64)\n" \
    "    if redis.call('HINCRBY', CU, sup, -1) <= 0 then redis.call('HDEL', CU, sup) end\n" \
    "    redis.call('HINCRBY', M, 'w', -1)\n" \
    "    if batch then batch.n = batch.n + 1 else fen_add(shard, -1) end\n" \
    "  end\n" \
    "end\n" \
    "local function tail_super()\n" \
    "  local seq = tonumber(redis.call('GET', SEQ)) or 0\n" \
    "  if seq == 0 then return math.floor((PS - 1) / 64) end\n" \
    "  return math.floor((PS + math.floor((seq - 1) / FW)) / 64)\n" \
    "end\n" \
    "local function first_shard(from_sup)\n" \
    "  local tail = tail_super()\n" \
    "  local hs = from_sup\n" \
    "  while hs <= tail do\n" \
    "    if redis.call('HGET', CU, hs) then\n" \
    "      local f = {}\n" \
    "      for i = 0, 63 do f[i + 1] = hs * 64 + i end\n" \
    "      local v = redis.call('HMGET', CS, unpack(f))\n" \
    "      for i = 1, 64 do if v[i] then return hs * 64 + i - 1 end end\n" \
    "    end\n" \
    "    hs = hs + 1\n" \
    "  end\n" \
    "  return nil\n" \
    "end\n" \
    "local function head_shard()\n" \
    "  local hs = tonumber(redis.call('HGET', M, 'hsup')) or 0\n" \
    "  local tail = tail_super()\n" \
    "  local start = hs\n" \
    "  while hs < tail and not redis.call('HGET', CU, hs) do hs = hs + 1 end\n" \
    "  -- (before the opening an arrival may land in any pre-queue shard: the hint moves only afterwards)\n" \
    "  if hs ~= start and opened then redis.call('HSET', M, 'hsup', hs) end\n" \
    "  return first_shard(hs)\n" \
    "end\n" \
    "local function position(user, shard)\n" \
    "  local r = redis.call('ZRANK', lk(shard), user)\n" \
    "  if not r then return 0 end\n" \
    "  return r + 1 + fen_ahead(shard)\n" \
    "end\n" \
    "local function gone(t, user, abandoned)\n" \
    "  local u = ub(user)\n" \
    "  if redis.call('HGET', u, user) == t then redis.call('HDEL', u, user) end\n" \
    "  put(kb(t), t, 'E|'..user..'|'..b36(now))\n" \
    "  if redis.call('RPUSH', G, now..'|'..t) == 1 then born(G) end\n" \
    "  redis.call('HINCRBY', M, 'expired', 1)\n" \
    "  if abandoned then redis.call('HINCRBY', M, 'abandoned', 1) end\n" \
    "end\n" \
    "local function wait_bucket(ms)\n" \
    "  local s = math.floor(math.max(ms, 0) / 1000)\n" \
    "  if s < 120 then return s end\n" \
    "  local m = math.floor(s / 60)\n" \
    "  if m < 120 then return 120 + m - 2 end\n" \
    "  return 238\n" \
    "end\n" \
    "local function count_admission(arrived)\n" \
    "  local sec = math.floor(now / 1000)\n" \
    "  local i = sec % 60\n" \
    "  if tonumber(redis.call('HGET', PSK, 's'..i)) == sec then redis.call('HINCRBY', PSK, 'c'..i, 1)\n" \
    "  else redis.call('HSET', PSK, 's'..i, sec, 'c'..i, 1) end\n" \
    "  local lm = redis.call('HGET', M, 'lm_s')\n" \
    "  if tonumber(lm) == sec then redis.call('HINCRBY', M, 'lm_n', 1) elseif lm then redis.call('HDEL', M, 'lm_s') end\n" \
    "  redis.call('HINCRBY', M, 'admitted', 1)\n" \
    "  redis.call('HINCRBY', H, wait_bucket(now - math.max(arrived, opens_at)), 1)\n" \
    "  if redis.call('HSETNX', M, 'first', now) == 1 then born(PSK); born(H) end\n" \
    "end\n" \
    "local function activate(t, user, arrived)\n" \
    "  put(kb(t), t, 'A|'..user..'|'..b36(arrived)..'|'..b36(now + token_ms))\n" \
    "  redis.call('ZADD', A, now + token_ms, t)\n" \
    "  if not a_born then born(A); a_born = true end\n" \
    "  count_admission(arrived)\n" \
    "  return {'A', user = user, arr = arrived, exp = now + token_ms}\n" \
    "end\n" \
    "local function waiter_of(user)\n" \
    "  local t = redis.call('HGET', ub(user), user)\n" \
    "  if not t then return nil, nil end\n" \
    "  local r = rec(t)\n" \
    "  if not r or r[1] ~= 'W' then return nil, nil end\n" \
    "  return t, r\n" \
    "end\n" \
    "local function drain_shard(s, budget, test)\n" \
    "  local batch = {n = 0}\n" \
    "  for _, user in ipairs(redis.call('ZRANGE', lk(s), 0, -1)) do\n" \
    "    local t, r = waiter_of(user)\n" \
    "    if not r then line_del(user, s, batch)\n" \
    "    else\n" \
    "      local verdict = test(r)\n" \
    "      if verdict ~= nil then line_del(user, s, batch); gone(t, user, verdict) end\n" \
    "    end\n" \
    "    budget = budget - 1\n" \
    "  end\n" \
    "  fen_add(s, -batch.n)\n" \
    "  return budget\n" \
    "end\n" \
    "local function close_batch()\n" \
    "  local budget = BATCH\n" \
    "  while budget > 0 do\n" \
    "    local s = head_shard()\n" \
    "    if not s then break end\n" \
    "    budget = drain_shard(s, budget, function(r) return false end)\n" \
    "  end\n" \
    "end\n" \
    "local function scan()\n" \
    "  if now - (tonumber(redis.call('HGET', M, 'scan_at')) or 0) < 1000 then return end\n" \
    "  redis.call('HSET', M, 'scan_at', now)\n" \
    "  local head = head_shard()\n" \
    "  if not head then return end\n" \
    "  local s = math.max(tonumber(redis.call('HGET', M, 'scan')) or head, head)\n" \
    "  local last = tail_super() * 64 + 63\n" \
    "  local budget = SCAN\n" \
    "  while budget > 0 do\n" \
    "    if s > last then s = head; break end\n" \
    "    local sup = math.floor(s / 64)\n" \
    "    if not redis.call('HGET', CU, sup) then s = (sup + 1) * 64\n" \
    "    else\n" \
    "      if redis.call('HGET', CS, s) then\n" \
    "        budget = drain_shard(s, budget, function(r) if idle(r) then return true end return nil end)\n" \
    "      end\n" \
    "      s = s + 1\n" \
    "    end\n" \
    "    budget = budget - 1\n" \
    "  end\n" \
    "  redis.call('HSET', M, 'scan', s)\n" \
    "end\n" \
    "local function forget()\n" \
    "  local items = redis.call('LRANGE', G, 0, 99)\n" \
    "  local len, k = redis.call('LLEN', G), 0\n" \
    "  for _, it in ipairs(items) do\n" \
    "    local bar = string.find(it, '|', 1, true)\n" \
    "    if tonumber(string.sub(it, 1, bar - 1)) + token_ms > now and len - k <= queue_max then break end\n" \
    "    local t = string.sub(it, bar + 1)\n" \
    "    local key = kb(t)\n" \
    "    local v = redis.call('HGET', key, t)\n" \
    "    if v and string.sub(v, 1, 1) == 'E' then redis.call('HDEL', key, t) end\n" \
    "    k = k + 1\n" \
    "  end\n" \
    "  if k > 0 then redis.call('LTRIM', G, k, -1) end\n" \
    "end\n" \
    "local function admit(n, milli)\n" \
    "  while n > 0 do\n" \
    "    local s = head_shard()\n" \
    "    if not s then break end\n" \
    "    local batch = {n = 0}\n" \
    "    for _, user in ipairs(redis.call('ZRANGE', lk(s), 0, n - 1)) do\n" \
    "      local t, r = waiter_of(user)\n" \
    "      line_del(user, s, batch)\n" \
    "      if r and idle(r) then gone(t, user, true)\n" \
    "      elseif r then activate(t, user, r.arr); n = n - 1; milli = milli - 1000 end\n" \
    "    end\n" \
    "    fen_add(s, -batch.n)\n" \
    "  end\n" \
    "  return milli\n" \
    "end\n" \
    "local function advance()\n" \
    "  for _, t in ipairs(redis.call('ZRANGEBYSCORE', A, '-inf', now, 'LIMIT', 0, BATCH)) do\n" \
    "    redis.call('ZREM', A, t)\n" \
    "    local r = rec(t)\n" \
    "    if r and r[1] == 'A' then gone(t, r.user, false) end\n" \
    "  end\n" \
    "  if mode == 'CLOSED' then close_batch() else scan() end\n" \
    "  forget()\n" \
    "  local b = redis.call('HMGET', M, 'milli', 'last', 'w', 'fv', 'ttl')\n" \
    "  if not b[4] then fen_build() end\n" \
    "  local ttl = tonumber(b[5]) or 0\n" \
    "  renew_due = now - ttl >= 1000 or ttl - now > 60000\n" \
    "  local milli, last = admit_refill(tonumber(b[1]) or rate * 1000, tonumber(b[2]) or now, now, rate)\n" \
    "  local n = admit_quota(mode, opened, max_active, redis.call('ZCARD', A), milli, tonumber(b[3]) or 0)\n" \
    "  if n > 0 then milli = admit(n, milli) end\n" \
    "  redis.call('HSET', M, 'milli', milli, 'last', last, 'fv', 1, 'adv', now)\n" \
    "end\n" \
    "local function advance_due(r)\n" \
    "  local b = redis.call('HMGET', M, 'milli', 'last', 'w', 'fv', 'ttl', 'adv')\n" \
    "  local adv, ttl = tonumber(b[6]) or 0, tonumber(b[5]) or 0\n" \
    "  if not b[4] or now - adv >= LAZY or adv - now > 60000 then return true end\n" \
    "  renew_due = now - ttl >= 1000 or ttl - now > 60000\n" \
    "  if not r then return false end\n" \
    "  if r[1] == 'A' then return r.exp <= now end\n" \
    "  if r[1] == 'E' then return r.exp + token_ms <= now end\n" \
    "  if mode == 'CLOSED' or idle(r) then return false end\n" \
    "  local milli = admit_refill(tonumber(b[1]) or rate * 1000, tonumber(b[2]) or now, now, rate)\n" \
    "  local active = redis.call('ZCARD', A) - redis.call('ZCOUNT', A, '-inf', now)\n" \
    "  return admit_quota(mode, opened, max_active, active, milli, tonumber(b[3]) or 0) > 0\n" \
    "end\n" \
    "local function last_minute()\n" \
    "  local sec = math.floor(now / 1000)\n" \
    "  local c = redis.call('HMGET', M, 'lm_s', 'lm_n', 'first')\n" \
    "  local first, win = tonumber(c[3]), 0\n" \
    "  if first then win = math.min(60000, now - first) end\n" \
    "  if tonumber(c[1]) == sec then return tonumber(c[2]) or 0, win end\n" \
    "  local v = redis.call('HGETALL', PSK)\n" \
    "  local f = {}\n" \
    "  for i = 1, #v, 2 do f[v[i]] = tonumber(v[i + 1]) end\n" \
    "  local n = 0\n" \
    "  for i = 0, 59 do\n" \
    "    local s = f['s'..i]\n" \
    "    if s and s <= sec and sec - s < 60 then n = n + (f['c'..i] or 0) end\n" \
    "  end\n" \
    "  redis.call('HSET', M, 'lm_s', sec, 'lm_n', n)\n" \
    "  return n, win\n" \
    "end\n" \
    "local function info(t, created, r0)\n" \
    "  local r = r0 or rec(t)\n" \
    "  if not r then return false end\n" \
    "  if r[1] == 'W' and (mode == 'CLOSED' or idle(r)) then\n" \
    "    line_del(r.user, r.shard)\n" \
    "    gone(t, r.user, mode ~= 'CLOSED')\n" \
    "    r = {'E', user = r.user, exp = now}\n" \
    "  end\n" \
    "  local pos, n, win, exp = 0, 0, 0, r.exp or 0\n" \
    "  if r[1] == 'W' then\n" \
    "    if opened then pos = position(r.user, r.shard); n, win = last_minute() else pos = -1 end\n" \
    "  end\n" \
    "  return {t, NAMES[r[1]], r.user, pos, exp, redis.call('ZCARD', A), created, n, win}\n" \
    "end\n" \
    "local SEEN_STEP = math.min(1000, math.floor(idle_ms / 10))\n" \
    "local function touch(t, r)\n" \
    "  r = r or rec(t)\n" \
    "  if r and r[1] == 'W' and now - r.seen >= SEEN_STEP then put_waiting(t, r.user, r.arr, now, r.shard) end\n" \
    "end\n" \
    "local function keep_room()\n" \
    "  if not renew_due then return end\n" \
    "  for _, k in ipairs({M, A, G, PSK, H, CS, CU, SEQ, FT}) do redis.call('PEXPIRE', k, DAY) end\n" \
    "  local j, last = tonumber(redis.call('HGET', M, 'ttl_c')) or 0, 2 * NB + tail_super() * 64 + 64\n" \
    "  for _ = 1, RENEW do\n" \
    "    if j >= last then j = 0 end\n" \
    "    if j < NB then born(P..'k:'..j)\n" \
    "    elseif j < 2 * NB then born(P..'u:'..(j - NB))\n" \
    "    else born(lk(j - 2 * NB)) end\n" \
    "    j = j + 1\n" \
    "  end\n" \
    "  redis.call('HSET', M, 'ttl', now, 'ttl_c', j)\n" \
    "  renew_due = false\n" \
    "end\n"

/* ARGV[10] = user, ARGV[11] = a fresh token's hex to use if the user has no live one, ARGV[12] = x, uniform in
 * [0, 2^53) from the CSPRNG: a pre-opening arrival's order key is x - 2^53 (negative: ahead of every FIFO number,
 * an integer so that it packs small), its shard x / 2^40 (PS = 8192 shards). */
static const char LUA_ISSUE[] = LUA_PRELUDE
    "advance()\n"
    "local user = ARGV[10]\n"
    "local cur = redis.call('HGET', ub(user), user)\n"
    "if cur then\n"
    "  local rc = rec(cur)\n"
    "  local r = info(cur, 0, rc)\n"
    "  if r and r[2] == 'WAITING' then touch(cur, rc) end\n"
    "  if r and (r[2] == 'WAITING' or r[2] == 'ACTIVE') then keep_room(); return r end\n"
    "end\n"
    "keep_room()\n"
    "if mode == 'CLOSED' then return {'CLOSED'} end\n"
    "local t = ARGV[11]\n"
    "local waiting = tonumber(redis.call('HGET', M, 'w')) or 0\n"
    "local r\n"
    "if admit_immediate(mode, opened, max_active, redis.call('ZCARD', A), waiting) then\n"
    "  put(ub(user), user, t)\n"
    "  r = activate(t, user, now)\n"
    "elseif waiting >= queue_max then\n"
    "  return {'FULL'}\n"
    "else\n"
    "  local x = tonumber(ARGV[12])\n"
    "  local ord, shard = x - 9007199254740992, math.floor(x / 1099511627776)\n"
    "  if opened then\n"
    "    ord = redis.call('INCR', SEQ)\n"
    "    if ord == 1 then born(SEQ) end\n"
    "    shard = PS + math.floor((ord - 1) / FW)\n"
    "  end\n"
    "  line_add(user, ord, shard)\n"
    "  put(ub(user), user, t)\n"
    "  r = put_waiting(t, user, now, now, shard)\n"
    "end\n"
    "redis.call('HINCRBY', M, 'issued', 1)\n"
    "return info(t, 1, r)\n";

/* ARGV[10] = token hex; a poll. */
static const char LUA_STATUS[] = LUA_PRELUDE
    "local t = ARGV[10]\n"
    "local r = rec(t)\n"
    "if advance_due(r) then advance(); r = rec(t) end\n"
    "local out = info(t, 0, r)\n"
    "if out and out[2] == 'WAITING' then touch(t, r) end\n"
    "keep_room()\n"
    "return out\n";

/* ARGV[10] = token hex: its user paid. */
static const char LUA_FINISH[] = LUA_PRELUDE
    "local t = ARGV[10]\n"
    "local r = rec(t)\n"
    "if r and r[1] == 'A' then\n"
    "  redis.call('ZREM', A, t)\n"
    "  gone(t, r.user, false)\n"
    "end\n"
    "advance()\n"
    "keep_room()\n"
    "return 1\n";

static const char LUA_TICK[] = LUA_PRELUDE
    "advance()\n"
    "keep_room()\n"
    "return 1\n";

/* {waiting, active, issued, admitted, expired, abandoned, last minute, window, {histogram bucket, count, ...}} */
static const char LUA_STATS[] = LUA_PRELUDE
    "advance()\n"
    "local s = redis.call('HMGET', M, 'w', 'issued', 'admitted', 'expired', 'abandoned')\n"
    "local n, win = last_minute()\n"
    "keep_room()\n"
    "return {tonumber(s[1]) or 0, redis.call('ZCARD', A), tonumber(s[2]) or 0, tonumber(s[3]) or 0,\n"
    "        tonumber(s[4]) or 0, tonumber(s[5]) or 0, n, win, redis.call('HGETALL', H)}\n";

/* The rule alone, on plain numbers (the `decide` op): ARGV[10] active, [11] waiting, [12] "milli:last" as stored.
 * Touches no key. {quota, immediate 0/1, milli after, last after}. */
static const char LUA_DECIDE[] = LUA_PRELUDE
    "local active, waiting = tonumber(ARGV[10]), tonumber(ARGV[11])\n"
    "local colon = string.find(ARGV[12], ':', 1, true)\n"
    "local milli, last = admit_refill(tonumber(string.sub(ARGV[12], 1, colon - 1)),\n"
    "  tonumber(string.sub(ARGV[12], colon + 1)), now, rate)\n"
    "local q = admit_quota(mode, opened, max_active, active, milli, waiting)\n"
    "return {q, admit_immediate(mode, opened, max_active, active, waiting) and 1 or 0, milli - q * 1000, last}\n";

enum script { SC_ISSUE, SC_STATUS, SC_FINISH, SC_TICK, SC_STATS, SC_DECIDE, SC__COUNT };
static const char *const SCRIPTS[SC__COUNT] = {LUA_ISSUE, LUA_STATUS, LUA_FINISH, LUA_TICK, LUA_STATS, LUA_DECIDE};

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

/* Reads {token hex, state, user, position, exp, active, created, last minute, window} into a ticket. */
static int read_ticket(const struct wr_room *rm, int64_t now_ms, const redisReply *rep, struct tk_ticket *out,
                       bool *created)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 9 || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING)
        return TK_ERR_INTERNAL;
    const char *hex = rep->element[0]->str;
    if (strlen(hex) != TOKEN_HEX_LEN)
        return TK_ERR_INTERNAL;
    if (rm->id == 0)
        snprintf(out->token, sizeof out->token, "%s", hex);
    else
        snprintf(out->token, sizeof out->token, "%lld-%s", (long long)rm->id, hex);
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

/* The 32 hex digits of a well-formed token (the room is in the key prefix). */
static const char *token_hex(const char *token) { return token + strlen(token) - TOKEN_HEX_LEN; }

/* Is token well formed and of room rm? (Else it is unknown there.) */
static bool token_in_room(const char *token, const struct wr_room *rm)
{
    int64_t room;
    return waitroom_token_room(token, &room) == TK_OK && room == rm->id;
}

static int redis_issue(struct tk_waitroom *w, const struct wr_room *rm, int64_t user_id, int64_t now_ms,
                       struct tk_ticket *out, bool *created)
{
    struct redis_waitroom *r = RW(w);
    char user[24], token[TOKEN_MAX_LEN + 1], order[32];
    snprintf(user, sizeof user, "%lld", (long long)user_id);
    TK_TRY(waitroom_token_new(rm->id, token));
    uint64_t x; /* the order key if this is a pre-opening arrival: uniform in [0, 2^53) (see the file head) */
    TK_TRY(rand_secure_below(UINT64_C(1) << 53, &x));
    snprintf(order, sizeof order, "%llu", (unsigned long long)x);
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_ISSUE, now_ms, user, token_hex(token), order, &rep));
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
    if (!token_in_room(token, rm))
        return TK_ERR_NOT_FOUND;
    redisReply *rep;
    TK_TRY(run_script(r, rm, SC_STATUS, now_ms, token_hex(token), NULL, NULL, &rep));
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
    if (!token_in_room(token, rm))
        return TK_OK; /* unknown: no-op */
    return simple(w, rm, SC_FINISH, token_hex(token), now_ms);
}

static int redis_tick(struct tk_waitroom *w, const struct wr_room *rm, int64_t now_ms)
{
    return simple(w, rm, SC_TICK, NULL, now_ms);
}

static int redis_decide(struct tk_waitroom *w, const struct admission_input *in, struct admission_decision *out)
{
    struct wr_room rm = {.id = 0, .policy = in->policy};
    char a_active[24], a_waiting[24], a_bucket[48];
    snprintf(a_active, sizeof a_active, "%lld", (long long)in->active);
    snprintf(a_waiting, sizeof a_waiting, "%lld", (long long)in->waiting);
    snprintf(a_bucket, sizeof a_bucket, "%lld:%lld", (long long)in->bucket.milli, (long long)in->bucket.last_ms);
    redisReply *rep;
    TK_TRY(run_script(RW(w), &rm, SC_DECIDE, in->now_ms, a_active, a_waiting, a_bucket, &rep));
    int rc = TK_ERR_INTERNAL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4) {
        *out = (struct admission_decision){.quota = elem_int(rep, 0),
                                           .immediate = elem_int(rep, 1) != 0,
                                           .bucket = {.milli = elem_int(rep, 2), .last_ms = elem_int(rep, 3)}};
        rc = TK_OK;
    }
    freeReplyObject(rep);
    return rc;
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

/* One HGET of the token's record ("A|user|arrived|expires", base 36 numbers): ACTIVE and not lapsed (by the
 * caller's clock) is admitted; nothing else is touched. The bucket is the Lua's kb(): the first 4 hex digits
 * mod RECORD_BUCKETS. */
#define RECORD_BUCKETS 4096
static int redis_check(struct tk_waitroom *w, const struct wr_room *rm, const char *token, int64_t now_ms,
                       int64_t *user_id)
{
    struct redis_waitroom *r = RW(w);
    if (!token_in_room(token, rm))
        return TK_ERR_NOT_FOUND;
    const char *hex = token_hex(token);
    char first[5], prefix[ROOM_PREFIX_MAX], key[ROOM_PREFIX_MAX + 16];
    memcpy(first, hex, 4);
    first[4] = 0;
    room_prefix(r, rm->id, prefix);
    snprintf(key, sizeof key, "%sk:%ld", prefix, strtol(first, NULL, 16) % RECORD_BUCKETS);
    struct rconn *c;
    TK_TRY(rpool_get(&r->pool, &c));
    bool broken = false;
    const char *argv[] = {"HGET", key, hex};
    redisReply *rep;
    int rc = rpool_command(c, 3, argv, NULL, &rep, &broken);
    rpool_put(&r->pool, c, broken);
    TK_TRY(rc);
    if (rep->type == REDIS_REPLY_NIL) {
        rc = TK_ERR_NOT_FOUND;
    } else if (rep->type != REDIS_REPLY_STRING) {
        rc = TK_ERR_INTERNAL;
    } else if (rep->str[0] != 'A') {
        rc = TK_ERR_NOT_ADMITTED;
    } else { /* A|user|arrived|expires */
        char *user = rep->str + 2, *end;
        long long uid = strtoll(user, &end, 10);
        const char *exp = *end == '|' ? strchr(end + 1, '|') : NULL;
        if (!exp) {
            rc = TK_ERR_INTERNAL;
        } else if (strtoll(exp + 1, NULL, 36) > now_ms) {
            *user_id = uid;
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
    .decide = redis_decide,
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
