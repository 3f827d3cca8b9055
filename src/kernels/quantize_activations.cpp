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
  detail::QuantizeRowFn fn;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::quantize_row_avx512},
    Variant{Isa::kAvx2, detail::quantize_row_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::quantize_row_neon},
#endif
    Variant{Isa::kScalar, detail::quantize_row_scalar},
};

}  // namespace

Isa quantize_activations_isa() {
  return select_variant(kVariants).isa;
}

size_t activation_stride(size_t cols) {
  return (cols + 63) / 64 * 64;
}

void quantize_activations(std::span<const float> x, size_t rows, size_t cols, size_t ldx, int bits,
                          std::span<int8_t> codes, size_t stride, std::span<float> scales,
                          std::span<int32_t> row_sums) {
  if (bits < 2 || bits > 8) fail("quantize_activations: {} bits (2..8)", bits);
  if (ldx < cols) fail("quantize_activations: row stride {} < {} columns", ldx, cols);
  if (stride < (cols + 7) / 8 * 8)
    fail("quantize_activations: code stride {} < {} columns rounded up to 8", stride, cols);
  if (rows == 0) return;
  if (x.size() < (rows - 1) * ldx + cols || codes.size() < rows * stride || scales.size() < rows)
    fail("quantize_activations: buffers too small for {} rows of {}", rows, cols);
  if (!row_sums.empty() && row_sums.size() < rows)
    fail("quantize_activations: {} row sums for {} rows", row_sums.size(), rows);
  const int qmax = (1 << (bits - 1)) - 1;
  const detail::QuantizeRowFn fn = select_variant(kVariants).fn;
  auto run_rows = [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      int8_t* out = codes.data() + r * stride;
      scales[r] = fn(x.data() + r * ldx, cols, qmax, out);
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
  rows_ = rows;
  cols_ = cols;
  stride_ = activation_stride(cols);
  if (codes_.size() < rows * stride_) codes_.resize(rows * stride_);
  if (scales_.size() < rows) scales_.resize(rows);
  if (sums_.size() < rows) sums_.resize(rows);
  quantize_activations(x, rows, cols, cols, bits, codes_, stride_, scales_, sums_);
}

QuantizedRowsView QuantizedActivations::view() const {
  return {std::span<const int8_t>(codes_.data(), rows_ * stride_),
          std::span<const float>(scales_.data(), rows_),
          rows_,
          cols_,
          stride_,
          std::span<const int32_t>(sums_.data(), rows_)};
}

}  // namespace lowbit::kernels
