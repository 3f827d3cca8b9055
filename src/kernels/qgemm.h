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
#include <array>
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

// W4A8 for codebook weights with one table shared by every row (NF4). The integer kernels need
// integer weights, so the fp32 table is rounded to int8 once (lut8_table):
//   st = max |table| / 127, t8[c] = round(table[c] / st), |table[c] - st * t8[c]| <= st / 2
// (NF4: max |table| = 1, an error of at most 0.39% of each block's absmax). qgemm_lut8 looks the
// 4-bit codes up as u = t8 + 128 with one 16-byte table per register lane: for fewer than 16 rows
// on AVX-512 VNNI inside the GEMV/GEMM tile itself (vpshufb before vpdpbusd), otherwise into int8
// panels of L2 size (vpshufb on AVX2 and AVX-512BW, tbl on NEON) that the W8A8 kernel multiplies
// against the activations; either way with zero point 128:
//   y = qgemm(a with scales sa * st, weights u - 128 with the codebook weights' group scales)
// bit-exact on every ISA. Per-row tables (SqueezeLLM) have no W4A8 form: lanes of one register hold
// 16 output rows, and a byte shuffle serves one table per 128-bit lane.
struct Lut8Table {
  std::array<uint8_t, 16> codes{};  // t8[c] + 128
  float scale = 0.0f;               // st
};
Lut8Table lut8_table(std::span<const float> table);  // 16 finite entries, not all zero
void qgemm_lut8(const QuantizedRowsView& a, const PackedWeightsView& w, const Lut8Table& table,
                std::span<const float> bias, std::span<float> y, size_t ldy,
                std::span<const int32_t> weight_sums = {});
// qgemm_lut8's weight sums (for activations with offsets): per (block, group, row) the sum of
// u - 128 over the group, computed once per layer.
std::vector<int32_t> packed_weight_sums_lut8(const PackedWeightsView& w, const Lut8Table& table);

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
Isa lut8_unpack_isa();

}  // namespace lowbit::kernels
