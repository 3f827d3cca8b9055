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

// Stored bytes of one chunk of the kBits container (packed_weights.h: 64 for 4 and 8 bits).
template <int kBits>
inline constexpr size_t kChunkStored = 64 * kBits / (kBits <= 4 ? 4 : 8);

// Calls f.template operator()<kBits>() for a bit-plane container's width (2, 3, 5 or 6; the
// drivers send no other).
template <class F>
inline void with_planar_bits(int bits, F&& f) {
  switch (bits) {
    case 2:
      return f.template operator()<2>();
    case 3:
      return f.template operator()<3>();
    case 5:
      return f.template operator()<5>();
    default:
      return f.template operator()<6>();
  }
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

// The first block of the tile after the nb-block tile at `block`, if a whole nb-block tile still
// fits before `end`; else `block` itself. A tile prefetches the next one's weights while it works
// (one tile of streams ahead of the loads): a decode batch's rows multiply the work per weight
// byte, so its loads come too slowly for the out-of-order window and the hardware prefetcher to
// keep enough lines in flight (measured: 4 rows read an out-of-cache head at half the bandwidth
// one row gets). Re-prefetching its own lines, where no next tile fits, costs a few instructions
// and never leaves the range.
inline size_t ahead_block(size_t block, size_t nb, size_t end) {
  return block + 2 * nb <= end ? block + nb : block;
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

// The row-layout look-up GEMM's sweep (qgemm_lut_rows) over weight rows [r0, r1): for m = 1,
// tiles of kNR1 rows (f.template operator()<1, N>(0, row)); otherwise panels of panel_rows weight
// rows (their codes stay cache-resident), each swept by every activation tile of up to kMR rows
// in weight tiles of up to kNR rows: f.template operator()<MR, NR>(activation row, weight row).
template <int kNR1, int kMR, int kNR, class F>
inline void sweep_lut_rows(size_t m, size_t r0, size_t r1, size_t panel_rows, F&& f) {
  if (m == 1) {
    sweep_gemv<kNR1>(r0, r1, [&]<int NR>(size_t j) { f.template operator()<1, NR>(0, j); });
    return;
  }
  for (size_t jp = r0; jp < r1; jp += panel_rows) {
    const size_t je = min_size(r1, jp + panel_rows);
    for (size_t i = 0; i < m; i += kMR)
      with_count<kMR>(min_size(kMR, m - i), [&]<int MR>() {
        sweep_gemv<kNR>(jp, je, [&]<int NR>(size_t j) { f.template operator()<MR, NR>(i, j); });
      });
  }
}

// The row-layout look-up GEMM's epilogue for an MR x NR tile at (i0, j0): y = fma(tree sum,
// scale, bias), with `tree_sum(i, r)` the reference's tree over output (i0 + i, j0 + r)'s lanes.
template <int MR, int NR, class TreeSum>
inline void store_lut_rows(const LutRowsArgs& p, size_t i0, size_t j0, TreeSum&& tree_sum) {
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    const size_t j = j0 + static_cast<size_t>(r);
    const float b = p.bias ? p.bias[j] : 0.0f;
    LOWBIT_UNROLL for (int i = 0; i < MR; ++i) p.y[(i0 + static_cast<size_t>(i)) * p.ldy + j] =
        __builtin_fmaf(tree_sum(i, r), p.scales[j], b);
  }
}

}  // namespace
}  // namespace lowbit::kernels::detail
