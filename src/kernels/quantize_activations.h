#pragma once
// On-the-fly activation quantization for the integer GEMM: fp32 rows -> int8 codes with one scale
// per row (per token), exactly the symmetric per-token quantizer of src/quant/quantizer.h:
//   s = max|x| / (2^(b-1) - 1)   (s = 1 for an all-zero row)
//   q = clamp(round_half_even(x / s), -2^(b-1), 2^(b-1) - 1)
// For b = 8 the codes use the int8 range; for b = 4 (W4A4) they are 4-bit values held in int8,
// which the same GEMM consumes. Every ISA variant is bit-exact with the scalar one (a true
// division, and round-half-even conversion in the default rounding mode). Inputs must be finite.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

// Row stride of quantized activations: cols rounded up to 64 bytes. The GEMM reads k in steps of
// 8, so rows must be zero-padded at least to a multiple of 8; 64 also keeps rows line-aligned.
size_t activation_stride(size_t cols);

// A view of quantized rows as the GEMM consumes them.
struct QuantizedRowsView {
  std::span<const int8_t> codes;  // rows x stride; bytes in [cols, stride) are 0
  std::span<const float> scales;  // rows
  size_t rows = 0, cols = 0, stride = 0;
  // Optional: the sum of each row's codes (rows), which the GEMM needs for the weights' zero
  // point when the weights have one scale per row; computed from the codes when empty.
  std::span<const int32_t> row_sums = {};
};

// Quantizes `rows` rows of x (row i at x[i * ldx], cols values) to `bits` (2..8) into codes
// (rows x stride, stride >= cols rounded up to 8; the padding is zeroed) and scales (rows).
// Multithreaded over rows when large. row_sums, when not empty (rows), receives the sum of each
// row's codes, computed while the row is in cache.
void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx, int bits,
                          std::span<int8_t> codes, size_t stride, std::span<float> scales,
                          std::span<int32_t> row_sums = {});

// The variant quantize_activations uses now (under the current ISA ceiling).
Isa quantize_activations_isa();

// Owning buffers for quantized activations, reused across calls (grow only).
class QuantizedActivations {
 public:
  void quantize(std::span<const float> x, size_t rows, size_t cols, int bits);
  QuantizedRowsView view() const;
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t stride() const { return stride_; }
  std::span<const int8_t> row(size_t i) const { return {codes_.data() + i * stride_, cols_}; }
  float scale(size_t i) const { return scales_[i]; }

 private:
  std::vector<int8_t> codes_;
  std::vector<float> scales_;
  std::vector<int32_t> sums_;
  size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

}  // namespace lowbit::kernels
