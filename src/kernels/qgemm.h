#pragma once
// Low-bit matrix products on packed weights (see packed_weights.h for the layout and
// docs/kernels.md for the design and measured speed).
//
// qgemm: y[m x n] = (int8 activations * per-row scale) x (packed int4/int8 weights [n x k])^T
//   + bias, the integer path for W4A8, W4A4 (4-bit values in int8) and W8A8. Products are
//   accumulated exactly in int32 per weight group and rescaled once per group:
//     acc_g = sum_{k in g} a[i][k] * (u[j][k] - z[j][g])
//     y[i][j] = fma(float(acc_g), sa[i] * s[j][g], y[i][j]) over the groups in order, then + bias
//   Every ISA variant gives the same bits as the scalar reference. With 8-bit asymmetric
//   activations (a.offsets: codes stored as q - 128, value q - z_a = code + offset) the sum is
//   of (a[i][k] + o[i]) * (u - z): the kernels add o[i] * sum_g(u - z) per group, from
//   `weight_sums` (packed_weight_sums, computed once per layer) or, when empty, computed per call.
// qgemm_f32: the same weights against fp32 activations (W4A16 / W8A16), dequantized in registers:
//     acc_g = sum_{k in g} fma(x[i][k], float(u[j][k] - z[j][g])) ; y = fma(acc_g, s[j][g], y)
//   (the SIMD variants follow the same per-output operation order as the scalar reference).
//
// Codebook weights (packed_weights.h: NF4, SqueezeLLM) take qgemm_f32 only, which runs them on
//   the look-up-table kernels: y = x (table[u] * s)^T + bias, each code looked up in its row's
//   16-entry fp32 table held in registers (AVX-512: vpermps; AVX2: two vpermps and a blend;
//   NEON: tbl on the table's 64 bytes; per-row tables: gathers), in the same per-output order
//   (acc_g = fma chain of x[k] * table[u] over the group, then one fma by the scale).
//
// Both run on lowbit's thread pool, split over output columns (blocks of 16), unless the product
// is small or they are called from inside a parallel region via the *_serial variants. The
// packed blob must be 4-byte aligned (PackedWeights and mmap are). y has row stride ldy >= n.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed_weights.h"
#include "kernels/quantize_activations.h"

namespace lowbit::kernels {

void qgemm(const QuantizedRowsView& a, const PackedWeightsView& w, std::span<const float> bias,
           std::span<float> y, size_t ldy, std::span<const int32_t> weight_sums = {});
// Several products of the same activations (q/k/v, gate/up) in one parallel region: their output
// blocks are split over the threads together, so a decode step opens one region for the group
// instead of one per product, and products too small to split alone share the threads. Each
// product's result is qgemm's.
struct QgemmProduct {
  PackedWeightsView w;
  std::span<const float> bias;
  std::span<float> y;
  size_t ldy;
  std::span<const int32_t> weight_sums;
};
void qgemm_group(const QuantizedRowsView& a, std::span<const QgemmProduct> products);

void qgemm_serial(const QuantizedRowsView& a, const PackedWeightsView& w,
                  std::span<const float> bias, std::span<float> y, size_t ldy,
                  std::span<const int32_t> weight_sums = {});

// Per (block, group, block row): the sum over the group of (u - z), blocks x groups x 16 (the
// layout of the scales): what qgemm needs for activations with offsets.
std::vector<int32_t> packed_weight_sums(const PackedWeightsView& w);

// W4A4 through Agile-Quant's packed int16 multiplier (Shen et al., AAAI 2024, arXiv 2312.05693;
// kernel_variants.h): two 4-bit weights of neighbouring outputs in one 16-bit lane, one 16-bit
// multiply for both products, 256 products per 16-bit field before widening. For 4-bit weights
// and activation values in [-8, 7] (4-bit symmetric, no offsets; checked), the same bits as
// qgemm. Variants: AVX2 (x86 without VNNI), plain NEON (ARMv8.0 without sdot), scalar. qgemm does
// not route through it: on AVX2 vpmaddubsw does more per instruction (docs/kernels.md has the
// measurement), and no ARM core was available to measure the NEON variant on.
void qgemm_packed16(const QuantizedRowsView& a, const PackedWeightsView& w,
                    std::span<const float> bias, std::span<float> y, size_t ldy,
                    std::span<const int32_t> weight_sums = {});

// x: m rows of w.k() floats at row stride ldx.
void qgemm_f32(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
               std::span<const float> bias, std::span<float> y, size_t ldy);
void qgemm_f32_serial(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
                      std::span<const float> bias, std::span<float> y, size_t ldy);

// The variants the calls above would use now (under the current ISA ceiling).
Isa qgemm_isa();
Isa qgemm_f32_isa();
Isa qgemm_lut_isa();
Isa qgemm_packed16_isa();

}  // namespace lowbit::kernels
