// Softmax and SwiGLU, AVX2 + FMA: 8 lanes, exp by polynomial, masked loads for the tail.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

// exp(x) = 2^n exp(r): n = round(x log2 e), r = x - n ln 2 in two parts (Cody-Waite, exact for
// |n| < 2^9), exp(r) on |r| <= ln2/2 as 1 + r + r^2 P(r) with the degree-5 P of Cephes' expf
// (about 1 ulp), 2^n built in the exponent field. x is clamped to [-87, 88] so 2^n stays a
// normal float; below -87 the true value is under 1.7e-38, negligible wherever it is summed.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Lanes [0, rem) set (none for rem = 0).
inline __m256i tail_mask(size_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), idx);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

void softmax_avx2(float* x, size_t n, float scale) {
  const size_t full = n / 8 * 8, rem = n - full;
  const __m256i mask = tail_mask(rem);
  __m256 vmax = _mm256_set1_ps(x[0]);
  for (size_t i = 0; i < full; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float mx = hmax(vmax);
  for (size_t i = full; i < n; ++i) mx = x[i] > mx ? x[i] : mx;

  const __m256 vm = _mm256_set1_ps(mx), vs = _mm256_set1_ps(scale);
  __m256 sum = _mm256_setzero_ps();
  for (size_t i = 0; i < full; i += 8) {
    const __m256 e = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vs));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (rem > 0) {
    const __m256 v = _mm256_maskload_ps(x + full, mask);
    const __m256 e =
        _mm256_and_ps(exp8(_mm256_mul_ps(_mm256_sub_ps(v, vm), vs)), _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(x + full, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
  for (size_t i = 0; i < full; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  if (rem > 0)
    _mm256_maskstore_ps(x + full, mask, _mm256_mul_ps(_mm256_maskload_ps(x + full, mask), inv));
}

void swiglu_avx2(float* gate, const float* up, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  auto silu_mul = [&](__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_xor_ps(g, sign));  // exp(-g)
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
  };
  const size_t full = n / 8 * 8, rem = n - full;
  for (size_t i = 0; i < full; i += 8)
    _mm256_storeu_ps(gate + i, silu_mul(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (rem > 0) {
    const __m256i mask = tail_mask(rem);
    _mm256_maskstore_ps(
        gate + full, mask,
        silu_mul(_mm256_maskload_ps(gate + full, mask), _mm256_maskload_ps(up + full, mask)));
  }
}

}  // namespace lowbit::kernels::detail
