#!/usr/bin/env bash
# bench/shop.sh — the shop's figures (issue 12), on 3 instances (SO_REUSEPORT on one port) over PostgreSQL + Redis,
# all on this machine. Prints each figure with the command that produced it; never passes or fails on a time.
#   (a) a flash sale: 10,000 buyers for 1,000 units of one option at once (build/flash_sale; goal: settled
#       within 2 s, zero 5xx, exactly 1,000 orders);
#   (b) GET /products: wrk -t2 -c64 -d10s;
#   (c) GET /products/popular over 1,000,000 paid order items seeded with SQL (goal: the query within 10 ms),
#       and the same top 5 computed by scanning the items, for comparison.
# Environment: N (instances, 3), PORT (18300), BUYERS (10000), STOCK (1000), ITEMS (1000000), WRK_SECONDS (10).
# Keep TICKETD_SERVICES_DIR exported when others use the machine: scripts/cluster.sh starts (and at the end stops)
# the services under it.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-3}
PORT=${PORT:-18300}
BUYERS=${BUYERS:-10000}
STOCK=${STOCK:-1000}
ITEMS=${ITEMS:-1000000}
WRK_SECONDS=${WRK_SECONDS:-10}
ADMIN_KEY=${ADMIN_KEY:-bench-admin-key-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export TICKETD_PORT=$PORT
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "shop.sh: port $PORT is in use (someone else's server?): pick another with PORT=…" >&2
  exit 2
fi
bash scripts/cluster.sh up "$N" --admin-key "$ADMIN_KEY" --rate-limit 0 --max-connections-per-ip 100000 \
  --signup-rate 0 --issue-rate 0 >/dev/null
trap 'bash scripts/cluster.sh down >/dev/null 2>&1' EXIT
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "shop.sh: the cluster did not come up" >&2; exit 2; }
# the services cluster.sh started (asking services.sh up again could restart them under the running instances)
# shellcheck disable=SC1090
. "${TICKETD_SERVICES_DIR:-/tmp/ticketd-services}/env"
DB="${TICKETD_TEST_PG%/*}/ticketd_cluster"
B="http://127.0.0.1:$PORT"
cmake --build build --target flash_sale -j2 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%FT%TZ)"
echo "shape: $N instances on :$PORT (SO_REUSEPORT), PostgreSQL $(psql "$DB" -qAt -c 'SHOW server_version') + Redis on the same cores"

for conns in 1000 1000 1000 "$BUYERS"; do
  echo
  echo "(a) \$ ./build/flash_sale --url $B --admin-key … --buyers $BUYERS --stock $STOCK --connections $conns   (load average $(cut -d' ' -f1 /proc/loadavg))"
  ./build/flash_sale --url "$B" --admin-key "$ADMIN_KEY" --buyers "$BUYERS" --stock "$STOCK" --connections "$conns" |
    grep -E '"(wall_seconds|orders|stock_left|correct|setup_seconds)"|"201"|"409"|"5[0-9][0-9]"|"p50_ms"|"p99_ms"' | tr -d '\n' | tr -s ' '
  echo
done

KEY=$(curl -s -XPOST "$B/users" -d '{"name":"bench"}' | grep -o '"apiKey":"[^"]*"' | cut -d'"' -f4)
echo
echo "(b) \$ wrk -t2 -c64 -d${WRK_SECONDS}s -H 'Authorization: Bearer …' $B/products   ($(curl -s "$B/products" -H "Authorization: Bearer $KEY" | grep -o '"productId"' | wc -l) products)"
wrk -t2 -c64 -d"${WRK_SECONDS}s" -H "Authorization: Bearer $KEY" "$B/products" | grep -E 'Requests/sec|Latency|Non-2xx'

echo
echo "(c) seeding $ITEMS paid order items (200 products, skewed, paid over the last 120 days) with SQL …"
t0=$(date +%s.%N)
psql "$DB" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO users(name, api_key_sha256, created_at) VALUES ('popular-bench', 'popular-bench-$$', 0);
INSERT INTO products(name, created_at) SELECT 'Bench ' || g, 0 FROM generate_series(1, 200) g;
INSERT INTO product_options(product_id, name, price, stock, stocked)
  SELECT id, 'x', 1000, 0, 0 FROM products WHERE name LIKE 'Bench %';
CREATE TEMP TABLE o AS SELECT g,
  (extract(epoch FROM now()) * 1000)::bigint - (floor(random() * 120) * 86400000)::bigint AS t,
  1 + floor(200 * power(random(), 3))::int AS k FROM generate_series(1, $ITEMS) g;
INSERT INTO orders(id, user_id, status, total, created_at, expires_at, paid_at)
  SELECT 100000000 + g, (SELECT id FROM users WHERE name = 'popular-bench'), 'PAID', 1000, t, t + 600000, t FROM o;
INSERT INTO order_items(order_id, option_id, product_id, quantity, price, state, expires_at)
  SELECT 100000000 + o.g, po.id, po.product_id, 1 + (o.g % 3), 1000, 'SOLD', o.t + 600000
  FROM o JOIN (SELECT row_number() OVER (ORDER BY p.id) AS k, x.id, x.product_id FROM products p
               JOIN product_options x ON x.product_id = p.id WHERE p.name LIKE 'Bench %') po ON po.k = o.k;
INSERT INTO daily_popular_products(day, product_id, units)
  SELECT (o.paid_at / 86400000)::int, i.product_id, sum(i.quantity) FROM orders o JOIN order_items i ON i.order_id = o.id
  WHERE o.id > 100000000 GROUP BY 1, 2
  ON CONFLICT (day, product_id) DO UPDATE SET units = daily_popular_products.units + EXCLUDED.units;
VACUUM ANALYZE;
SQL
echo "    seeded in $(echo "$(date +%s.%N) - $t0" | bc) s: $(psql "$DB" -qAt -c "SELECT count(*) FROM order_items WHERE state = 'SOLD'") paid items, $(psql "$DB" -qAt -c 'SELECT count(*) FROM daily_popular_products') daily aggregate rows"
TODAY=$(date -u +%F)
FROM90=$(date -u -d "$TODAY -89 days" +%F)
for range in "" "?from=$FROM90&to=$TODAY"; do
  echo "    \$ for i in \$(seq 200); do curl -s -o /dev/null -w '%{time_total}\n' -H 'Authorization: Bearer …' '$B/products/popular$range'; done"
  for i in $(seq 200); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" "$B/products/popular$range"
  done | sort -n | awk '{a[NR]=$1} END {printf "      HTTP round trip: p50 %.2f ms, p95 %.2f ms, max %.2f ms (%d requests)\n", a[int(NR*0.5)]*1000, a[int(NR*0.95)]*1000, a[NR]*1000, NR}'
done
D0=$(( $(date -u -d "$FROM90" +%s) / 86400 ))
D1=$(( $(date -u -d "$TODAY" +%s) / 86400 ))
Q="SELECT t.product_id, p.name, t.u FROM (SELECT product_id, sum(units) AS u FROM daily_popular_products WHERE day BETWEEN $D0 AND $D1 GROUP BY product_id ORDER BY u DESC, product_id LIMIT 5) t JOIN products p ON p.id = t.product_id ORDER BY t.u DESC, t.product_id"
echo "    \$ psql -c 'EXPLAIN ANALYZE <the store's popular query over 90 days>'   (3 runs)"
for i in 1 2 3; do psql "$DB" -qAt -c "EXPLAIN ANALYZE $Q" | grep -E 'Execution Time'; done | sed 's/^/      /'
SCAN="SELECT i.product_id, sum(i.quantity) AS u FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= $D0::bigint * 86400000 AND o.paid_at < ($D1 + 1)::bigint * 86400000 GROUP BY 1 ORDER BY u DESC, 1 LIMIT 5"
echo "    for comparison, the same top 5 by scanning the paid items (no aggregates):"
for i in 1 2; do psql "$DB" -qAt -c "EXPLAIN ANALYZE $SCAN" | grep -E 'Execution Time'; done | sed 's/^/      /'
exit 0
