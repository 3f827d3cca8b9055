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
// Activations are quantized per token at run time, as the integer kernels do (layers/quantizer.h);
// their gradient passes straight through.
#include <cstddef>
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

// wq = Q(w) for a [rows, cols] weight.
template <class T>
void fake_quant_weight(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq);

// dw += dwq (dynamic grid), or only where w's code is inside the grid (fixed); dwq is dL/dQ(w).
template <class T>
void fake_quant_weight_backward(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                                size_t cols, T* dw);

// The integer codes of w on the grid (export: the trained model's QuantizedMatrix, with the
// scales a dynamic grid computes for w).
QuantizedMatrix quantize_on_grid(const WeightGrid& grid, const float* w, size_t rows, size_t cols);

// xq = per-token fake quantization of x ([rows, cols]) with `spec` (copy when disabled). In float
// this is layers/quantizer.h's fake_quantize_rows, the simulated inference path itself.
template <class T>
void fake_quant_activations(const QuantSpec& spec, const T* x, size_t rows, size_t cols, T* xq);

}  // namespace lowbit::train
