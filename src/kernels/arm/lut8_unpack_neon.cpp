// int4 codes to int8 through a 16-byte table with NEON: tbl (vqtbl1q_u8) looks up 16 bytes at a
// time in the table held in one q register.
#include <arm_neon.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void lut8_unpack_neon(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out) {
  const uint8x16_t t = vld1q_u8(table);
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  for (size_t c = 0; c < chunks; ++c)
    for (size_t h = 0; h < 64; h += 16) {
      const uint8x16_t v = vld1q_u8(codes + c * 64 + h);
      vst1q_u8(out + c * 128 + h, vqtbl1q_u8(t, vandq_u8(v, low4)));
      vst1q_u8(out + c * 128 + 64 + h, vqtbl1q_u8(t, vshrq_n_u8(v, 4)));
    }
}

}  // namespace lowbit::kernels::detail
