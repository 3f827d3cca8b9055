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

namespace {

template <bool kF16>
inline __m256 load8w(const uint16_t* p) {
  if constexpr (kF16) return f16x8(load8(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(load8(p), 16));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// R rows of x against every output, 16 weights per step in two accumulators per row, widened
// in registers; the last k % 8 weights go through a scalar loop (rounded the same way: fp32).
template <bool kF16, int R>
void gemv_rows(const HalfGemvArgs& a, size_t r0) {
  const size_t k = a.k, k8 = k / 8 * 8;
  float tail_w[8];
  for (size_t o = 0; o < a.n; ++o) {
    const uint16_t* w = a.w + o * k;
    __m256 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= k; i += 16) {
      const __m256 w0 = load8w<kF16>(w + i), w1 = load8w<kF16>(w + i + 8);
      for (int r = 0; r < R; ++r) {
        const float* x = a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i;
        acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x), w0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), w1, acc1[r]);
      }
    }
    if (i < k8) {
      const __m256 w0 = load8w<kF16>(w + i);
      for (int r = 0; r < R; ++r)
        acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i),
                                  w0, acc0[r]);
      i += 8;
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
      float sum = hsum(_mm256_add_ps(acc0[r], acc1[r]));
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

void gemv_bf16_avx2(const HalfGemvArgs& a) {
  gemv<false>(a);
}

void gemv_f16_avx2(const HalfGemvArgs& a) {
  gemv<true>(a);
}

}  // namespace lowbit::kernels::detail
