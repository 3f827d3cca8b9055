// Attention products over integer KV codes, AVX-512F/BW: kv_attention_simd.h on 16-lane zmm
// vectors (codes widened 16 at a time; head_dim a multiple of 16, others use the reference).
#include "kernels/x86/avx512_intrinsics.h"

#include <cstdint>

#include "kernels/kv_attention_simd.h"

namespace lowbit::kernels::detail {
namespace {

struct Zmm {
  using F = __m512;
  static constexpr size_t kLanes = 16;
  static constexpr size_t kVecs = 4;  // 64 outputs of a row per pass: 16 accumulators for 4 rows

  static F zero() { return _mm512_setzero_ps(); }
  static F broadcast(float x) { return _mm512_set1_ps(x); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static float reduce_add(F v) { return _mm512_reduce_add_ps(v); }

  template <int kBits>
  static F codes(const uint8_t* row, size_t d0) {
    if constexpr (kBits == 32) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + d0);
    } else if constexpr (kBits == 8) {
      return _mm512_cvtepi32_ps(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d0))));
    } else {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + d0 / 2));
      const __m128i low4 = _mm_set1_epi8(0x0f);
      const __m128i lo = _mm_and_si128(b, low4);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low4);
      return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
    }
  }
};

}  // namespace

void kv_scores_avx512(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                      float* out, size_t lds) {
  kv_scores_simd<Zmm>(q, rows, ldq, k, n, out, lds);
}

void kv_weighted_sum_avx512(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                            float* out, size_t ldo) {
  kv_weighted_sum_simd<Zmm>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace lowbit::kernels::detail
