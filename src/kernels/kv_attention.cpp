#include "kernels/kv_attention.h"

#include <array>
#include <cstdint>

#include "core/error.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::KvScoresFn scores;
  detail::KvWeightedSumFn weighted_sum;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::kv_scores_avx512, detail::kv_weighted_sum_avx512},
    Variant{Isa::kAvx2, detail::kv_scores_avx2, detail::kv_weighted_sum_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::kv_scores_neon, detail::kv_weighted_sum_neon},
#endif
    Variant{Isa::kScalar, detail::kv_scores_scalar, detail::kv_weighted_sum_scalar},
};

detail::KvCodesArgs args(const KvCodesView& v) {
  const bool floats = v.bits == 32;
  if (v.codes == nullptr || (!floats && v.params == nullptr))
    fail("kv attention: no codes or parameters");
  if (v.bits != 4 && v.bits != 8 && !floats)
    fail("kv attention: {}-bit codes (4, 8 or 32)", v.bits);
  if (v.head_dim == 0 || v.head_dim % 2 != 0)
    fail("kv attention: head_dim {} must be even and positive", v.head_dim);
  if (floats && (v.row_bytes % sizeof(float) != 0 ||
                 reinterpret_cast<uintptr_t>(v.codes) % alignof(float) != 0))
    fail("kv attention: fp32 rows of {} bytes must hold whole, aligned floats", v.row_bytes);
  if (v.row_bytes < v.head_dim * static_cast<size_t>(v.bits) / 8 || (!floats && v.param_stride < 2))
    fail("kv attention: row of {} bytes or parameter stride {} too small for head_dim {}",
         v.row_bytes, v.param_stride, v.head_dim);
  return {v.codes,   v.row_bytes, v.params, v.param_stride, v.bits, static_cast<float>(v.qmin),
          v.head_dim};
}

}  // namespace

void kv_scores(const float* q, size_t rows, size_t ldq, const KvCodesView& k, size_t n,
               float* scores, size_t lds) {
  const auto a = args(k);
  if (ldq < k.head_dim || lds < n) fail("kv_scores: strides {} / {} too small", ldq, lds);
  if (rows > 0 && n > 0) select_variant(kVariants).scores(q, rows, ldq, a, n, scores, lds);
}

void kv_weighted_sum(const float* p, size_t rows, size_t ldp, const KvCodesView& v, size_t n,
                     float* out, size_t ldo) {
  const auto a = args(v);
  if (ldp < n || ldo < v.head_dim) fail("kv_weighted_sum: strides {} / {} too small", ldp, ldo);
  if (rows == 0) return;
  if (n == 0) {
    for (size_t r = 0; r < rows; ++r)
      for (size_t d = 0; d < v.head_dim; ++d) out[r * ldo + d] = 0.0f;
    return;
  }
  select_variant(kVariants).weighted_sum(p, rows, ldp, a, n, out, ldo);
}

Isa kv_attention_isa() {
  return select_variant(kVariants).isa;
}

}  // namespace lowbit::kernels
