#pragma once
// Compile-time dispatch and tile loops shared by the per-ISA GEMM files: a run-time weight format
// or row count picks the template instantiation of a kernel (the register tile is sized at compile
// time), and the sweeps below walk the output columns in the order the kernels want.
//
// Included only by ISA files (src/kernels/{scalar,x86,arm}). Everything is in an anonymous
// namespace and is instantiated with each file's own lambdas, so every instantiation is local to
// its file: no AVX-512 copy can be merged by the linker into baseline code (see
// kernel_variants.h).
#include <cstddef>

#include "kernels/isa_common.h"
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

// A GEMV's sweep over output columns [c0, c1) (units or blocks): f.template operator()<N>(c) for
// tiles of kWide columns, then one tile of the remaining 1 .. kWide - 1.
template <int kWide, class F>
inline void sweep_gemv(size_t c0, size_t c1, F&& f) {
  size_t c = c0;
  for (; c + kWide <= c1; c += kWide) f.template operator()<kWide>(c);
  if constexpr (kWide > 1) {
    if (c < c1) with_count<kWide - 1>(c1 - c, [&]<int N>() { f.template operator()<N>(c); });
  }
}

// A GEMM's sweep over output columns [c0, c1) of col_bytes of weights each: panels of about
// panel_bytes of weights (cache-resident), each swept by every row tile of up to kRows rows before
// the next panel, f.template operator()<R>(row0, panel_begin, panel_end) per row tile.
template <int kRows, class F>
inline void sweep_panels(size_t m, size_t c0, size_t c1, size_t col_bytes, size_t panel_bytes,
                         F&& f) {
  const size_t panel = col_bytes >= panel_bytes ? 1 : panel_bytes / col_bytes;
  for (size_t pc = c0; pc < c1; pc += panel) {
    const size_t pe = min_size(c1, pc + panel);
    for (size_t r = 0; r < m; r += kRows)
      with_count<kRows>(min_size(kRows, m - r),
                        [&]<int R>() { f.template operator()<R>(r, pc, pe); });
  }
}

}  // namespace
}  // namespace lowbit::kernels::detail
