// The packed int16 multiplier (Agile-Quant; kernel_variants.h) with plain NEON, for ARMv8.0 cores
// without the dot-product extension (the Raspberry Pi 4's Cortex-A72). A q-register holds a
// quarter of a packed chunk (4 output rows x 4 bytes); tbl pairs rows 2p and 2p + 1 at the same k
// in every 16-bit lane, one vmul.u16 by b = a + 8 gives both 8-bit products, and masking and a
// shift split them into 16-bit fields (even and odd rows) that take 256 products before vpaddl
// widens them to 32 bits. One activation row at a time; the epilogue is the scalar reference's,
// operation for operation.
#include <arm_neon.h>

#include <cmath>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_packed16_neon(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  static constexpr uint8_t kOrder[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  const uint8x16_t order = vld1q_u8(kOrder);
  const uint8x16_t low4 = vdupq_n_u8(15);
  const uint16x8_t low8 = vdupq_n_u16(0xff);
  const int16x8_t eight = vdupq_n_s16(8);
  constexpr size_t kChunksPerSplit = kPacked16Products / 2;  // 2 products per field per chunk
  for (size_t b = block_begin; b < block_end; ++b) {
    const uint8_t* block = w.codes + b * w.block_bytes;
    for (size_t i = 0; i < p.m; ++i) {
      const int8_t* a = p.a + i * p.lda;
      float y[16] = {};
      for (size_t g = 0; g < w.groups; ++g) {
        const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
        int32_t sums[16] = {};
        for (size_t q = 0; q < 4; ++q) {
          for (size_t cb = c0; cb < c1; cb += kChunksPerSplit) {
            const size_t ce = min_size(cb + kChunksPerSplit, c1);
            uint16x8_t even = vdupq_n_u16(0), odd = vdupq_n_u16(0);
            for (size_t c = cb; c < ce; ++c) {
              const uint8x16_t v = vld1q_u8(block + c * 64 + q * 16);
              const uint16x8_t lo = vreinterpretq_u16_u8(vqtbl1q_u8(vandq_u8(v, low4), order));
              const uint16x8_t hi = vreinterpretq_u16_u8(vqtbl1q_u8(vshrq_n_u8(v, 4), order));
              const uint16x8_t bv =
                  vreinterpretq_u16_s16(vaddq_s16(vmovl_s8(vld1_s8(a + c * 8)), eight));
              const uint16x8_t bl = vcombine_u16(vget_low_u16(bv), vget_low_u16(bv));
              const uint16x8_t bh = vcombine_u16(vget_high_u16(bv), vget_high_u16(bv));
              const uint16x8_t pl = vmulq_u16(lo, bl), ph = vmulq_u16(hi, bh);
              even = vaddq_u16(even, vaddq_u16(vandq_u16(pl, low8), vandq_u16(ph, low8)));
              odd = vaddq_u16(odd, vaddq_u16(vshrq_n_u16(pl, 8), vshrq_n_u16(ph, 8)));
            }
            // even: rows 4q and 4q + 2 (k-lanes 0..3 each); odd: 4q + 1 and 4q + 3.
            const uint32x4_t t = vpaddq_u32(vpaddlq_u16(even), vpaddlq_u16(odd));
            sums[4 * q + 0] += static_cast<int32_t>(vgetq_lane_u32(t, 0));
            sums[4 * q + 2] += static_cast<int32_t>(vgetq_lane_u32(t, 1));
            sums[4 * q + 1] += static_cast<int32_t>(vgetq_lane_u32(t, 2));
            sums[4 * q + 3] += static_cast<int32_t>(vgetq_lane_u32(t, 3));
          }
        }
        const size_t gi = (b * w.groups + g) * 16;
        const int32_t k_count = static_cast<int32_t>((c1 - c0) * 8);
        for (size_t r = 0; r < 16; ++r) {
          const int32_t z = w.zeros ? w.zeros[gi + r] : w.zero;
          const int32_t acc =
              sums[r] - 8 * (p.w_sums[gi + r] + z * k_count) - z * p.a_sums[i * w.groups + g];
          y[r] = std::fma(static_cast<float>(acc), p.a_scales[i] * w.scales[gi + r], y[r]);
        }
      }
      for (size_t r = 0; r < 16; ++r) {
        const size_t j = b * 16 + r;
        if (j >= w.n) break;
        p.y[i * p.ldy + j] = p.bias ? y[r] + p.bias[j] : y[r];
      }
    }
  }
}

}  // namespace lowbit::kernels::detail
