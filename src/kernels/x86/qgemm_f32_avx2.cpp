// W4A16 / W8A16 GEMM with AVX2 (compiled with -mavx2 -mfma): packed codes expanded to fp32 in
// registers (see qgemm_f32_avx512.cpp), a ymm covering half a chunk (8 output rows). Same
// per-output operation order as the scalar reference.
//
// Register tiles: 4 rows x 8 outputs for m > 1, 1 row x 16 outputs for m = 1.
#include <immintrin.h>

#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

#define LOWBIT_UNROLL _Pragma("GCC unroll 16")

namespace lowbit::kernels::detail {
namespace {

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

inline __m256i lane_mask(size_t valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

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

template <int kBits, bool kAsym, int MR, int NU>
void tile(const QgemmF32Args& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  constexpr size_t kc = kBits == 4 ? 8 : 4;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) wb[u] =
      w.codes + ((unit0 + u) / 2) * w.block_bytes + ((unit0 + u) % 2) * 32;

  __m256 y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256 acc[MR][NU];
    __m256i zv[NU];
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const size_t gi = (((unit0 + u) / 2) * w.groups + g) * 16 + ((unit0 + u) % 2) * 8;
      if constexpr (kAsym)
        zv[u] =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + gi)));
      else
        zv[u] = _mm256_set1_epi32(w.zero);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] = _mm256_setzero_ps();
    }
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[u] + c * 64));
        if constexpr (kBits == 4) {
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
      const size_t gi = (((unit0 + u) / 2) * w.groups + g) * 16 + ((unit0 + u) % 2) * 8;
      const __m256 sw = _mm256_loadu_ps(w.scales + gi);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][u] = _mm256_fmadd_ps(acc[r][u], sw, y[r][u]);
    }
  }

  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t n0 = (unit0 + u) * 8;
    if (n0 >= w.n) continue;
    const __m256i mask = lane_mask(min_size(8, w.n - n0));
    const __m256 bias = p.bias ? _mm256_maskload_ps(p.bias + n0, mask) : _mm256_setzero_ps();
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      const __m256 v = p.bias ? _mm256_add_ps(y[r][u], bias) : y[r][u];
      _mm256_maskstore_ps(p.y + (row0 + r) * p.ldy + n0, mask, v);
    }
  }
}

template <int kBits, bool kAsym>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  const size_t u0 = b0 * 2, u1 = min_size(b1 * 2, (p.w.n + 7) / 8);
  if (p.m == 1) {
    size_t u = u0;
    for (; u + 2 <= u1; u += 2) tile<kBits, kAsym, 1, 2>(p, 0, u);
    if (u < u1) tile<kBits, kAsym, 1, 1>(p, 0, u);
    return;
  }
  const size_t unit_bytes = p.w.block_bytes / 2;
  const size_t panel = unit_bytes >= (size_t{128} << 10) ? 1 : (size_t{128} << 10) / unit_bytes;
  for (size_t pu = u0; pu < u1; pu += panel) {
    const size_t pe = min_size(u1, pu + panel);
    for (size_t r = 0; r < p.m; r += 4) {
      const size_t rows = min_size(4, p.m - r);
      for (size_t u = pu; u < pe; ++u)
        with_count<4>(rows, [&]<int R>() { tile<kBits, kAsym, R, 1>(p, r, u); });
    }
  }
}

}  // namespace

void qgemm_f32_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

}  // namespace lowbit::kernels::detail
