#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang into build-fuzz/ and runs each for a fixed
# budget on a copy of its seed corpus (tests/fuzz/corpus/<target>/), after replaying the inputs kept in
# tests/fuzz/crashes/<target>/. Exits non-zero if any target crashed (a crash, leak, timeout or sanitizer
# report: libFuzzer exits non-zero and writes an artifact to build-fuzz/artifacts/<target>/) or a kept input
# still crashes.
# Usage: bash scripts/fuzz.sh [SECONDS]     (seconds per target; default $FUZZ_SECONDS, else 30)
# Installs what is missing (Debian 12 packages) first; needs root or sudo for that. docs/FUZZING.md has more.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-30}}"
case "$SECONDS_PER_TARGET" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number" >&2; exit 2 ;; esac
BUILD=build-fuzz
JOBS="${FUZZ_JOBS:-2}"

# ---- what the build needs: ticketd's own packages plus clang-14 and libFuzzer's runtime (Debian 12 ships it in
# libclang-rt-14-dev) ----
bash scripts/deps.sh clang-14 libclang-rt-14-dev llvm-14

# ---- build ----
mkdir -p "$BUILD"
CC=clang-14 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTICKETD_FUZZ=ON >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log" >&2; exit 1; }
TARGETS=()
for src in tests/fuzz/fuzz_*.c; do
  TARGETS+=("$(basename "$src" .c)")
done
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}" >"$BUILD/build.log" 2>&1 ||
  { tail -50 "$BUILD/build.log" >&2; echo "fuzz: build failed (full log: $BUILD/build.log)" >&2; exit 1; }

# ---- run ----
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
SYMBOLIZER="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
[ -n "$SYMBOLIZER" ] && export ASAN_SYMBOLIZER_PATH="$SYMBOLIZER"
passed=0
failed=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD/corpus/$t"    # a copy: what the fuzzer adds never lands in the repository
  artifacts="$BUILD/artifacts/$t"
  rm -rf "$corpus" "$artifacts" "$BUILD/$t.replay.log"
  mkdir -p "$corpus" "$artifacts"
  [ -d "tests/fuzz/corpus/$t" ] && cp -r "tests/fuzz/corpus/$t/." "$corpus/"
  log="$BUILD/$t.log"
  # Inputs kept in tests/fuzz/crashes/<target>/ replay first: a crash once found must stay fixed.
  replayed=0
  for f in tests/fuzz/crashes/"$t"/*; do
    [ -f "$f" ] || continue
    if ! "$BUILD/$t" -rss_limit_mb=2048 -timeout=60 "$f" >>"$BUILD/$t.replay.log" 2>&1; then
      replayed=$((replayed + 1))
      echo "  $t still crashes on $f (log: $BUILD/$t.replay.log)" >&2
    fi
  done
  rc=0
  "$BUILD/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  [ -n "$runs" ] || runs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
  crashes="$(find "$artifacts" -type f | wc -l)"
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # it died without leaving an input (e.g. in LLVMFuzzerInitialize)
  fi
  crashes=$((crashes + replayed))
  echo "$t: ${runs:-0} runs, $crashes crashes"
  if [ "$crashes" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "  exit $rc; log: $log; artifacts: $artifacts/" >&2
    grep -a -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 | sed 's/^/  /' >&2 || true
    for f in "$artifacts"/*; do
      [ -f "$f" ] && echo "  reproduce: $BUILD/$t $f" >&2
    done
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
