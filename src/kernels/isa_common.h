#pragma once
// Small helpers for every per-ISA kernel file (src/kernels/{scalar,x86,arm}). Only macros and
// functions in an anonymous namespace: each including file gets its own copy, compiled with its
// own target flags, which the linker can never merge into another ISA's (or the baseline's) object
// (see kernel_variants.h).
#include <cstddef>

// Fully unrolls the loop that follows (the row and column loops of a register tile, whose bounds
// are template parameters: the arrays they index must become registers).
#define LOWBIT_UNROLL _Pragma("GCC unroll 16")

namespace lowbit::kernels::detail {
namespace {

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

}  // namespace
}  // namespace lowbit::kernels::detail
