// Activation quantization, AVX-512 F/BW/VL (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq). Bit-exact with the scalar reference: a true division by the scale and vcvtps2dq
// (round half to even in the default MXCSR mode); tails use masked loads and stores.
#include "kernels/x86/avx512_intrinsics.h"

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

float quantize_row_avx512(const float* x, size_t cols, int qmax, int8_t* out) {
  __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= cols; i += 32) {
    m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(x + i + 16)));
  }
  for (; i < cols; i += 16) {
    const size_t left = cols - i;
    const __mmask16 mask = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
    m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, x + i)));
  }
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
  const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 1.0f;

  const __m512 vs = _mm512_set1_ps(scale);
  const __m512i vlo = _mm512_set1_epi32(-qmax - 1), vhi = _mm512_set1_epi32(qmax);
  for (i = 0; i < cols; i += 16) {
    const size_t left = cols - i;
    const __mmask16 mask = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), vs);
    const __m512i q = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), vlo), vhi);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, mask, q);
  }
  return scale;
}

}  // namespace lowbit::kernels::detail
