#pragma once
// A trainable linear layer y = Qa(x T) Q(W)^T + b: fp32 master weights W [out, in] on a
// quantization grid (fake_quant.h), optional bias, an optional online transform T of the input
// (smoothing, rotations, permutations: layers/activation_transform.h; W is already in the
// transformed basis), per-token activation quantization Qa. Its gradient with g = dL/dy:
//   dx += (g Q(W)) T^T               (straight through Qa; T^T is the transform's transpose)
//   dW += STE(g^T Qa(x T))           (fake_quant.h's estimator)
//   db += sum over rows of g.
// Q(W) and Qa(x) are recomputed in the backward pass rather than kept: a pass over the weights
// costs little next to the products, and the training step then holds one layer's copy at a time.
#include <cstddef>
#include <memory>
#include <vector>

#include "layers/activation_transform.h"

#include "train/fake_quant.h"

namespace lowbit::train {

template <class T>
struct LinearParam {
  size_t in = 0, out = 0;
  std::vector<T> w;  // [out, in]
  std::vector<T> b;  // [out], or empty
  WeightGrid grid;   // quantization grid of w (disabled: full precision)
  QuantSpec act;     // per-token activation quantization (bits 16: none)
  // Online input transform (null: none). Applied in float: the double instantiation used by the
  // gradient checks runs without one.
  std::shared_ptr<const ActivationTransform> transform;
  // Learned clipping logits (fake_quant.h), one per (row, group); lo only when asymmetric.
  // Empty: no learned clipping.
  std::vector<T> clip_hi, clip_lo;
  bool dense = false;  // the start was a dense layer (written back as one)

  Clip<T> clip() const {
    return {clip_hi.empty() ? nullptr : clip_hi.data(), clip_lo.empty() ? nullptr : clip_lo.data()};
  }
  ClipGrad<T> clip_grad() {
    return {clip_hi.empty() ? nullptr : clip_hi.data(), clip_lo.empty() ? nullptr : clip_lo.data()};
  }
};

// Reusable buffers for Q(W), Qa(x) and dL/dQ(W) (one set per training engine).
template <class T>
struct LinearScratch {
  std::vector<T> wq, xq, dwq, dxt;
  std::vector<float> xt;
};

template <class T>
void linear_forward(const LinearParam<T>& p, const T* x, size_t rows, T* y, LinearScratch<T>& s);

// dx: accumulated, or null when the input needs no gradient. grad: accumulated into grad->w,
// grad->b and the clipping logits' gradients, or null for a frozen layer (its weight product is
// skipped).
template <class T>
void linear_backward(const LinearParam<T>& p, const T* x, size_t rows, const T* dy, T* dx,
                     LinearParam<T>* grad, LinearScratch<T>& s);

}  // namespace lowbit::train
