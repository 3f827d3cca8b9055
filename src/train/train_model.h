#pragma once
// The Llama-family forward and backward passes for training, read top to bottom like llama2.c's
// forward: embeddings, then per layer RMSNorm -> q/k/v -> RoPE -> causal GQA -> o -> residual,
// RMSNorm -> gate/up -> SwiGLU -> down -> residual, then the final norm and the head. Each step's
// backward is the matching function of its own file (train/*.h), called in reverse order.
//
// A batch is `batch` sequences of `seq` tokens, each starting at position 0. The forward pass
// keeps what the backward pass needs; with `recompute` it keeps only each layer's input (the
// residual stream) and reruns one layer's forward just before its backward, so activation memory
// is one layer's worth plus a [tokens, dim] vector per layer (what lets a 1B model train in 24 GB).
#include <cstdint>
#include <span>
#include <vector>

#include "train/causal_attention.h"
#include "train/rope.h"
#include "train/train_weights.h"

namespace lowbit::train {

template <class T>
class TrainModel {
 public:
  TrainModel(const ModelConfig& config, size_t batch, size_t seq, bool recompute);

  size_t batch() const { return batch_; }
  size_t seq() const { return seq_; }
  size_t rows() const { return batch_ * seq_; }

  // Runs `ids` (batch * seq tokens) and returns the logits [rows, vocab]; the caller may overwrite
  // them with dL/dlogits for backward().
  std::span<T> forward(const TrainWeights<T>& w, std::span<const int32_t> ids);
  // Accumulates the gradient of the loss whose dL/dlogits is in the logits buffer into `grad`
  // (same shapes as w), skipping tensors in the `frozen` set (parse_freeze).
  void backward(const TrainWeights<T>& w, TrainWeights<T>& grad, unsigned frozen);

  // One decoder layer on its own, for block-wise training (quant/lwc.h): runs layer l of `w` on
  // the residual stream x ([rows, dim], in place), keeping what backward_layer needs.
  void forward_layer(const TrainWeights<T>& w, size_t l, std::span<T> x);
  // After forward_layer(w, l, ...): dx holds dL/d(the layer's output) and is replaced by dL/d(its
  // input); the layer's parameter gradients accumulate into `grad` as in backward().
  void backward_layer(const TrainWeights<T>& w, size_t l, std::span<T> dx, TrainWeights<T>& grad,
                      unsigned frozen);

  // Bytes of activations this engine holds now (for memory reports).
  size_t activation_bytes() const;

 private:
  struct LayerActs {
    std::vector<T> xn1, rstd1, q, k, v, probs, att, x_mid, xn2, rstd2, g, u, h;
  };
  void layer_forward(const TrainWeights<T>& w, size_t l, T* x, LayerActs& a);
  void layer_backward(const TrainWeights<T>& w, size_t l, const LayerActs& a, T* dx,
                      TrainWeights<T>& grad, unsigned frozen);
  LayerActs& acts(size_t l) { return acts_[recompute_ ? 0 : l]; }

  ModelConfig config_;
  size_t batch_, seq_;
  bool recompute_;
  AttentionShape shape_;
  Rope<T> rope_;
  std::vector<int32_t> ids_, rows_, slots_;  // the batch; a low-bit table's rows it reads
  std::vector<std::vector<T>> inputs_;       // residual stream entering layer l; [n_layers] = final
  std::vector<LayerActs> acts_;
  std::vector<T> xf_, rstdf_, logits_, table_;  // final norm, head output, Q(table)[rows_]
  std::vector<T> x_, y_, kvq_;                  // recomputed layer's stream, a product, Q(k|v)
  // Backward scratch.
  std::vector<T> dx_, dtmp_, dq_, dk_, dv_, datt_, dh_, dg_, du_, dtable_;
  LinearScratch<T> scratch_;
};

}  // namespace lowbit::train
