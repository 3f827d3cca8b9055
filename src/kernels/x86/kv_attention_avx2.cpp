// Attention products over integer KV codes, AVX2 + FMA: the AVX-512 variant's scheme
// (kv_attention_avx512.cpp) on 8 lanes. Codes are widened to fp32 in registers, 8 at a time, and
// the zero point and scale are folded out of the inner loops:
//   q . value_t = s_t (q . c_t + (qmin - z_t) sum(q))
//   sum_t p_t value_t = sum_t (p_t s_t) c_t + sum_t p_t s_t (qmin - z_t)
// Rows are taken four at a time; head_dim must be a multiple of 8 (others use the reference).
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

constexpr size_t kRows = 4;  // query rows per pass (a decode step has one per head of the group)

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

// Codes d0 .. d0 + 7 of a row as fp32.
template <int kBits>
inline __m256 codes8(const uint8_t* row, size_t d0) {
  if constexpr (kBits == 8) {
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

inline float reduce_add(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int kBits>
void scores(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n, float* out,
            size_t lds) {
  const size_t hd = k.head_dim;
  for (size_t r0 = 0; r0 < rows; r0 += kRows) {
    const size_t nr = min_size(kRows, rows - r0);
    float qsum[kRows] = {};
    for (size_t r = 0; r < nr; ++r)
      for (size_t d = 0; d < hd; ++d) qsum[r] += q[(r0 + r) * ldq + d];
    for (size_t t = 0; t < n; ++t) {
      const uint8_t* row = k.codes + t * k.row_bytes;
      __m256 acc[kRows];
      for (size_t r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
      for (size_t d0 = 0; d0 < hd; d0 += 8) {
        const __m256 c = codes8<kBits>(row, d0);
        for (size_t r = 0; r < nr; ++r)
          acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (r0 + r) * ldq + d0), c, acc[r]);
      }
      const float* p = k.params + t * k.param_stride;
      const float offset = k.qmin - p[1];
      for (size_t r = 0; r < nr; ++r)
        out[(r0 + r) * lds + t] = p[0] * (reduce_add(acc[r]) + offset * qsum[r]);
    }
  }
}

template <int kBits>
void weighted_sum(const float* pr, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                  float* out, size_t ldo) {
  const size_t hd = v.head_dim;
  // 16 outputs of a row per pass: 8 accumulators for 4 rows, with the 4 broadcast weights and
  // the widened codes inside the 16 ymm registers.
  constexpr size_t kVecs = 2;
  for (size_t r0 = 0; r0 < rows; r0 += kRows) {
    const size_t nr = min_size(kRows, rows - r0);
    for (size_t d0 = 0; d0 < hd; d0 += 8 * kVecs) {
      const size_t nv = min_size(kVecs, (hd - d0) / 8);
      __m256 acc[kRows][kVecs];
      float constant[kRows] = {};
      for (size_t r = 0; r < kRows; ++r)
        for (size_t j = 0; j < kVecs; ++j) acc[r][j] = _mm256_setzero_ps();
      for (size_t t = 0; t < n; ++t) {
        const uint8_t* row = v.codes + t * v.row_bytes;
        const float* p = v.params + t * v.param_stride;
        const float offset = v.qmin - p[1];
        __m256 w[kRows];
        for (size_t r = 0; r < nr; ++r) {
          const float wt = pr[(r0 + r) * ldp + t] * p[0];
          constant[r] += wt * offset;
          w[r] = _mm256_set1_ps(wt);
        }
        for (size_t j = 0; j < nv; ++j) {
          const __m256 c = codes8<kBits>(row, d0 + 8 * j);
          for (size_t r = 0; r < nr; ++r) acc[r][j] = _mm256_fmadd_ps(w[r], c, acc[r][j]);
        }
      }
      for (size_t r = 0; r < nr; ++r)
        for (size_t j = 0; j < nv; ++j)
          _mm256_storeu_ps(out + (r0 + r) * ldo + d0 + 8 * j,
                           _mm256_add_ps(acc[r][j], _mm256_set1_ps(constant[r])));
    }
  }
}

}  // namespace

void kv_scores_avx2(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  if (k.head_dim % 8 != 0) return kv_scores_scalar(q, rows, ldq, k, n, out, lds);
  if (k.bits == 8)
    scores<8>(q, rows, ldq, k, n, out, lds);
  else
    scores<4>(q, rows, ldq, k, n, out, lds);
}

void kv_weighted_sum_avx2(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  if (v.head_dim % 8 != 0) return kv_weighted_sum_scalar(p, rows, ldp, v, n, out, ldo);
  if (v.bits == 8)
    weighted_sum<8>(p, rows, ldp, v, n, out, ldo);
  else
    weighted_sum<4>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace lowbit::kernels::detail
