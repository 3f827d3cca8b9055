// Activation quantization, AVX2 (compiled with -mavx2 -mfma). Bit-exact with the scalar
// reference: a true division by the scale and vcvtps2dq, which rounds half to even in the
// default MXCSR mode like the reference's magic-number rounding.
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

inline float round_clamp(float v, float lo, float hi) {
  constexpr float kMagic = 12582912.0f;
  float q = (v + kMagic) - kMagic;
  q = q < lo ? lo : q;
  return q > hi ? hi : q;
}

}  // namespace

float quantize_row_avx2(const float* x, size_t cols, int qmax, int8_t* out) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= cols; i += 16) {
    m0 = _mm256_max_ps(m0, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
    m1 = _mm256_max_ps(m1, _mm256_and_ps(_mm256_loadu_ps(x + i + 8), abs_mask));
  }
  float amax = hmax256(_mm256_max_ps(m0, m1));
  for (; i < cols; ++i) {
    const float a = x[i] < 0.0f ? -x[i] : x[i];
    amax = a > amax ? a : amax;
  }
  const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 1.0f;

  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vlo = _mm256_set1_epi32(-qmax - 1), vhi = _mm256_set1_epi32(qmax);
  // packs interleave 128-bit lanes; this permutation puts the 8 dwords back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  i = 0;
  for (; i + 32 <= cols; i += 32) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i + 8 * j), vs);
      q[j] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(v), vlo), vhi);
    }
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permutevar8x32_epi32(p8, order));
  }
  const float lo = static_cast<float>(-qmax - 1), hi = static_cast<float>(qmax);
  for (; i < cols; ++i) out[i] = static_cast<int8_t>(round_clamp(x[i] / scale, lo, hi));
  return scale;
}

}  // namespace lowbit::kernels::detail
