// Codebook weights with a table per row (row layout, qgemm_lut_rows.h) with AVX2 + FMA against
// fp32 activations. A tile's 64 bytes are two ymm of one row's codes: lanes 0..7 and 8..15 of
// the reference's 16 lane sums, each kept in its own accumulator. vpermps on a ymm reaches 8
// entries, so a 16-entry table is two registers: both halves are permuted by the code's low 3
// bits and its bit 3 (shifted to the sign bit) blends them, the shared-table AVX2 kernel's
// look-up. The tree then starts by adding the two halves, which is the reference's first level.
//
// Register tiles: MR activation rows x NR weight rows (1 x 4 for m = 1, 2 x 2 otherwise), each
// output two independent fma chains.
#include <immintrin.h>

#include <utility>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

// The reference's tree over lanes lo[0..8) ++ hi[0..8).
inline float tree_sum(__m256 lo, __m256 hi) {
  const __m256 h8 = _mm256_add_ps(lo, hi);
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
}

// 8 codes (the low 4 bits of each lane of idx) looked up in a 16-entry table t[0], t[1].
inline __m256 lookup(__m256i idx, const __m256 (&t)[2]) {
  const __m256 low = _mm256_permutevar8x32_ps(t[0], idx);
  const __m256 high = _mm256_permutevar8x32_ps(t[1], idx);
  return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

template <int MR, int NR>
inline void block_step(const __m256i (&v)[NR][2], __m128i shift, const __m256 (&table)[NR][2],
                       const __m256 (&xv)[MR][2], __m256 (&acc)[MR][NR][2]) {
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (int h = 0; h < 2; ++h) {
    const __m256 wf = lookup(_mm256_srl_epi32(v[r][h], shift), table[r]);
    LOWBIT_UNROLL for (int i = 0; i < MR; ++i) acc[i][r][h] =
        _mm256_fmadd_ps(xv[i][h], wf, acc[i][r][h]);
  }
}

template <int MR, int NR, int S>
inline void full_step(const __m256i (&v)[NR][2], const __m256 (&table)[NR][2],
                      const float* const* x, size_t col, __m256 (&acc)[MR][NR][2]) {
  __m256 xv[MR][2];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) {
    xv[i][0] = _mm256_loadu_ps(x[i] + col);
    xv[i][1] = _mm256_loadu_ps(x[i] + col + 8);
  }
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (int h = 0; h < 2; ++h) {
    const __m256i idx = S == 0 ? v[r][h] : _mm256_srli_epi32(v[r][h], 4 * S);
    const __m256 wf = lookup(idx, table[r]);
    LOWBIT_UNROLL for (int i = 0; i < MR; ++i) acc[i][r][h] =
        _mm256_fmadd_ps(xv[i][h], wf, acc[i][r][h]);
  }
}

template <int MR, int NR, int... S>
inline void full_tile(const __m256i (&v)[NR][2], const __m256 (&table)[NR][2],
                      const float* const* x, size_t col0, __m256 (&acc)[MR][NR][2],
                      std::integer_sequence<int, S...>) {
  (full_step<MR, NR, S>(v, table, x, col0 + 16 * S, acc), ...);
}

// Lanes [0, valid) of a ymm set (valid <= 8).
inline __m256i lane_mask(size_t valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int MR, int NR>
[[gnu::noinline]] void tile(const LutRowsArgs& p, size_t i0, size_t j0) {
  const float* x[MR];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) x[i] = p.x + (i0 + i) * p.ldx;
  const uint8_t* codes[NR];
  __m256 table[NR][2];
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    codes[r] = p.codes + (j0 + r) * p.row_bytes;
    table[r][0] = _mm256_loadu_ps(p.tables + (j0 + r) * 16);
    table[r][1] = _mm256_loadu_ps(p.tables + (j0 + r) * 16 + 8);
  }
  __m256 acc[MR][NR][2];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    acc[i][r][0] = _mm256_setzero_ps();
    acc[i][r][1] = _mm256_setzero_ps();
  }
  auto load_codes = [&](size_t t, __m256i(&v)[NR][2]) {
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
      const auto* q = reinterpret_cast<const __m256i*>(codes[r] + t * 64);
      v[r][0] = _mm256_load_si256(q);
      v[r][1] = _mm256_load_si256(q + 1);
    }
  };

  const size_t full_tiles = p.k / 128;
  for (size_t t = 0; t < full_tiles; ++t) {
    __m256i v[NR][2];
    load_codes(t, v);
    full_tile<MR, NR>(v, table, x, t * 128, acc, std::make_integer_sequence<int, 8>{});
  }
  if (full_tiles * 128 < p.k) {
    const size_t t = full_tiles;
    __m256i v[NR][2];
    load_codes(t, v);
    for (size_t s = 0; t * 128 + 16 * s < p.k; ++s) {
      const size_t col = t * 128 + 16 * s, left = p.k - col;
      const __m256i m0 = lane_mask(min_size(8, left));
      const __m256i m1 = lane_mask(left > 8 ? min_size(8, left - 8) : 0);
      __m256 xv[MR][2];
      LOWBIT_UNROLL for (int i = 0; i < MR; ++i) {
        xv[i][0] = _mm256_maskload_ps(x[i] + col, m0);
        xv[i][1] = _mm256_maskload_ps(x[i] + col + 8, m1);
      }
      block_step<MR, NR>(v, _mm_cvtsi32_si128(static_cast<int>(4 * s)), table, xv, acc);
    }
  }

  store_lut_rows<MR, NR>(p, i0, j0,
                         [&](int i, int r) { return tree_sum(acc[i][r][0], acc[i][r][1]); });
}

}  // namespace

void qgemm_lut_rows_avx2(const LutRowsArgs& p, size_t row_begin, size_t row_end) {
  sweep_lut_rows<4, 2, 2>(p.m, row_begin, row_end, 64,
                          [&]<int MR, int NR>(size_t i, size_t j) { tile<MR, NR>(p, i, j); });
}

}  // namespace lowbit::kernels::detail
