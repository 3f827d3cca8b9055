// Codebook (look-up table) GEMM with AVX2 (compiled with -mavx2 -mfma) against fp32 activations:
// a ymm covers half a packed chunk (8 output rows, see qgemm_f32_avx2.cpp). A shared 16-entry
// table is two ymm registers: vpermps (_mm256_permutevar8x32_ps) on each half by the code's low 3
// bits and a blend on its bit 3 give the exact fp32 entries (three instructions per 8 weights;
// vpshufb on the table's four byte planes needs four shuffles and three merges for the same
// result). Per-row tables gather from the rows' tables (L1-resident). The operation order per
// output is the scalar reference's.
//
// Register tiles: 4 rows x 8 outputs for m > 1, 1 row x 16 outputs for m = 1.
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

template <int J>
inline __m256i lane_byte(__m256i v) {
  if constexpr (J == 3)
    return _mm256_srli_epi32(v, 24);
  else if constexpr (J == 0)
    return _mm256_and_si256(v, _mm256_set1_epi32(0xff));
  else
    return _mm256_and_si256(_mm256_srli_epi32(v, 8 * J), _mm256_set1_epi32(0xff));
}

template <bool kPerRow, int MR, int NU, int J>
inline void step(const float* const* x, size_t kidx, __m256i nibbles, const __m256 (&table)[2],
                 const __m256i* base, const float* codebook, __m256 (&acc)[MR][NU], int u) {
  const __m256i idx = lane_byte<J>(nibbles);  // 0..15
  __m256 wf;
  if constexpr (kPerRow) {
    wf = _mm256_i32gather_ps(codebook, _mm256_add_epi32(idx, base[u]), 4);
  } else {
    const __m256 lo = _mm256_permutevar8x32_ps(table[0], idx);
    const __m256 hi = _mm256_permutevar8x32_ps(table[1], idx);
    wf = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] =
      _mm256_fmadd_ps(_mm256_set1_ps(x[r][kidx]), wf, acc[r][u]);
}

template <bool kPerRow, int MR, int NU>
[[gnu::noinline]] void tile(const QgemmF32Args& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  constexpr size_t kc = 8;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) wb[u] = unit_codes(w, unit0 + u);
  __m256 table[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  if constexpr (!kPerRow) {
    table[0] = _mm256_loadu_ps(w.codebook);
    table[1] = _mm256_loadu_ps(w.codebook + 8);
  }
  // Per-row tables: lane r of unit u reads table (row * 16 + code); rows past n read table 0.
  __m256i base[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const __m256i rows = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>((unit0 + u) * 8)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(w.n)), rows);
    base[u] = _mm256_and_si256(valid, _mm256_slli_epi32(rows, 4));
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f);

  __m256 y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      _mm256_setzero_ps();
  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256 acc[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
        acc[r][u] = _mm256_setzero_ps();
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[u] + c * 64));
        const __m256i lo = _mm256_and_si256(v, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), low4);
        if (kn > 0) step<kPerRow, MR, NU, 0>(x, k0 + 0, lo, table, base, w.codebook, acc, u);
        if (kn > 1) step<kPerRow, MR, NU, 1>(x, k0 + 1, lo, table, base, w.codebook, acc, u);
        if (kn > 2) step<kPerRow, MR, NU, 2>(x, k0 + 2, lo, table, base, w.codebook, acc, u);
        if (kn > 3) step<kPerRow, MR, NU, 3>(x, k0 + 3, lo, table, base, w.codebook, acc, u);
        if (kn > 4) step<kPerRow, MR, NU, 0>(x, k0 + 4, hi, table, base, w.codebook, acc, u);
        if (kn > 5) step<kPerRow, MR, NU, 1>(x, k0 + 5, hi, table, base, w.codebook, acc, u);
        if (kn > 6) step<kPerRow, MR, NU, 2>(x, k0 + 6, hi, table, base, w.codebook, acc, u);
        if (kn > 7) step<kPerRow, MR, NU, 3>(x, k0 + 7, hi, table, base, w.codebook, acc, u);
      }
    }
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const __m256 sw = _mm256_loadu_ps(w.scales + unit_params(w, unit0 + u, g));
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][u] = _mm256_fmadd_ps(acc[r][u], sw, y[r][u]);
    }
  }
  store_units_ymm(p, row0, unit0, y);
}

template <bool kPerRow>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  run_units_ymm(p, b0, b1, [&]<int MR, int NU>(size_t row0, size_t unit0) {
    tile<kPerRow, MR, NU>(p, row0, unit0);
  });
}

}  // namespace

void qgemm_lut_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  if (p.w.codebook_rows == 1)
    run<false>(p, block_begin, block_end);
  else
    run<true>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
