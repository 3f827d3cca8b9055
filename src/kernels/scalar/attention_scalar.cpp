// Reference causal attention: for each row, every visible score q . k_t (summed over d in order),
// the softmax of the scaled scores in two passes (maximum, then std::exp and the sum), and the
// weighted sum of values in key order.
#include <cmath>
#include <vector>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void causal_attention_scalar(const CausalAttentionArgs& a) {
  std::vector<float> p;
  for (size_t r = 0; r < a.rows; ++r) {
    const float* q = a.q + r * a.ldq;
    const size_t len = a.lens[r];
    p.assign(len, 0.0f);
    float max = -INFINITY;
    for (size_t t = 0; t < len; ++t) {
      float s = 0.0f;
      for (size_t d = 0; d < a.head_dim; ++d) s += q[d] * a.kt[d * a.ldkt + t];
      p[t] = s * a.scale;
      max = std::fmax(max, p[t]);
    }
    float sum = 0.0f;
    for (size_t t = 0; t < len; ++t) {
      p[t] = std::exp(p[t] - max);
      sum += p[t];
    }
    float* out = a.out + r * a.ldo;
    for (size_t d = 0; d < a.head_dim; ++d) {
      float acc = 0.0f;
      for (size_t t = 0; t < len; ++t) acc += p[t] * a.v[t * a.ldv + d];
      out[d] = acc / sum;
    }
    if (a.lse != nullptr) a.lse[r] = max + std::log(sum);
  }
}

}  // namespace lowbit::kernels::detail
