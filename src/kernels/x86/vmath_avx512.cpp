// Softmax and SwiGLU, AVX-512F: 16 lanes, exp by polynomial, masked tail.
#include "kernels/x86/avx512_intrinsics.h"
#include "kernels/x86/exp_avx512.h"

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline __mmask16 tail_mask(size_t rem) {
  return static_cast<__mmask16>((1u << rem) - 1u);
}

}  // namespace

void softmax_avx512(float* x, size_t n, float scale) {
  const size_t full = n / 16 * 16, rem = n - full;
  const __mmask16 mask = tail_mask(rem);
  __m512 vmax = _mm512_set1_ps(x[0]);
  for (size_t i = 0; i < full; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
  if (rem > 0) vmax = _mm512_mask_max_ps(vmax, mask, vmax, _mm512_maskz_loadu_ps(mask, x + full));
  const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax)), vs = _mm512_set1_ps(scale);

  __m512 sum = _mm512_setzero_ps();
  for (size_t i = 0; i < full; i += 16) {
    const __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vs));
    _mm512_storeu_ps(x + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (rem > 0) {
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + full);
    const __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(v, vm), vs));
    _mm512_mask_storeu_ps(x + full, mask, e);
    sum = _mm512_mask_add_ps(sum, mask, sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (size_t i = 0; i < full; i += 16)
    _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  if (rem > 0)
    _mm512_mask_storeu_ps(x + full, mask,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + full), inv));
}

void swiglu_avx512(float* gate, const float* up, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  auto silu_mul = [&](__m512 g, __m512 u) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));  // exp(-g)
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u);
  };
  const size_t full = n / 16 * 16, rem = n - full;
  for (size_t i = 0; i < full; i += 16)
    _mm512_storeu_ps(gate + i, silu_mul(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (rem > 0) {
    const __mmask16 mask = tail_mask(rem);
    _mm512_mask_storeu_ps(
        gate + full, mask,
        silu_mul(_mm512_maskz_loadu_ps(mask, gate + full), _mm512_maskz_loadu_ps(mask, up + full)));
  }
}

}  // namespace lowbit::kernels::detail
