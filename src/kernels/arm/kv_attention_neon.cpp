// Attention products over integer KV codes, AArch64 NEON: the AVX-512 variant's scheme
// (x86/kv_attention_avx512.cpp) on 4-lane registers, 8 codes at a time (two registers). Codes
// are widened to fp32 in registers and the zero point and scale are folded out of the inner loops:
//   q . value_t = s_t (q . c_t + (qmin - z_t) sum(q))
//   sum_t p_t value_t = sum_t (p_t s_t) c_t + sum_t p_t s_t (qmin - z_t)
// Rows are taken four at a time; head_dim must be a multiple of 8 (others use the reference).
#include <arm_neon.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

constexpr size_t kRows = 4;  // query rows per pass (a decode step has one per head of the group)

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

struct Codes8 {
  float32x4_t lo, hi;  // codes d0 .. d0 + 3 and d0 + 4 .. d0 + 7
};

// Codes d0 .. d0 + 7 of a row as fp32.
template <int kBits>
inline Codes8 codes8(const uint8_t* row, size_t d0) {
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

template <int kBits>
void scores(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n, float* out,
            size_t lds) {
  const size_t hd = k.head_dim;
  for (size_t r0 = 0; r0 < rows; r0 += kRows) {
    const size_t nr = min_size(kRows, rows - r0);
    float qsum[kRows] = {};
    for (size_t r = 0; r < nr; ++r)
      for (size_t d = 0; d < hd; ++d) qsum[r] += q[(r0 + r) * ldq + d];
    for (size_t t = 0; t < n; ++t) {
      const uint8_t* row = k.codes + t * k.row_bytes;
      float32x4_t acc0[kRows], acc1[kRows];
      for (size_t r = 0; r < kRows; ++r) acc0[r] = acc1[r] = vdupq_n_f32(0.0f);
      for (size_t d0 = 0; d0 < hd; d0 += 8) {
        const Codes8 c = codes8<kBits>(row, d0);
        for (size_t r = 0; r < nr; ++r) {
          const float* qr = q + (r0 + r) * ldq + d0;
          acc0[r] = vfmaq_f32(acc0[r], vld1q_f32(qr), c.lo);
          acc1[r] = vfmaq_f32(acc1[r], vld1q_f32(qr + 4), c.hi);
        }
      }
      const float* p = k.params + t * k.param_stride;
      const float offset = k.qmin - p[1];
      for (size_t r = 0; r < nr; ++r)
        out[(r0 + r) * lds + t] =
            p[0] * (vaddvq_f32(vaddq_f32(acc0[r], acc1[r])) + offset * qsum[r]);
    }
  }
}

template <int kBits>
void weighted_sum(const float* pr, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                  float* out, size_t ldo) {
  const size_t hd = v.head_dim;
  // 16 outputs of a row per pass (two groups of 8): 16 accumulators for 4 rows, with the 4
  // broadcast weights and the widened codes inside the 32 vector registers.
  constexpr size_t kGroups = 2;
  for (size_t r0 = 0; r0 < rows; r0 += kRows) {
    const size_t nr = min_size(kRows, rows - r0);
    for (size_t d0 = 0; d0 < hd; d0 += 8 * kGroups) {
      const size_t ng = min_size(kGroups, (hd - d0) / 8);
      float32x4_t acc[kRows][2 * kGroups];
      float constant[kRows] = {};
      for (size_t r = 0; r < kRows; ++r)
        for (size_t j = 0; j < 2 * kGroups; ++j) acc[r][j] = vdupq_n_f32(0.0f);
      for (size_t t = 0; t < n; ++t) {
        const uint8_t* row = v.codes + t * v.row_bytes;
        const float* p = v.params + t * v.param_stride;
        const float offset = v.qmin - p[1];
        float w[kRows] = {};
        for (size_t r = 0; r < nr; ++r) {
          w[r] = pr[(r0 + r) * ldp + t] * p[0];
          constant[r] += w[r] * offset;
        }
        for (size_t g = 0; g < ng; ++g) {
          const Codes8 c = codes8<kBits>(row, d0 + 8 * g);
          for (size_t r = 0; r < nr; ++r) {
            acc[r][2 * g] = vfmaq_n_f32(acc[r][2 * g], c.lo, w[r]);
            acc[r][2 * g + 1] = vfmaq_n_f32(acc[r][2 * g + 1], c.hi, w[r]);
          }
        }
      }
      for (size_t r = 0; r < nr; ++r)
        for (size_t j = 0; j < 2 * ng; ++j)
          vst1q_f32(out + (r0 + r) * ldo + d0 + 4 * j,
                    vaddq_f32(acc[r][j], vdupq_n_f32(constant[r])));
    }
  }
}

}  // namespace

void kv_scores_neon(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  if (k.head_dim % 8 != 0) return kv_scores_scalar(q, rows, ldq, k, n, out, lds);
  if (k.bits == 8)
    scores<8>(q, rows, ldq, k, n, out, lds);
  else
    scores<4>(q, rows, ldq, k, n, out, lds);
}

void kv_weighted_sum_neon(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  if (v.head_dim % 8 != 0) return kv_weighted_sum_scalar(p, rows, ldp, v, n, out, ldo);
  if (v.bits == 8)
    weighted_sum<8>(p, rows, ldp, v, n, out, ldo);
  else
    weighted_sum<4>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace lowbit::kernels::detail
