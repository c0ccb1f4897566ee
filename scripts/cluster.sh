#!/usr/bin/env bash
# The scaled-out shape on one machine, in one command:
#
#   bash scripts/cluster.sh up [N] [serve options…]   # PostgreSQL + Redis + N instances (default 3) on :8080
#   bash scripts/cluster.sh down                       # stop the instances and the services
#
# Every instance is a stateless `ticketd serve --db postgres://… --redis redis://… --reuse-port 1` on the same
# port (SO_REUSEPORT: the kernel spreads connections over them); any of them may die at any moment. The
# instances' PIDs and logs are kept in $TICKETD_SERVICES_DIR/cluster (default /tmp/ticketd-services/cluster).
# TICKETD_BUILD_DIR: run that build's ticketd, as built by the caller (default: build/, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${TICKETD_SERVICES_DIR:-/tmp/ticketd-services}/cluster"
PORT="${TICKETD_PORT:-8080}"

up() {
  local n=${1:-3}
  shift || true
  bash scripts/deps.sh
  local bin="${TICKETD_BUILD_DIR:-}"
  if [ -z "$bin" ]; then
    bash scripts/build.sh build >/dev/null
    bin=build
  fi
  local envfile
  envfile=$(bash scripts/services.sh up)
  # shellcheck disable=SC1090
  . "$envfile"
  local db="${TICKETD_TEST_PG%/*}/ticketd_cluster"
  psql "$TICKETD_TEST_PG" -qAt -c "SELECT 1 FROM pg_database WHERE datname = 'ticketd_cluster'" | grep -q 1 ||
    psql "$TICKETD_TEST_PG" -qAt -c "CREATE DATABASE ticketd_cluster" >/dev/null
  mkdir -p "$DIR"
  for i in $(seq 1 "$n"); do
    "$bin/ticketd" serve --port "$PORT" --reuse-port 1 --db "$db" --redis "$TICKETD_TEST_REDIS" "$@" \
      >"$DIR/instance$i.log" 2>&1 &
    echo $! >"$DIR/instance$i.pid"
  done
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "cluster: $n instances on http://127.0.0.1:$PORT (store $db, redis $TICKETD_TEST_REDIS)"
  echo "cluster: logs and PIDs in $DIR; stop with: bash scripts/cluster.sh down"
}

down() {
  local f
  for f in "$DIR"/instance*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  bash scripts/services.sh down
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up [N] [serve options…] | down" >&2; exit 2 ;;
esac
