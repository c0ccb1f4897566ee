#!/usr/bin/env bash
# Installs every Debian package ticketd needs to build, test and benchmark, if any is missing, plus any package
# named on the command line (scripts/fuzz.sh passes clang's). Safe to run again: it only calls apt-get when
# something is absent. Needs root (or sudo).
# Usage: bash scripts/deps.sh [EXTRA-PACKAGE…]
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config git curl ca-certificates procps
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev libcmocka-dev
  libpq-dev libhiredis-dev
  postgresql redis-server sqlite3 wrk
  "$@"
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
