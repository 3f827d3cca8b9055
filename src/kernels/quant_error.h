#pragma once
// The squared error of quantizing a group of weights with given parameters: the inner loop of the
// MSE clip search (layers/quantizer.h), which evaluates 51 clip ratios per group and is most of
// RTN's quantization time. Each value is quantized exactly as quantize_value / dequantize_value do
// (division, round-half-even, clamp, all in float); the squares are summed in 16 float lanes (lane
// j takes values j, j + 16, ...), then the lanes and the tail past the last whole 16 in double.
// The lanes fix the order, so every variant returns the same bits as the scalar reference.
#include <cstddef>
#include <span>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

// sum_i (dequantize(quantize(x_i)) - x_i)^2 with q = clamp(rne(x / scale) + zero, qmin, qmax),
// dequantize(q) = (q - zero) * scale. scale > 0.
double quantization_squared_error(std::span<const float> x, float scale, float zero, float qmin,
                                  float qmax);

// The variant this function uses now (under the current ISA ceiling).
Isa quant_error_isa();

}  // namespace lowbit::kernels
