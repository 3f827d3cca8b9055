#pragma once
// Straight-through fake quantization for training.
//
// Weights train on a fixed grid: the spec and per-(row, group) scale and zero point of the PTQ
// result the student starts from (RTN, GPTQ, ...), so step 0 is exactly that model and the
// exported file keeps its scales. The forward pass uses Q(w) = (clamp(round(w / s) + z) - z) s;
// the backward pass hands dL/dQ(w) to w where the code was not clamped and 0 where it was (the
// straight-through estimator with LSQ's clipping mask: a weight pushed past the grid's ends gets
// no gradient that could not change the output).
//
// Activations are quantized per token at run time, as the integer kernels do (layers/quantizer.h);
// their gradient passes straight through.
#include <cstddef>
#include <vector>

#include "layers/quantizer.h"

namespace lowbit::train {

struct WeightGrid {
  QuantSpec spec;                   // bits 16: full precision (Q is the identity)
  std::vector<QuantParams> params;  // [rows, cols / group]

  bool enabled() const { return spec.enabled(); }
  // The grid of a quantized matrix (its codes are not needed: the master weights replace them).
  static WeightGrid of(const QuantizedMatrix& m);
};

// wq = Q(w) for a [rows, cols] weight.
template <class T>
void fake_quant_weight(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq);

// dw += dwq where w's code is inside the grid (the STE); dwq is dL/dQ(w).
template <class T>
void fake_quant_weight_backward(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                                size_t cols, T* dw);

// The integer codes of w on the grid (export: the trained model's QuantizedMatrix).
QuantizedMatrix quantize_on_grid(const WeightGrid& grid, const float* w, size_t rows, size_t cols);

// xq = per-token fake quantization of x ([rows, cols]) with `spec` (copy when disabled). In float
// this is layers/quantizer.h's fake_quantize_rows, the simulated inference path itself.
template <class T>
void fake_quant_activations(const QuantSpec& spec, const T* x, size_t rows, size_t cols, T* xq);

}  // namespace lowbit::train
