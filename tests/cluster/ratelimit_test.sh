#!/usr/bin/env bash
# ratelimit_test.sh — with Redis, a client's request budget is shared by all instances: 12 requests of one client
# alternating over two instances with --rate-limit 5 --rate-burst 5 get at most 5 answers and the rest 429
# RATE_LIMITED (in-process budgets would have let 10 through).
. "$(dirname "$0")/lib.sh"
# later flags win: the shared budget is 5 a second, burst 5
P1=$(free_port); start_instance "$P1" --rate-limit 5 --rate-burst 5
P2=$(free_port); start_instance "$P2" --rate-limit 5 --rate-burst 5
# The budget is a fixed one-second window: start right after a second begins so all 12 requests share one.
for _ in $(seq 1 200); do
  [ $((10#$(date +%N) / 1000000)) -lt 100 ] && break
  sleep 0.005
done
TOKEN=0123456789abcdef0123456789abcdef  # the client's identity for the limiter; unknown to the server (401)
ok=0 limited=0
for i in $(seq 1 12); do
  p=$P1; [ $((i % 2)) = 0 ] && p=$P2
  c=$(curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$p/concert/available-dates" -H "queue-token: $TOKEN")
  case "$c" in
    401) ok=$((ok + 1)) ;;
    429) limited=$((limited + 1)); grep -q '"code":"RATE_LIMITED"' "$WORK/body" || fail "429 without RATE_LIMITED" ;;
    *) fail "unexpected HTTP $c" ;;
  esac
done
[ "$ok" -le 5 ] || fail "$ok requests passed one shared budget of 5"
[ "$limited" -ge 7 ] || fail "only $limited of 12 were limited"
pass "one budget across two instances: $ok answered, $limited limited"
