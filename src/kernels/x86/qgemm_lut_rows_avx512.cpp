// Codebook weights with a table per row (row layout, qgemm_lut_rows.h) with AVX-512F against
// fp32 activations. A tile's 64 bytes hold 128 codes of one row; shifting the zmm right by 4 s
// puts the codes of k-block s (16 consecutive k) in the low 4 bits of the lanes, and vpermps
// (_mm512_permutexvar_ps, which reads only those bits) looks all 16 up in the row's table, held
// in one register. The 16 weights multiply 16 activations loaded straight from the row, so a
// lane accumulates k = 16 b + l: the reference's lane sums, then its tree, exactly.
//
// Register tiles: MR activation rows x NR weight rows, each output an independent fma chain
// (1 x 8 for m = 1, 4 x 4 otherwise: 16 accumulators, 4 tables, 4 code registers).
#include "kernels/x86/avx512_intrinsics.h"

#include <utility>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

// The reference's tree: lane l + lane l + 8, then + 4, + 2, + 1.
inline float tree_sum(__m512 a) {
  const __m256 lo = _mm512_castps512_ps256(a);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
  const __m256 h8 = _mm256_add_ps(lo, hi);
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
}

// One 16-wide k-block: the NR rows' codes shifted by 4 s, looked up, times MR activation vectors.
template <int MR, int NR>
inline void block_step(const __m512i (&v)[NR], __m512i shift, const __m512 (&table)[NR],
                       const __m512 (&xv)[MR], __m512 (&acc)[MR][NR]) {
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    const __m512 wf = _mm512_permutexvar_ps(_mm512_srlv_epi32(v[r], shift), table[r]);
    LOWBIT_UNROLL for (int i = 0; i < MR; ++i) acc[i][r] = _mm512_fmadd_ps(xv[i], wf, acc[i][r]);
  }
}

template <int MR, int NR, int S>
inline void full_step(const __m512i (&v)[NR], const __m512 (&table)[NR], const float* const* x,
                      size_t col, __m512 (&acc)[MR][NR]) {
  __m512 xv[MR];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) xv[i] = _mm512_loadu_ps(x[i] + col);
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    const __m512i idx = S == 0 ? v[r] : _mm512_srli_epi32(v[r], 4 * S);
    const __m512 wf = _mm512_permutexvar_ps(idx, table[r]);
    LOWBIT_UNROLL for (int i = 0; i < MR; ++i) acc[i][r] = _mm512_fmadd_ps(xv[i], wf, acc[i][r]);
  }
}

template <int MR, int NR, int... S>
inline void full_tile(const __m512i (&v)[NR], const __m512 (&table)[NR], const float* const* x,
                      size_t col0, __m512 (&acc)[MR][NR], std::integer_sequence<int, S...>) {
  (full_step<MR, NR, S>(v, table, x, col0 + 16 * S, acc), ...);
}

template <int MR, int NR>
[[gnu::noinline]] void tile(const LutRowsArgs& p, size_t i0, size_t j0) {
  const float* x[MR];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) x[i] = p.x + (i0 + i) * p.ldx;
  const uint8_t* codes[NR];
  __m512 table[NR];
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    codes[r] = p.codes + (j0 + r) * p.row_bytes;
    table[r] = _mm512_loadu_ps(p.tables + (j0 + r) * 16);
  }
  __m512 acc[MR][NR];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) LOWBIT_UNROLL for (int r = 0; r < NR; ++r) acc[i][r] =
      _mm512_setzero_ps();

  const size_t full_tiles = p.k / 128;
  for (size_t t = 0; t < full_tiles; ++t) {
    __m512i v[NR];
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) v[r] = _mm512_load_si512(codes[r] + t * 64);
    full_tile<MR, NR>(v, table, x, t * 128, acc, std::make_integer_sequence<int, 8>{});
  }
  // The last, partial tile: whole k-blocks, then one masked block (activations past k read as 0).
  if (full_tiles * 128 < p.k) {
    const size_t t = full_tiles;
    __m512i v[NR];
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) v[r] = _mm512_load_si512(codes[r] + t * 64);
    for (size_t s = 0; t * 128 + 16 * s < p.k; ++s) {
      const size_t col = t * 128 + 16 * s, left = p.k - col;
      const __mmask16 mask =
          left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
      __m512 xv[MR];
      LOWBIT_UNROLL for (int i = 0; i < MR; ++i) xv[i] = _mm512_maskz_loadu_ps(mask, x[i] + col);
      block_step<MR, NR>(v, _mm512_set1_epi32(static_cast<int>(4 * s)), table, xv, acc);
    }
  }

  store_lut_rows<MR, NR>(p, i0, j0, [&](int i, int r) { return tree_sum(acc[i][r]); });
}

}  // namespace

void qgemm_lut_rows_avx512(const LutRowsArgs& p, size_t row_begin, size_t row_end) {
  // Decode: eight rows' fma chains in flight hide the fma latency.
  sweep_lut_rows<8, 4, 4>(p.m, row_begin, row_end, 64,
                          [&]<int MR, int NR>(size_t i, size_t j) { tile<MR, NR>(p, i, j); });
}

}  // namespace lowbit::kernels::detail
