#include "train/causal_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/gemm.h"

namespace lowbit::train {
namespace {

using kernels::gemm_serial;
using kernels::Trans;

template <class T>
T attention_scale(const AttentionShape& s) {
  return static_cast<T>(1.0 / std::sqrt(static_cast<double>(s.head_dim)));
}

// Softmax of row t over columns 0..t of `scores` (scaled), zero beyond: the causal mask.
template <class T>
void causal_softmax(T* scores, size_t seq, T scale) {
  for (size_t t = 0; t < seq; ++t) {
    T* row = scores + t * seq;
    T mx = row[0];
    for (size_t j = 1; j <= t; ++j) mx = std::max(mx, row[j]);
    double sum = 0;
    for (size_t j = 0; j <= t; ++j) {
      row[j] = static_cast<T>(std::exp(static_cast<double>(scale * (row[j] - mx))));
      sum += row[j];
    }
    const T inv = static_cast<T>(1.0 / sum);
    for (size_t j = 0; j <= t; ++j) row[j] *= inv;
    std::fill(row + t + 1, row + seq, T(0));
  }
}

}  // namespace

template <class T>
void causal_attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* probs,
                              T* out) {
  const size_t group = s.heads / s.kv_heads, hd = s.head_dim, L = s.seq;
  const size_t qw = s.q_width(), kw = s.kv_width();
  const T scale = attention_scale<T>(s);
  thread_pool().run(s.batch * s.heads, [&](size_t task) {
    const size_t b = task / s.heads, h = task % s.heads, kvh = h / group;
    const T* qh = q + b * L * qw + h * hd;
    const T* kh = k + b * L * kw + kvh * hd;
    const T* vh = v + b * L * kw + kvh * hd;
    T* p = probs + (b * s.heads + h) * L * L;
    gemm_serial(Trans::kNo, Trans::kYes, L, L, hd, T(1), qh, qw, kh, kw, T(0), p, L);
    causal_softmax(p, L, scale);
    gemm_serial(Trans::kNo, Trans::kNo, L, hd, L, T(1), p, L, vh, kw, T(0),
                out + b * L * qw + h * hd, qw);
  });
}

template <class T>
void causal_attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v,
                               const T* probs, const T* dout, T* dq, T* dk, T* dv) {
  const size_t group = s.heads / s.kv_heads, hd = s.head_dim, L = s.seq;
  const size_t qw = s.q_width(), kw = s.kv_width();
  const T scale = attention_scale<T>(s);
  thread_pool().run(s.batch * s.kv_heads, [&](size_t task) {
    const size_t b = task / s.kv_heads, kvh = task % s.kv_heads;
    const T* kh = k + b * L * kw + kvh * hd;
    const T* vh = v + b * L * kw + kvh * hd;
    T* dkh = dk + b * L * kw + kvh * hd;
    T* dvh = dv + b * L * kw + kvh * hd;
    for (size_t t = 0; t < L; ++t) {
      std::fill_n(dkh + t * kw, hd, T(0));
      std::fill_n(dvh + t * kw, hd, T(0));
    }
    thread_local std::vector<T> ds;
    ds.resize(L * L);
    for (size_t j = 0; j < group; ++j) {
      const size_t h = kvh * group + j;
      const T* p = probs + (b * s.heads + h) * L * L;
      const T* qh = q + b * L * qw + h * hd;
      const T* doh = dout + b * L * qw + h * hd;
      // dv += P^T dout
      gemm_serial(Trans::kYes, Trans::kNo, L, hd, L, T(1), p, L, doh, qw, T(1), dvh, kw);
      // dP = dout v^T, then dS = P (dP - rowsum(dP P)) scale
      gemm_serial(Trans::kNo, Trans::kYes, L, L, hd, T(1), doh, qw, vh, kw, T(0), ds.data(), L);
      for (size_t t = 0; t < L; ++t) {
        T* row = ds.data() + t * L;
        const T* pr = p + t * L;
        double dot = 0;
        for (size_t c = 0; c <= t; ++c) dot += static_cast<double>(row[c]) * pr[c];
        const T d = static_cast<T>(dot);
        for (size_t c = 0; c <= t; ++c) row[c] = pr[c] * (row[c] - d) * scale;
        std::fill(row + t + 1, row + L, T(0));
      }
      // dq = dS k, dk += dS^T q
      gemm_serial(Trans::kNo, Trans::kNo, L, hd, L, T(1), ds.data(), L, kh, kw, T(0),
                  dq + b * L * qw + h * hd, qw);
      gemm_serial(Trans::kYes, Trans::kNo, L, hd, L, T(1), ds.data(), L, qh, qw, T(1), dkh, kw);
    }
  });
}

template void causal_attention_forward<float>(const AttentionShape&, const float*, const float*,
                                              const float*, float*, float*);
template void causal_attention_forward<double>(const AttentionShape&, const double*, const double*,
                                               const double*, double*, double*);
template void causal_attention_backward<float>(const AttentionShape&, const float*, const float*,
                                               const float*, const float*, const float*, float*,
                                               float*, float*);
template void causal_attention_backward<double>(const AttentionShape&, const double*, const double*,
                                                const double*, const double*, const double*,
                                                double*, double*, double*);

}  // namespace lowbit::train
