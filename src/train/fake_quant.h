#pragma once
// Straight-through fake quantization for training.
//
// Weights train on one of two grids, both starting from the PTQ result the student is initialised
// from (RTN, GPTQ, ...), so step 0 is exactly that model:
// - dynamic (the default; LLM-QAT's and the usual PyTorch KD-QAT's straight-through fake
//   quantization): the range follows the weights. Every forward pass takes each group's min and
//   max from the current master weights and scales the start's grid by how much that range has
//   grown or shrunk since the start (the zero point moves with the minimum), and the gradient
//   passes straight through, w + (Q(w) - w).detach() in PyTorch terms. Plain min-max would give
//   the same grid for a min-max start but not for a clipped one (an MSE-clipped symmetric grid
//   uses code -2^(b-1), which min-max would map to a larger scale); anchored to the start, step 0
//   is the PTQ model whatever its clipping.
// - fixed: the PTQ result's scales and zero points are kept, Q(w) = (clamp(round(w / s) + z) -
//   z) s, and the gradient reaches w only where its code was not clamped (LSQ's mask: a weight
//   past the grid's ends gets no gradient that could not change the output).
//
// Either grid can carry learned clipping (LWC, OmniQuant's learnable weight clipping, Shao et al.,
// arXiv 2308.13137, section 3.2): per group, logits theta_hi (and theta_lo when asymmetric) scale
// the grid's top and bottom ends by sigmoid(theta) / sigmoid(4). OmniQuant sets its bounds to
// sigmoid(gamma) max(W) and sigmoid(beta) min(W) with the logits starting at 4; anchored to the
// start's grid instead of max(W), the ends start exactly where the PTQ result put them (which may
// already be clipped) and can shrink to 0 or grow by up to 1.8%. Its gradient is the straight-
// through estimator's through round() in the bounds, the scale and the zero point (OmniQuant's
// training of gamma and beta), written out in fake_quant.cpp.
//
// Activations are quantized per token at run time, as the integer kernels do (layers/quantizer.h);
// their gradient passes straight through.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "layers/quantizer.h"

namespace lowbit::train {

struct WeightGrid {
  QuantSpec spec;                   // bits 16: full precision (Q is the identity)
  std::vector<QuantParams> params;  // [rows, cols / group]; the start's, when dynamic
  bool dynamic = true;
  std::vector<float> lo0, hi0;  // dynamic: each group's min(w, 0) and max(w, 0) at the start

  bool enabled() const { return spec.enabled(); }
  // The grid of a quantized matrix (its codes are not needed: the master weights replace them).
  // The grid of `m`, anchored to the weights the student starts from (m dequantized).
  static WeightGrid of(const QuantizedMatrix& m);
};

// The logit where learned clipping starts (OmniQuant's initial value); sigmoid(4) = 0.982.
inline constexpr double kClipLogit0 = 4.0;

// Learned clipping logits of a weight, one per group (lo only when asymmetric); null: none.
template <class T>
struct Clip {
  const T* hi = nullptr;
  const T* lo = nullptr;
};
template <class T>
struct ClipGrad {
  T* hi = nullptr;
  T* lo = nullptr;
};

// wq = Q(w) for a [rows, cols] weight.
template <class T>
void fake_quant_weight(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq,
                       Clip<T> clip = {});

// dw += dL/dw from dwq = dL/dQ(w): straight through (dynamic grid without learned clipping), or
// only where w's code is inside the grid (fixed grid, or learned clipping, whose clipped weights
// are what the bounds learn from). With learned clipping, dclip += dL/dlogits.
template <class T>
void fake_quant_weight_backward(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                                size_t cols, T* dw, Clip<T> clip = {}, ClipGrad<T> dclip = {});

// Rows `ids` of Q(w) for a [*, cols] weight, compactly into out ([ids.size(), cols]): an
// embedding lookup reads only its batch's rows of a low-bit table (each row's grid is its own).
template <class T>
void fake_quant_rows(const WeightGrid& grid, const T* w, size_t cols, std::span<const int32_t> ids,
                     T* out, Clip<T> clip = {});
// The matching backward: dout is compact, dw and dclip the whole tensor's; ids must be distinct.
template <class T>
void fake_quant_rows_backward(const WeightGrid& grid, const T* w, size_t cols,
                              std::span<const int32_t> ids, const T* dout, T* dw, Clip<T> clip = {},
                              ClipGrad<T> dclip = {});

// The integer codes of w on the grid (export: the trained model's QuantizedMatrix, with the
// scales a dynamic grid and learned clipping give w).
QuantizedMatrix quantize_on_grid(const WeightGrid& grid, const float* w, size_t rows, size_t cols,
                                 Clip<float> clip = {});

// xq = per-token fake quantization of x ([rows, cols]) with `spec` (copy when disabled). In float
// this is layers/quantizer.h's fake_quantize_rows, the simulated inference path itself.
template <class T>
void fake_quant_activations(const QuantSpec& spec, const T* x, size_t rows, size_t cols, T* xq);

}  // namespace lowbit::train
