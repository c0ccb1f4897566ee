#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite with ctest (unit, API, cluster
# and the pages in Debian's chromium) —
# once in a normal build, once under AddressSanitizer + UndefinedBehaviorSanitizer (all of it: the API suite in
# all three modes too), the multithreaded code (executor, HTTP path, lock strategies, lab) once more under
# ThreadSanitizer — and then the libFuzzer targets for a fixed budget each (scripts/fuzz.sh, FUZZ_SECONDS).
# It starts its own PostgreSQL and Redis (scripts/services.sh) and stops them at the end; the tests that
# need them fail, never skip, if they are not there.
# Set TICKETD_SKIP_SANITIZERS=1 for a quicker local run (CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/browser-deps.sh # chromium + playwright-core for tests/browser (the pages)

echo "== services: PostgreSQL + Redis ==" >&2
envfile=$(bash scripts/services.sh up)
trap 'bash scripts/services.sh down' EXIT
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

echo "== build (warnings are errors) ==" >&2
bash scripts/build.sh build -DTICKETD_WERROR=ON
echo "== tests ==" >&2
(cd build && ctest --output-on-failure --timeout 600)

if [ "${TICKETD_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== build with ASan + UBSan ==" >&2
  bash scripts/build.sh build-asan -DTICKETD_WERROR=ON -DTICKETD_ASAN=ON -DCMAKE_BUILD_TYPE=Debug
  echo "== tests under ASan + UBSan ==" >&2
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd build-asan && ctest --output-on-failure --timeout 900)

  echo "== the multithreaded code under ThreadSanitizer (executor, HTTP path, locks, lab) ==" >&2
  bash scripts/build.sh build-tsan -DTICKETD_WERROR=ON -DTICKETD_TSAN=ON -DCMAKE_BUILD_TYPE=Debug
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  (cd build-tsan && ctest --output-on-failure --timeout 900 \
    -R '^(unit_test_exec|unit_test_strategy|unit_test_booking|unit_test_waitroom|api_test_flow|api_test_race|api_test_engine|cluster_lab_test)$')
fi

echo "== fuzzing: every parser target for ${FUZZ_SECONDS:-45} s ==" >&2
bash scripts/fuzz.sh "${FUZZ_SECONDS:-45}"

echo "all tests passed" >&2
