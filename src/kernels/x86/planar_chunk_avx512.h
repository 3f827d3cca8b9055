#pragma once
// One packed chunk as a zmm in its base container's layout (packed_weights.h), read from a
// container of kBits: 4 and 8 are one load; the bit-plane containers (2, 3 with the int4 base;
// 5, 6 with the int8 base) are decoded in registers, so a GEMV on them reads the weights at their
// stored width with no pass through memory. Include only from files compiled with AVX-512F/BW.
#include <cstddef>
#include <cstdint>

#include "kernels/tile_dispatch.h"
#include "kernels/x86/avx512_intrinsics.h"

namespace lowbit::kernels::detail {
namespace {

template <int kBits>
inline __m512i load_chunk_zmm(const uint8_t* p) {
  if constexpr (kBits == 4 || kBits == 8) {
    return _mm512_loadu_si512(p);
  } else {
    // The 32 low-plane bytes S[0..31] give base bytes 0..31 (low bits) and 32..63 (S >> 2 or
    // S >> 4): one zmm of [S, S >> shift], then the mask.
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    constexpr int kShift = kBits <= 3 ? 2 : 4;
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_srli_epi16(lo, kShift), 1);
    v = _mm512_and_si512(v, _mm512_set1_epi8(kBits <= 3 ? 0x33 : 0x0f));
    if constexpr (kBits == 3) {
      // Bit q of each nibble of S[32 + i] is bit 2 of each nibble of B[16q + i]: the 16 bytes in
      // every 128-bit lane q, shifted right by q (per 64-bit word; the mask drops what crossed a
      // byte), then to bit 2.
      const __m512i h =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)));
      const __m512i q = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
      const __m512i bit = _mm512_and_si512(_mm512_srlv_epi64(h, q), _mm512_set1_epi8(0x11));
      v = _mm512_or_si512(v, _mm512_slli_epi64(bit, 2));
    } else if constexpr (kBits == 5) {
      // Bit q of S[32 + i] (i < 8) is bit 4 of B[8q + i]: 64-bit word q of the zmm.
      uint64_t o;
      __builtin_memcpy(&o, p + 32, sizeof o);
      const __m512i q = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
      const __m512i bit =
          _mm512_and_si512(_mm512_srlv_epi64(_mm512_set1_epi64(static_cast<long long>(o)), q),
                           _mm512_set1_epi8(0x01));
      v = _mm512_or_si512(v, _mm512_slli_epi64(bit, 4));
    } else if constexpr (kBits == 6) {
      // Bits 2q, 2q + 1 of S[32 + i] (i < 16) are bits 4-5 of B[16q + i]: 128-bit lane q.
      const __m512i t =
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)));
      const __m512i q = _mm512_setr_epi64(0, 0, 2, 2, 4, 4, 6, 6);
      const __m512i bits = _mm512_and_si512(_mm512_srlv_epi64(t, q), _mm512_set1_epi8(0x03));
      v = _mm512_or_si512(v, _mm512_slli_epi64(bits, 4));
    }
    return v;
  }
}

}  // namespace
}  // namespace lowbit::kernels::detail
