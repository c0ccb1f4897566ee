#!/usr/bin/env bash
# bench/sale.sh — the sale issue's figures: a per-concert waiting room at scale, on 3 instances (SO_REUSEPORT) on
# PostgreSQL + Redis, all on this machine. Prints every figure next to the command that produced it, and the CPU
# each process used meanwhile; never passes or fails on a time (exit 0 whatever the figures, 2 when it cannot start).
#
#   bash bench/sale.sh                      # N=1000000 waiting tokens, 10,000 SSE streams; ~10-15 min here
#   N=200000 STREAMS=10000 bash bench/sale.sh
#
#   (0) N users straight into PostgreSQL with SQL (INSERT … SELECT generate_series), user i's API key being
#       'tk_5a1e' || lpad(to_hex(i), 28, '0'), stored as its SHA-256 hex like core/accounts.c does
#   (1a) token issue: ticketd load --scenario sale-issue, N users POST /queue/issue {"concertId"} for a sale that is
#        open with maxActive 1 and admitPerSec 1, so every token but the first stays WAITING (FIFO, with positions)
#   (1b) Redis memory per waiter: INFO memory used_memory before and after (1a), over the waiting count
#   (1c) status polls: ticketd load --scenario sale-poll, POLLS GET /queue/status round robin over those tokens
#   (1d) the opening: a second sale whose opensAt is in the future; N tokens are issued into its pre-queue (Redis
#        memory per pre-queued waiter too), then ticketd load --scenario sale-open polls a sample of them across
#        opensAt: when positions show, when the first are admitted, the poll latency just before and just after
#   (2) STREAMS GET /queue/events streams on a 4th instance of its own (own port): RSS per stream, threads, events
#       per second while the first sale admits 50 a second (bench/sse_streams)
#   (3) the site-wide room's token issue, as bench/cluster.sh (b) measures it (SITE=0 skips it)
#
# Everything runs with a private services dir (its own PostgreSQL, Redis, instances, ports) that is removed at the
# end; only processes this script started are stopped, by PID. Environment: N, POLLS (default min(N, 300000)), STREAMS (10000),
# SSE_SECONDS (30), CONNECTIONS (256), PORT (first free from 18300), BUILD_DIR (build-rel, a Release build), SITE.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${N:-1000000}
POLLS=${POLLS:-$((N < 300000 ? N : 300000))}
STREAMS=${STREAMS:-10000}
SSE_SECONDS=${SSE_SECONDS:-30}
CONNECTIONS=${CONNECTIONS:-256}
SITE=${SITE:-1}
LOAD_SECONDS=${LOAD_SECONDS:-3600} # each ticketd load run's deadline
BUILD=${BUILD_DIR:-$ROOT/build-rel}
log() { printf '%s\n' "$*" >&2; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while port_busy "$p"; do p=$((p + 1)); done; echo "$p"; }

# ---- build (Release; incremental) ----
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || { log "sale.sh: cmake failed"; exit 2; }
fi
cmake --build "$BUILD" -j2 --target ticketd sse_streams >/dev/null || { log "sale.sh: build failed"; exit 2; }
TK=$BUILD/ticketd

# ---- private services and a cluster of 3 ----
SVC=$(mktemp -d /tmp/bench-sale.XXXXXX)
chmod 755 "$SVC" # PostgreSQL runs as ticketd-pg and must reach its data dir inside
export TICKETD_SERVICES_DIR=$SVC TICKETD_BUILD_DIR=$BUILD
PORT=${PORT:-$(free_port 18300)}
SSE_PORT=$(free_port $((PORT + 1)))
export TICKETD_PORT=$PORT
SSE_PID=""
cleanup() {
  if [ -n "$SSE_PID" ]; then kill "$SSE_PID" 2>/dev/null; wait "$SSE_PID" 2>/dev/null; fi
  bash scripts/cluster.sh down >/dev/null 2>&1
  rm -rf "$SVC"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ADMIN_KEY=sale-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
SERVE_FLAGS=(--admin-key "$ADMIN_KEY" --rate-limit 0 --signup-rate 0 --issue-rate 0 --max-connections-per-ip 100000
  --queue-max $((N + N + 1000)) --idle-seconds 7200 --max-active 100000 --admit-per-sec 100000)
bash scripts/cluster.sh up 3 "${SERVE_FLAGS[@]}" >/dev/null || { log "sale.sh: cluster did not start"; exit 2; }
# shellcheck disable=SC1091
. "$SVC/env"
DB="${TICKETD_TEST_PG%/*}/ticketd_cluster"
REDIS_PORT=${TICKETD_TEST_REDIS##*:}
B="http://127.0.0.1:$PORT"
curl -sf "$B/health" >/dev/null || { log "sale.sh: the cluster does not answer on $B"; exit 2; }
INSTANCE_PIDS=$(cat "$SVC"/cluster/instance*.pid | tr '\n' ' ')
REDIS_PID=$(cat "$SVC/redis1/redis.pid" 2>/dev/null)
PG_PID=$(head -n 1 "$SVC/pg/postmaster.pid" 2>/dev/null)
# the Redis and PostgreSQL on those ports must be the ones started here (another engineer's may have taken a port
# in a race): never measure, or write into, someone else's
if [ -z "$REDIS_PID" ] || [ "$(redis-cli -p "$REDIS_PORT" INFO server 2>/dev/null | awk -F: '/^process_id:/ {print $2+0}')" != "$REDIS_PID" ]; then
  log "sale.sh: the Redis on :$REDIS_PORT is not the one started in $SVC (a port race?); stopping"; exit 2
fi
if [ -z "$PG_PID" ] || [ "$(sed -n 4p "$SVC/pg/postmaster.pid")" != "$TICKETD_PG_PORT" ]; then
  log "sale.sh: PostgreSQL in $SVC is not running on :$TICKETD_PG_PORT; stopping"; exit 2
fi

echo "# bench/sale.sh — $(date -u +%FT%TZ)"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(grep MemTotal /proc/meminfo | tr -s ' '), kernel $(uname -r)"
echo "# code: $(git log -1 --format='%h %s' | cut -c1-80)$(git diff --quiet HEAD -- src || echo ' (+ uncommitted src changes)')"
echo "# shape: 3 instances on $B (SO_REUSEPORT), PostgreSQL 15 + Redis 7 (private, $SVC); the load generator runs on the SAME $(nproc) cores"
echo "# serve flags: ${SERVE_FLAGS[*]/$ADMIN_KEY/<admin key>}"
echo "# N=$N POLLS=$POLLS STREAMS=$STREAMS"

# ---- CPU accounting: CPU-seconds per process (group) between two snapshots, and the whole machine's ----
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_pids() { echo "$PG_PID $(ps --ppid "$PG_PID" -o pid= | tr '\n' ' ')"; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(ticks "$p"))); done; echo $t; }
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
HZ=$(getconf CLK_TCK)
EXTRA_PIDS="" # (2): the SSE instance, counted apart
cpu_start() { C_EXTRA=$(sum_ticks $EXTRA_PIDS); C_INST=$(sum_ticks $INSTANCE_PIDS); C_REDIS=$(ticks "$REDIS_PID"); C_PG=$(sum_ticks $(pg_pids)); C_ALL=$(machine_busy); C_T0=$(date +%s.%N); }
# cpu_report LOAD_CPU_SECONDS [EXTRA_PID]: CPU-seconds each used since cpu_start, and the rest of the machine
cpu_report() {
  local wall inst redis pg all load=$1 extra
  wall=$(awk -v a="$(date +%s.%N)" -v b="$C_T0" 'BEGIN {print a - b}')
  inst=$(( $(sum_ticks $INSTANCE_PIDS) - C_INST )); redis=$(( $(ticks "$REDIS_PID") - C_REDIS ))
  pg=$(( $(sum_ticks $(pg_pids)) - C_PG )); all=$(( $(machine_busy) - C_ALL )); extra=$(( $(sum_ticks $EXTRA_PIDS) - C_EXTRA ))
  awk -v w="$wall" -v i="$inst" -v r="$redis" -v p="$pg" -v a="$all" -v l="$load" -v x="$extra" -v hz="$HZ" -v n="$(nproc)" 'BEGIN {
    i /= hz; r /= hz; p /= hz; a /= hz; x /= hz; o = a - i - r - p - l - x; if (o < 0) o = 0
    printf "   cpu over %.1f s wall (%d cores = %.1f CPU-s): 3 instances %.1f, %sredis %.1f, postgres %.1f, load generator %.1f, everything else on the machine %.1f (busy %.0f%%)\n", w, n, w * n, i, (x > 0 ? sprintf("the SSE instance %.1f, ", x) : ""), r, p, l, o, 100 * a / (w * n) }'
}
# run_timed OUT CMD…: runs CMD with stdout to OUT; sets LOAD_CPU to its user+sys CPU-seconds
run_timed() {
  local out=$1; shift
  local tf; tf=$(mktemp)
  { TIMEFORMAT='%U %S'; time "$@" >"$out" 2>>"$SVC/load.err"; } 2>"$tf"
  LOAD_CPU=$(awk '{print $1 + $2}' "$tf"); rm -f "$tf"
}
field() { grep -m1 "\"$1\":" "$2" | sed 's/.*: *//; s/,$//'; }
lat() { awk '/"latency_ms"/ {f=1} f && /"p50"|"p95"|"p99"|"max"/ {gsub(/[",]/, ""); printf "%s %.1f ms ", $1, $2} f && /}/ {exit}' "$1"; }
rate() { awk -v r="$(field requests "$1")" -v w="$(field wall_seconds "$1")" 'BEGIN {printf "%d requests in %.1f s = %.0f req/s", r, w, (w > 0 ? r / w : 0)}'; }
# Redis's own view of a phase: INFO commandstats (EVALSHA = one waiting-room script) and SLOWLOG (> 10 ms)
redis_reset() {
  redis-cli -p "$REDIS_PORT" CONFIG SET slowlog-max-len 100000 >/dev/null
  redis-cli -p "$REDIS_PORT" CONFIG RESETSTAT >/dev/null; redis-cli -p "$REDIS_PORT" SLOWLOG RESET >/dev/null
}
redis_report() {
  local es slow
  es=$(redis-cli -p "$REDIS_PORT" INFO commandstats | awk -F'[:,=]' '/^cmdstat_evalsha:/ {n = $3; printf "%d scripts, %.0f µs of Redis each", $3, $7} /^cmdstat_/ && !/evalsha/ {inner += $3} END {if (n) printf " (%.1f other commands per script, most inside them)", inner / n}')
  slow=$(redis-cli -p "$REDIS_PORT" -2 --json SLOWLOG GET 100000 | grep -o '\[[0-9]*,[0-9]*,[0-9]*,\["' | cut -d, -f3 |
    awk '{n++; if ($1 > m) m = $1; t += $1} END {printf "%d over 10 ms", n; if (n) printf " (%.0f ms in all, the longest %.0f ms)", t / 1000, m / 1000}')
  echo "   redis: $es; slowlog: $slow"
}
redis_mem() { redis-cli -p "$REDIS_PORT" INFO memory | awk -F: '/^used_memory:/ {print $2+0}'; }
admin() { curl -sS -m 10 -H "Authorization: Bearer $ADMIN_KEY" "$@"; }
jfield() { grep -o "\"$1\":[^,}]*" | head -n 1 | sed 's/^[^:]*://; s/"//g'; }
RESULTS=()

# ---- (3) the site-wide room, as bench/cluster.sh (b) ----
if [ "$SITE" = 1 ]; then
  CMD=("$TK" load --scenario issue --users 10000 --connections 256 --url "$B")
  echo
  echo "(3) site-wide room token issue (bench/cluster.sh (b)), first, on the fresh cluster; users made with POST /users first (not timed)"
  echo "\$ ${CMD[*]}"
  redis_reset; cpu_start
  run_timed "$SVC/3.json" "${CMD[@]}"
  cpu_report "$LOAD_CPU"; redis_report
  echo "   $(rate "$SVC/3.json"); $(lat "$SVC/3.json")"
  RESULTS+=("(3) site-wide token issue (10,000 users, issue + poll until ACTIVE): $(printf '%.0f' "$(field requests_per_sec "$SVC/3.json")") req/s")
fi

# ---- (0) users ----
T0=$(date +%s.%N)
psql "$DB" -qAt -c "INSERT INTO users(name, api_key_sha256, created_at)
  SELECT 'sale-' || i, encode(sha256(convert_to('tk_5a1e' || lpad(to_hex(i), 28, '0'), 'UTF8')), 'hex'),
         (extract(epoch FROM now()) * 1000)::bigint
  FROM generate_series(1, $N) AS i; ANALYZE users;" >/dev/null || { log "sale.sh: could not create users"; exit 2; }
echo
echo "(0) $N users created with one INSERT … SELECT generate_series in $(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN {printf "%.1f", a - b}') s"

# ---- the sales ----
mkconcert() { admin -XPOST "$B/admin/concerts" -d "{\"name\":\"$1\"}" | jfield concertId; }
CF=$(mkconcert "Sale bench FIFO")
SF=$(admin -XPOST "$B/admin/sales" -d "{\"concertId\":\"$CF\",\"maxActive\":1,\"admitPerSec\":1,\"tokenSeconds\":86400}" | jfield saleId)
[ -n "$SF" ] || { log "sale.sh: could not create the sale"; exit 2; }
sleep 0.6 # every instance's copy of the sales (500 ms)

# ---- (1a) issue N tokens into an open sale with maxActive 1: all but the first WAIT ----
M0=$(redis_mem)
CMD=("$TK" load --scenario sale-issue --url "$B" --users "$N" --concert "$CF" --tokens "$SVC/tokens-fifo"
  --connections "$CONNECTIONS" --seconds "$LOAD_SECONDS")
echo
echo "(1a) token issue, N=$N, sale $SF (open, maxActive 1, admitPerSec 1)"
echo "\$ ${CMD[*]}"
redis_reset; cpu_start
run_timed "$SVC/1a.json" "${CMD[@]}"
cpu_report "$LOAD_CPU"; redis_report
M1=$(redis_mem)
ISSUE_RPS=$(field requests_per_sec "$SVC/1a.json")
echo "   $(rate "$SVC/1a.json"); $(lat "$SVC/1a.json")"
echo "   check: $(tr -d '\n ' <"$SVC/1a.json" | grep -o '"check":{[^}]*}')"
RESULTS+=("(1a) token issue, N=$N: $(printf '%.0f' "$ISSUE_RPS") req/s, $(lat "$SVC/1a.json")")

# ---- (1b) Redis memory per waiter ----
STATS=$(admin "$B/admin/sales/$SF")
WAITING=$(printf '%s' "$STATS" | jfield waiting)
echo
echo "(1b) Redis INFO memory used_memory: $M0 -> $M1 bytes; waiting $WAITING (GET /admin/sales/$SF)"
if [ "${WAITING:-0}" -gt 0 ]; then
  PER=$(( (M1 - M0) / WAITING ))
  echo "   = $PER bytes per FIFO waiter (the whole room: records, user map, line shards, counts)"
  RESULTS+=("(1b) Redis memory per waiter (FIFO): $PER B ($((M1 - M0)) B / $WAITING waiting)")
fi

# ---- (1c) status polls on those tokens (positions shown: the sale is open) ----
CMD=("$TK" load --scenario sale-poll --url "$B" --tokens "$SVC/tokens-fifo" --requests "$POLLS"
  --connections "$CONNECTIONS" --seconds "$LOAD_SECONDS")
echo
echo "(1c) status polls, $POLLS over the $N WAITING tokens (each with its position)"
echo "\$ ${CMD[*]}"
redis_reset; cpu_start
run_timed "$SVC/1c.json" "${CMD[@]}"
cpu_report "$LOAD_CPU"; redis_report
POLL_RPS=$(field requests_per_sec "$SVC/1c.json")
echo "   $(rate "$SVC/1c.json"); $(lat "$SVC/1c.json")"
echo "   check: $(tr -d '\n ' <"$SVC/1c.json" | grep -o '"check":{[^}]*}')"
RESULTS+=("(1c) status polls on $N waiting tokens: $(printf '%.0f' "$POLL_RPS") req/s, $(lat "$SVC/1c.json")")

# ---- (1d) the opening: N pre-queued tokens, then polls across opensAt ----
CP=$(mkconcert "Sale bench opening")
RATE=$(printf '%.0f' "$ISSUE_RPS"); [ "$RATE" -gt 0 ] || RATE=1000
LEAD=$(( N * 11 / (RATE * 10) + 30 )) # 1.1 × the measured FIFO issue time + 30 s (a pre-queue issue is cheaper: no position)
OPENS=$(( $(date +%s) + LEAD ))
OPENS_ISO=$(date -u -d "@$OPENS" +%FT%TZ)
SP=$(admin -XPOST "$B/admin/sales" -d "{\"concertId\":\"$CP\",\"opensAt\":\"$OPENS_ISO\",\"maxActive\":1000,\"admitPerSec\":1000,\"tokenSeconds\":86400}" | jfield saleId)
sleep 0.6
M2=$(redis_mem)
CMD=("$TK" load --scenario sale-issue --url "$B" --users "$N" --concert "$CP" --tokens "$SVC/tokens-pre"
  --connections "$CONNECTIONS" --seconds "$LOAD_SECONDS")
echo
echo "(1d) the opening: sale $SP opens at $OPENS_ISO (in $LEAD s; maxActive 1000, admitPerSec 1000); first $N tokens into its pre-queue"
echo "\$ ${CMD[*]}"
redis_reset; cpu_start
run_timed "$SVC/1d-issue.json" "${CMD[@]}"
cpu_report "$LOAD_CPU"; redis_report
M3=$(redis_mem)
echo "   $(rate "$SVC/1d-issue.json"); $(lat "$SVC/1d-issue.json")"
echo "   check: $(tr -d '\n ' <"$SVC/1d-issue.json" | grep -o '"check":{[^}]*}')"
PWAIT=$(admin "$B/admin/sales/$SP" | jfield waiting)
if [ "${PWAIT:-0}" -gt 0 ]; then
  echo "   Redis used_memory $M2 -> $M3 bytes over $PWAIT pre-queued = $(( (M3 - M2) / PWAIT )) bytes per pre-queued waiter"
  RESULTS+=("(1d) Redis memory per pre-queued waiter: $(( (M3 - M2) / PWAIT )) B; pre-queue issue $(printf '%.0f' "$(field requests_per_sec "$SVC/1d-issue.json")") req/s")
fi
NOW_MS=$(date +%s%3N)
if [ "$NOW_MS" -ge $((OPENS * 1000 - 3000)) ]; then
  echo "   !! the pre-queue took longer than planned: opensAt is past or too close; the opening figure is not measured"
else
  WAIT_S=$(( (OPENS * 1000 - NOW_MS) / 1000 - 5 )) # start polling 5 s before the opening
  [ "$WAIT_S" -gt 0 ] && sleep "$WAIT_S"
  NOW_MS=$(date +%s%3N)
  CMD=("$TK" load --scenario sale-open --url "$B" --tokens "$SVC/tokens-pre" --opens-at $((OPENS * 1000))
    --after-ms 3000 --sample 2000 --connections 64 --seconds "$LOAD_SECONDS")
  echo "   polling a sample across the opening (from $(( (OPENS * 1000 - NOW_MS) / 1000 )) s before it):"
  echo "\$ ${CMD[*]}"
  # beside it: the organizer's view every 100 ms from 1 s before to 3 s after, to see when admissions start
  ( end=$((OPENS * 1000 + 3000)); while [ "$(date +%s%3N)" -lt "$end" ]; do
      t=$(date +%s%3N); a=$(admin "$B/admin/sales/$SP" | jfield admittedTotal); echo "$t $(date +%s%3N) $a"; sleep 0.1
    done >"$SVC/1d-admin.txt" ) &
  ADMIN_LOOP=$!
  redis_reset; cpu_start
  run_timed "$SVC/1d-open.json" "${CMD[@]}"
  cpu_report "$LOAD_CPU"; redis_report
  wait "$ADMIN_LOOP"
  FIRST_ADMITTED=$(awk -v o=$((OPENS * 1000)) '$3 > 0 {print $1 - o " to " $2 - o; exit}' "$SVC/1d-admin.txt")
  LAST_NONE=$(awk -v o=$((OPENS * 1000)) '$3 == 0 {x = $2 - o} END {print x}' "$SVC/1d-admin.txt")
  echo "   GET /admin/sales/$SP every 100 ms: admittedTotal 0 in the last answer that ended $LAST_NONE ms after opensAt; > 0 first in the request sent/answered $FIRST_ADMITTED ms after it"
  tr -d '\n ' <"$SVC/1d-open.json" | grep -o '"check":{.*}}' | sed 's/,"correct".*//; s/^/   /'
  echo
  ST=$(admin "$B/admin/sales/$SP")
  echo "   GET /admin/sales/$SP right after: $(printf '%s' "$ST" | grep -o '"stats":{[^}]*}')"
  RESULTS+=("(1d) opening with $PWAIT pre-queued: first position $(field first_position_after_open_ms "$SVC/1d-open.json") ms after opensAt, first ACTIVE (sample) $(field first_active_after_open_ms "$SVC/1d-open.json") ms, first admitted (organizer view) $FIRST_ADMITTED ms, $(printf '%s' "$ST" | jfield admittedTotal) admitted by opensAt+3 s; status p99 before $(tr -d '\n ' <"$SVC/1d-open.json" | grep -o '"latency_before_open_ms":{[^}]*}' | grep -o '"p99":[0-9.]*' | cut -d: -f2) ms, first 2 s $(tr -d '\n ' <"$SVC/1d-open.json" | grep -o '"latency_first_2s_ms":{[^}]*}' | grep -o '"p99":[0-9.]*' | cut -d: -f2) ms")
fi

# ---- (2) SSE streams on one instance of its own ----
if [ "$STREAMS" -gt 0 ]; then
  "$TK" serve --port "$SSE_PORT" --db "$DB" --redis "$TICKETD_TEST_REDIS" "${SERVE_FLAGS[@]}" \
    --max-connections $((STREAMS + 2000)) --max-streams $((STREAMS + 1000)) >"$SVC/sse-instance.log" 2>&1 &
  SSE_PID=$!
  EXTRA_PIDS=$SSE_PID
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$SSE_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
  # admissions go on (50 a second, slots to spare), so every waiter's position moves each second
  admin -XPATCH "$B/admin/sales/$SF" -d '{"maxActive":1000000,"admitPerSec":50}' >/dev/null
  FROM=$(( N > STREAMS * 2 ? N / 2 : (N > STREAMS ? N - STREAMS : 0) )) # far back in line: not admitted meanwhile
  CMD=("$BUILD/sse_streams" --port "$SSE_PORT" --tokens "$SVC/tokens-fifo" --from "$FROM" --streams "$STREAMS"
    --seconds "$SSE_SECONDS" --pid "$SSE_PID")
  echo
  echo "(2) $STREAMS GET /queue/events streams on one instance (pid $SSE_PID, :$SSE_PORT), tokens $FROM.. of sale $SF while it admits 50/s"
  echo "\$ ${CMD[*]}"
  redis_reset; cpu_start
  S0=$(ticks "$SSE_PID")
  run_timed "$SVC/2.json" "${CMD[@]}"
  cpu_report "$LOAD_CPU"; redis_report
  echo "   the SSE instance alone: $(awk -v t=$(( $(ticks "$SSE_PID") - S0 )) -v hz="$HZ" 'BEGIN {printf "%.1f", t / hz}') CPU-s"
  sed 's/^/   /' "$SVC/2.json"
  RESULTS+=("(2) $STREAMS SSE streams: $(field rss_bytes_per_stream "$SVC/2.json") B RSS per stream, $(field events_per_sec "$SVC/2.json") events/s, threads $(tr -d '\n ' <"$SVC/2.json" | grep -o '"threads":{[^}]*}'), opened in $(field open_seconds "$SVC/2.json") s")
  admin -XPATCH "$B/admin/sales/$SF" -d '{"admitPerSec":1}' >/dev/null
  kill "$SSE_PID" 2>/dev/null; wait "$SSE_PID" 2>/dev/null; SSE_PID=""; EXTRA_PIDS=""
fi

echo
echo "## server errors (instance logs)"
grep -hiE 'error|fatal|abort|assert' "$SVC"/cluster/instance*.log "$SVC/sse-instance.log" 2>/dev/null | sort | uniq -c | head -n 10
[ -s "$SVC/load.err" ] && { echo "## load generator stderr"; head -n 10 "$SVC/load.err"; }
echo
echo "## summary (2 cores shared by 3 instances, PostgreSQL, Redis and the load generator)"
for r in "${RESULTS[@]}"; do echo "$r"; done
exit 0
