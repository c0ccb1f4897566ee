#!/usr/bin/env bash
# bench/cluster.sh — the scale-out figures: 3 instances (SO_REUSEPORT on one port) on PostgreSQL + Redis, all
# on this machine. Prints each figure with the command that produced it; never passes or fails on a time.
#   (a) GET /concert/available-seats, wrk -t2 -c64 -d10s
#   (b) token issue: ticketd load --scenario issue --users 10000
#   (c) 10,000 users racing for 50 seats: ticketd load --scenario race --users 10000 --seats 50
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-3}
PORT=${PORT:-18200}
export TICKETD_PORT=$PORT
bash scripts/cluster.sh up "$N" --rate-limit 0 --max-active 100000 --admit-per-sec 100000 --max-connections-per-ip 100000 --signup-rate 0 --issue-rate 0 >/dev/null
trap 'bash scripts/cluster.sh down >/dev/null 2>&1' EXIT
B="http://127.0.0.1:$PORT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%FT%TZ)"
echo "shape: $N instances on :$PORT (SO_REUSEPORT), PostgreSQL 15 + Redis 7 on the same 2 cores"

KEY=$(curl -s -XPOST "$B/users" -d '{"name":"bench"}' | grep -o '"apiKey":"[^"]*"' | cut -d'"' -f4)
TOKEN=$(curl -s -XPOST "$B/queue/issue" -H "Authorization: Bearer $KEY" | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
echo
echo "(a) \$ wrk -t2 -c64 -d10s -H 'queue-token: …' '$B/concert/available-seats?concertScheduleId=1'"
wrk -t2 -c64 -d10s -H "queue-token: $TOKEN" "$B/concert/available-seats?concertScheduleId=1" | grep -E 'Requests/sec|Latency|Non-2xx'
echo
echo "(b) \$ ./build/ticketd load --scenario issue --users 10000 --connections 256 --url $B"
./build/ticketd load --scenario issue --users 10000 --connections 256 --url "$B" |
  grep -E '"(wall_seconds|requests_per_sec|status_5xx|correct)"|"p50"|"p99"'
echo
echo "(c) \$ ./build/ticketd load --scenario race --users 10000 --seats 50 --connections 512 --url $B"
./build/ticketd load --scenario race --users 10000 --seats 50 --connections 512 --url "$B" |
  grep -E '"(wall_seconds|status_5xx|holds|expected_holds|seats_won_twice|correct)"|"201"|"409"|"p99"'
exit 0
