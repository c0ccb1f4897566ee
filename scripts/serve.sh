#!/usr/bin/env bash
# README command 1: install what is missing, build, and serve the demo on http://127.0.0.1:8080
# (embedded SQLite file ticketd.db in the repository root, seeded on first start).
# Extra arguments go to `ticketd serve` (see `build/ticketd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
exec ./build/ticketd serve "$@"
