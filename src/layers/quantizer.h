#pragma once
// Uniform integer quantization, the primitive every method builds on.
//
// Semantics (documented here once, tested against hand-computed values in
// tests/layers/quantizer_test.cpp):
// - Symmetric, b bits: scale s = clip * max|x| / (2^(b-1) - 1); q = clamp(round(x / s),
//   -2^(b-1), 2^(b-1) - 1); x' = q * s.
// - Asymmetric, b bits: lo = clip * min(x, 0), hi = clip * max(x, 0); s = (hi - lo) / (2^b - 1);
//   zero point z = round(-lo / s); q = clamp(round(x / s) + z, 0, 2^b - 1); x' = (q - z) * s.
// - round() is round-half-to-even (as torch.round, which the reference implementations use).
// - A group whose values are all zero gets scale 1 (every value quantizes to 0 exactly).
// - clip in (0, 1] shrinks the range; mse_clip searches clip over a grid per group instead,
//   keeping the value with the smallest squared error.
// - A codebook spec (layers/codebook.h) replaces the integer grid by a table: the code is an index
//   u in [0, 2^bits), the value table[u] * scale, zero points unused. NF4 scales each group by its
//   absmax; a per-row table (SqueezeLLM) has scale 1.
// - Zero points are floats: HQQ's optimised zero points are fractional and are kept so (the
//   packed layer folds the fraction out of the integer product, layers/weight_extras.h).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "layers/codebook.h"

namespace lowbit {

struct QuantSpec {
  int bits = 16;  // 2..8 quantize; 16 means "not quantized" (full precision)
  bool symmetric = true;
  // Values per scale along a row: 0 = the whole row (per output channel for weights, per token
  // for activations); otherwise a group size dividing the row length.
  int group_size = 0;
  float clip = 1.0f;
  bool mse_clip = false;
  Codebook codebook = Codebook::kNone;  // a non-uniform grid (then symmetric is ignored)

  bool enabled() const { return bits < 16; }
  bool uses_codebook() const { return codebook != Codebook::kNone; }
  int qmin() const { return symmetric && !uses_codebook() ? -(1 << (bits - 1)) : 0; }
  int qmax() const {
    return symmetric && !uses_codebook() ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
  }
  // Throws lowbit::Error (naming `what`, e.g. "--wbits") for impossible settings.
  void validate(const std::string& what, size_t row_length = 0) const;
  std::string describe() const;  // e.g. "int4 sym g128"
  bool operator==(const QuantSpec&) const = default;
};

struct QuantParams {
  float scale = 1.0f;
  float zero = 0.0f;  // zero point (0 for symmetric)
};

// Parameters for one group of values at a given clip ratio.
QuantParams choose_params(std::span<const float> values, const QuantSpec& spec, float clip);
// Parameters for one group, honouring spec.clip or the MSE clip search.
QuantParams choose_params(std::span<const float> values, const QuantSpec& spec);

inline float round_half_even(float x) {
  // Adding and subtracting 1.5 * 2^23 rounds to nearest-even in the default FP environment, and
  // is exact for |x| < 2^22 (quantized values are far smaller).
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

inline int quantize_value(float x, QuantParams p, int qmin, int qmax) {
  float q = round_half_even(x / p.scale) + p.zero;
  q = q < static_cast<float>(qmin) ? static_cast<float>(qmin) : q;
  q = q > static_cast<float>(qmax) ? static_cast<float>(qmax) : q;
  return static_cast<int>(q);
}

inline float dequantize_value(int q, QuantParams p) {
  return (static_cast<float>(q) - p.zero) * p.scale;
}

// A matrix on the quantization grid: codes (q - qmin, so 0 .. 2^bits - 1 fits a byte for every
// bit width and both modes) and one QuantParams per (row, group).
struct QuantizedMatrix {
  size_t rows = 0, cols = 0;
  QuantSpec spec;
  std::vector<uint8_t> codes;       // [rows, cols]
  std::vector<QuantParams> params;  // [rows, groups_per_row()]
  // Codebook specs: codebook_rows tables (1: shared; rows: one per row) of 2^bits values.
  std::vector<float> codebook;
  size_t codebook_rows = 0;

  // The table row r uses (codebook specs only).
  std::span<const float> table(size_t row) const {
    const size_t n = size_t{1} << spec.bits;
    return std::span(codebook).subspan(codebook_rows == 1 ? 0 : row * n, n);
  }

  size_t group_size() const {
    return spec.group_size > 0 ? static_cast<size_t>(spec.group_size) : cols;
  }
  size_t groups_per_row() const { return cols / group_size(); }
  std::vector<float> dequantize() const;
  // A rows x cols matrix of `spec` with codes and parameters allocated (zero), to be filled.
  static QuantizedMatrix allocate(size_t rows, size_t cols, const QuantSpec& spec);
};

// Quantizes each row in groups of spec.group_size (spec must be enabled). NF4 specs round x /
// absmax of the group to the nearest table entry; a per-row codebook is learned by its method
// instead (quant/squeezellm) and fails here.
QuantizedMatrix quantize_rows(std::span<const float> x, size_t rows, size_t cols,
                              const QuantSpec& spec);

// Quantize-dequantize `rows` x `cols` values in place, each row in groups of spec.group_size.
void fake_quantize_rows(std::span<float> x, size_t rows, size_t cols, const QuantSpec& spec);

// Quantize-dequantize all values with one scale (per-tensor).
void fake_quantize_tensor(std::span<float> x, const QuantSpec& spec);

}  // namespace lowbit
