// Attention products over integer KV codes, AArch64 NEON: kv_attention_simd.h on 8-lane vectors
// of two q-registers (codes widened 8 at a time; head_dim a multiple of 8, others use the
// reference).
#include <arm_neon.h>

#include <cstdint>

#include "kernels/kv_attention_simd.h"

namespace lowbit::kernels::detail {
namespace {

struct Neon8 {
  struct F {
    float32x4_t lo, hi;  // lanes 0..3 and 4..7
  };
  static constexpr size_t kLanes = 8;
  // 16 outputs of a row per weighted-sum pass: 16 accumulators for 4 rows, with the 4 broadcast
  // weights and the widened codes inside the 32 vector registers.
  static constexpr size_t kVecs = 2;

  static F zero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static F broadcast(float x) { return {vdupq_n_f32(x), vdupq_n_f32(x)}; }
  static F load(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static void store(float* p, F v) {
    vst1q_f32(p, v.lo);
    vst1q_f32(p + 4, v.hi);
  }
  static F fma(F a, F b, F c) { return {vfmaq_f32(c.lo, a.lo, b.lo), vfmaq_f32(c.hi, a.hi, b.hi)}; }
  static F add(F a, F b) { return {vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }
  static float reduce_add(F v) { return vaddvq_f32(vaddq_f32(v.lo, v.hi)); }

  template <int kBits>
  static F codes(const uint8_t* row, size_t d0) {
    if constexpr (kBits == 32) {
      const float* x = reinterpret_cast<const float*>(row) + d0;
      return {vld1q_f32(x), vld1q_f32(x + 4)};
    }
    uint8x8_t b;
    if constexpr (kBits == 8) {
      b = vld1_u8(row + d0);
    } else {
      uint32_t packed;
      __builtin_memcpy(&packed, row + d0 / 2, sizeof(packed));
      const uint8x8_t bytes = vreinterpret_u8_u32(vdup_n_u32(packed));
      // Low nibble first: zip gives lo0 hi0 lo1 hi1 ... from the first four bytes.
      b = vzip1_u8(vand_u8(bytes, vdup_n_u8(0x0f)), vshr_n_u8(bytes, 4));
    }
    const uint16x8_t w = vmovl_u8(b);
    return {vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w)))};
  }
};

}  // namespace

void kv_scores_neon(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  kv_scores_simd<Neon8>(q, rows, ldq, k, n, out, lds);
}

void kv_weighted_sum_neon(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  kv_weighted_sum_simd<Neon8>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace lowbit::kernels::detail
