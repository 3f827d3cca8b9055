// Activation quantization, AArch64 NEON (baseline). Bit-exact with the scalar reference: a true
// division by the scale, clamping to the integer bounds in float, and vcvtnq (round to nearest,
// ties to even).
#include <arm_neon.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void row_range_neon(const float* x, size_t cols, float* lo, float* hi) {
  float32x4_t n0 = vdupq_n_f32(0.0f), n1 = vdupq_n_f32(0.0f);
  float32x4_t m0 = vdupq_n_f32(0.0f), m1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
    n0 = vminq_f32(n0, a);
    n1 = vminq_f32(n1, b);
    m0 = vmaxq_f32(m0, a);
    m1 = vmaxq_f32(m1, b);
  }
  float mn = vminvq_f32(vminq_f32(n0, n1)), mx = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (; i < cols; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  *lo = mn;
  *hi = mx;
}

void quantize_codes_neon(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                         int8_t* out) {
  const float flo = static_cast<float>(qlo), fhi = static_cast<float>(qhi);
  const float32x4_t vs = vdupq_n_f32(scale), vlo = vdupq_n_f32(flo), vhi = vdupq_n_f32(fhi);
  const int32x4_t vshift = vdupq_n_s32(shift);
  size_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    const float32x4_t v0 = vminq_f32(vmaxq_f32(vdivq_f32(vld1q_f32(x + i), vs), vlo), vhi);
    const float32x4_t v1 = vminq_f32(vmaxq_f32(vdivq_f32(vld1q_f32(x + i + 4), vs), vlo), vhi);
    const int32x4_t q0 = vaddq_s32(vcvtnq_s32_f32(v0), vshift);
    const int32x4_t q1 = vaddq_s32(vcvtnq_s32_f32(v1), vshift);
    const int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
    vst1_s8(out + i, vqmovn_s16(q16));
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
