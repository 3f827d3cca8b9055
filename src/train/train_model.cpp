#include "train/train_model.h"

#include <algorithm>

#include "core/error.h"
#include "core/thread_pool.h"
#include "train/embedding.h"
#include "train/qk_rotation.h"
#include "train/rms_norm.h"
#include "train/swiglu.h"

namespace lowbit::train {
namespace {

template <class T>
void zero(std::vector<T>& v, size_t n) {
  v.assign(n, T(0));
}

template <class T>
void add_inplace(T* x, const T* y, size_t n) {
  thread_pool().parallel_for(n, 4096, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) x[i] += y[i];
  });
}

// Keys or values quantized per token and head as the KV cache stores them, or queries per token
// and head as attention reads them (identity gradient).
template <class T>
void fake_quant_kv(const QuantSpec& spec, std::vector<T>& x, size_t rows, size_t cols,
                   std::vector<T>& tmp) {
  if (!spec.enabled()) return;
  tmp.resize(rows * cols);
  fake_quant_activations(spec, x.data(), rows, cols, tmp.data());
  std::copy_n(tmp.data(), rows * cols, x.data());
}

}  // namespace

template <class T>
TrainModel<T>::TrainModel(const ModelConfig& config, size_t batch, size_t seq, bool recompute)
    : config_(config), batch_(batch), seq_(seq), recompute_(recompute), rope_(config, seq) {
  if (batch == 0 || seq == 0) fail("training batch of {} x {} tokens", batch, seq);
  if (static_cast<int>(seq) > config.max_seq_len)
    fail("--seq {} exceeds the model's context of {} tokens", seq, config.max_seq_len);
  if (config.sliding_window > 0 && static_cast<int>(seq) > config.sliding_window)
    fail("--seq {} exceeds the model's sliding window of {} tokens", seq, config.sliding_window);
  shape_ = {batch, seq, static_cast<size_t>(config.n_heads), static_cast<size_t>(config.n_kv_heads),
            static_cast<size_t>(config.head_dim)};
  inputs_.resize(static_cast<size_t>(config.n_layers) + 1);
  acts_.resize(recompute ? 1 : static_cast<size_t>(config.n_layers));
}

template <class T>
size_t TrainModel<T>::activation_bytes() const {
  size_t n = 0;
  for (const auto& v : inputs_) n += v.capacity();
  for (const auto& a : acts_)
    for (const auto* v : {&a.xn1, &a.rstd1, &a.q, &a.k, &a.v, &a.probs, &a.att, &a.x_mid, &a.xn2,
                          &a.rstd2, &a.g, &a.u, &a.h})
      n += v->capacity();
  for (const auto* v : {&xf_, &logits_, &table_, &x_, &y_, &dx_, &dtmp_, &dq_, &dk_, &dv_, &datt_,
                        &dh_, &dg_, &du_, &dtable_})
    n += v->capacity();
  return n * sizeof(T);
}

template <class T>
void TrainModel<T>::layer_forward(const TrainWeights<T>& w, size_t l, T* x, LayerActs& a) {
  const auto& c = config_;
  const auto& L = w.layers[l];
  const size_t n = rows(), d = static_cast<size_t>(c.dim), hid = static_cast<size_t>(c.hidden_dim);
  const size_t qw = shape_.q_width(), kw = shape_.kv_width();
  a.xn1.resize(n * d), a.rstd1.resize(n), a.q.resize(n * qw), a.k.resize(n * kw);
  a.v.resize(n * kw), a.probs.resize(shape_.probs_size()), a.att.resize(n * qw);
  a.x_mid.resize(n * d), a.xn2.resize(n * d), a.rstd2.resize(n);
  a.g.resize(n * hid), a.u.resize(n * hid), a.h.resize(n * hid);
  y_.resize(n * d);

  // Attention block.
  rms_norm_forward(x, L.attn_norm.data(), n, d, c.norm_eps, a.xn1.data(), a.rstd1.data());
  linear_forward(L.q, a.xn1.data(), n, a.q.data(), scratch_);
  linear_forward(L.k, a.xn1.data(), n, a.k.data(), scratch_);
  linear_forward(L.v, a.xn1.data(), n, a.v.data(), scratch_);
  rope_.forward(a.q.data(), n, shape_.heads);
  rope_.forward(a.k.data(), n, shape_.kv_heads);
  if (w.qk_hadamard) {
    qk_rotate_rows(a.q.data(), n * shape_.heads, shape_.head_dim);
    qk_rotate_rows(a.k.data(), n * shape_.kv_heads, shape_.head_dim);
  }
  fake_quant_kv(w.query, a.q, n * shape_.heads, shape_.head_dim, kvq_);
  fake_quant_kv(w.kv, a.k, n, kw, kvq_);
  fake_quant_kv(w.kv, a.v, n, kw, kvq_);
  causal_attention_forward(shape_, a.q.data(), a.k.data(), a.v.data(), a.probs.data(),
                           a.att.data());
  linear_forward(L.o, a.att.data(), n, y_.data(), scratch_);
  add_inplace(x, y_.data(), n * d);
  std::copy_n(x, n * d, a.x_mid.data());

  // MLP block (SwiGLU).
  rms_norm_forward(x, L.ffn_norm.data(), n, d, c.norm_eps, a.xn2.data(), a.rstd2.data());
  linear_forward(L.gate, a.xn2.data(), n, a.g.data(), scratch_);
  linear_forward(L.up, a.xn2.data(), n, a.u.data(), scratch_);
  swiglu_forward(a.g.data(), a.u.data(), n * hid, a.h.data());
  linear_forward(L.down, a.h.data(), n, y_.data(), scratch_);
  add_inplace(x, y_.data(), n * d);
}

template <class T>
std::span<T> TrainModel<T>::forward(const TrainWeights<T>& w, std::span<const int32_t> ids) {
  const auto& c = config_;
  const size_t n = rows(), d = static_cast<size_t>(c.dim),
               vocab = static_cast<size_t>(c.vocab_size);
  if (ids.size() != n) fail("training forward: {} tokens for a batch of {}", ids.size(), n);
  for (const int32_t id : ids)
    if (id < 0 || id >= c.vocab_size) fail("token id {} out of range [0, {})", id, c.vocab_size);
  ids_.assign(ids.begin(), ids.end());

  // The table lookups read: Q(head) for a tied model, else the (possibly low-bit) table. A low-bit
  // table is fake-quantized only in the batch's distinct rows (table_ holds them, slots_ maps each
  // token to its row): a whole copy would be a [vocab, dim] buffer (262 MB on a 1B model).
  const bool tied = w.embedding.empty();
  const std::vector<T>& raw = tied ? w.head.w : w.embedding;
  const WeightGrid& grid = tied ? w.head.grid : w.embedding_grid;
  inputs_[0].resize(n * d);
  if (grid.enabled()) {
    rows_.assign(ids.begin(), ids.end());
    std::sort(rows_.begin(), rows_.end());
    rows_.erase(std::unique(rows_.begin(), rows_.end()), rows_.end());
    slots_.resize(n);
    for (size_t i = 0; i < n; ++i)
      slots_[i] = static_cast<int32_t>(std::lower_bound(rows_.begin(), rows_.end(), ids[i]) -
                                       rows_.begin());
    table_.resize(rows_.size() * d);
    fake_quant_rows(grid, raw.data(), d, std::span<const int32_t>(rows_), table_.data(),
                    tied ? w.head.clip() : Clip<T>{});
    embedding_forward(std::span<const int32_t>(slots_), table_.data(), d, inputs_[0].data());
  } else {
    embedding_forward(ids, raw.data(), d, inputs_[0].data());
  }
  for (size_t l = 0; l < w.layers.size(); ++l) {
    inputs_[l + 1] = inputs_[l];
    layer_forward(w, l, inputs_[l + 1].data(), acts(l));
  }
  xf_.resize(n * d);
  rstdf_.resize(n);
  rms_norm_forward(inputs_.back().data(), w.final_norm.data(), n, d, c.norm_eps, xf_.data(),
                   rstdf_.data());
  logits_.resize(n * vocab);
  linear_forward(w.head, xf_.data(), n, logits_.data(), scratch_);
  return logits_;
}

template <class T>
void TrainModel<T>::layer_backward(const TrainWeights<T>& w, size_t l, const LayerActs& a, T* dx,
                                   TrainWeights<T>& grad, unsigned fr) {
  const auto& c = config_;
  const auto& L = w.layers[l];
  auto& G = grad.layers[l];
  const size_t n = rows(), d = static_cast<size_t>(c.dim), hid = static_cast<size_t>(c.hidden_dim);
  const size_t qw = shape_.q_width(), kw = shape_.kv_width();
  const auto g = [&](ParamKind kind, LinearParam<T>& p) { return frozen(fr, kind) ? nullptr : &p; };
  T* dnorm1 = frozen(fr, ParamKind::kNorm) ? nullptr : G.attn_norm.data();
  T* dnorm2 = frozen(fr, ParamKind::kNorm) ? nullptr : G.ffn_norm.data();

  // MLP block: dx is the gradient at the layer's output, which the residual passes to x_mid.
  zero(dh_, n * hid);
  linear_backward(L.down, a.h.data(), n, dx, dh_.data(), g(ParamKind::kDown, G.down), scratch_);
  dg_.resize(n * hid), du_.resize(n * hid);
  swiglu_backward(a.g.data(), a.u.data(), dh_.data(), n * hid, dg_.data(), du_.data());
  zero(dtmp_, n * d);
  linear_backward(L.gate, a.xn2.data(), n, dg_.data(), dtmp_.data(), g(ParamKind::kGate, G.gate),
                  scratch_);
  linear_backward(L.up, a.xn2.data(), n, du_.data(), dtmp_.data(), g(ParamKind::kUp, G.up),
                  scratch_);
  rms_norm_backward(a.x_mid.data(), L.ffn_norm.data(), a.rstd2.data(), dtmp_.data(), n, d, dx,
                    dnorm2);

  // Attention block: dx is now the gradient at x_mid.
  zero(datt_, n * qw);
  linear_backward(L.o, a.att.data(), n, dx, datt_.data(), g(ParamKind::kO, G.o), scratch_);
  dq_.resize(n * qw), dk_.resize(n * kw), dv_.resize(n * kw);
  causal_attention_backward(shape_, a.q.data(), a.k.data(), a.v.data(), a.probs.data(),
                            datt_.data(), dq_.data(), dk_.data(), dv_.data());
  // Straight through the quantizers; H is its own transpose.
  if (w.qk_hadamard) {
    qk_rotate_rows(dq_.data(), n * shape_.heads, shape_.head_dim);
    qk_rotate_rows(dk_.data(), n * shape_.kv_heads, shape_.head_dim);
  }
  rope_.backward(dq_.data(), n, shape_.heads);
  rope_.backward(dk_.data(), n, shape_.kv_heads);
  zero(dtmp_, n * d);
  linear_backward(L.q, a.xn1.data(), n, dq_.data(), dtmp_.data(), g(ParamKind::kQ, G.q), scratch_);
  linear_backward(L.k, a.xn1.data(), n, dk_.data(), dtmp_.data(), g(ParamKind::kK, G.k), scratch_);
  linear_backward(L.v, a.xn1.data(), n, dv_.data(), dtmp_.data(), g(ParamKind::kV, G.v), scratch_);
  rms_norm_backward(inputs_[l].data(), L.attn_norm.data(), a.rstd1.data(), dtmp_.data(), n, d, dx,
                    dnorm1);
}

template <class T>
void TrainModel<T>::forward_layer(const TrainWeights<T>& w, size_t l, std::span<T> x) {
  const size_t n = rows() * static_cast<size_t>(config_.dim);
  if (l >= w.layers.size() || l + 1 >= inputs_.size() || x.size() != n)
    fail("forward_layer: layer {} with {} values for {} rows", l, x.size(), rows());
  inputs_[l].assign(x.begin(), x.end());
  layer_forward(w, l, x.data(), acts(l));
}

template <class T>
void TrainModel<T>::backward_layer(const TrainWeights<T>& w, size_t l, std::span<T> dx,
                                   TrainWeights<T>& grad, unsigned fr) {
  if (l >= w.layers.size() || l + 1 >= inputs_.size() || inputs_[l].empty() ||
      dx.size() != inputs_[l].size())
    fail("backward_layer: layer {} was not run forward with {} values", l, dx.size());
  if (recompute_) {
    x_ = inputs_[l];
    layer_forward(w, l, x_.data(), acts_[0]);
  }
  layer_backward(w, l, acts(l), dx.data(), grad, fr);
}

template <class T>
void TrainModel<T>::backward(const TrainWeights<T>& w, TrainWeights<T>& grad, unsigned fr) {
  const auto& c = config_;
  const size_t n = rows(), d = static_cast<size_t>(c.dim);
  const bool tied = w.embedding.empty();
  // A tied table is one tensor: frozen if either of its names is.
  const bool head_frozen = frozen(fr, ParamKind::kHead) || (tied && frozen(fr, ParamKind::kEmbed));
  const bool embed_frozen = frozen(fr, ParamKind::kEmbed) || (tied && head_frozen);

  zero(dtmp_, n * d);
  linear_backward(w.head, xf_.data(), n, logits_.data(), dtmp_.data(),
                  head_frozen ? nullptr : &grad.head, scratch_);
  zero(dx_, n * d);
  rms_norm_backward(inputs_.back().data(), w.final_norm.data(), rstdf_.data(), dtmp_.data(), n, d,
                    dx_.data(), frozen(fr, ParamKind::kNorm) ? nullptr : grad.final_norm.data());
  for (size_t l = w.layers.size(); l-- > 0;) {
    if (recompute_) {
      x_ = inputs_[l];
      layer_forward(w, l, x_.data(), acts_[0]);
    }
    layer_backward(w, l, acts(l), dx_.data(), grad, fr);
  }
  if (embed_frozen) return;
  // The table's gradient, through the straight-through estimator when the table is low-bit.
  const WeightGrid& grid = tied ? w.head.grid : w.embedding_grid;
  const std::vector<T>& raw = tied ? w.head.w : w.embedding;
  std::vector<T>& dst = tied ? grad.head.w : grad.embedding;
  if (!grid.enabled()) {
    embedding_backward(std::span<const int32_t>(ids_), dx_.data(), d, dst.data());
    return;
  }
  zero(dtable_, rows_.size() * d);
  embedding_backward(std::span<const int32_t>(slots_), dx_.data(), d, dtable_.data());
  fake_quant_rows_backward(grid, raw.data(), d, std::span<const int32_t>(rows_), dtable_.data(),
                           dst.data(), tied ? w.head.clip() : Clip<T>{},
                           tied ? grad.head.clip_grad() : ClipGrad<T>{});
}

template class TrainModel<float>;
template class TrainModel<double>;

}  // namespace lowbit::train
