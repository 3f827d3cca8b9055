#pragma once
// On-the-fly activation quantization for the integer GEMM: fp32 rows -> int8 codes with one scale
// per row (per token), exactly the per-token quantizer of src/layers/quantizer.h (clip c in (0,
// 1]):
//   symmetric:  s = c * max|x| / (2^(b-1) - 1);  q = clamp(rne(x / s), -2^(b-1), 2^(b-1) - 1)
//   asymmetric: lo = c * min(x, 0), hi = c * max(x, 0); s = (hi - lo) / (2^b - 1);
//               z = rne(-lo / s);  q = clamp(rne(x / s) + z, 0, 2^b - 1);  value (q - z) s
//   (s = 1 for an all-zero row). The stored int8 code is the signed value q (symmetric) or q - z
//   (asymmetric, b <= 7: in [-127, 127]); 8-bit asymmetric values q - z span [-255, 255], so
//   they are stored shifted, q - 128, with a per-row offset o = 128 - z that the GEMM adds back
//   (its code + o = q - z). For b = 8 the codes use the int8 range; for b = 4 (W4A4) they are
//   small values held in int8, which the same GEMM consumes. Every ISA variant is bit-exact with
//   the scalar one (a true division, and round-half-even conversion in the default rounding
//   mode). Inputs must be finite.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

// Row stride of quantized activations: cols rounded up to 64 bytes. The GEMM reads k in steps of
// 8, so rows must be zero-padded at least to a multiple of 8; 64 also keeps rows line-aligned.
size_t activation_stride(size_t cols);

// The activation format: bits 2..8, symmetric or not, clip ratio in (0, 1].
struct ActivationFormat {
  int bits = 8;
  bool symmetric = true;
  float clip = 1.0f;
  // Whether codes need a per-row offset (8-bit asymmetric).
  bool has_offsets() const { return bits == 8 && !symmetric; }
};

// A view of quantized rows as the GEMM consumes them.
struct QuantizedRowsView {
  std::span<const int8_t> codes;  // rows x stride; bytes in [cols, stride) are 0
  std::span<const float> scales;  // rows
  size_t rows = 0, cols = 0, stride = 0;
  // Optional: the sum of each row's codes (rows), which the GEMM needs for the weights' zero
  // point when the weights have one scale per row; computed from the codes when empty.
  std::span<const int32_t> row_sums = {};
  // 8-bit asymmetric only: per row, the integer to add to each code to get q - z (rows);
  // empty when the codes are the values themselves.
  std::span<const int32_t> offsets = {};
};

// Quantizes `rows` rows of x (row i at x[i * ldx], cols values) to `bits` (2..8) into codes
// (rows x stride, stride >= cols rounded up to 8; the padding is zeroed) and scales (rows).
// Multithreaded over rows when large. row_sums, when not empty (rows), receives the sum of each
// row's codes, computed while the row is in cache.
void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx, int bits,
                          std::span<int8_t> codes, size_t stride, std::span<float> scales,
                          std::span<int32_t> row_sums = {});
// Any format; offsets (rows) is required when fmt.has_offsets() and must be empty otherwise.
void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx,
                          const ActivationFormat& fmt, std::span<int8_t> codes, size_t stride,
                          std::span<float> scales, std::span<int32_t> row_sums,
                          std::span<int32_t> offsets);

// The two primitives on their own, for weight quantization (layers/quantizer.cpp), which reads a
// group's range once for its MSE clip search and then writes its codes:
// value_range: lo = min(0, min x), hi = max(0, max x) (exact: the same on every ISA).
// quantize_values: out[i] = rne(clamp(x[i] / scale, qlo, qhi)) + shift, with a true division;
//   qlo <= qhi integers, qlo + shift >= -128, qhi + shift <= 127.
void value_range(std::span<const float> x, float& lo, float& hi);
void quantize_values(std::span<const float> x, float scale, int qlo, int qhi, int shift,
                     std::span<int8_t> out);

// The variant quantize_activations uses now (under the current ISA ceiling).
Isa quantize_activations_isa();

// Owning buffers for quantized activations, reused across calls (grow only).
class QuantizedActivations {
 public:
  void quantize(std::span<const float> x, size_t rows, size_t cols, int bits);
  void quantize(std::span<const float> x, size_t rows, size_t cols, const ActivationFormat& fmt);
  QuantizedRowsView view() const;
  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t stride() const { return stride_; }
  std::span<const int8_t> row(size_t i) const { return {codes_.data() + i * stride_, cols_}; }
  float scale(size_t i) const { return scales_[i]; }
  // The row's offset (0 unless 8-bit asymmetric): row(i)[k] + offset(i) is the value q - z.
  int32_t offset(size_t i) const { return has_offsets_ ? offsets_[i] : 0; }

 private:
  std::vector<int8_t> codes_;
  std::vector<float> scales_;
  std::vector<int32_t> sums_;
  std::vector<int32_t> offsets_;
  bool has_offsets_ = false;
  size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

}  // namespace lowbit::kernels
