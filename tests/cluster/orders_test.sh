#!/usr/bin/env bash
# orders_test.sh — several seats, cancel, refund (issue 11) on three instances over one PostgreSQL and Redis:
#   - 1,000 users × 4 overlapping seats of one 50-seat date at once, round-robin over the instances (`ticketd load
#     --scenario multi-race`): no seat in two holds, every 201 holds all 4, every 409 names the taken seats and holds
#     none (available-seats lists exactly the seats nobody won), zero 5xx;
#   - a sold-out date's cancel posted to all three instances at once, in batches of 20 (they share the batches
#     through FOR UPDATE SKIP LOCKED): every payment refunded exactly once, the three answers add up to all of
#     them, a repeat refunds nobody, `ticketd reconcile` clean before and after.
. "$(dirname "$0")/lib.sh"
ADMIN="orders-test-admin-$RANDOM$RANDOM"
export TICKETD_CANCEL_BATCH=20
P1=$(free_port); start_instance "$P1" --max-active 5000 --admin-key "$ADMIN"
P2=$(free_port); start_instance "$P2" --max-active 5000 --admin-key "$ADMIN"
P3=$(free_port); start_instance "$P3" --max-active 5000 --admin-key "$ADMIN"
unset TICKETD_CANCEL_BATCH
URLS=(--url "http://127.0.0.1:$P1" --url "http://127.0.0.1:$P2" --url "http://127.0.0.1:$P3")

RC=0
"$TICKETD" load --scenario multi-race --users 1000 --seats 50 --hold-seats 4 --connections 256 --seconds 120 \
  "${URLS[@]}" >"$WORK/multi.json" 2>"$WORK/multi.err" || RC=$?
[ "$RC" = 0 ] && [ "$(json_field "$WORK/multi.json" correct)" = true ] &&
  [ "$(json_field "$WORK/multi.json" status_5xx)" = 0 ] && [ "$(json_field "$WORK/multi.json" seats_won_twice)" = 0 ] &&
  [ "$(json_field "$WORK/multi.json" seats_won_but_listed_free)" = 0 ] &&
  [ "$(json_field "$WORK/multi.json" seats_not_won_but_not_listed)" = 0 ] ||
  { cat "$WORK/multi.json" "$WORK/multi.err"; fail "multi-race over three instances (exit $RC)"; }
holds=$(json_field "$WORK/multi.json" holds)
[ "$(sql "SELECT count(*) FROM reservations WHERE status = 'HELD'")" = "$holds" ] ||
  fail "the database holds $(sql "SELECT count(*) FROM reservations WHERE status = 'HELD'") reservations, the answers said $holds"
[ "$(sql "SELECT count(*) FROM reservations r WHERE status = 'HELD' AND (SELECT count(*) FROM reservation_seats rs WHERE rs.reservation_id = r.id) <> 4")" = 0 ] ||
  fail "a partial hold"
pass "1,000 users × 4 overlapping seats on 3 instances: $holds holds of 4, the rest refused whole, zero 5xx"

# a sold-out date of 1,000 seats: created through the organizer API, its 1,000 one-seat payments written by SQL
B="http://127.0.0.1:$P1"
C=$(curl -s -XPOST "$B/admin/concerts" -H "Authorization: Bearer $ADMIN" -d '{"name":"cancelled"}' |
  grep -o '"concertId":"[^"]*"' | cut -d'"' -f4)
S=$(curl -s -XPOST "$B/admin/schedules" -H "Authorization: Bearer $ADMIN" \
  -d "{\"concertId\":\"$C\",\"startsAt\":\"$(date -u -d '+60 days' +%FT%TZ)\",\"seatCount\":1000,\"prices\":[{\"fromSeat\":1,\"toSeat\":1000,\"price\":7000}]}" |
  grep -o '"scheduleId":"[^"]*"' | cut -d'"' -f4)
[ -n "$S" ] || fail "no date created"
NOW=$(($(date +%s) * 1000))
psql "$DBURL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL || fail "sell-out SQL"
BEGIN;
CREATE TEMP TABLE b AS SELECT id AS seat_id, price FROM seats WHERE schedule_id = $S;
ALTER TABLE b ADD COLUMN user_id BIGINT, ADD COLUMN res_id BIGINT, ADD COLUMN pay_id BIGINT;
UPDATE b SET user_id = nextval(pg_get_serial_sequence('users', 'id')),
  res_id = nextval(pg_get_serial_sequence('reservations', 'id')), pay_id = nextval(pg_get_serial_sequence('payments', 'id'));
INSERT INTO users(id, name, api_key_sha256, balance, created_at) SELECT user_id, 't', 'orders-' || user_id, 0, $NOW FROM b;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT user_id, 'CHARGE', price, price, NULL, $NOW FROM b;
INSERT INTO reservations(id, seat_id, user_id, status, created_at, expires_at) SELECT res_id, seat_id, user_id, 'PAID', $NOW, $NOW + 300000 FROM b;
INSERT INTO reservation_seats(reservation_id, seat_id, sold) SELECT res_id, seat_id, true FROM b;
UPDATE seats se SET sold_to = b.user_id, version = se.version + 1 FROM b WHERE se.id = b.seat_id;
INSERT INTO payments(id, reservation_id, seat_id, user_id, amount, created_at) SELECT pay_id, res_id, seat_id, user_id, price, $NOW FROM b;
INSERT INTO ledger(user_id, kind, amount, balance_after, ref, created_at) SELECT user_id, 'PAYMENT', -price, 0, 'payment:' || pay_id, $NOW FROM b;
COMMIT;
ANALYZE;
SQL
"$TICKETD" reconcile --db "$DBURL" >"$WORK/rec0" 2>&1 || { cat "$WORK/rec0"; fail "reconcile before the cancel"; }

CALLS=()
for p in "$P1" "$P2" "$P3"; do
  curl -s -m 120 -o "$WORK/cancel$p.json" -w '%{http_code}' -XPOST "http://127.0.0.1:$p/admin/schedules/$S/cancel" \
    -H "Authorization: Bearer $ADMIN" >"$WORK/cancel$p.code" &
  CALLS+=($!)
done
wait "${CALLS[@]}"
total=0 shares=""
for p in "$P1" "$P2" "$P3"; do
  [ "$(cat "$WORK/cancel$p.code")" = 200 ] || { cat "$WORK/cancel$p.json"; fail "the cancel on :$p answered $(cat "$WORK/cancel$p.code")"; }
  n=$(json_field "$WORK/cancel$p.json" refunded)
  total=$((total + n))
  shares="$shares $n"
done
[ "$total" = 1000 ] || fail "the three cancels refunded $total in all ($shares), not 1,000"
[ "$(sql "SELECT count(*) FROM ledger WHERE kind = 'REFUND'")" = 1000 ] &&
  [ "$(sql "SELECT count(DISTINCT ref) FROM ledger WHERE kind = 'REFUND'")" = 1000 ] &&
  [ "$(sql "SELECT count(*) FROM payments p JOIN seats s ON s.id = p.seat_id WHERE s.schedule_id = $S AND p.status = 'REFUNDED'")" = 1000 ] &&
  [ "$(sql "SELECT count(*) FROM seats WHERE schedule_id = $S AND sold_to IS NOT NULL")" = 0 ] ||
  fail "not exactly one refund per payment"
[ "$(curl -s -XPOST "$B/admin/schedules/$S/cancel" -H "Authorization: Bearer $ADMIN" | grep -o '"refunded":[0-9]*')" = '"refunded":0' ] ||
  fail "a repeat of the cancel refunded someone"
"$TICKETD" reconcile --db "$DBURL" >"$WORK/rec1" 2>&1 || { cat "$WORK/rec1"; fail "reconcile after the cancel"; }
pass "a 1,000-payment date cancelled on 3 instances at once (shares:$shares): each refunded once, reconcile clean"
