#pragma once
// Compile-time dispatch shared by the per-ISA GEMM files: a run-time weight format or row count
// picks the template instantiation of a kernel (the register tile is sized at compile time).
//
// Included only by ISA files (src/kernels/{scalar,x86,arm}). Everything is in an anonymous
// namespace and is instantiated with each file's own lambdas, so every instantiation is local to
// its file: no AVX-512 copy can be merged by the linker into baseline code (see
// kernel_variants.h).
#include <cstddef>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

// Calls f.template operator()<kBits, kAsym>() for the packed format of w: the int4 or int8
// container, symmetric (one shared zero point) or asymmetric (a zero point per group).
template <class F>
inline void with_format(const PackedArgs& w, F&& f) {
  const bool asym = w.zeros != nullptr;
  if (w.bits == 4)
    asym ? f.template operator()<4, true>() : f.template operator()<4, false>();
  else
    asym ? f.template operator()<8, true>() : f.template operator()<8, false>();
}

// Calls f.template operator()<N>() with N = min(count, kMax), count >= 1: the size (rows, or
// output blocks) of the last, partial register tile of a GEMM.
template <int kMax, class F>
inline void with_count(size_t count, F&& f) {
  if constexpr (kMax > 1) {
    if (count < static_cast<size_t>(kMax)) return with_count<kMax - 1>(count, f);
  }
  f.template operator()<kMax>();
}

}  // namespace
}  // namespace lowbit::kernels::detail
