// Attention products over integer KV codes, AVX2 + FMA: kv_attention_simd.h on 8-lane ymm
// vectors (codes widened 8 at a time; head_dim a multiple of 8, others use the reference).
#include <immintrin.h>

#include <cstdint>

#include "kernels/kv_attention_simd.h"

namespace lowbit::kernels::detail {
namespace {

struct Ymm {
  using F = __m256;
  static constexpr size_t kLanes = 8;
  // 16 outputs of a row per weighted-sum pass: 8 accumulators for 4 rows, with the 4 broadcast
  // weights and the widened codes inside the 16 ymm registers.
  static constexpr size_t kVecs = 2;

  static F zero() { return _mm256_setzero_ps(); }
  static F broadcast(float x) { return _mm256_set1_ps(x); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static float reduce_add(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  template <int kBits>
  static F codes(const uint8_t* row, size_t d0) {
    if constexpr (kBits == 32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d0);
    } else if constexpr (kBits == 8) {
      return _mm256_cvtepi32_ps(
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + d0))));
    } else {
      int32_t packed;
      __builtin_memcpy(&packed, row + d0 / 2, sizeof(packed));
      const __m128i b = _mm_cvtsi32_si128(packed);
      const __m128i low4 = _mm_set1_epi8(0x0f);
      const __m128i lo = _mm_and_si128(b, low4);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
    }
  }
};

}  // namespace

void kv_scores_avx2(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  kv_scores_simd<Ymm>(q, rows, ldq, k, n, out, lds);
}

void kv_weighted_sum_avx2(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  kv_weighted_sum_simd<Ymm>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace lowbit::kernels::detail
