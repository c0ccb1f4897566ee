#!/usr/bin/env bash
# outage_test.sh — PostgreSQL, then Redis, stopped while requests flow: requests get 503 UNAVAILABLE and change
# nothing; once the service is back the same instance serves again without a restart.
. "$(dirname "$0")/lib.sh"
SERVICES="$ROOT/scripts/services.sh"
P=$(free_port); start_instance "$P"
B="http://127.0.0.1:$P"

user() { curl -s -XPOST "$B/users" -d '{"name":"outage"}' | grep -o '"apiKey":"[^"]*"' | cut -d'"' -f4; }
KEY=$(user)
[ -n "$KEY" ] || fail "no user"
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
[ "$(code -XPOST "$B/user/charge" -H "Authorization: Bearer $KEY" -d '{"amount":1000}')" = 200 ] || fail "charge before outage"
TOKEN=$(curl -s -XPOST "$B/queue/issue" -H "Authorization: Bearer $KEY" | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
# A second wallet for bursts: burst N WHAT runs N charges of 1 at once (each on its own executor worker and
# pooled PostgreSQL connection) and fails unless all N answer 200.
KEY2=$(user)
[ -n "$KEY2" ] || fail "no second user"
burst() {
  seq 1 "$1" | xargs -P "$1" -I{} curl -s -o /dev/null -w '%{http_code}\n' -XPOST "$B/user/charge" \
    -H "Authorization: Bearer $KEY2" -d '{"amount":1}' > "$WORK/burst" || true
  [ "$(grep -c '^200$' "$WORK/burst")" = "$1" ] || fail "$2: codes $(sort "$WORK/burst" | uniq -c | tr -s ' \n' ' ')"
}
burst 20 "20 charges at once before the outage"

# /health reports the probe's last reading (taken every 250 ms, so that /health never waits on a backing
# service itself): health_says STATUS PATTERN gives it up to 2 s to see a change.
health_says() {
  for _ in $(seq 1 20); do
    [ "$(code "$B/health")" = "$1" ] && grep -q "$2" "$WORK/body" && return 0
    sleep 0.1
  done
  return 1
}

# --- PostgreSQL down ---
bash "$SERVICES" pg-stop
trap 'bash "$SERVICES" pg-start >/dev/null 2>&1 || true; cleanup' EXIT
for i in 1 2 3; do
  c=$(code -XPOST "$B/user/charge" -H "Authorization: Bearer $KEY" -H "Idempotency-Key: out-$i" -d '{"amount":5}')
  [ "$c" = 503 ] || fail "charge while PostgreSQL is down: HTTP $c $(cat "$WORK/body")"
  grep -q '"code":"UNAVAILABLE"' "$WORK/body" || fail "503 without code UNAVAILABLE"
done
health_says 503 'UNAVAILABLE' || fail "/health must be 503 while the store is down"
c=$(code "$B/concert/available-seats?concertScheduleId=1" -H "queue-token: $TOKEN")
[ "$c" = 503 ] || fail "seats while PostgreSQL is down: HTTP $c"
pass "PostgreSQL down: 503 UNAVAILABLE, no crash"
bash "$SERVICES" pg-start
trap cleanup EXIT
ok=""
for _ in $(seq 1 50); do
  [ "$(code "$B/health")" = 200 ] && ok=1 && break
  sleep 0.2
done
[ -n "$ok" ] || fail "the instance did not recover after PostgreSQL came back"
# the pool's connections from before the restart are dead: none may cost a request its answer
burst 20 "the first 20 charges after PostgreSQL came back (a stale pooled connection?)"
[ "$(code "$B/user/check" -H "Authorization: Bearer $KEY2")" = 200 ] && grep -q '"balance":40' "$WORK/body" \
  || fail "40 charges of 1 answered 200, the wallet says: $(cat "$WORK/body")"
[ "$(code "$B/user/check" -H "Authorization: Bearer $KEY")" = 200 ] || fail "check after recovery"
grep -q '"balance":1000' "$WORK/body" || fail "a refused charge changed the balance: $(cat "$WORK/body")"
# the refused keys were released: the same key now runs once
[ "$(code -XPOST "$B/user/charge" -H "Authorization: Bearer $KEY" -H "Idempotency-Key: out-1" -d '{"amount":5}')" = 200 ] \
  || fail "charge after recovery"
grep -q '"balance":1005' "$WORK/body" || fail "charge after recovery: $(cat "$WORK/body")"
pass "PostgreSQL back: the same instance serves, nothing was changed during the outage"

# --- Redis down ---
bash "$SERVICES" redis-stop
trap 'bash "$SERVICES" redis-start >/dev/null 2>&1 || true; cleanup' EXIT
c=$(code -XPOST "$B/queue/issue" -H "Authorization: Bearer $KEY")
[ "$c" = 503 ] || fail "queue issue while Redis is down: HTTP $c $(cat "$WORK/body")"
c=$(code "$B/concert/available-seats?concertScheduleId=1" -H "queue-token: $TOKEN")
[ "$c" = 503 ] || fail "queue-token check while Redis is down: HTTP $c"
health_says 200 '"redis":"down"' || fail "/health should say redis down"
c=$(code -XPOST "$B/user/charge" -H "Authorization: Bearer $KEY" -d '{"amount":1}')
[ "$c" = 200 ] || fail "wallet endpoints do not need Redis: HTTP $c $(cat "$WORK/body")"
pass "Redis down: waiting-room endpoints 503, the rest serves"
bash "$SERVICES" redis-start
trap cleanup EXIT
ok=""
for _ in $(seq 1 50); do
  c=$(code -XPOST "$B/queue/issue" -H "Authorization: Bearer $KEY")
  [ "$c" = 201 ] || [ "$c" = 200 ] && ok=1 && break
  sleep 0.2
done
[ -n "$ok" ] || fail "the instance did not recover after Redis came back"
health_says 200 '"redis":"up"' || fail "/health should say redis up"
pass "Redis back: the same instance serves again"
