#!/usr/bin/env bash
# bench/run.sh — ticketd benchmarks. Usage: bash bench/run.sh   (from any directory)
#
# Builds ticketd and seat_race if needed, starts a private ticketd on a free 127.0.0.1 port with a fresh
# temporary SQLite database (--rate-limit 0 --max-active 100000), then runs:
#   (a) wrk -t2 -c64  -d10s GET /concert/available-seats?concertScheduleId=1 with an ACTIVE queue-token
#   (b) wrk -t2 -c256 -d10s, the same request
#   (c) seat_race --users 1000: 1000 users POST /reservation for one seat at once
# and prints each figure next to the command that produced it. The server is stopped by its PID.
# Benchmarks never pass or fail on time: the script exits 0 whatever the figures (non-zero only when it
# cannot build or start the server). Environment: WRK_SECONDS (default 10), RACE_USERS (default 1000).
set -u

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
WRK_SECONDS=${WRK_SECONDS:-10}
RACE_USERS=${RACE_USERS:-1000}

log() { printf '%s\n' "$*" >&2; }
shell_quote() { local q; printf -v q '%q ' "$@"; printf '%s' "${q% }"; } # a copy-pasteable command line

# ---- build (incremental: a no-op when up to date) ----
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2 || { log "run.sh: cmake configure failed"; exit 2; }
fi
cmake --build "$BUILD" -j2 --target ticketd seat_race >&2 || { log "run.sh: build failed"; exit 2; }
TICKETD=$BUILD/ticketd
SEAT_RACE=$BUILD/seat_race
command -v wrk >/dev/null || { log "run.sh: wrk not found (Debian package wrk)"; exit 2; }
command -v curl >/dev/null || { log "run.sh: curl not found"; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ticketd-bench.XXXXXX")
SERVER_PID=""

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do # at most 10 s, then SIGKILL
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "run.sh: server $SERVER_PID ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$SERVER_PID" 2>/dev/null
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- start a private server on a free port (bounded attempts) ----
PORT=""
for attempt in 1 2 3 4 5; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$p" && continue
    rm -f "$TMP"/t.db*
    "$TICKETD" serve --port "$p" --db "sqlite:$TMP/t.db" --rate-limit 0 --max-active 100000 --max-connections-per-ip 100000 --signup-rate 0 --issue-rate 0 \
        >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do # at most 10 s
        kill -0 "$SERVER_PID" 2>/dev/null || break
        if curl -fsS -m 1 "http://127.0.0.1:$p/health" >/dev/null 2>&1; then PORT=$p; break; fi
        sleep 0.1
    done
    [ -n "$PORT" ] && break
    log "run.sh: server did not come up on port $p (attempt $attempt):"
    sed 's/^/    /' "$TMP/server.log" >&2
    stop_server
done
[ -n "$PORT" ] || { log "run.sh: could not start ticketd"; exit 2; }
BASE=http://127.0.0.1:$PORT

json_field() { # json_field NAME < json — first string value of "NAME"
    grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | sed 's/^[^:]*:"//; s/"$//'
}

# ---- a user with an ACTIVE queue token for wrk ----
KEY=$(curl -sS -m 5 -X POST "$BASE/users" -H 'Content-Type: application/json' -d '{"name":"wrk"}' | json_field apiKey)
TOKEN_JSON=$(curl -sS -m 5 -X POST "$BASE/queue/issue" -H "Authorization: Bearer $KEY")
TOKEN=$(printf '%s' "$TOKEN_JSON" | json_field token)
STATUS=$(printf '%s' "$TOKEN_JSON" | json_field status)
SEATS_URL="$BASE/concert/available-seats?concertScheduleId=1"
CODE=$(curl -sS -m 5 -o "$TMP/seats.json" -w '%{http_code}' -H "queue-token: $TOKEN" "$SEATS_URL")
if [ -z "$TOKEN" ] || [ "$STATUS" != ACTIVE ] || [ "$CODE" != 200 ]; then
    log "run.sh: could not get an ACTIVE token (status '$STATUS', available-seats HTTP $CODE)"
    exit 2
fi
SEATS_BYTES=$(wc -c <"$TMP/seats.json")

{
    echo "# ticketd benchmarks — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
    echo "# server: $TICKETD serve --port $PORT --db sqlite:$TMP/t.db --rate-limit 0 --max-active 100000 --max-connections-per-ip 100000 --signup-rate 0 --issue-rate 0 (pid $SERVER_PID)"
    echo "# $(tail -n 1 "$TMP/server.log")"
    echo "# available-seats response: HTTP 200, $SEATS_BYTES bytes body"
    echo "# note: wrk/seat_race run on the same $(nproc) cores as the server"
}

RESULTS=()

run_wrk() { # run_wrk CONNECTIONS LABEL
    local c=$1 label=$2 out rps lat p99 non2xx sockerr
    local cmd=(wrk -t2 -c"$c" -d"${WRK_SECONDS}s" --latency -H "queue-token: $TOKEN" "$SEATS_URL")
    echo
    echo "## ($label) GET /concert/available-seats, $c connections"
    echo "\$ $(shell_quote "${cmd[@]}")"
    out=$(timeout $((WRK_SECONDS + 30)) "${cmd[@]}" 2>&1)
    echo "$out"
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')
    lat=$(printf '%s\n' "$out" | awk '$1 == "Latency" && $2 != "Distribution" {print "avg " $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(printf '%s\n' "$out" | awk -F': *' '/Non-2xx or 3xx responses/ {print $2}')
    sockerr=$(printf '%s\n' "$out" | grep -m1 'Socket errors' | sed 's/^ *//')
    RESULTS+=("($label) available-seats c$c: ${rps:-n/a} req/s, latency ${lat:-n/a} p99 ${p99:-n/a}, non-2xx ${non2xx:-0}${sockerr:+, $sockerr}   <- $(shell_quote "${cmd[@]}")")
    kill -0 "$SERVER_PID" 2>/dev/null || echo "!! server (pid $SERVER_PID) is no longer running"
}

run_wrk 64 a
run_wrk 256 b

# ---- (c) the seat race ----
RACE_CMD=("$SEAT_RACE" --url "$BASE" --users "$RACE_USERS")
echo
echo "## (c) $RACE_USERS users race for one seat"
echo "\$ $(shell_quote "${RACE_CMD[@]}")"
RACE_OUT=$(timeout 300 "${RACE_CMD[@]}" 2>"$TMP/race.err")
RACE_RC=$?
cat "$TMP/race.err"
# The full JSON report (winner_details lists every 201: one entry when the race is correct).
printf '%s\n' "$RACE_OUT"
num() { printf '%s\n' "$RACE_OUT" | grep -m1 "\"$1\":" | sed 's/.*: *//; s/,$//'; }
STATUS_COUNTS=$(printf '%s\n' "$RACE_OUT" | awk '/"status_counts"/ {f=1; next} f && /}/ {exit} f {gsub(/[ ",]/, ""); printf "%s ", $0}')
RESULTS+=("(c) seat race, $RACE_USERS users: wall $(num wall_seconds) s, p50 $(num p50_ms) ms, p99 $(num p99_ms) ms, statuses [${STATUS_COUNTS% }], winners $(num winners), correct $(num correct), exit $RACE_RC   <- $(shell_quote "${RACE_CMD[@]}")")
kill -0 "$SERVER_PID" 2>/dev/null || echo "!! server (pid $SERVER_PID) is no longer running"

# ---- (d) /health and seat reads while a write stampede holds every writer busy ----
# 64 connections charge one wallet (a hot row: every write queues on SQLite's one writer) while 4 more connections
# read /health and 4 read available-seats; the readers' p99 is the figure (goal: /health p99 <= 50 ms).
cat >"$TMP/charge.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"amount":1}'
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
LUA
STAMPEDE_CMD=(wrk -t1 -c64 -d"${WRK_SECONDS}s" -s "$TMP/charge.lua" "$BASE/user/charge")
HEALTH_CMD=(wrk -t1 -c4 -d"$((WRK_SECONDS - 2))s" --latency "$BASE/health")
SEATR_CMD=(wrk -t1 -c4 -d"$((WRK_SECONDS - 2))s" --latency -H "queue-token: $TOKEN" "$SEATS_URL")
echo
echo "## (d) /health and available-seats during a write stampede"
echo "\$ $(shell_quote "${STAMPEDE_CMD[@]}") &"
echo "\$ $(shell_quote "${HEALTH_CMD[@]}") &  $(shell_quote "${SEATR_CMD[@]}")"
timeout $((WRK_SECONDS + 30)) "${STAMPEDE_CMD[@]}" >"$TMP/stampede.out" 2>&1 &
STAMPEDE_PID=$!
sleep 1
timeout $((WRK_SECONDS + 30)) "${SEATR_CMD[@]}" >"$TMP/seatr.out" 2>&1 &
SEATR_PID=$!
HOUT=$(timeout $((WRK_SECONDS + 30)) "${HEALTH_CMD[@]}" 2>&1)
wait "$SEATR_PID" 2>/dev/null
wait "$STAMPEDE_PID" 2>/dev/null
echo "$HOUT"
cat "$TMP/seatr.out" "$TMP/stampede.out"
hp99=$(printf '%s\n' "$HOUT" | awk '$1 == "99%" {print $2}')
sp99=$(awk '$1 == "99%" {print $2}' "$TMP/seatr.out")
crps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/stampede.out")
cnon2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$TMP/stampede.out")
RESULTS+=("(d) during a 64-connection charge stampede on one wallet (${crps:-n/a} charges/s, non-2xx ${cnon2xx:-0}): /health p99 ${hp99:-n/a}, available-seats p99 ${sp99:-n/a}   <- $(shell_quote "${STAMPEDE_CMD[@]}") + $(shell_quote "${HEALTH_CMD[@]}")")
kill -0 "$SERVER_PID" 2>/dev/null || echo "!! server (pid $SERVER_PID) is no longer running"

# ---- server-side view: requests by route and status (shows any 5xx the clients saw) ----
echo
echo "## server request counts (GET /metrics)"
curl -sS -m 5 "$BASE/metrics" | grep '^ticketd_http_requests_total' || echo "(metrics unavailable)"
if grep -qiE 'error|fatal|abort|assert' "$TMP/server.log"; then
    echo "## server log (errors)"
    cat "$TMP/server.log"
fi

echo
echo "## summary"
for r in "${RESULTS[@]}"; do echo "$r"; done

stop_server
exit 0
