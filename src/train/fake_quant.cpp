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

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// A group's grid with learned clipping applied, and what its gradient needs.
struct ClippedGroup {
  QuantParams base;             // before clipping (fixed or dynamic)
  QuantParams p;                // after
  double top = 0, bottom = 0;   // the base grid's ends: (qmax - z) s and -z s (top = s qmax sym)
  double c_hi = 1, c_lo = 1;    // sigmoid(theta) / sigmoid(theta0)
  double dc_hi = 0, dc_lo = 0;  // their derivatives in theta
};

template <class T>
ClippedGroup clip_group(const WeightGrid& grid, QuantParams base, size_t g, Clip<T> clip) {
  ClippedGroup c;
  c.base = c.p = base;
  if (clip.hi == nullptr) return c;
  const double s0 = sigmoid(kClipLogit0);
  const double sh = sigmoid(static_cast<double>(clip.hi[g]));
  c.c_hi = sh / s0;
  c.dc_hi = sh * (1 - sh) / s0;
  const double qmax = grid.spec.qmax();
  if (grid.spec.symmetric) {
    c.top = static_cast<double>(base.scale) * qmax;
    if (clip.hi[g] != static_cast<T>(kClipLogit0))
      c.p.scale = static_cast<float>(base.scale * c.c_hi);
    return c;
  }
  const double sl = sigmoid(static_cast<double>(clip.lo[g]));
  c.c_lo = sl / s0;
  c.dc_lo = sl * (1 - sl) / s0;
  c.top = (qmax - base.zero) * static_cast<double>(base.scale);
  c.bottom = -static_cast<double>(base.zero) * base.scale;
  // At the starting logits the grid is the base grid exactly (no rounding through the sums).
  if (clip.hi[g] == static_cast<T>(kClipLogit0) && clip.lo[g] == static_cast<T>(kClipLogit0))
    return c;
  const double s = (c.c_hi * c.top - c.c_lo * c.bottom) / qmax;
  if (s <= 0) return c;
  c.p.scale = static_cast<float>(s);
  c.p.zero = std::clamp(round_half_even(static_cast<float>(-c.c_lo * c.bottom / s)), 0.0f,
                        static_cast<float>(qmax));
  return c;
}

// fn(offset, length, group index, params) for every group of a [rows, cols] weight, on the pool.
// Calls fn(src, dst, n, gi, clipped grid) for every group: src is the group's offset in w, dst
// its offset in a compact output of `rows` rows. With `row_ids`, output row r is row row_ids[r]
// of w; without, it is row r (src == dst).
template <class T, class F>
void for_each_group(const WeightGrid& grid, const T* w, size_t rows, size_t cols, Clip<T> clip,
                    const F& fn, const int32_t* row_ids = nullptr) {
  const size_t group = grid.spec.group_size > 0 ? static_cast<size_t>(grid.spec.group_size) : cols;
  const size_t groups = cols / group;
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const size_t row = row_ids != nullptr ? static_cast<size_t>(row_ids[r]) : r;
      for (size_t g = 0; g < groups; ++g) {
        const size_t src = row * cols + g * group, dst = r * cols + g * group,
                     gi = row * groups + g;
        const QuantParams base =
            grid.dynamic ? dynamic_params(grid, gi, w + src, group) : grid.params[gi];
        fn(src, dst, group, gi, clip_group(grid, base, gi, clip));
      }
    }
  });
}

template <class T>
void fake_quant_impl(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq,
                     Clip<T> clip, const int32_t* row_ids) {
  const float qmin = static_cast<float>(grid.spec.qmin()),
              qmax = static_cast<float>(grid.spec.qmax());
  for_each_group(
      grid, w, rows, cols, clip,
      [&](size_t src, size_t dst, size_t n, size_t, const ClippedGroup& c) {
        for (size_t i = 0; i < n; ++i) {
          const float q = std::clamp(raw_code(w[src + i], c.p), qmin, qmax);
          wq[dst + i] = static_cast<T>(dequantize_value(static_cast<int>(q), c.p));
        }
      },
      row_ids);
}

// The gradient with learned clipping, for one group with g_i = dL/dQ(w_i), s and z the clipped
// grid's, T and B the base grid's top and bottom ends (T' = c_hi T, B' = c_lo B after clipping):
//   Q(w) = (clamp(round(w / s) + z) - z) s,  z = round(-B' / s),  s = (T' - B') / qmax
//   (symmetric: z = 0, s = c_hi T / qmax). With round() passed straight through:
//   inside the grid:  dQ/dw = 1, dQ/ds = round(w / s) - w / s, dQ/dz = 0;
//   clamped to code q: dQ/dw = 0, dQ/ds = q - z, dQ/dz = -s;
//   dz/dB' = -1 / s, dz/ds = B' / s^2;  ds/dT' = 1 / qmax, ds/dB' = -1 / qmax.
// dwq is compact (rows of row_ids when given); w, dw and the logits are the whole tensor's.
template <class T>
void fake_quant_backward_impl(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                              size_t cols, T* dw, Clip<T> clip, ClipGrad<T> dclip,
                              const int32_t* row_ids) {
  const float qmin = static_cast<float>(grid.spec.qmin()),
              qmax = static_cast<float>(grid.spec.qmax());
  for_each_group(
      grid, w, rows, cols, clip,
      [&](size_t src, size_t dst, size_t n, size_t gi, const ClippedGroup& c) {
        const double s = c.p.scale, z = c.p.zero;
        double g_s = 0, g_z = 0;
        for (size_t i = 0; i < n; ++i) {
          const T wi = w[src + i];
          const float raw = raw_code(wi, c.p);
          const double g = static_cast<double>(dwq[dst + i]);
          if (raw >= qmin && raw <= qmax) {
            if (dw != nullptr) dw[src + i] += dwq[dst + i];
            g_s += g * ((raw - z) - static_cast<double>(wi) / s);
          } else {
            g_s += g * (std::clamp(raw, qmin, qmax) - z);
            g_z -= g * s;
          }
        }
        if (clip.hi == nullptr || dclip.hi == nullptr) return;
        if (grid.spec.symmetric) {
          // s = c_hi T / qmax.
          dclip.hi[gi] += static_cast<T>(g_s * c.top / qmax * c.dc_hi);
          return;
        }
        const double b = c.c_lo * c.bottom;  // B'
        const double gs_total = g_s + g_z * b / (s * s);
        const double d_top = gs_total / qmax;
        const double d_bottom = -gs_total / qmax - g_z / s;
        dclip.hi[gi] += static_cast<T>(d_top * c.top * c.dc_hi);
        dclip.lo[gi] += static_cast<T>(d_bottom * c.bottom * c.dc_lo);
      },
      row_ids);
}

bool straight_through(const WeightGrid& grid, bool clipped) {
  return !grid.enabled() || (grid.dynamic && !clipped);
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
void fake_quant_weight(const WeightGrid& grid, const T* w, size_t rows, size_t cols, T* wq,
                       Clip<T> clip) {
  if (!grid.enabled()) {
    std::copy_n(w, rows * cols, wq);
    return;
  }
  fake_quant_impl(grid, w, rows, cols, wq, clip, nullptr);
}

template <class T>
void fake_quant_weight_backward(const WeightGrid& grid, const T* w, const T* dwq, size_t rows,
                                size_t cols, T* dw, Clip<T> clip, ClipGrad<T> dclip) {
  if (straight_through(grid, clip.hi != nullptr)) {
    for (size_t i = 0; i < rows * cols; ++i) dw[i] += dwq[i];
    return;
  }
  fake_quant_backward_impl(grid, w, dwq, rows, cols, dw, clip, dclip, nullptr);
}

template <class T>
void fake_quant_rows(const WeightGrid& grid, const T* w, size_t cols, std::span<const int32_t> ids,
                     T* out, Clip<T> clip) {
  if (!grid.enabled()) {
    for (size_t r = 0; r < ids.size(); ++r)
      std::copy_n(w + static_cast<size_t>(ids[r]) * cols, cols, out + r * cols);
    return;
  }
  fake_quant_impl(grid, w, ids.size(), cols, out, clip, ids.data());
}

template <class T>
void fake_quant_rows_backward(const WeightGrid& grid, const T* w, size_t cols,
                              std::span<const int32_t> ids, const T* dout, T* dw, Clip<T> clip,
                              ClipGrad<T> dclip) {
  if (straight_through(grid, clip.hi != nullptr)) {
    for (size_t r = 0; r < ids.size(); ++r) {
      T* d = dw + static_cast<size_t>(ids[r]) * cols;
      for (size_t i = 0; i < cols; ++i) d[i] += dout[r * cols + i];
    }
    return;
  }
  fake_quant_backward_impl(grid, w, dout, ids.size(), cols, dw, clip, dclip, ids.data());
}

QuantizedMatrix quantize_on_grid(const WeightGrid& grid, const float* w, size_t rows, size_t cols,
                                 Clip<float> clip) {
  QuantizedMatrix m = QuantizedMatrix::allocate(rows, cols, grid.spec);
  const int qmin = grid.spec.qmin(), qmax = grid.spec.qmax();
  for_each_group(grid, w, rows, cols, clip,
                 [&](size_t off, size_t, size_t n, size_t gi, const ClippedGroup& c) {
                   m.params[gi] = c.p;
                   for (size_t i = off; i < off + n; ++i)
                     m.codes[i] =
                         static_cast<uint8_t>(quantize_value(w[i], c.p, qmin, qmax) - qmin);
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

template void fake_quant_weight<float>(const WeightGrid&, const float*, size_t, size_t, float*,
                                       Clip<float>);
template void fake_quant_weight<double>(const WeightGrid&, const double*, size_t, size_t, double*,
                                        Clip<double>);
template void fake_quant_weight_backward<float>(const WeightGrid&, const float*, const float*,
                                                size_t, size_t, float*, Clip<float>,
                                                ClipGrad<float>);
template void fake_quant_weight_backward<double>(const WeightGrid&, const double*, const double*,
                                                 size_t, size_t, double*, Clip<double>,
                                                 ClipGrad<double>);

template void fake_quant_rows<float>(const WeightGrid&, const float*, size_t,
                                     std::span<const int32_t>, float*, Clip<float>);
template void fake_quant_rows<double>(const WeightGrid&, const double*, size_t,
                                      std::span<const int32_t>, double*, Clip<double>);
template void fake_quant_rows_backward<float>(const WeightGrid&, const float*, size_t,
                                              std::span<const int32_t>, const float*, float*,
                                              Clip<float>, ClipGrad<float>);
template void fake_quant_rows_backward<double>(const WeightGrid&, const double*, size_t,
                                               std::span<const int32_t>, const double*, double*,
                                               Clip<double>, ClipGrad<double>);

}  // namespace lowbit::train
