# lib.sh — shared by the cluster tests: a fresh PostgreSQL database and Redis namespace per test, instances
# started and stopped by PID, assertions that fail loudly. Needs TICKETD_TEST_PG and TICKETD_TEST_REDIS
# (scripts/services.sh); a test FAILS without them. Sourced, not run.
set -euo pipefail
TICKETD=${1:?usage: $0 path/to/ticketd}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${TICKETD_TEST_PG:?FAIL: TICKETD_TEST_PG is not set (bash scripts/services.sh up)}"
: "${TICKETD_TEST_REDIS:?FAIL: TICKETD_TEST_REDIS is not set (bash scripts/services.sh up)}"
WORK=$(mktemp -d /tmp/tk-cluster-XXXXXX)
DBNAME="tk_cluster_$$_$RANDOM"
DBURL="${TICKETD_TEST_PG%/*}/$DBNAME"
PREFIX="tkc$$$RANDOM"
PIDS=()
psql "$TICKETD_TEST_PG" -qAt -c "CREATE DATABASE $DBNAME" >/dev/null

cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  psql "$TICKETD_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# A free port below the kernel's ephemeral range (32768+), where outgoing connections take their local ports.
free_port() {
  local p=$((20000 + RANDOM % 12000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

# start_instance PORT [extra serve args…]: starts one instance on the shared stores, waits for /health.
# (--max-connections-per-ip is lifted because every test client connects from 127.0.0.1.)
start_instance() {
  local port=$1
  shift
  "$TICKETD" serve --port "$port" --db "$DBURL" --redis "$TICKETD_TEST_REDIS" --redis-prefix "$PREFIX" \
    --rate-limit 0 --max-connections-per-ip 100000 --signup-rate 0 --issue-rate 0 "$@" >>"$WORK/instance-$port.log" 2>&1 &
  PIDS+=($!)
  LAST_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/instance-$port.log" >&2
  fail "instance on port $port did not come up"
}

sql() { psql "$DBURL" -qAt -c "$1"; }

# json_field FILE KEY: the first scalar value of "KEY" in a JSON file (no jq on a fresh machine).
json_field() { grep -o "\"$2\": *[^,}]*" "$1" | head -1 | sed 's/.*: *//; s/"//g'; }
