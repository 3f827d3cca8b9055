#include "kernels/attention.h"

#include <array>
#include <cmath>

#include "core/error.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::CausalAttentionFn fn;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::causal_attention_avx512},
#endif
    Variant{Isa::kScalar, detail::causal_attention_scalar},
};

}  // namespace

void causal_attention(const CausalAttentionProblem& p) {
  if (p.rows == 0) return;
  if (p.q == nullptr || p.lens == nullptr || p.kt == nullptr || p.v == nullptr || p.out == nullptr)
    fail("causal_attention: missing buffer");
  if (p.head_dim == 0 || p.n_keys == 0)
    fail("causal_attention: head_dim {} and {} keys must be positive", p.head_dim, p.n_keys);
  if (p.ldq < p.head_dim || p.ldv < p.head_dim || p.ldo < p.head_dim || p.ldkt < p.n_keys)
    fail("causal_attention: strides q {} / v {} / out {} below head_dim {}, or keys {} below {}",
         p.ldq, p.ldv, p.ldo, p.head_dim, p.ldkt, p.n_keys);
  if (!(p.scale > 0.0f)) fail("causal_attention: scale {} must be positive", p.scale);
  for (size_t r = 0; r < p.rows; ++r)
    if (p.lens[r] < 1 || p.lens[r] > p.n_keys)
      fail("causal_attention: row {} sees {} keys, outside [1, {}]", r, p.lens[r], p.n_keys);
  const detail::CausalAttentionArgs a{p.q,    p.rows, p.ldq,           p.lens,     p.kt,
                                      p.ldkt, p.v,    p.ldv,           p.head_dim, p.scale,
                                      p.out,  p.ldo,  p.first_key_prob};
  select_variant(kVariants).fn(a);
  if (p.first_key_prob == nullptr) return;
  // The variant left each row's log-sum-exp in first_key_prob: p(key 0) = exp(s_0 - lse), with
  // s_0 = scale * q . k_0 summed in order (key 0's dimensions are column 0 of kt).
  for (size_t r = 0; r < p.rows; ++r) {
    const float* q = p.q + r * p.ldq;
    float s = 0.0f;
    for (size_t d = 0; d < p.head_dim; ++d) s += q[d] * p.kt[d * p.ldkt];
    // At most 1: the variants' exp and sums round differently from this dot product.
    p.first_key_prob[r] = std::fmin(1.0f, std::exp(s * p.scale - p.first_key_prob[r]));
  }
}

Isa causal_attention_isa() {
  return select_variant(kVariants).isa;
}

}  // namespace lowbit::kernels
