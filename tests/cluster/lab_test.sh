#!/usr/bin/env bash
# lab_test.sh — the lock lab on the test PostgreSQL + Redis (and 3 Redis nodes for Redlock), small runs:
#   - every strategy but `none`, on every scenario it applies to, keeps its invariant (read from the database);
#   - the lost update, deterministic (a holder paused past its TTL): `none` and a plain Redis lock lose it,
#     fencing keeps it;
#   - `none` shows the anomaly on the charge storm (lost updates);
#   - bank transfers (two rows each, random order) never deadlock: no failed request under pessimistic,
#     optimistic or atomic;
#   - --procs 2 stays correct; --all writes its Markdown, JSON and SVG.
. "$(dirname "$0")/lib.sh"
: "${TICKETD_TEST_REDIS_NODES:?FAIL: TICKETD_TEST_REDIS_NODES is not set (bash scripts/services.sh up)}"
LAB=("$TICKETD" lab --db "$DBURL" --redis "$TICKETD_TEST_REDIS" --redis-nodes "$TICKETD_TEST_REDIS_NODES")

run() { # run SCENARIO STRATEGY [extra…] -> report in $WORK/r.json, exit code in $RC
  local sc=$1 st=$2
  shift 2
  RC=0
  "${LAB[@]}" --scenario "$sc" --strategy "$st" "$@" >"$WORK/r.json" 2>"$WORK/r.err" || RC=$?
}
field() { json_field "$WORK/r.json" "$1"; }

# (first, on the fresh database that serve seeds with its demo concerts)
# the service takes the same strategy modules: serve --lock redis-lock holds a seat through the Redis lock
P=$(free_port); start_instance "$P" --lock redis-lock
B="http://127.0.0.1:$P"
KEY=$(curl -s -XPOST "$B/users" -d '{"name":"lab"}' | grep -o '"apiKey":"[^"]*"' | cut -d'"' -f4)
TOKEN=$(curl -s -XPOST "$B/queue/issue" -H "Authorization: Bearer $KEY" | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
SCHED=$(curl -s "$B/concert/available-dates" -H "queue-token: $TOKEN" | grep -o '"scheduleId":"[^"]*"' | head -1 | cut -d'"' -f4)
SEAT=$(curl -s "$B/concert/available-seats?concertScheduleId=$SCHED" -H "queue-token: $TOKEN" |
  grep -o '"seatId":"[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$SEAT" ] || fail "no free seat to hold"
[ "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$B/reservation" -H "queue-token: $TOKEN" -d "{\"seatId\":\"$SEAT\"}")" = 201 ] ||
  fail "serve --lock redis-lock could not hold seat $SEAT"
curl -s "$B/metrics" | grep -q 'ticketd_lock_acquisitions_total{strategy="redis-lock"} [1-9]' ||
  fail "the hold did not go through the Redis lock"
pass "serve --lock redis-lock: the service's writes go through the lab's Redis lock"

for st in pessimistic optimistic atomic redis-lock redis-spin redis-pubsub redlock fenced serial; do
  for sc in transfer bank charge seat stock double-spend; do
    case "$st:$sc" in serial:bank|serial:seat|serial:double-spend) continue ;; esac
    n=40
    [ "$sc" = transfer ] && n=10
    run "$sc" "$st" --requests "$n" --concurrency 10
    [ "$RC" = 0 ] || { cat "$WORK/r.json" "$WORK/r.err"; fail "$sc × $st exited $RC"; }
    [ "$(field invariant_ok)" = true ] || { cat "$WORK/r.json"; fail "$sc × $st broke its invariant"; }
    [ "$(field failed_count)" = 0 ] || { cat "$WORK/r.json"; fail "$sc × $st had failed requests"; }
    [ "$(field final_lock_count)" = 0 ] || fail "$sc × $st left a lock behind"
  done
  pass "$st keeps every invariant"
done

for st in none redis-lock; do
  run lost-update "$st"
  [ "$RC" = 0 ] && [ "$(field invariant_ok)" = false ] && grep -q '"counter": 1' "$WORK/r.json" ||
    { cat "$WORK/r.json" "$WORK/r.err"; fail "lost-update × $st should lose the update (counter 1)"; }
done
run lost-update fenced
[ "$RC" = 0 ] && [ "$(field invariant_ok)" = true ] || { cat "$WORK/r.json"; fail "fencing should keep the update"; }
pass "lost update: none and redis-lock lose it, fenced keeps it"

run charge none --requests 200 --concurrency 50
[ "$RC" = 0 ] && [ "$(field invariant_ok)" = false ] || { cat "$WORK/r.json"; fail "none should lose charges"; }
pass "none shows the lost updates of the charge storm"

run charge atomic --requests 200 --concurrency 20 --procs 2
[ "$RC" = 0 ] && [ "$(field invariant_ok)" = true ] && [ "$(field processes)" = 2 ] ||
  { cat "$WORK/r.json" "$WORK/r.err"; fail "charge over 2 processes"; }
run stock serial --requests 400 --concurrency 40 --procs 2
[ "$RC" = 0 ] && [ "$(field invariant_ok)" = true ] || { cat "$WORK/r.json" "$WORK/r.err"; fail "serial over 2 processes"; }
pass "two processes stay correct (atomic charges, serial stock)"


"${LAB[@]}" --all --out "$WORK/all" --requests 20 --concurrency 5 2>"$WORK/all.err" ||
  { tail -20 "$WORK/all.err"; fail "--all reported a broken invariant"; }
for f in report.md report.json chart.svg; do [ -s "$WORK/all/$f" ] || fail "--all did not write $f"; done
grep -q '| stock | serial |' "$WORK/all/report.md" || fail "report.md lacks rows"
pass "lab --all wrote report.md, report.json and chart.svg"
