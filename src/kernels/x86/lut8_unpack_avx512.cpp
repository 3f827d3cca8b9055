// int4 codes to int8 through a 16-byte table with AVX-512BW (compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq): one vpshufb looks up a whole 64-byte chunk's low (or high) nibbles, the
// table broadcast to the four 128-bit lanes. A 16-entry table fits vpshufb's per-lane reach, so
// AVX512-VBMI's vpermb (a 64-entry byte permute) would buy nothing here.
#include "kernels/kernel_variants.h"
#include "kernels/x86/avx512_intrinsics.h"

namespace lowbit::kernels::detail {

void lut8_unpack_avx512(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out) {
  const __m512i t =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)));
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (size_t c = 0; c < chunks; ++c) {
    const __m512i v = _mm512_loadu_si512(codes + c * 64);
    _mm512_storeu_si512(out + c * 128, _mm512_shuffle_epi8(t, _mm512_and_si512(v, low4)));
    _mm512_storeu_si512(out + c * 128 + 64,
                        _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4)));
  }
}

}  // namespace lowbit::kernels::detail
