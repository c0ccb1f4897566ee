#!/usr/bin/env bash
# Starts and stops the project's own PostgreSQL 15 and Redis for tests, benchmarks and the lab.
#
#   bash scripts/services.sh up [--redis-nodes N]   # start (idempotent); prints the env file's path
#   bash scripts/services.sh down                   # stop everything it started
#   bash scripts/services.sh env                    # print the env file (KEY=VALUE lines)
#   bash scripts/services.sh pg-stop | pg-start     # outage tests: stop / restart PostgreSQL (same port)
#   bash scripts/services.sh redis-stop | redis-start   # the same for the first Redis node
#
# PostgreSQL refuses to run as root, so it runs as the system user `ticketd-pg` (created if missing), with a
# private data dir and socket dir under $TICKETD_SERVICES_DIR (default /tmp/ticketd-services), listening on
# 127.0.0.1 only, on the first free port from 55432. Redis nodes (default 3, for Redlock) listen on 127.0.0.1 from
# port 56379, without persistence. Every address is loopback. Nothing is left running by `down`.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${TICKETD_SERVICES_DIR:-/tmp/ticketd-services}"
PGUSER_SYS=ticketd-pg
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
ENVFILE="$DIR/env"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while port_busy "$p"; do p=$((p + 1)); done
  echo "$p"
}
as_pg() { runuser -u "$PGUSER_SYS" -- "$@"; }

up() {
  local nodes=3
  while [ $# -gt 0 ]; do
    case "$1" in
      --redis-nodes) nodes="$2"; shift 2 ;;
      *) echo "services: unknown option $1" >&2; exit 2 ;;
    esac
  done
  if [ -f "$ENVFILE" ] && status_ok; then
    echo "$ENVFILE"
    return 0
  fi
  down >/dev/null 2>&1 || true
  bash scripts/deps.sh
  [ -n "$PGBIN" ] || { echo "services: PostgreSQL binaries not found" >&2; exit 1; }
  id "$PGUSER_SYS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_SYS"
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  local pgdir="$DIR/pg" sock="$DIR/pgsock"
  rm -rf "$pgdir" "$sock"
  mkdir -p "$pgdir" "$sock"
  chown "$PGUSER_SYS" "$pgdir" "$sock"
  chmod 700 "$pgdir"
  as_pg "$PGBIN/initdb" -D "$pgdir" -U postgres --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1
  local pgport
  pgport=$(free_port 55432)
  as_pg "$PGBIN/pg_ctl" -D "$pgdir" -l "$pgdir/server.log" -w -t 60 start \
    -o "-p $pgport -k $sock -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB" >/dev/null
  "$PGBIN/psql" -h 127.0.0.1 -p "$pgport" -U postgres -qAt -c "CREATE DATABASE ticketd" >/dev/null
  {
    echo "TICKETD_PG_PORT=$pgport"
    echo "TICKETD_TEST_PG=postgres://postgres@127.0.0.1:$pgport/ticketd"
  } >"$ENVFILE.tmp"
  local urls="" port=56379
  for i in $(seq 1 "$nodes"); do
    mkdir -p "$DIR/redis$i"
    # A port nobody listens on may still be taken as the local end of some client's connection (these ports lie in
    # the kernel's ephemeral range): then redis-server cannot bind and exits without writing its pidfile. Try on.
    local started=""
    for _ in $(seq 1 20); do
      port=$(free_port "$port")
      rm -f "$DIR/redis$i/redis.pid"
      redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
        --dir "$DIR/redis$i" --pidfile "$DIR/redis$i/redis.pid" --logfile "$DIR/redis$i/redis.log" \
        --maxmemory 512mb --maxmemory-policy noeviction
      for _ in $(seq 1 50); do [ -f "$DIR/redis$i/redis.pid" ] && port_busy "$port" && { started=1; break; }; sleep 0.1; done
      [ -n "$started" ] && break
      port=$((port + 1))
    done
    [ -n "$started" ] || { echo "services: redis-server would not start (see $DIR/redis$i/redis.log)" >&2; exit 1; }
    urls="${urls:+$urls,}redis://127.0.0.1:$port"
    [ "$i" -eq 1 ] && echo "TICKETD_TEST_REDIS=redis://127.0.0.1:$port" >>"$ENVFILE.tmp"
    port=$((port + 1))
  done
  echo "TICKETD_TEST_REDIS_NODES=$urls" >>"$ENVFILE.tmp"
  mv "$ENVFILE.tmp" "$ENVFILE"
  echo "$ENVFILE"
}

status_ok() {
  # shellcheck disable=SC1090
  . "$ENVFILE"
  port_busy "$TICKETD_PG_PORT" || return 1
  local r
  for r in ${TICKETD_TEST_REDIS_NODES//,/ }; do port_busy "${r##*:}" || return 1; done
}

down() {
  if [ -d "$DIR/pg" ] && [ -n "$PGBIN" ] && id "$PGUSER_SYS" >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  local pidf
  for pidf in "$DIR"/redis*/redis.pid; do
    [ -f "$pidf" ] || continue
    kill "$(cat "$pidf")" 2>/dev/null || true
    rm -f "$pidf"
  done
  rm -f "$ENVFILE"
}

pg_start() {
  # shellcheck disable=SC1090
  . "$ENVFILE"
  as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/server.log" -w -t 60 start \
    -o "-p $TICKETD_PG_PORT -k $DIR/pgsock -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB" >/dev/null
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m immediate -w -t 30 stop >/dev/null; }
redis_stop() {
  kill "$(cat "$DIR/redis1/redis.pid")"
  # shellcheck disable=SC1090
  . "$ENVFILE"
  for _ in $(seq 1 50); do port_busy "${TICKETD_TEST_REDIS##*:}" || return 0; sleep 0.1; done
  return 1
}
redis_start() {
  # shellcheck disable=SC1090
  . "$ENVFILE"
  local port=${TICKETD_TEST_REDIS##*:}
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$DIR/redis1" --pidfile "$DIR/redis1/redis.pid" --logfile "$DIR/redis1/redis.log" \
    --maxmemory 512mb --maxmemory-policy noeviction
  for _ in $(seq 1 50); do port_busy "$port" && return 0; sleep 0.1; done
  return 1
}

case "${1:-}" in
  up) shift; up "$@" ;;
  pg-stop) pg_stop ;;
  pg-start) pg_start ;;
  redis-stop) redis_stop ;;
  redis-start) redis_start ;;
  down) down ;;
  env) cat "$ENVFILE" ;;
  *) echo "usage: $0 up [--redis-nodes N] | down | env | pg-stop | pg-start | redis-stop | redis-start" >&2; exit 2 ;;
esac
