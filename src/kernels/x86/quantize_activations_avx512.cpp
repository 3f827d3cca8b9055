// Activation quantization, AVX-512 F/BW/VL (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq). Bit-exact with the scalar reference: a true division by the scale, clamping to
// the integer bounds in float and vcvtps2dq (round half to even in the default MXCSR mode); tails
// use masked loads and stores.
#include "kernels/x86/avx512_intrinsics.h"

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline __mmask16 tail_mask(size_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

}  // namespace

void row_range_avx512(const float* x, size_t cols, float* lo, float* hi) {
  __m512 n0 = _mm512_setzero_ps(), n1 = _mm512_setzero_ps();
  __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= cols; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    n0 = _mm512_min_ps(n0, a);
    n1 = _mm512_min_ps(n1, b);
    m0 = _mm512_max_ps(m0, a);
    m1 = _mm512_max_ps(m1, b);
  }
  for (; i < cols; i += 16) {  // masked-off lanes load 0, which the range includes anyway
    const __m512 a = _mm512_maskz_loadu_ps(tail_mask(cols - i), x + i);
    n0 = _mm512_min_ps(n0, a);
    m0 = _mm512_max_ps(m0, a);
  }
  *lo = _mm512_reduce_min_ps(_mm512_min_ps(n0, n1));
  *hi = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

void quantize_codes_avx512(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                           int8_t* out) {
  const __m512 vs = _mm512_set1_ps(scale);
  const __m512 vlo = _mm512_set1_ps(static_cast<float>(qlo));
  const __m512 vhi = _mm512_set1_ps(static_cast<float>(qhi));
  const __m512i vshift = _mm512_set1_epi32(shift);
  for (size_t i = 0; i < cols; i += 16) {
    const __mmask16 mask = tail_mask(cols - i);
    __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), vs);
    v = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), vshift);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, mask, q);
  }
}

}  // namespace lowbit::kernels::detail
