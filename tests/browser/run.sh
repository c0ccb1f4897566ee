#!/usr/bin/env bash
# Runs one browser test file (tests/browser/*.test.mjs) against the ticketd in TICKETD_BIN (ctest sets it),
# installing chromium and playwright-core first if they are missing (scripts/browser-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../../scripts/browser-deps.sh"
cd "$here"
exec node "$1"
