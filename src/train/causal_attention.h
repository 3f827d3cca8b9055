#pragma once
// Causal grouped-query attention on a batch of sequences, forward and backward.
//
// q: [batch * seq, heads * head_dim]; k, v: [batch * seq, kv_heads * head_dim]; query head h reads
// KV head h / (heads / kv_heads). P = softmax(scale * q k^T) over keys 0..t for the query at t;
// out = P v. The probabilities are kept ([batch, heads, seq, seq]) for the backward pass:
//   dP = dout v^T,  dv = P^T dout,  dS = P * (dP - rowsum(dP * P)) * scale,  dq = dS k,  dk = dS^T
//   q.
#include <cstddef>

namespace lowbit::train {

struct AttentionShape {
  size_t batch = 0, seq = 0, heads = 0, kv_heads = 0, head_dim = 0;
  size_t q_width() const { return heads * head_dim; }
  size_t kv_width() const { return kv_heads * head_dim; }
  size_t probs_size() const { return batch * heads * seq * seq; }
};

template <class T>
void causal_attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* probs,
                              T* out);

// dq, dk, dv are written (not accumulated). One task per sequence and KV head: the query heads
// sharing a KV head add their dk, dv contributions in head order, whatever the thread count.
template <class T>
void causal_attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v,
                               const T* probs, const T* dout, T* dq, T* dk, T* dv);

}  // namespace lowbit::train
