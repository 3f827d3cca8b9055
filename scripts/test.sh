#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs). Extra args go to ctest.
#
# SANITIZE=1 (what .ci/run sets) adds the sanitizer stage (docs/fuzzing.md): one clang build in
# build-san with ASan + UBSan (-fno-sanitize-recover=all: a report fails the test) and the
# libFuzzer targets; the suite without the long tests (hours under ASan), which replays every
# fuzz corpus and regression; then every fuzz target fuzzed for FUZZ_SECONDS (30) each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)" "$@")
if [ "${SANITIZE:-0}" = 1 ]; then
  echo "== sanitizer stage: ASan + UBSan test suite" >&2
  # clang, so the same build has the libFuzzer targets; warnings are held at zero by the g++
  # build above (-Werror in CI), not re-litigated for a second compiler here.
  CC=clang CXX=clang++ cmake -S . -B build-san -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOWBIT_WERROR=OFF -DLOWBIT_SANITIZE=address,undefined -DLOWBIT_FUZZ=ON \
    -DLOWBIT_BUILD_BENCH=OFF > /dev/null
  cmake --build build-san -j"$(nproc)" > build-san/build.log 2>&1 ||
    { grep -E -A5 "error|Error" build-san/build.log | head -60; exit 1; }
  # Leak suppressions, each justified in the file.
  export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
  (cd build-san && ctest --output-on-failure -j"$(nproc)" -LE long -E KernelsAarch64Qemu)
  echo "== sanitizer stage: fuzzing" >&2
  FUZZ_BUILD_DIR=build-san FUZZ_SECONDS=${FUZZ_SECONDS:-30} LOGS=0 bash scripts/fuzz.sh
fi
