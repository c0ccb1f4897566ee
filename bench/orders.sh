#!/usr/bin/env bash
# bench/orders.sh — issue 11's figures: several seats in one hold, and a cancelled show. Prints each figure with the
# command that produced it; never passes or fails on a time (exit 0 unless it cannot build or start).
#   (a) the single-seat race, the baseline: ticketd load --scenario race --users 1000 --seats 50
#   (b) 1,000 users × 4 overlapping seats:  ticketd load --scenario multi-race --users 1000 --seats 50 --hold-seats 4
#       (a) and (b) on 3 instances (ports P, P+1, P+2; the load generator round-robins over them) on PostgreSQL +
#       Redis, interleaved ROUNDS times (default 3), each run on a fresh database and Redis prefix
#   (c) cancel of a sold-out 5,000-seat date, 3 instances on PostgreSQL: POST /admin/schedules/{id}/cancel to one
#   (d) the same, the cancel posted to all 3 instances at once (they share the batches: FOR UPDATE SKIP LOCKED)
#   (e) the same on the embedded store (one instance, SQLite)
#       The sold-out date's 5,000 payments (one seat each: the most refunds a 5,000-seat date can need) are written
#       by SQL — the figure is the cancel, not 5,000 purchases — then ANALYZEd (as autovacuum would have done during
#       a real sale; without statistics PostgreSQL plans the batch's lookups badly and reconcile's audit passes its
#       5 s statement_timeout), and `ticketd reconcile` must be clean before the cancel and after it;
#       refunds/s = refunded / the cancel call's time.
# Services: scripts/services.sh in $TICKETD_SERVICES_DIR (default /tmp/ticketd-bench-orders, a private dir: this
# never touches another engineer's PostgreSQL, Redis or instances); if this script started them it stops them at
# the end. Instances are started here on free ports below the ephemeral range and stopped by their PIDs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
export TICKETD_SERVICES_DIR=${TICKETD_SERVICES_DIR:-/tmp/ticketd-bench-orders}
TICKETD=$ROOT/build/ticketd
cmake --build build -j2 --target ticketd >/dev/null || { echo "orders.sh: build failed" >&2; exit 2; }
STARTED_SERVICES=0
[ -f "$TICKETD_SERVICES_DIR/env" ] || STARTED_SERVICES=1
ENVFILE=$(bash scripts/services.sh up) || { echo "orders.sh: services did not start" >&2; exit 2; }
# shellcheck disable=SC1090
. "$ENVFILE"
WORK=$(mktemp -d /tmp/ticketd-bench-orders.XXXXXX)
ADMIN=bench-orders-admin-$RANDOM$RANDOM
PIDS=()
DBS=()

stop_instances() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  PIDS=()
}
cleanup() {
  stop_instances
  local d
  for d in "${DBS[@]:-}"; do
    [ -n "$d" ] && psql "$TICKETD_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
  done
  rm -rf "$WORK"
  [ "$STARTED_SERVICES" = 1 ] && bash scripts/services.sh down >/dev/null 2>&1
}
trap cleanup EXIT

free_port() { # three consecutive free ports below the kernel's ephemeral range (32768+)
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null ||
      (exec 3<>"/dev/tcp/127.0.0.1/$((p + 2))") 2>/dev/null || { echo "$p"; return; }
  done
}
wait_up() {
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "orders.sh: instance on :$1 did not come up; its log:" >&2
  tail -5 "$WORK/i$1.log" >&2
  exit 2
}
SERVE_FLAGS=(--rate-limit 0 --max-active 100000 --admit-per-sec 100000 --max-connections-per-ip 100000
  --signup-rate 0 --issue-rate 0 --admin-key "$ADMIN")
# start_pg N: N instances on a fresh database (DB) and Redis prefix, on ports PORT..PORT+N-1; URLS for ticketd load
start_pg() {
  local n=$1 i
  DB="bench_orders_$$_${#DBS[@]}"
  DBS+=("$DB")
  psql "$TICKETD_TEST_PG" -qAt -c "CREATE DATABASE $DB" >/dev/null
  DBURL="${TICKETD_TEST_PG%/*}/$DB"
  PORT=$(free_port)
  URLS=()
  for i in $(seq 0 $((n - 1))); do
    "$TICKETD" serve --port $((PORT + i)) --db "$DBURL" --redis "$TICKETD_TEST_REDIS" --redis-prefix "bo$$${#DBS[@]}" \
      "${SERVE_FLAGS[@]}" >"$WORK/i$((PORT + i)).log" 2>&1 &
    PIDS+=($!)
    wait_up $((PORT + i)) # the first migrates and seeds; the others find it done
    URLS+=(--url "http://127.0.0.1:$((PORT + i))")
  done
}
# jf FILE KEY: the first scalar value of "KEY" in a JSON report (keys are unique enough; no jq on a fresh machine)
jf() { grep -o "\"$2\": *[^,}]*" "$1" | head -1 | sed 's/.*: *//; s/"//g'; }

echo "machine: $(nproc) vCPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB," \
  "$(uname -r); $(date -u +%FT%TZ); ticketd $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+changes')," \
  "$(grep -m1 CMAKE_BUILD_TYPE build/CMakeCache.txt | cut -d= -f2)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg) (the cores are shared with whatever else runs here)"
echo "shape: 3 instances on PostgreSQL $(psql "$TICKETD_TEST_PG" -qAt -c 'SHOW server_version' | cut -d' ' -f1) + Redis, on the same cores as the load generator"

# ---- (a), (b): the races ----
for round in $(seq 1 "$ROUNDS"); do
  for sc in race multi-race; do
    start_pg 3
    args=(load --scenario "$sc" --users 1000 --seats 50 --connections 512 "${URLS[@]}")
    [ "$sc" = multi-race ] && args+=(--hold-seats 4)
    timeout 120 "$TICKETD" "${args[@]}" >"$WORK/r.json" 2>"$WORK/r.err"
    if [ -s "$WORK/r.json" ]; then
      printf '(%s) round %d: $ ticketd %s\n' "$([ "$sc" = race ] && echo a || echo b)" "$round" "${args[*]}"
      seats_held=$(jf "$WORK/r.json" seats_held)
      printf '    wall %.3f s, %.0f holds settled/s (requests/s), holds %s (%s seats), 409 %s, 5xx %s, p50 %.1f ms, p99 %.1f ms, correct %s\n' \
        "$(jf "$WORK/r.json" wall_seconds)" "$(jf "$WORK/r.json" requests_per_sec)" "$(jf "$WORK/r.json" holds)" \
        "${seats_held:-$(jf "$WORK/r.json" holds)}" "$(jf "$WORK/r.json" hold_conflicts)" "$(jf "$WORK/r.json" status_5xx)" \
        "$(jf "$WORK/r.json" p50)" "$(jf "$WORK/r.json" p99)" "$(jf "$WORK/r.json" correct)"
    else
      echo "($sc) round $round: no report"; cat "$WORK/r.err"
    fi
    stop_instances
  done
done

# ---- (c), (d), (e): cancel a sold-out 5,000-seat date ----
SEATS=5000
# new_date PORT: a concert with one 5,000-seat date, via the organizer API; its id on stdout
new_date() {
  local b="http://127.0.0.1:$1" c
  c=$(curl -s -XPOST "$b/admin/concerts" -H "Authorization: Bearer $ADMIN" -d '{"name":"bench cancel"}' |
    grep -o '"concertId":"[^"]*"' | cut -d'"' -f4)
  curl -s -XPOST "$b/admin/schedules" -H "Authorization: Bearer $ADMIN" \
    -d "{\"concertId\":\"$c\",\"startsAt\":\"$(date -u -d '+60 days' +%FT%TZ)\",\"seatCount\":$SEATS,\"prices\":[{\"fromSeat\":1,\"toSeat\":$SEATS,\"price\":50000}]}" |
    grep -o '"scheduleId":"[^"]*"' | cut -d'"' -f4
}
# sold-out SQL: one user per seat, charged the price (CHARGE entry), its reservation PAID, its seat sold, its
# payment and PAYMENT entry: exactly what 5,000 purchases leave (reconcile checks it)
sellout_pg() {
  local now=$(($(date +%s) * 1000))
  psql "$DBURL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE b AS SELECT id AS seat_id, price FROM seats WHERE schedule_id = $1;
ALTER TABLE b ADD COLUMN user_id BIGINT, ADD COLUMN res_id BIGINT, ADD COLUMN pay_id BIGINT;
UPDATE b SET user_id = nextval(pg_get_serial_sequence('users', 'id')),
  res_id = nextval(pg_get_serial_sequence('reservations', 'id')), pay_id = nextval(pg_get_serial_sequence('payments', 'id'));
INSERT INTO users(id, name, api_key_sha256, balance, created_at) SELECT user_id, 'bench', 'bench-' || user_id, 0, $now FROM b;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT user_id, 'CHARGE', price, price, NULL, $now FROM b;
INSERT INTO reservations(id, seat_id, user_id, status, created_at, expires_at) SELECT res_id, seat_id, user_id, 'PAID', $now, $now + 300000 FROM b;
INSERT INTO reservation_seats(reservation_id, seat_id, sold) SELECT res_id, seat_id, true FROM b;
UPDATE seats se SET sold_to = b.user_id, version = se.version + 1 FROM b WHERE se.id = b.seat_id;
INSERT INTO payments(id, reservation_id, seat_id, user_id, amount, created_at) SELECT pay_id, res_id, seat_id, user_id, price, $now FROM b;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT user_id, 'PAYMENT', -price, 0, 'payment:' || pay_id, $now FROM b;
COMMIT;
ANALYZE;
SQL
}
sellout_sqlite() {
  local now=$(($(date +%s) * 1000))
  sqlite3 "$1" >/dev/null <<SQL
.timeout 10000
BEGIN IMMEDIATE;
CREATE TEMP TABLE b AS SELECT id AS seat_id, price, row_number() OVER (ORDER BY id) AS n FROM seats WHERE schedule_id = $2;
CREATE TEMP TABLE base AS SELECT (SELECT COALESCE(MAX(id), 0) FROM users) AS u, (SELECT COALESCE(MAX(id), 0) FROM reservations) AS r,
  (SELECT COALESCE(MAX(id), 0) FROM payments) AS p;
INSERT INTO users(id, name, api_key_sha256, balance, created_at) SELECT u + n, 'bench', 'bench-' || (u + n), 0, $now FROM b, base;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT u + n, 'CHARGE', price, price, NULL, $now FROM b, base;
INSERT INTO reservations(id, seat_id, user_id, status, created_at, expires_at) SELECT r + n, seat_id, u + n, 'PAID', $now, $now + 300000 FROM b, base;
INSERT INTO reservation_seats(reservation_id, seat_id, sold) SELECT r + n, seat_id, 1 FROM b, base;
UPDATE seats SET sold_to = (SELECT u + n FROM b, base WHERE b.seat_id = seats.id), version = version + 1 WHERE id IN (SELECT seat_id FROM b);
INSERT INTO payments(id, reservation_id, seat_id, user_id, amount, created_at) SELECT p + n, r + n, seat_id, u + n, price, $now FROM b, base;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT u + n, 'PAYMENT', -price, 0, 'payment:' || (p + n), $now FROM b, base;
COMMIT;
ANALYZE;
SQL
}
reconcile() { "$TICKETD" reconcile --db "$1" >"$WORK/rec.txt" 2>&1 && echo clean || { echo "NOT CLEAN:"; head -5 "$WORK/rec.txt"; }; }
# cancel_calls SCHEDULE PORT…: one cancel per port at once; prints "seconds refunded-sum statuses"
cancel_calls() {
  local sched=$1 p t0 t1 sum=0 st="" f calls=()
  shift
  t0=$(date +%s.%N)
  for p in "$@"; do
    curl -s -m 600 -o "$WORK/c$p.json" -w '%{http_code}' -XPOST "http://127.0.0.1:$p/admin/schedules/$sched/cancel" \
      -H "Authorization: Bearer $ADMIN" >"$WORK/c$p.code" &
    calls+=($!)
  done
  wait "${calls[@]}"
  t1=$(date +%s.%N)
  for p in "$@"; do
    f=$(grep -o '"refunded":[0-9]*' "$WORK/c$p.json" | cut -d: -f2)
    sum=$((sum + ${f:-0}))
    st="$st$(cat "$WORK/c$p.code") "
  done
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') $sum $st"
}
report_cancel() { # LABEL COMMAND-TEXT RESULT DBURL
  local secs refunded codes
  read -r secs refunded codes <<<"$3"
  printf '%s $ %s\n    %d refunded in %.3f s = %.0f refunds/s (HTTP %s); reconcile after: %s; REFUND entries: %s\n' "$1" "$2" \
    "$refunded" "$secs" "$(awk -v n="$refunded" -v s="$secs" 'BEGIN { print n / s }')" "${codes% }" "$(reconcile "$4")" "$5"
}

start_pg 3
S=$(new_date "$PORT")
sellout_pg "$S"
echo "(c) sold-out date $S on PostgreSQL: $SEATS payments written; reconcile before: $(reconcile "$DBURL")"
R=$(cancel_calls "$S" "$PORT")
report_cancel "(c)" "curl -XPOST :$PORT/admin/schedules/$S/cancel (one instance, batches of 500)" "$R" "$DBURL" \
  "$(psql "$DBURL" -qAt -c "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'")"
stop_instances

start_pg 3
S=$(new_date "$PORT")
sellout_pg "$S"
echo "(d) sold-out date $S on PostgreSQL: $SEATS payments written; reconcile before: $(reconcile "$DBURL")"
R=$(cancel_calls "$S" "$PORT" $((PORT + 1)) $((PORT + 2)))
report_cancel "(d)" "the same POST to :$PORT, :$((PORT + 1)), :$((PORT + 2)) at once" "$R" "$DBURL" \
  "$(psql "$DBURL" -qAt -c "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'")"
stop_instances

PORT=$(free_port)
"$TICKETD" serve --port "$PORT" --db "sqlite:$WORK/e.db" "${SERVE_FLAGS[@]}" >"$WORK/i$PORT.log" 2>&1 &
PIDS+=($!)
wait_up "$PORT"
S=$(new_date "$PORT")
sellout_sqlite "$WORK/e.db" "$S"
echo "(e) sold-out date $S on SQLite: $SEATS payments written; reconcile before: $(reconcile "sqlite:$WORK/e.db")"
R=$(cancel_calls "$S" "$PORT")
report_cancel "(e)" "curl -XPOST :$PORT/admin/schedules/$S/cancel (embedded, batches of 500)" "$R" "sqlite:$WORK/e.db" \
  "$(sqlite3 "$WORK/e.db" "SELECT COUNT(*) FROM ledger WHERE kind = 'REFUND'")"
stop_instances
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
