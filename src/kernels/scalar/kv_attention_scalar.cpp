// Reference attention products over integer KV codes: every value dequantized exactly as the
// cache defines it, ((c + qmin) - z) * s (fp32 rows: the value itself), and summed in order.
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline float value(const KvCodesArgs& kv, size_t t, size_t d) {
  const uint8_t* row = kv.codes + t * kv.row_bytes;
  if (kv.bits == 32) return reinterpret_cast<const float*>(row)[d];
  const int c = kv.bits == 8 ? row[d] : (d % 2 == 0 ? row[d / 2] & 0x0f : row[d / 2] >> 4);
  const float* p = kv.params + t * kv.param_stride;
  return (static_cast<float>(c) + kv.qmin - p[1]) * p[0];
}

}  // namespace

void kv_scores_scalar(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                      float* scores, size_t lds) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t t = 0; t < n; ++t) {
      float s = 0.0f;
      for (size_t d = 0; d < k.head_dim; ++d) s += q[r * ldq + d] * value(k, t, d);
      scores[r * lds + t] = s;
    }
}

void kv_weighted_sum_scalar(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                            float* out, size_t ldo) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t d = 0; d < v.head_dim; ++d) {
      float s = 0.0f;
      for (size_t t = 0; t < n; ++t) s += p[r * ldp + t] * value(v, t, d);
      out[r * ldo + d] = s;
    }
}

}  // namespace lowbit::kernels::detail
