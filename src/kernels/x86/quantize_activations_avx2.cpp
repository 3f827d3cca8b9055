// Activation quantization, AVX2 (compiled with -mavx2 -mfma). Bit-exact with the scalar
// reference: a true division by the scale, clamping to the integer bounds in float, and
// vcvtps2dq, which rounds half to even in the default MXCSR mode like the reference's
// magic-number rounding.
#include <immintrin.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline float hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float hmin256(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

void row_range_avx2(const float* x, size_t cols, float* lo, float* hi) {
  __m256 n0 = _mm256_setzero_ps(), n1 = _mm256_setzero_ps();
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= cols; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    n0 = _mm256_min_ps(n0, a);
    n1 = _mm256_min_ps(n1, b);
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
  }
  float mn = hmin256(_mm256_min_ps(n0, n1)), mx = hmax256(_mm256_max_ps(m0, m1));
  for (; i < cols; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  *lo = mn;
  *hi = mx;
}

void quantize_codes_avx2(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                         int8_t* out) {
  const __m256 vs = _mm256_set1_ps(scale);
  const float flo = static_cast<float>(qlo), fhi = static_cast<float>(qhi);
  const __m256 vlo = _mm256_set1_ps(flo), vhi = _mm256_set1_ps(fhi);
  const __m256i vshift = _mm256_set1_epi32(shift);
  // packs interleave 128-bit lanes; this permutation puts the 8 dwords back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  size_t i = 0;
  for (; i + 32 <= cols; i += 32) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i + 8 * j), vs);
      v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
      q[j] = _mm256_add_epi32(_mm256_cvtps_epi32(v), vshift);
    }
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permutevar8x32_epi32(p8, order));
  }
  constexpr float kMagic = 12582912.0f;
  for (; i < cols; ++i) {
    float v = x[i] / scale;
    v = v < flo ? flo : v;
    v = v > fhi ? fhi : v;
    out[i] = static_cast<int8_t>(static_cast<int>((v + kMagic) - kMagic) + shift);
  }
}

}  // namespace lowbit::kernels::detail
