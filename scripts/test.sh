#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs). Extra args go to ctest.
#
# SANITIZE=1 adds the sanitizer stage (docs/fuzzing.md): the suite built with ASan + UBSan in
# build-san, long tests left out (hours under ASan), the fuzz corpora replayed as part of it,
# then every fuzz target fuzzed for FUZZ_SECONDS (30) with clang's libFuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)" "$@")
if [ "${SANITIZE:-0}" = 1 ]; then
  echo "== sanitizer stage: ASan + UBSan test suite" >&2
  cmake -S . -B build-san -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWBIT_WERROR=ON \
    -DLOWBIT_SANITIZE=address,undefined -DLOWBIT_BUILD_BENCH=OFF > /dev/null
  cmake --build build-san -j"$(nproc)"
  # Leak suppressions, each justified in the file.
  export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
  (cd build-san && ctest --output-on-failure -j"$(nproc)" -LE long -E KernelsAarch64Qemu)
  echo "== sanitizer stage: fuzzing" >&2
  FUZZ_SECONDS=${FUZZ_SECONDS:-30} LOGS=0 bash scripts/fuzz.sh
fi
