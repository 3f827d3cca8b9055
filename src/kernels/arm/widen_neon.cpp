// bf16 / f16 widening, AArch64 NEON: 8 lanes per step (bf16 by a 16-bit left shift into the
// widened lane, binary16 by the exact fcvtl).
#include <arm_neon.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void widen_bf16_neon(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(in + i);
    vst1q_f32(out + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(out + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
  }
  if (i < n) widen_bf16_scalar(in + i, n - i, out + i);  // not inlined: see kernel_variants.h
}

void widen_f16_neon(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(in + i));
    vst1q_f32(out + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(out + i + 4, vcvt_high_f32_f16(h));
  }
  if (i < n) widen_f16_scalar(in + i, n - i, out + i);
}

}  // namespace lowbit::kernels::detail
