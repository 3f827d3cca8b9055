// int4 codes to int8 through a 16-byte table with AVX2 (compiled with -mavx2 -mfma): vpshufb looks
// up 16 bytes per 128-bit lane, the table broadcast to both lanes; its index is the low nibble
// (the high bit of each index byte is clear after the mask, so no byte is zeroed).
#include <immintrin.h>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void lut8_unpack_avx2(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out) {
  const __m256i t =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (size_t c = 0; c < chunks; ++c)
    for (size_t h = 0; h < 64; h += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c * 64 + h));
      const __m256i lo = _mm256_shuffle_epi8(t, _mm256_and_si256(v, low4));
      const __m256i hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c * 128 + h), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c * 128 + 64 + h), hi);
    }
}

}  // namespace lowbit::kernels::detail
