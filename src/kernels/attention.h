#pragma once
// Causal attention of a block of query rows against one KV head's fp32 keys and values, fused
// (FlashAttention-style): scores, softmax and the weighted sum of values are computed a block of
// keys at a time with a running maximum and sum per row, so the score matrix never goes to memory
// and no score beyond a row's causal limit is computed. Used by prefill, where a row block meets
// hundreds of keys; decode steps keep the matrix-vector path (and KV-code attention).
//
// The SIMD variants reorder the sums (online softmax, exp by polynomial), so they agree with the
// scalar reference (two passes, std::exp, sums in order) to rounding; the tests bound the
// difference against a double-precision reference.
#include <cstddef>
#include <cstdint>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

struct CausalAttentionProblem {
  const float* q = nullptr;  // rows x head_dim at stride ldq
  size_t rows = 0, ldq = 0;
  const uint32_t* lens = nullptr;  // row r sees keys 0 .. lens[r] - 1 (1 <= lens[r] <= n_keys)
  const float* kt = nullptr;       // keys transposed: key t's dimension d at kt[d * ldkt + t]
  size_t ldkt = 0;
  const float* v = nullptr;  // values: key t's dimension d at v[t * ldv + d]
  size_t ldv = 0;
  size_t n_keys = 0, head_dim = 0;
  float scale = 1.0f;    // applied to q . k before the softmax (> 0)
  float* out = nullptr;  // rows x head_dim at stride ldo
  size_t ldo = 0;
  // Optional: first_key_prob[r] = the softmax probability row r gives key 0 (Agile-Quant's token
  // importance, model/token_pruning.h). The variants return each row's log-sum-exp of the scaled
  // scores, from which the probability of key 0 follows without a stored score matrix.
  float* first_key_prob = nullptr;
};

// out[r] = sum_{t < lens[r]} softmax_t(scale * q_r . k_t) v_t, for r < rows. Fails on a bad
// problem (null pointers, short strides, lens outside [1, n_keys]). With first_key_prob, also the
// probability each row gives key 0.
void causal_attention(const CausalAttentionProblem& p);

// The variant causal_attention uses now (under the current ISA ceiling).
Isa causal_attention_isa();

}  // namespace lowbit::kernels
