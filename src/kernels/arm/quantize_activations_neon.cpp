// Activation quantization, AArch64 NEON (baseline). Bit-exact with the scalar reference: a true
// division by the scale and vcvtnq (round to nearest, ties to even).
#include <arm_neon.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

float quantize_row_neon(const float* x, size_t cols, int qmax, int8_t* out) {
  float32x4_t m0 = vdupq_n_f32(0.0f), m1 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    m0 = vmaxq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
    m1 = vmaxq_f32(m1, vabsq_f32(vld1q_f32(x + i + 4)));
  }
  float amax = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (; i < cols; ++i) {
    const float a = x[i] < 0.0f ? -x[i] : x[i];
    amax = a > amax ? a : amax;
  }
  const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 1.0f;

  const float32x4_t vs = vdupq_n_f32(scale);
  const int32x4_t vlo = vdupq_n_s32(-qmax - 1), vhi = vdupq_n_s32(qmax);
  i = 0;
  for (; i + 8 <= cols; i += 8) {
    const int32x4_t q0 =
        vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vdivq_f32(vld1q_f32(x + i), vs)), vlo), vhi);
    const int32x4_t q1 =
        vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vdivq_f32(vld1q_f32(x + i + 4), vs)), vlo), vhi);
    const int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
    vst1_s8(out + i, vqmovn_s16(q16));
  }
  const float lo = static_cast<float>(-qmax - 1), hi = static_cast<float>(qmax);
  constexpr float kMagic = 12582912.0f;
  for (; i < cols; ++i) {
    float q = (x[i] / scale + kMagic) - kMagic;
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    out[i] = static_cast<int8_t>(q);
  }
  return scale;
}

}  // namespace lowbit::kernels::detail
