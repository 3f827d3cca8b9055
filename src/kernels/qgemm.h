#pragma once
// Low-bit matrix products on packed weights (see packed_weights.h for the layout and
// docs/kernels.md for the design and measured speed).
//
// qgemm: y[m x n] = (int8 activations * per-row scale) x (packed int4/int8 weights [n x k])^T
//   + bias, the integer path for W4A8, W4A4 (4-bit values in int8) and W8A8. Products are
//   accumulated exactly in int32 per weight group and rescaled once per group:
//     acc_g = sum_{k in g} a[i][k] * (u[j][k] - z[j][g])
//     y[i][j] = fma(float(acc_g), sa[i] * s[j][g], y[i][j]) over the groups in order, then + bias
//   Every ISA variant gives the same bits as the scalar reference.
// qgemm_f32: the same weights against fp32 activations (W4A16 / W8A16), dequantized in registers:
//     acc_g = sum_{k in g} fma(x[i][k], float(u[j][k] - z[j][g])) ; y = fma(acc_g, s[j][g], y)
//   (the SIMD variants follow the same per-output operation order as the scalar reference).
//
// Both run on lowbit's thread pool, split over output columns (blocks of 16), unless the product
// is small or they are called from inside a parallel region via the *_serial variants. The
// packed blob must be 4-byte aligned (PackedWeights and mmap are). y has row stride ldy >= n.
#include <cstddef>
#include <span>

#include "kernels/cpu_features.h"
#include "kernels/packed_weights.h"
#include "kernels/quantize_activations.h"

namespace lowbit::kernels {

void qgemm(const QuantizedRowsView& a, const PackedWeightsView& w, std::span<const float> bias,
           std::span<float> y, size_t ldy);
void qgemm_serial(const QuantizedRowsView& a, const PackedWeightsView& w,
                  std::span<const float> bias, std::span<float> y, size_t ldy);

// x: m rows of w.k() floats at row stride ldx.
void qgemm_f32(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
               std::span<const float> bias, std::span<float> y, size_t ldy);
void qgemm_f32_serial(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
                      std::span<const float> bias, std::span<float> y, size_t ldy);

// The variants the calls above would use now (under the current ISA ceiling).
Isa qgemm_isa();
Isa qgemm_f32_isa();

}  // namespace lowbit::kernels
