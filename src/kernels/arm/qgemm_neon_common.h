#pragma once
// Shared skeleton of the NEON integer GEMMs (qgemm_neon.cpp: vmull/vpadal; qgemm_neondot.cpp:
// sdot). A q-register holds a quarter of a packed chunk: 4 output rows x 4 k bytes ("unit").
// Everything is in an anonymous namespace: each including file gets its own copy compiled with
// its own target flags (the dotprod file must never lend its code to the baseline one).
#include <arm_neon.h>

#include <cstring>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline int8x8_t load4x2(const int8_t* p) {  // 4 bytes, duplicated into both halves
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return vreinterpret_s8_s32(vdup_n_s32(v));
}

inline int8x8_t load8(const int8_t* p) {  // k 0..3 in lane 0, k 4..7 in lane 1 (as int32 lanes)
  return vld1_s8(p);
}

// Rescales exact per-unit sums s (sum of a * u') of row `row`, group g into y: s' = s - zc * asum,
// where the caller's code offset makes u - z = u' - zc; then y = fma(float(s'), sa * sw, y).
// With activation offsets (8-bit asymmetric), o * sum(u - z) of the unit's outputs is added.
inline float32x4_t rescale(const QgemmArgs& p, size_t gi, size_t row, size_t g, int32x4_t s,
                           int32x4_t zc, float32x4_t sw, float32x4_t y) {
  s = vsubq_s32(s, vmulq_n_s32(zc, p.a_sums[row * p.w.groups + g]));
  if (p.a_offsets) s = vmlaq_n_s32(s, vld1q_s32(p.w_sums + gi), p.a_offsets[row]);
  const float sa = p.a_scales[row];
  return vfmaq_f32(y, vcvtq_f32_s32(s), vmulq_f32(vdupq_n_f32(sa), sw));
}

inline void store_unit(float* dst, float32x4_t v, size_t valid) {
  if (valid >= 4) {
    vst1q_f32(dst, v);
    return;
  }
  float tmp[4];
  vst1q_f32(tmp, v);
  for (size_t i = 0; i < valid; ++i) dst[i] = tmp[i];
}

inline float32x4_t load_unit(const float* src, size_t valid) {
  if (valid >= 4) return vld1q_f32(src);
  float tmp[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < valid; ++i) tmp[i] = src[i];
  return vld1q_f32(tmp);
}

// The zero-point terms of a unit for group g: the code offset makes the kernel's integer sum
// sum a * (u - off) (off = 0 for int4 codes used as s8, 128 for int8 codes flipped to s8), so
// u - z = (u - off) - (z - off), and (z - off) * asum is subtracted.
template <bool kAsym>
inline int32x4_t zero_terms(const PackedArgs& w, size_t gi, int off) {
  if constexpr (kAsym) {
    const uint8_t* z = w.zeros + gi;
    const int32_t v[4] = {z[0] - off, z[1] - off, z[2] - off, z[3] - off};
    return vld1q_s32(v);
  } else {
    return vdupq_n_s32(w.zero - off);
  }
}

}  // namespace
}  // namespace lowbit::kernels::detail
