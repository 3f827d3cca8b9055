#!/usr/bin/env bash
# Cross-compiles the low-bit kernels (src/kernels without the OpenBLAS-backed sgemm, gemm and
# dense_linalg, plus the thread pool) and their tests (tests/kernels, with GoogleTest built from /usr/src/googletest) for
# aarch64, and runs them under qemu-user: the scalar, NEON and NEON dot-product variants are each
# forced in turn, then the suite runs again on a CPU model without dotprod to check detection.
#
#   scripts/test_arm.sh [BUILD_DIR]     (default build-arm; objects are reused between runs)
#
# Exits 77 (ctest's SKIP_RETURN_CODE) when the cross toolchain, qemu or the sources it needs are
# missing: `apt-get install g++-aarch64-linux-gnu qemu-user libgtest-dev libfmt-dev`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/build-arm}" && cd "${1:-$ROOT/build-arm}" && pwd)
CXX=${LOWBIT_ARM_CXX:-aarch64-linux-gnu-g++}
QEMU=${LOWBIT_QEMU:-qemu-aarch64}
SYSROOT=${LOWBIT_ARM_SYSROOT:-/usr/aarch64-linux-gnu}
GTEST=/usr/src/googletest/googletest

for need in "$CXX" "$QEMU" make; do
  command -v "$need" >/dev/null || { echo "test_arm: $need not found, skipping"; exit 77; }
done
for dir in "$SYSROOT" "$GTEST/src" /usr/include/fmt; do
  [ -d "$dir" ] || { echo "test_arm: $dir not found, skipping"; exit 77; }
done

# fmt (used by core/error.h) has no arm64 library here: its headers are architecture-neutral, so
# they are used header-only through a private include dir (not /usr/include, which holds the
# host's libc headers).
mkdir -p "$OUT/include"
ln -sfn /usr/include/fmt "$OUT/include/fmt"

cd "$ROOT"
SRCS=(src/core/thread_pool.cpp)
for f in src/kernels/*.cpp src/kernels/scalar/*.cpp src/kernels/arm/*.cpp; do
  case "$f" in
    src/kernels/sgemm.cpp | src/kernels/gemm.cpp | src/kernels/dense_linalg.cpp) ;;  # OpenBLAS: the x86 build tests them
    *) SRCS+=("$f") ;;
  esac
done
TESTS=()
for f in tests/kernels/*_test.cpp; do
  # These need src/quant or OpenBLAS; the x86 build runs them.
  case "$f" in
    tests/kernels/fake_quant_equivalence_test.cpp | tests/kernels/sgemm_test.cpp | \
      tests/kernels/gemm_test.cpp | tests/kernels/dense_linalg_test.cpp) ;;
    *) TESTS+=("$f") ;;
  esac
done

# An ISA file's target flags: the row of its suffix (kv_attention_<suffix>.cpp) in the top-level
# CMakeLists.txt's LOWBIT_ISA_FLAGS list ("<suffix>: <flags>"), so both builds use the same ones.
isa_flags() {
  local suffix=${1##*_} row
  suffix=${suffix%.cpp}
  row=$(grep -E "^ *\"$suffix:" "$ROOT/CMakeLists.txt") ||
    { echo "test_arm: no LOWBIT_ISA_FLAGS row for $1 in CMakeLists.txt" >&2; return 1; }
  row=${row#*\"$suffix:}
  echo ${row%%\"*}
}

# A generated Makefile gives parallel, incremental builds (header dependencies via -MMD).
{
  echo "CXX := $CXX"
  echo "COMMON := -std=c++20 -O2 -DFMT_HEADER_ONLY -isystem $OUT/include"
  echo "WARN := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror"
  echo "INC := -I$ROOT/src -I$ROOT/tests"
  echo "GTINC := -isystem $GTEST/include -I$GTEST"
  echo "OBJS :="
  obj() { echo "$OUT/obj/${1%.cpp}.o"; }
  for f in "${SRCS[@]}" "${TESTS[@]}"; do
    case "$f" in
      src/kernels/arm/*) flags=$(isa_flags "$f") ;;
      tests/*) flags="\$(GTINC)" ;;
      *) flags="" ;;
    esac
    o=$(obj "$f")
    echo "OBJS += $o"
    echo "$o: $ROOT/$f"
    printf '\t@mkdir -p $(dir $@)\n\t$(CXX) $(COMMON) $(WARN) $(INC) %s -MMD -c $< -o $@\n' "$flags"
  done
  for f in gtest-all.cc gtest_main.cc; do
    o="$OUT/obj/gtest/${f%.cc}.o"
    echo "OBJS += $o"
    echo "$o: $GTEST/src/$f"
    printf '\t@mkdir -p $(dir $@)\n\t$(CXX) $(COMMON) $(GTINC) -c $< -o $@\n'
  done
  echo "$OUT/kernel_tests: \$(OBJS)"
  printf '\t$(CXX) -o $@ $^ -pthread\n'
  echo "-include \$(OBJS:.o=.d)"
} >"$OUT/Makefile"

make -s -C "$OUT" -f "$OUT/Makefile" -j"$(nproc)" "$OUT/kernel_tests"

echo "test_arm: running under $QEMU (default CPU: NEON + dotprod)"
"$QEMU" -L "$SYSROOT" "$OUT/kernel_tests" --gtest_brief=1
echo "test_arm: running under $QEMU -cpu cortex-a72 (NEON without dotprod)"
"$QEMU" -L "$SYSROOT" -cpu cortex-a72 "$OUT/kernel_tests" --gtest_brief=1 \
  --gtest_filter='*CpuFeatures*:*IntegerGemmBitExact*:*ActivationOffsets*:*Packed16*'
