#!/usr/bin/env bash
# README command 1: install what is missing, build, and serve the demo on http://127.0.0.1:8080 — the buyers'
# page at /, the organizer's page at /admin (sign in there with the admin key printed below)
# (embedded SQLite file ticketd.db in the repository root, seeded on first start: two concerts in the site-wide
# waiting room and one, "Midnight Comet World Tour", with a sale of its own that opens 2 minutes after seeding).
# The organizer API needs an admin key: unless TICKETD_ADMIN_KEY is set or --admin-key is given, a fresh random
# one is made for this run and printed (never a fixed, guessable key).
# Extra arguments go to `ticketd serve` (see `build/ticketd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
if [ -z "${TICKETD_ADMIN_KEY:-}" ] && [[ " $* " != *" --admin-key "* ]]; then
  TICKETD_ADMIN_KEY="adm_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export TICKETD_ADMIN_KEY
  echo "ticketd: organizer API key for this run (Authorization: Bearer …): $TICKETD_ADMIN_KEY" >&2
fi
port=8080
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = "--port" ] && port="${args[$((i + 1))]:-8080}"; done
echo "ticketd: buyers' page http://127.0.0.1:${TICKETD_PORT:-$port}/ · organizer's page http://127.0.0.1:${TICKETD_PORT:-$port}/admin" >&2
exec ./build/ticketd serve "$@"
