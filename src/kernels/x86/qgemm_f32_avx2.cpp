// W4A16 / W8A16 GEMM with AVX2 (compiled with -mavx2 -mfma): packed codes expanded to fp32 in
// registers (see qgemm_f32_avx512.cpp), a ymm covering half a chunk (8 output rows). Same
// per-output operation order as the scalar reference.
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

template <int MR, int NU, int J>
inline void step(const float* const* x, size_t kidx, __m256i src, const __m256i* zv,
                 __m256 (&acc)[MR][NU], int u) {
  const __m256 wf = _mm256_cvtepi32_ps(_mm256_sub_epi32(lane_byte<J>(src), zv[u]));
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] =
      _mm256_fmadd_ps(_mm256_set1_ps(x[r][kidx]), wf, acc[r][u]);
}

// The register tile that qgemm_x86_common.h's run_ymm_gemm runs: MR rows x NU units of 8
// outputs from unit0 (unit u is half u % 2 of block u / 2).
struct F32Avx2 {
  template <int kBits, bool kAsym, int MR, int NU>
  [[gnu::noinline]] static void tile(const QgemmF32Args& p, size_t row0, size_t unit0);
};

template <int kBits, bool kAsym, int MR, int NU>
void F32Avx2::tile(const QgemmF32Args& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the layout the products read
  constexpr size_t kc = kBase == 4 ? 8 : 4;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NU];
  int half[NU];  // bit-plane containers: which half of the chunk the unit is
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    wb[u] = unit_codes_of<kBits>(w, unit0 + u);
    half[u] = static_cast<int>((unit0 + u) % 2);
  }

  __m256 y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256 acc[MR][NU];
    __m256i zv[NU];
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      if constexpr (kAsym)
        zv[u] = zeros_ymm(w, unit_params(w, unit0 + u, g));
      else
        zv[u] = _mm256_set1_epi32(w.zero);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] = _mm256_setzero_ps();
    }
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const __m256i v = load_unit_ymm<kBits>(wb[u], c, half[u]);
        if constexpr (kBase == 4) {
          const __m256i lo = _mm256_and_si256(v, low4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), low4);
          if (kn == 8) {
            step<MR, NU, 0>(x, k0 + 0, lo, zv, acc, u);
            step<MR, NU, 1>(x, k0 + 1, lo, zv, acc, u);
            step<MR, NU, 2>(x, k0 + 2, lo, zv, acc, u);
            step<MR, NU, 3>(x, k0 + 3, lo, zv, acc, u);
            step<MR, NU, 0>(x, k0 + 4, hi, zv, acc, u);
            step<MR, NU, 1>(x, k0 + 5, hi, zv, acc, u);
            step<MR, NU, 2>(x, k0 + 6, hi, zv, acc, u);
            step<MR, NU, 3>(x, k0 + 7, hi, zv, acc, u);
          } else {
            if (kn > 0) step<MR, NU, 0>(x, k0 + 0, lo, zv, acc, u);
            if (kn > 1) step<MR, NU, 1>(x, k0 + 1, lo, zv, acc, u);
            if (kn > 2) step<MR, NU, 2>(x, k0 + 2, lo, zv, acc, u);
            if (kn > 3) step<MR, NU, 3>(x, k0 + 3, lo, zv, acc, u);
            if (kn > 4) step<MR, NU, 0>(x, k0 + 4, hi, zv, acc, u);
            if (kn > 5) step<MR, NU, 1>(x, k0 + 5, hi, zv, acc, u);
            if (kn > 6) step<MR, NU, 2>(x, k0 + 6, hi, zv, acc, u);
          }
        } else {
          if (kn == 4) {
            step<MR, NU, 0>(x, k0 + 0, v, zv, acc, u);
            step<MR, NU, 1>(x, k0 + 1, v, zv, acc, u);
            step<MR, NU, 2>(x, k0 + 2, v, zv, acc, u);
            step<MR, NU, 3>(x, k0 + 3, v, zv, acc, u);
          } else {
            if (kn > 0) step<MR, NU, 0>(x, k0 + 0, v, zv, acc, u);
            if (kn > 1) step<MR, NU, 1>(x, k0 + 1, v, zv, acc, u);
            if (kn > 2) step<MR, NU, 2>(x, k0 + 2, v, zv, acc, u);
          }
        }
      }
    }
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const __m256 sw = _mm256_loadu_ps(w.scales + unit_params(w, unit0 + u, g));
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][u] = _mm256_fmadd_ps(acc[r][u], sw, y[r][u]);
    }
  }

  store_units_ymm(p, row0, unit0, y);
}

}  // namespace

void qgemm_f32_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm<F32Avx2>(p, block_begin, block_end);
}

void qgemm_f32_planar_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm_planar<F32Avx2>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
