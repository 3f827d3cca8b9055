// Quantization error, AVX2: the 16 lanes are two registers (same operations and order as the
// scalar reference, no FMA contraction, so the same bits).
#include <immintrin.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline __m256 squared(__m256 v, __m256 scale, __m256 zero, __m256 qmin, __m256 qmax) {
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  __m256 q = _mm256_sub_ps(_mm256_add_ps(_mm256_div_ps(v, scale), magic), magic);
  q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, zero), qmin), qmax);
  const __m256 d = _mm256_sub_ps(_mm256_mul_ps(_mm256_sub_ps(q, zero), scale), v);
  return _mm256_mul_ps(d, d);
}

}  // namespace

void quant_error_lanes_avx2(const float* x, size_t n, const QuantErrorArgs& a, float* lanes) {
  const __m256 scale = _mm256_set1_ps(a.scale), zero = _mm256_set1_ps(a.zero);
  const __m256 qmin = _mm256_set1_ps(a.qmin), qmax = _mm256_set1_ps(a.qmax);
  __m256 lo = _mm256_loadu_ps(lanes), hi = _mm256_loadu_ps(lanes + 8);
  for (size_t i = 0; i < n; i += 16) {
    lo = _mm256_add_ps(lo, squared(_mm256_loadu_ps(x + i), scale, zero, qmin, qmax));
    hi = _mm256_add_ps(hi, squared(_mm256_loadu_ps(x + i + 8), scale, zero, qmin, qmax));
  }
  _mm256_storeu_ps(lanes, lo);
  _mm256_storeu_ps(lanes + 8, hi);
}

}  // namespace lowbit::kernels::detail
