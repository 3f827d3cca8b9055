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

namespace {

// Four widened weights from their 16-bit patterns.
template <bool kF16>
inline float32x4_t widen4(uint16x4_t h) {
  if constexpr (kF16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
  return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

// R rows of x against every output, 8 weights per step in two accumulators per row, widened in
// registers; the last k % 8 weights through a scalar loop.
template <bool kF16, int R>
void gemv_rows(const HalfGemvArgs& a, size_t r0) {
  const size_t k = a.k;
  float tail_w[8];
  for (size_t o = 0; o < a.n; ++o) {
    const uint16_t* w = a.w + o * k;
    float32x4_t acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
      const uint16x8_t h = vld1q_u16(w + i);
      const float32x4_t w0 = widen4<kF16>(vget_low_u16(h)), w1 = widen4<kF16>(vget_high_u16(h));
      for (int r = 0; r < R; ++r) {
        const float* x = a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i;
        acc0[r] = vfmaq_f32(acc0[r], vld1q_f32(x), w0);
        acc1[r] = vfmaq_f32(acc1[r], vld1q_f32(x + 4), w1);
      }
    }
    const size_t left = k - i;
    if (left > 0) {
      if constexpr (kF16)
        widen_f16_scalar(w + i, left, tail_w);
      else
        widen_bf16_scalar(w + i, left, tail_w);
    }
    for (int r = 0; r < R; ++r) {
      const float* x = a.x + (r0 + static_cast<size_t>(r)) * a.ldx;
      float sum = vaddvq_f32(vaddq_f32(acc0[r], acc1[r]));
      for (size_t j = 0; j < left; ++j) sum += x[i + j] * tail_w[j];
      a.y[(r0 + static_cast<size_t>(r)) * a.ldy + o] = sum;
    }
  }
}

template <bool kF16>
void gemv(const HalfGemvArgs& a) {
  size_t r = 0;
  for (; r + 4 <= a.rows; r += 4) gemv_rows<kF16, 4>(a, r);
  switch (a.rows - r) {
    case 3:
      gemv_rows<kF16, 3>(a, r);
      break;
    case 2:
      gemv_rows<kF16, 2>(a, r);
      break;
    case 1:
      gemv_rows<kF16, 1>(a, r);
      break;
    default:
      break;
  }
}

}  // namespace

void gemv_bf16_neon(const HalfGemvArgs& a) {
  gemv<false>(a);
}

void gemv_f16_neon(const HalfGemvArgs& a) {
  gemv<true>(a);
}

}  // namespace lowbit::kernels::detail
