#!/usr/bin/env bash
# admission_test.sh — three instances share one waiting room with --max-active 50. 300 users queue and buy
# (each payment frees a slot); meanwhile /metrics of every instance is sampled: the number of ACTIVE tokens
# never exceeds 50, and everyone is eventually admitted.
. "$(dirname "$0")/lib.sh"
P1=$(free_port); start_instance "$P1" --max-active 50 --admit-per-sec 500 --idle-seconds 30
P2=$(free_port); start_instance "$P2" --max-active 50 --admit-per-sec 500 --idle-seconds 30
P3=$(free_port); start_instance "$P3" --max-active 50 --admit-per-sec 500 --idle-seconds 30

"$TICKETD" load --scenario flow --users 300 --schedules 6 --connections 64 --seconds 90 \
  --url "http://127.0.0.1:$P1" --url "http://127.0.0.1:$P2" --url "http://127.0.0.1:$P3" \
  >"$WORK/load.json" 2>"$WORK/load.err" &
LOAD=$!
max=0 samples=0
while kill -0 "$LOAD" 2>/dev/null; do
  for p in "$P1" "$P2" "$P3"; do
    a=$(curl -s "http://127.0.0.1:$p/metrics" | grep '^ticketd_queue_active ' | awk '{print $2}')
    [ -n "$a" ] || continue
    samples=$((samples + 1))
    [ "$a" -gt "$max" ] && max=$a
    [ "$a" -le 50 ] || fail "sampled $a ACTIVE tokens (max_active 50) on port $p"
  done
  sleep 0.02
done
wait "$LOAD" || { cat "$WORK/load.json" "$WORK/load.err"; fail "the load run failed"; }
[ "$samples" -ge 10 ] || fail "too few samples ($samples)"
[ "$max" -ge 40 ] || fail "the room never filled (max $max): the test did not test admission"
[ "$(json_field "$WORK/load.json" failed_users)" = 0 ] || fail "users never admitted or refused"
pass "ACTIVE tokens never above 50 in $samples samples (max seen $max); all 300 users served"
