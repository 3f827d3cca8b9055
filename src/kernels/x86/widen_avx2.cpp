// bf16 / f16 widening, AVX2: 8 lanes. The AVX2 level does not imply F16C, so binary16 is widened
// with integer operations: the exponent and mantissa bits shifted into fp32 position read as a
// float 2^-112 times the value (a subnormal binary16 lands on a normal or subnormal fp32, exactly),
// so one multiply by 2^112 rebases it; exponent 31 (infinity, NaN) maps to 255 with its payload.
// (The multiply assumes denormal inputs are not flushed: lowbit never sets DAZ.)
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline __m256i load8(const uint16_t* in) {
  return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
}

inline __m256 f16x8(__m256i h) {
  const __m256i magnitude = _mm256_and_si256(h, _mm256_set1_epi32(0x7fff));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
  const __m256 scaled = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(magnitude, 13)),
                                      _mm256_castsi256_ps(_mm256_set1_epi32(0x77800000)));  // 2^112
  // Exponent 31: infinity or NaN, exponent field all ones, payload kept, NaN made quiet (as
  // vcvtph2ps does).
  const __m256i special = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7bff));
  const __m256i quiet = _mm256_and_si256(_mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7c00)),
                                         _mm256_set1_epi32(0x400000));
  const __m256i inf_nan = _mm256_or_si256(
      _mm256_or_si256(_mm256_set1_epi32(0x7f800000), _mm256_slli_epi32(magnitude, 13)), quiet);
  const __m256i bits = _mm256_blendv_epi8(_mm256_castps_si256(scaled), inf_nan, special);
  return _mm256_castsi256_ps(_mm256_or_si256(bits, sign));
}

}  // namespace

void widen_bf16_avx2(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(load8(in + i), 16)));
  if (i < n) widen_bf16_scalar(in + i, n - i, out + i);  // not inlined: see kernel_variants.h
}

void widen_f16_avx2(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, f16x8(load8(in + i)));
  if (i < n) widen_f16_scalar(in + i, n - i, out + i);
}

}  // namespace lowbit::kernels::detail
