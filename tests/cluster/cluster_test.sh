#!/usr/bin/env bash
# cluster_test.sh — three instances on one PostgreSQL and one Redis, 2,000 users with the booking flow on
# 4 dates × 50 seats (hold random seats, pay, retry with the same Idempotency-Key), and one instance
# SIGKILLed in the middle. Afterwards, read from the database: each seat sold at most once, each sold seat has
# exactly one payment, no balance negative, sum(balances) + sum(payments) = sum(charges), and
# `ticketd reconcile` finds nothing.
. "$(dirname "$0")/lib.sh"

# room for every user at once: the issue's "2,000 users with active tokens"
P1=$(free_port); start_instance "$P1" --max-active 5000; PID1=$LAST_PID
P2=$(free_port); start_instance "$P2" --max-active 5000; PID2=$LAST_PID
P3=$(free_port); start_instance "$P3" --max-active 5000; PID3=$LAST_PID
: "$PID1" "$PID3"

"$TICKETD" load --scenario flow --users 2000 --schedules 4 --connections 128 --seconds 120 --timeout-ms 3000 \
  --retries 8 --url "http://127.0.0.1:$P1" --url "http://127.0.0.1:$P2" --url "http://127.0.0.1:$P3" \
  >"$WORK/load.json" 2>"$WORK/load.err" &
LOAD=$!
sleep 1.0
kill -KILL "$PID2"
pass "instance on port $P2 SIGKILLed while the load runs"
wait "$LOAD" || true
cat "$WORK/load.json"

sold=$(sql "SELECT count(*) FROM seats WHERE sold_to IS NOT NULL")
[ "$sold" -gt 0 ] || fail "nothing was sold"
[ "$(sql "SELECT count(*) FROM (SELECT seat_id FROM payments GROUP BY seat_id HAVING count(*) > 1) x")" = 0 ] \
  || fail "a seat was paid twice"
[ "$(sql "SELECT count(*) FROM seats s WHERE sold_to IS NOT NULL AND (SELECT count(*) FROM payments p WHERE p.seat_id = s.id) <> 1")" = 0 ] \
  || fail "a sold seat without exactly one payment"
[ "$(sql "SELECT count(*) FROM users WHERE balance < 0")" = 0 ] || fail "a negative balance"
[ "$(sql "SELECT (SELECT COALESCE(sum(balance),0) FROM users) + (SELECT COALESCE(sum(amount),0) FROM payments) = (SELECT COALESCE(sum(amount),0) FROM ledger WHERE kind = 'CHARGE')")" = t ] \
  || fail "sum(balances) + sum(payments) != sum(charges)"
pass "$sold seats sold, each once, money conserved"

[ "$(json_field "$WORK/load.json" seats_won_twice)" = 0 ] || fail "the load tool saw a seat won twice"
[ "$(json_field "$WORK/load.json" balances_wrong)" = 0 ] || fail "a client's balance disagrees with its own payments"
[ "$(json_field "$WORK/load.json" status_5xx)" = 0 ] || echo "note: 5xx responses while an instance died (retried)"

"$TICKETD" reconcile --db "$DBURL" || fail "reconcile found discrepancies"
# the surviving instances still serve
curl -sf "http://127.0.0.1:$P1/health" >/dev/null || fail "instance 1 stopped serving"
curl -sf "http://127.0.0.1:$P3/health" >/dev/null || fail "instance 3 stopped serving"
pass "cluster test"
