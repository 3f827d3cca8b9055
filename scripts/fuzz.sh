#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and fuzzes each for
# FUZZ_SECONDS (default 60), starting from and growing fuzz/corpus/<target>; findings are written
# to fuzz/regressions/<target>/ (commit them with the fix: CI replays them). With MERGE=1 the
# grown corpus is minimised back into fuzz/corpus (-merge=1). Each run's -print_final_stats=1
# summary is kept as fuzz/logs/<target>/<UTC time>.log (LOGS=0: a temporary folder), so the logs
# add up to the campaign's total; scripts/fuzz_totals.sh sums them for docs/fuzzing.md. TARGETS
# restricts the run to some targets (a regex). Inputs and extraction folders go to /dev/shm
# where there is one (a memory file system: several times the executions per second).
#
# Usage: scripts/fuzz.sh            (every target, 60 s each)
#        MERGE=1 FUZZ_SECONDS=600 UNTIL_EXECUTIONS=10000000 scripts/fuzz.sh   (the campaign)
#        FUZZ_SECONDS=30 LOGS=0 scripts/fuzz.sh   (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
# FUZZ_BUILD_DIR: a clang build with LOWBIT_FUZZ=ON (CI reuses its sanitizer build).
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
export LOWBIT_SHARED=${LOWBIT_SHARED:-$PWD/../shared}
[ -d /dev/shm ] && export TMPDIR=/dev/shm
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOWBIT_FUZZ=ON -DLOWBIT_SANITIZE=address,undefined -DLOWBIT_BUILD_TESTS=OFF \
    -DLOWBIT_BUILD_BENCH=OFF > /dev/null
fi
targets=()
for f in fuzz/targets/*.cpp; do
  t=$(basename "$f" .cpp)
  [[ "$t" =~ ${TARGETS:-.} ]] && targets+=("$t")
done
# BUILD=0 fuzzes the binaries as they are (a long campaign keeps fuzzing the commit it started on
# while the tree moves on); the commit recorded in each log is the one they were built from.
if [ "${BUILD:-1}" = 1 ]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]/#/lowbit_fuzz_}" > /dev/null
  git rev-parse --short=12 HEAD > "$BUILD_DIR/fuzzed_commit"
  git diff --quiet HEAD -- src fuzz || echo "+changes" >> "$BUILD_DIR/fuzzed_commit"
fi
fuzzed=$(tr '\n' ' ' < "$BUILD_DIR/fuzzed_commit" 2> /dev/null || echo unknown)
LOG_ROOT=fuzz/logs
[ "${LOGS:-1}" = 1 ] || LOG_ROOT=$(mktemp -d)
status=0
# The executions a target's committed logs add up to.
total_executions() {
  cat "$LOG_ROOT/$1"/*.log 2> /dev/null | grep -E '^stat::number_of_executed_units' |
    awk '{ n += $2 } END { printf "%d", n }'
}
fuzz_round() {
  local t=$1 log work merged
  mkdir -p "$LOG_ROOT/$t" "fuzz/regressions/$t"
  log=$LOG_ROOT/$t/$(date -u +%Y%m%dT%H%M%SZ).log
  work=$(mktemp -d)
  # ASan's leak check stays on; UBSan reports abort (-fno-sanitize-recover). No allocation stacks
  # (malloc_context_size=0: a third more executions); a finding is replayed for the full report.
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:malloc_context_size=0 \
      "$BUILD_DIR/fuzz/lowbit_fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="fuzz/regressions/$t/" \
      -dict=fuzz/json.dict "$work" "fuzz/corpus/$t" > "$log" 2>&1; then
    echo "fuzz: $t found a problem; see $log and fuzz/regressions/$t/" >&2
    status=1
  fi
  # Keep the summary: seeds, final statistics, any error (the full log is mostly NEW lines).
  grep -aE '^(stat::|INFO: Seed|INFO: Loaded|Done |SUMMARY|==[0-9]+== ERROR|.*ERROR: libFuzzer|#[0-9]+[[:space:]]+DONE)' \
    "$log" > "$log.tmp" || true
  { echo "lowbit fuzz target $t, commit $fuzzed, ${SECONDS_EACH} s, $(nproc) cpus"; cat "$log.tmp"; } > "$log"
  rm -f "$log.tmp"
  if [ "${MERGE:-0}" = 1 ]; then
    merged=$(mktemp -d)
    "$BUILD_DIR/fuzz/lowbit_fuzz_$t" -merge=1 "$merged" "fuzz/corpus/$t" "$work" > /dev/null 2>&1
    rm -rf "fuzz/corpus/$t" && mv "$merged" "fuzz/corpus/$t"
  fi
  rm -rf "$work"
  printf '%-22s %s executions this round, %s in all\n' "$t" "$(grep -E '^stat::number_of_executed_units' "$log" |
    awk '{ n += $2 } END { printf "%d", n }')" "$(total_executions "$t")" >&2
}
for t in "${targets[@]}"; do
  # UNTIL_EXECUTIONS=N: rounds until the target's logs add up to N executions (the campaign).
  if [ -n "${UNTIL_EXECUTIONS:-}" ]; then
    while [ "$(total_executions "$t")" -lt "$UNTIL_EXECUTIONS" ] && [ $status = 0 ]; do
      fuzz_round "$t"
    done
  else
    fuzz_round "$t"
  fi
done
exit $status
