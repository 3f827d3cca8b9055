#pragma once
// Exp-based row functions of the forward pass: attention's softmax and the MLP's SwiGLU. Together
// they take millions of exponentials per 512-token window (every visible score, every hidden
// unit), which scalar libm makes a large share of a quantized model's prefill time. The SIMD
// variants evaluate exp with a polynomial (range reduction by ln 2, then 2^n from the exponent
// bits) and agree with the scalar reference, which calls std::exp, to a few ulp; the tests bound
// the relative difference per element.
#include <span>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

// x <- softmax(scale * x) in place: exp(scale * (x_i - max x)) / sum. scale > 0; x not empty and
// finite.
void softmax(std::span<float> x, float scale);

// gate_i <- silu(gate_i) * up_i with silu(g) = g / (1 + exp(-g)). Same lengths.
void swiglu(std::span<float> gate, std::span<const float> up);

// The variant these functions use now (under the current ISA ceiling).
Isa vmath_isa();

}  // namespace lowbit::kernels
