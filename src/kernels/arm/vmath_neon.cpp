// Softmax and SwiGLU, AArch64 NEON: 4 lanes, exp by polynomial, scalar tail with the same
// polynomial.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

// The exp of src/kernels/x86/vmath_avx2.cpp on 4 lanes (same reduction, polynomial and clamp).
inline float32x4_t exp4(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// Up to 3 trailing values through the vector exp (zero-padded lanes are discarded).
inline float32x4_t load_tail(const float* x, size_t rem) {
  float buf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (size_t i = 0; i < rem; ++i) buf[i] = x[i];
  return vld1q_f32(buf);
}

inline void store_tail(float* x, float32x4_t v, size_t rem) {
  float buf[4];
  vst1q_f32(buf, v);
  for (size_t i = 0; i < rem; ++i) x[i] = buf[i];
}

}  // namespace

void softmax_neon(float* x, size_t n, float scale) {
  const size_t full = n / 4 * 4, rem = n - full;
  float32x4_t vmax = vdupq_n_f32(x[0]);
  for (size_t i = 0; i < full; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float mx = vmaxvq_f32(vmax);
  for (size_t i = full; i < n; ++i) mx = x[i] > mx ? x[i] : mx;

  const float32x4_t vm = vdupq_n_f32(mx), vs = vdupq_n_f32(scale);
  float32x4_t sum = vdupq_n_f32(0.0f);
  for (size_t i = 0; i < full; i += 4) {
    const float32x4_t e = exp4(vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), vs));
    vst1q_f32(x + i, e);
    sum = vaddq_f32(sum, e);
  }
  float total = vaddvq_f32(sum);
  if (rem > 0) {
    const float32x4_t e = exp4(vmulq_f32(vsubq_f32(load_tail(x + full, rem), vm), vs));
    store_tail(x + full, e, rem);
    for (size_t i = full; i < n; ++i) total += x[i];
  }
  const float inv = 1.0f / total;
  const float32x4_t vinv = vdupq_n_f32(inv);
  for (size_t i = 0; i < full; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), vinv));
  for (size_t i = full; i < n; ++i) x[i] *= inv;
}

void swiglu_neon(float* gate, const float* up, size_t n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  auto silu_mul = [&](float32x4_t g, float32x4_t u) {
    const float32x4_t e = exp4(vnegq_f32(g));  // exp(-g)
    return vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), u);
  };
  const size_t full = n / 4 * 4, rem = n - full;
  for (size_t i = 0; i < full; i += 4)
    vst1q_f32(gate + i, silu_mul(vld1q_f32(gate + i), vld1q_f32(up + i)));
  if (rem > 0)
    store_tail(gate + full, silu_mul(load_tail(gate + full, rem), load_tail(up + full, rem)), rem);
}

}  // namespace lowbit::kernels::detail
