// Quantization error, AVX-512: the 16 lanes are one register (same operations and order as the
// scalar reference, no FMA contraction, so the same bits).
#include "kernels/kernel_variants.h"
#include "kernels/x86/avx512_intrinsics.h"

namespace lowbit::kernels::detail {

void quant_error_lanes_avx512(const float* x, size_t n, const QuantErrorArgs& a, float* lanes) {
  const __m512 scale = _mm512_set1_ps(a.scale), zero = _mm512_set1_ps(a.zero);
  const __m512 qmin = _mm512_set1_ps(a.qmin), qmax = _mm512_set1_ps(a.qmax);
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  __m512 acc = _mm512_loadu_ps(lanes);
  for (size_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m512 q = _mm512_sub_ps(_mm512_add_ps(_mm512_div_ps(v, scale), magic), magic);
    q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, zero), qmin), qmax);
    const __m512 d = _mm512_sub_ps(_mm512_mul_ps(_mm512_sub_ps(q, zero), scale), v);
    acc = _mm512_add_ps(acc, _mm512_mul_ps(d, d));
  }
  _mm512_storeu_ps(lanes, acc);
}

}  // namespace lowbit::kernels::detail
