#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and fuzzes each for
# FUZZ_SECONDS (default 60), starting from and growing fuzz/corpus/<target>; findings are written
# to fuzz/regressions/<target>/ (commit them with the fix: CI replays them). With MERGE=1 the
# grown corpus is minimised back into fuzz/corpus (-merge=1). Each run's -print_final_stats=1
# output goes to fuzz/logs/<target>.log (LOGS=0: to a temporary folder), which docs/fuzzing.md
# summarises. TARGETS restricts the run to some targets (a regex).
#
# Usage: scripts/fuzz.sh            (every target, 60 s each)
#        FUZZ_SECONDS=30 LOGS=0 scripts/fuzz.sh   (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
export LOWBIT_SHARED=${LOWBIT_SHARED:-$PWD/../shared}
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOWBIT_FUZZ=ON -DLOWBIT_SANITIZE=address,undefined -DLOWBIT_BUILD_TESTS=OFF \
    -DLOWBIT_BUILD_BENCH=OFF > /dev/null
fi
targets=()
for f in fuzz/targets/*.cpp; do
  t=$(basename "$f" .cpp)
  [[ "$t" =~ ${TARGETS:-.} ]] && targets+=("$t")
done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/lowbit_fuzz_}" > /dev/null
LOG_DIR=fuzz/logs
[ "${LOGS:-1}" = 1 ] || LOG_DIR=$(mktemp -d)
mkdir -p "$LOG_DIR"
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  mkdir -p "fuzz/regressions/$t"
  # ASan's leak check stays on; UBSan reports abort (-fno-sanitize-recover).
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      "build-fuzz/fuzz/lowbit_fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 \
      -jobs="$JOBS" -workers="$JOBS" -print_final_stats=1 -artifact_prefix="fuzz/regressions/$t/" \
      -dict=fuzz/json.dict "$work" "fuzz/corpus/$t" > "$LOG_DIR/$t.log" 2>&1; then
    echo "fuzz: $t found a problem; see $LOG_DIR/$t.log and fuzz/regressions/$t/" >&2
    status=1
  fi
  # Keep the summary: seeds, final statistics, any error (the full log is mostly NEW lines).
  grep -E '^(stat::|INFO: Seed|INFO: Loaded|Done |SUMMARY|==[0-9]+== ERROR|.*ERROR: libFuzzer|#[0-9]+[[:space:]]+DONE)' \
    "$LOG_DIR/$t.log" > "$LOG_DIR/$t.log.tmp" || true
  mv "$LOG_DIR/$t.log.tmp" "$LOG_DIR/$t.log"
  if [ "${MERGE:-0}" = 1 ]; then
    merged=$(mktemp -d)
    "build-fuzz/fuzz/lowbit_fuzz_$t" -merge=1 "$merged" "fuzz/corpus/$t" "$work" > /dev/null 2>&1
    rm -rf "fuzz/corpus/$t" && mv "$merged" "fuzz/corpus/$t"
  fi
  rm -rf "$work"
  printf '%-22s %s\n' "$t" "$(grep -E '^stat::number_of_executed_units' "$LOG_DIR/$t.log" |
    awk '{ n += $2 } END { printf "%d executions", n }')" >&2
done
exit $status
