#include "kernels/quantize_activations.h"

#include <array>
#include <cstring>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu_features.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::RowRangeFn range;
  detail::QuantizeCodesFn codes;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::row_range_avx512, detail::quantize_codes_avx512},
    Variant{Isa::kAvx2, detail::row_range_avx2, detail::quantize_codes_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::row_range_neon, detail::quantize_codes_neon},
#endif
    Variant{Isa::kScalar, detail::row_range_scalar, detail::quantize_codes_scalar},
};

// One row's parameters from its range [lo, hi] (lo <= 0 <= hi), computed with the operations of
// layers/quantizer.cpp's choose_params, in one place for every ISA: the scale, the integer bounds
// of the values q - z, and the shift that puts them into int8 (with offset = -shift added back by
// the GEMM).
struct RowParams {
  float scale;
  int qlo, qhi, shift;
};

RowParams row_params(float lo, float hi, const ActivationFormat& f) {
  constexpr float kMagic = 12582912.0f;  // round half to even, as quantizer.h's round_half_even
  if (f.symmetric) {
    const int qmax = (1 << (f.bits - 1)) - 1;
    float amax = -lo > hi ? -lo : hi;  // max |x|
    amax *= f.clip;
    const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 1.0f;
    return {scale, -qmax - 1, qmax, 0};
  }
  const int qmax = (1 << f.bits) - 1;
  lo *= f.clip;
  hi *= f.clip;
  const float scale = hi > lo ? (hi - lo) / static_cast<float>(qmax) : 1.0f;
  int z = static_cast<int>((-lo / scale + kMagic) - kMagic);
  z = z < 0 ? 0 : z > qmax ? qmax : z;  // in [0, qmax] already (-lo <= hi - lo); kept provable
  // Values q - z lie in [-z, qmax - z]: int8 as they are for b <= 7; for b = 8 stored as q - 128.
  return {scale, -z, qmax - z, f.bits == 8 ? z - 128 : 0};
}

}  // namespace

Isa quantize_activations_isa() {
  return select_variant(kVariants).isa;
}

void value_range(std::span<const float> x, float& lo, float& hi) {
  select_variant(kVariants).range(x.data(), x.size(), &lo, &hi);
}

void quantize_values(std::span<const float> x, float scale, int qlo, int qhi, int shift,
                     std::span<int8_t> out) {
  if (out.size() < x.size())
    fail("quantize_values: {} outputs for {} values", out.size(), x.size());
  if (qlo > qhi || qlo + shift < -128 || qhi + shift > 127)
    fail("quantize_values: bounds [{}, {}] + {} do not fit int8", qlo, qhi, shift);
  select_variant(kVariants).codes(x.data(), x.size(), scale, qlo, qhi, shift, out.data());
}

size_t activation_stride(size_t cols) {
  return (cols + 63) / 64 * 64;
}

void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx, int bits,
                          std::span<int8_t> codes, size_t stride, std::span<float> scales,
                          std::span<int32_t> row_sums) {
  quantize_activations(x, rows, cols, ldx, ActivationFormat{bits, true, 1.0f}, codes, stride,
                       scales, row_sums, {});
}

void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx,
                          const ActivationFormat& fmt, std::span<int8_t> codes, size_t stride,
                          std::span<float> scales, std::span<int32_t> row_sums,
                          std::span<int32_t> offsets) {
  const int bits = fmt.bits;
  if (bits < 2 || bits > 8) fail("quantize_activations: {} bits (2..8)", bits);
  if (!(fmt.clip > 0.0f && fmt.clip <= 1.0f))
    fail("quantize_activations: clip ratio {} outside (0, 1]", fmt.clip);
  if (ldx < cols) fail("quantize_activations: row stride {} < {} columns", ldx, cols);
  if (stride < (cols + 7) / 8 * 8)
    fail("quantize_activations: code stride {} < {} columns rounded up to 8", stride, cols);
  if (fmt.has_offsets() != !offsets.empty())
    fail("quantize_activations: {} row offsets for {}-bit {} activations", offsets.size(), bits,
         fmt.symmetric ? "symmetric" : "asymmetric");
  if (rows == 0) return;
  if (x.size() < (rows - 1) * ldx + cols || codes.size() < rows * stride || scales.size() < rows)
    fail("quantize_activations: buffers too small for {} rows of {}", rows, cols);
  if (!row_sums.empty() && row_sums.size() < rows)
    fail("quantize_activations: {} row sums for {} rows", row_sums.size(), rows);
  if (!offsets.empty() && offsets.size() < rows)
    fail("quantize_activations: {} row offsets for {} rows", offsets.size(), rows);
  const Variant& v = select_variant(kVariants);
  auto run_rows = [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* in = x.data() + r * ldx;
      int8_t* out = codes.data() + r * stride;
      float lo = 0.0f, hi = 0.0f;
      v.range(in, cols, &lo, &hi);
      const RowParams p = row_params(lo, hi, fmt);
      v.codes(in, cols, p.scale, p.qlo, p.qhi, p.shift, out);
      scales[r] = p.scale;
      if (!offsets.empty()) offsets[r] = -p.shift;
      std::memset(out + cols, 0, stride - cols);
      if (!row_sums.empty()) {
        int32_t sum = 0;
        for (size_t i = 0; i < cols; ++i) sum += out[i];
        row_sums[r] = sum;
      }
    }
  };
  // Below ~64K values a parallel region costs more than it saves.
  if (rows * cols < (size_t{1} << 16) || thread_pool().size() == 1)
    run_rows(0, rows);
  else
    thread_pool().parallel_for(rows, 1, run_rows);
}

void QuantizedActivations::quantize(std::span<const float> x, size_t rows, size_t cols, int bits) {
  quantize(x, rows, cols, ActivationFormat{bits, true, 1.0f});
}

void QuantizedActivations::quantize(std::span<const float> x, size_t rows, size_t cols,
                                    const ActivationFormat& fmt) {
  rows_ = rows;
  cols_ = cols;
  stride_ = activation_stride(cols);
  has_offsets_ = fmt.has_offsets();
  if (codes_.size() < rows * stride_) codes_.resize(rows * stride_);
  if (scales_.size() < rows) scales_.resize(rows);
  if (sums_.size() < rows) sums_.resize(rows);
  if (has_offsets_ && offsets_.size() < rows) offsets_.resize(rows);
  quantize_activations(
      x, rows, cols, cols, fmt, codes_, stride_, scales_, sums_,
      has_offsets_ ? std::span<int32_t>(offsets_.data(), rows) : std::span<int32_t>{});
}

QuantizedRowsView QuantizedActivations::view() const {
  return {
      std::span<const int8_t>(codes_.data(), rows_ * stride_),
      std::span<const float>(scales_.data(), rows_),
      rows_,
      cols_,
      stride_,
      std::span<const int32_t>(sums_.data(), rows_),
      has_offsets_ ? std::span<const int32_t>(offsets_.data(), rows_) : std::span<const int32_t>{}};
}

}  // namespace lowbit::kernels
