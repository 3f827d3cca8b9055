#include "layers/quantizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/quant_error.h"
#include "kernels/quantize_activations.h"

namespace lowbit {

void QuantSpec::validate(const std::string& what, size_t row_length) const {
  if (bits != 16 && (bits < 2 || bits > 8))
    fail("{}: {} bits is not supported (2..8, or 16 for full precision)", what, bits);
  if (group_size < 0) fail("{}: group size must be positive, got {}", what, group_size);
  if (group_size > 0 && row_length > 0 && row_length % static_cast<size_t>(group_size) != 0)
    fail("{}: group size {} does not divide the row length {}", what, group_size, row_length);
  if (!(clip > 0.0f && clip <= 1.0f)) fail("{}: clip ratio must be in (0, 1], got {}", what, clip);
  if (codebook == Codebook::kNf4 && bits != 4)
    fail("{}: the nf4 codebook has 16 values: 4 bits, got {}", what, bits);
  if (codebook == Codebook::kPerRow && bits != 16 && bits > 4)
    fail("{}: per-row codebooks have at most 16 values (2..4 bits), got {} bits", what, bits);
}

std::string QuantSpec::describe() const {
  if (!enabled()) return "fp";
  if (uses_codebook()) {
    std::string s = codebook == Codebook::kNf4 ? std::string("nf4")
                                               : fmt::format("per-row codebook {}-bit", bits);
    if (group_size > 0) s += fmt::format(" g{}", group_size);
    return s;
  }
  std::string s = fmt::format("int{} {}", bits, symmetric ? "sym" : "asym");
  if (group_size > 0) s += fmt::format(" g{}", group_size);
  if (mse_clip)
    s += " mse-clip";
  else if (clip < 1.0f)
    s += fmt::format(" clip{:.2f}", clip);
  return s;
}

namespace {

// The extremes choose_params scales by the clip ratio: max |x| (symmetric), min(x, 0) and
// max(x, 0) (asymmetric). The MSE search reads them once for its 51 candidates.
struct Range {
  float amax = 0.0f, lo = 0.0f, hi = 0.0f;
};

// One pass (kernels::value_range, vectorized); max |x| = max(hi, -lo) exactly, as the scalar
// max of |x| was.
Range range_of(std::span<const float> values) {
  Range r;
  kernels::value_range(values, r.lo, r.hi);
  r.amax = std::max(r.hi, -r.lo);
  return r;
}

QuantParams params_from_range(const Range& r, const QuantSpec& spec, float clip) {
  QuantParams p;
  if (spec.symmetric) {
    const float amax = r.amax * clip;
    p.scale = amax > 0.0f ? amax / static_cast<float>(spec.qmax()) : 1.0f;
    p.zero = 0.0f;
  } else {
    const float lo = r.lo * clip, hi = r.hi * clip;
    p.scale = hi > lo ? (hi - lo) / static_cast<float>(spec.qmax()) : 1.0f;
    p.zero = round_half_even(-lo / p.scale);
  }
  return p;
}

// Sum of squared quantization errors (kernels/quant_error.h: the values quantized exactly as
// quantize_value and dequantize_value do, the squares summed in 16 fixed float lanes, then in
// double). The search compares candidates that differ far more than the lanes' rounding.
double squared_error(std::span<const float> values, QuantParams p, const QuantSpec& spec) {
  return kernels::quantization_squared_error(
      values, p.scale, p.zero, static_cast<float>(spec.qmin()), static_cast<float>(spec.qmax()));
}

}  // namespace

QuantParams choose_params(std::span<const float> values, const QuantSpec& spec, float clip) {
  return params_from_range(range_of(values), spec, clip);
}

QuantParams choose_params(std::span<const float> values, const QuantSpec& spec) {
  const Range range = range_of(values);
  if (!spec.mse_clip) return params_from_range(range, spec, spec.clip);
  // Grid 1.00, 0.99, ..., 0.50 (the range used by GPTQ/QuaRot's MSE search).
  QuantParams best = params_from_range(range, spec, 1.0f);
  double best_err = squared_error(values, best, spec);
  for (int i = 1; i <= 50; ++i) {
    const float clip = 1.0f - 0.01f * static_cast<float>(i);
    const QuantParams p = params_from_range(range, spec, clip);
    const double err = squared_error(values, p, spec);
    if (err < best_err) {
      best_err = err;
      best = p;
    }
  }
  return best;
}

void fake_quantize_rows(std::span<float> x, size_t rows, size_t cols, const QuantSpec& spec) {
  if (!spec.enabled()) return;
  const size_t group = spec.group_size > 0 ? static_cast<size_t>(spec.group_size) : cols;
  const int qmin = spec.qmin(), qmax = spec.qmax();
  thread_pool().parallel_for(rows, 4, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t g = 0; g < cols; g += group) {
        auto values = x.subspan(r * cols + g, std::min(group, cols - g));
        const QuantParams p = choose_params(values, spec);
        for (float& v : values) v = dequantize_value(quantize_value(v, p, qmin, qmax), p);
      }
  });
}

std::vector<float> QuantizedMatrix::dequantize() const {
  std::vector<float> out(rows * cols);
  const size_t g = group_size(), groups = groups_per_row();
  if (spec.uses_codebook()) {
    thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        const auto t = table(r);
        for (size_t c = 0; c < cols; ++c)
          out[r * cols + c] = t[codes[r * cols + c]] * params[r * groups + c / g].scale;
      }
    });
    return out;
  }
  const int qmin = spec.qmin();
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t c = 0; c < cols; ++c)
        out[r * cols + c] = dequantize_value(static_cast<int>(codes[r * cols + c]) + qmin,
                                             params[r * groups + c / g]);
  });
  return out;
}

QuantizedMatrix QuantizedMatrix::allocate(size_t rows, size_t cols, const QuantSpec& spec) {
  QuantizedMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.spec = spec;
  m.codes.resize(rows * cols);
  m.params.resize(rows * m.groups_per_row());
  return m;
}

QuantizedMatrix quantize_rows(std::span<const float> x, size_t rows, size_t cols,
                              const QuantSpec& spec) {
  if (!spec.enabled()) fail("quantize_rows: quantization is disabled (16 bits)");
  QuantizedMatrix m = QuantizedMatrix::allocate(rows, cols, spec);
  const size_t g = m.group_size(), groups = m.groups_per_row();
  if (spec.codebook == Codebook::kPerRow)
    fail("quantize_rows: a per-row codebook is learned by its method, not rounded to");
  if (spec.codebook == Codebook::kNf4) {
    const auto table = nf4_table();
    m.codebook.assign(table.begin(), table.end());
    m.codebook_rows = 1;
    thread_pool().parallel_for(rows, 4, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r)
        for (size_t k = 0; k < groups; ++k) {
          const auto values = x.subspan(r * cols + k * g, g);
          float amax = 0.0f;
          for (float v : values) amax = std::max(amax, std::fabs(v));
          const float scale = amax > 0.0f ? amax : 1.0f;
          m.params[r * groups + k] = {scale, 0.0f};
          for (size_t i = 0; i < g; ++i)
            m.codes[r * cols + k * g + i] = nearest_code(table, values[i] / scale);
        }
    });
    return m;
  }
  const int qmin = spec.qmin(), qmax = spec.qmax();
  thread_pool().parallel_for(rows, 4, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t k = 0; k < groups; ++k) {
        const auto values = x.subspan(r * cols + k * g, g);
        const QuantParams p = choose_params(values, spec);
        m.params[r * groups + k] = p;
        // quantize_value's code q - qmin, as the activation kernel computes it: clamp(rne(x /
        // s) + z, qmin, qmax) = rne(clamp(x / s, qmin - z, qmax - z)) + z (integer bounds), held
        // in int8 as code - 128 and flipped back to the unsigned code.
        const int z = static_cast<int>(p.zero);
        auto codes = std::span(m.codes).subspan(r * cols + k * g, g);
        const std::span<int8_t> signed_codes(reinterpret_cast<int8_t*>(codes.data()), g);
        kernels::quantize_values(values, p.scale, qmin - z, qmax - z, z - qmin - 128, signed_codes);
        for (uint8_t& c : codes) c ^= 0x80;
      }
  });
  return m;
}

void fake_quantize_tensor(std::span<float> x, const QuantSpec& spec) {
  if (!spec.enabled()) return;
  const QuantParams p = choose_params(x, spec);
  for (float& v : x) v = dequantize_value(quantize_value(v, p, spec.qmin(), spec.qmax()), p);
}

}  // namespace lowbit
