#include "train/fake_quant.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <tuple>

#include "core/thread_pool.h"

namespace lowbit::train {
namespace {

// The unclamped code of w (round(w / s) + z), in float as the quantizer computes it.
template <class T>
float raw_code(T w, QuantParams p) {
  return round_half_even(static_cast<float>(w) / p.scale) + p.zero;
}

template <class T>
std::pair<float, float> extent(const T* w, size_t n) {
  float lo = 0, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, static_cast<float>(w[i]));
    hi = std::max(hi, static_cast<float>(w[i]));
  }
  return {lo, hi};
}

// Group g's parameters on the dynamic grid: the start's scaled by the range's growth since then.
template <class T>
QuantParams dynamic_params(const WeightGrid& grid, size_t g, const T* w, size_t n) {
  const QuantParams p0 = grid.params[g];
  const float lo0 = grid.lo0[g], hi0 = grid.hi0[g];
  const auto [lo, hi] = extent(w, n);
  QuantParams p = p0;
  if (grid.spec.symmetric) {
    const float e0 = std::max(-lo0, hi0), e = std::max(-lo, hi);
    if (e0 > 0 && e > 0) p.scale = p0.scale * (e / e0);
    return p;
  }
  if (hi0 - lo0 <= 0 || hi - lo <= 0) return p;
  p.scale = p0.scale * ((hi - lo) / (hi0 - lo0));
  // The grid's lowest value sits (lo0 + z0 s0) below the minimum at the start; keep that gap,
  // scaled.
  const float bottom = lo - (lo0 + p0.zero * p0.scale) * (p.scale / p0.scale);
  p.zero =
      std::clamp(round_half_even(-bottom / p.scale), 0.0f, static_cast<float>(grid.spec.qmax()));
  return p;
}

// fn(offset, length, params) for every group of a [rows, cols] weight, on the pool.
template <class T, class F>
void for_each_group(const WeightGrid& grid, const T* w, size_t rows, size_t cols, const F& fn) {
  const size_t group = grid.spec.group_size > 0 ? static_cast<size_t>(grid.spec.group_size) : cols;
  const size_t groups = cols / group;
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t g = 0; g < groups; ++g) {
        const size_t off = r * cols + g * group;
        fn(off, group,
           grid.dynamic ? dynamic_params(grid, r * groups + g, w + off, group)
                        : grid.params[r * groups + g]);
      }
  });
}

}  // namespace

WeightGrid WeightGrid::of(const QuantizedMatrix& m) {
  WeightGrid grid{m.spec, m.params, true, {}, {}};
  const std::vector<float> w = m.dequantize();
  const size_t group = m.group_size(), n = m.params.size();
  grid.lo0.resize(n);
  grid.hi0.resize(n);
  for (size_t g = 0; g < n; ++g)
    std::tie(grid.lo0[g], grid.hi0[g]) = extent(w.data() + g * group, group);
  return grid;
}

template <class T>
void fake_quant_weight(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq) {
  if (!grid.enabled()) {
    std::copy_n(w, rows * cols, wq);
    return;
  }
  const float qmin = static_cast<float>(grid.spec.qmin()),
              qmax = static_cast<float>(grid.spec.qmax());
  for_each_group(grid, w, rows, cols, [&](size_t off, size_t n, QuantParams p) {
    for (size_t i = off; i < off + n; ++i) {
      const float q = std::clamp(raw_code(w[i], p), qmin, qmax);
      wq[i] = static_cast<T>(dequantize_value(static_cast<int>(q), p));
    }
  });
}

template <class T>
void fake_quant_weight_backward(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                                size_t cols, T* dw) {
  if (!grid.enabled() || grid.dynamic) {
    for (size_t i = 0; i < rows * cols; ++i) dw[i] += dwq[i];
    return;
  }
  const float qmin = static_cast<float>(grid.spec.qmin()),
              qmax = static_cast<float>(grid.spec.qmax());
  for_each_group(grid, w, rows, cols, [&](size_t off, size_t n, QuantParams p) {
    for (size_t i = off; i < off + n; ++i) {
      const float q = raw_code(w[i], p);
      if (q >= qmin && q <= qmax) dw[i] += dwq[i];
    }
  });
}

QuantizedMatrix quantize_on_grid(const WeightGrid& grid, const float* w, size_t rows, size_t cols) {
  QuantizedMatrix m = QuantizedMatrix::allocate(rows, cols, grid.spec);
  const size_t group = m.group_size(), groups = m.groups_per_row();
  const int qmin = grid.spec.qmin(), qmax = grid.spec.qmax();
  for_each_group(grid, w, rows, cols, [&](size_t off, size_t n, QuantParams p) {
    m.params[(off / cols) * groups + (off % cols) / group] = p;
    for (size_t i = off; i < off + n; ++i)
      m.codes[i] = static_cast<uint8_t>(quantize_value(w[i], p, qmin, qmax) - qmin);
  });
  return m;
}

template <>
void fake_quant_activations<float>(const QuantSpec& spec, const float* x, size_t rows, size_t cols,
                                   float* xq) {
  std::copy_n(x, rows * cols, xq);
  fake_quantize_rows(std::span(xq, rows * cols), rows, cols, spec);
}

// The double instantiation (gradient checks) takes each group's scale from the float quantizer and
// rounds in double.
template <>
void fake_quant_activations<double>(const QuantSpec& spec, const double* x, size_t rows,
                                    size_t cols, double* xq) {
  std::copy_n(x, rows * cols, xq);
  if (!spec.enabled()) return;
  const size_t group = spec.group_size > 0 ? static_cast<size_t>(spec.group_size) : cols;
  std::vector<float> tmp(group);
  for (size_t r = 0; r < rows; ++r)
    for (size_t g = 0; g < cols; g += group) {
      double* v = xq + r * cols + g;
      std::transform(v, v + group, tmp.begin(), [](double a) { return static_cast<float>(a); });
      const QuantParams p = choose_params(tmp, spec);
      for (size_t i = 0; i < group; ++i) {
        const double q =
            std::clamp(std::nearbyint(v[i] / p.scale) + p.zero, static_cast<double>(spec.qmin()),
                       static_cast<double>(spec.qmax()));
        v[i] = (q - p.zero) * p.scale;
      }
    }
}

template void fake_quant_weight<float>(const WeightGrid&, const float*, size_t, size_t, float*);
template void fake_quant_weight<double>(const WeightGrid&, const double*, size_t, size_t, double*);
template void fake_quant_weight_backward<float>(const WeightGrid&, const float*, const float*,
                                                size_t, size_t, float*);
template void fake_quant_weight_backward<double>(const WeightGrid&, const double*, const double*,
                                                 size_t, size_t, double*);

}  // namespace lowbit::train
