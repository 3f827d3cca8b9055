#pragma once
// One unit (a quarter of a packed chunk: 4 output rows x 4 k bytes, 16 bytes) as a q-register in
// its base container's layout (packed_weights.h), read from a chunk of a kBits container: 4 and 8
// are one load at the quarter's offset; the bit-plane containers (2, 3 with the int4 base; 5, 6
// with the int8 base) are decoded in registers from the chunk's planes, so a GEMV on them reads
// the weights at their stored width with no pass through memory (the x86 kernels' counterpart is
// planar_chunk_avx512.h / load_unit_ymm).
//
// Base byte B[16 quarter + i] (i < 16) comes from low-plane byte S[16 (quarter & 1) + i], shifted
// by the plane width times (quarter >> 1), and from the high-plane bytes after S[32] (3, 5, 6
// bits). The quarter is a run-time value (the tile's unit), so the shifts are vector shifts by a
// register (vshlq by a negative count).
#include <arm_neon.h>

#include <cstdint>

namespace lowbit::kernels::detail {
namespace {

inline uint8x16_t shift_right(uint8x16_t v, int count) {
  return vshlq_u8(v, vdupq_n_s8(static_cast<int8_t>(-count)));
}

template <int kBits>
inline uint8x16_t load_unit_neon(const uint8_t* chunk, int quarter) {
  if constexpr (kBits == 4 || kBits == 8) {
    return vld1q_u8(chunk + 16 * quarter);
  } else {
    // The low planes: 2 bits per nibble (mask 0x33) under the int4 base, a nibble under int8.
    constexpr int kPlane = kBits <= 3 ? 2 : 4;
    const uint8x16_t s = vld1q_u8(chunk + 16 * (quarter & 1));
    uint8x16_t v =
        vandq_u8(shift_right(s, kPlane * (quarter >> 1)), vdupq_n_u8(kBits <= 3 ? 0x33 : 0x0f));
    if constexpr (kBits == 3) {
      // Bit q of each nibble of S[32 + i] is bit 2 of each nibble of B[16q + i].
      const uint8x16_t h = vld1q_u8(chunk + 32);
      v = vorrq_u8(v, vshlq_n_u8(vandq_u8(shift_right(h, quarter), vdupq_n_u8(0x11)), 2));
    } else if constexpr (kBits == 5) {
      // Bit q of S[32 + i] (i < 8) is bit 4 of B[8q + i]: this quarter's two 8-byte halves are
      // q = 2 quarter and 2 quarter + 1.
      const uint8x8_t h = vld1_u8(chunk + 32);
      const int8x16_t count = vcombine_s8(vdup_n_s8(static_cast<int8_t>(-2 * quarter)),
                                          vdup_n_s8(static_cast<int8_t>(-2 * quarter - 1)));
      const uint8x16_t bit = vandq_u8(vshlq_u8(vcombine_u8(h, h), count), vdupq_n_u8(0x01));
      v = vorrq_u8(v, vshlq_n_u8(bit, 4));
    } else if constexpr (kBits == 6) {
      // Bits 2q, 2q + 1 of S[32 + i] (i < 16) are bits 4-5 of B[16q + i].
      const uint8x16_t h = vld1q_u8(chunk + 32);
      v = vorrq_u8(v, vshlq_n_u8(vandq_u8(shift_right(h, 2 * quarter), vdupq_n_u8(0x03)), 4));
    }
    return v;
  }
}

}  // namespace
}  // namespace lowbit::kernels::detail
