#include "quant/hqq.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "quant/quant_pass.h"

namespace lowbit {
namespace {

// The reference's shrink_lp_op: sign(x) relu(|x| - |x|^(p-1) / beta) (p = 1: soft threshold).
// |x| - |x|^(p-1) / beta > 0 only where |x|^(2-p) > 1 / beta, i.e. above beta^(-1 / (2 - p)): with
// HQQ's beta (10, growing) that is ~0.17, far above a weight's rounding error, so almost every
// element is below it and needs no pow (the quantizer's cost). `below` sits 0.1% under the
// threshold, so the result is the same float as computing it (the difference there is ~0.1% of
// |x|^(p-1) / beta, far more than its rounding error).
struct Shrink {
  float beta, p, below;
  Shrink(float b, float lp)
      : beta(b), p(lp), below(lp < 2.0f ? 0.999f * std::pow(b, -1.0f / (2.0f - lp)) : 0.0f) {}

  float operator()(float x) const {
    const float a = std::fabs(x);
    if (a < below) return std::copysign(0.0f, x);
    const float t = p == 1.0f ? 1.0f / beta : std::pow(a, p - 1.0f) / beta;
    return std::copysign(std::max(a - t, 0.0f), x);
  }
};

// One group's grid: the reference's Quantizer.quantize (min-max, the inverse scale clamped at 2e4,
// the zero point left unrounded). HQQ writes the scale inverted (q = round(w * inv + z)).
struct Group {
  float inv = 1.0f, zero = 0.0f;
};

Group init_group(std::span<const float> w, float top) {
  const auto [lo_it, hi_it] = std::minmax_element(w.begin(), w.end());
  const float lo = *lo_it, hi = *hi_it;
  Group g;
  g.inv = hi > lo ? std::min(top / (hi - lo), 2e4f) : 1.0f;
  g.zero = -lo * g.inv;
  return g;
}

inline float quant(float x, const Group& g, float top) {
  return std::clamp(std::nearbyint(x * g.inv + g.zero), 0.0f, top);
}

// One half-quadratic step on a group (optimize_weights_proximal): the sparse error W_e by the
// l_p shrinkage, the zero point's closed-form update; returns sum |W - dequant(W_q)| before it.
double step_group(std::span<const float> w, Group& g, float top, const Shrink& shrink) {
  double err = 0.0, zsum = 0.0;
  for (float x : w) {
    const float q = quant(x, g, top);
    const float r = (q - g.zero) / g.inv;
    const float e = shrink(x - r);
    zsum += q - (x - e) * g.inv;
    err += std::fabs(x - r);
  }
  g.zero = static_cast<float>(zsum / static_cast<double>(w.size()));
  return err;
}

class HqqPass final : public QuantPass {
 public:
  HqqPass(WeightSpecs specs, HqqSettings settings)
      : specs_(std::move(specs)), settings_(settings) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites)
      for (WorkLinear* p : ctx.work.at(site)) {
        const QuantSpec spec = specs_(ctx.index, p->name);
        if (spec.enabled())
          p->q = hqq_quantize(p->w, static_cast<size_t>(p->out), static_cast<size_t>(p->in), spec,
                              settings_);
      }
  }

 private:
  WeightSpecs specs_;
  HqqSettings settings_;
};

}  // namespace

QuantizedMatrix hqq_quantize(std::span<const float> w, size_t rows, size_t cols,
                             const QuantSpec& spec, const HqqSettings& settings) {
  QuantSpec s = spec;
  s.symmetric = false;  // HQQ's grid is asymmetric (min-max with a zero point)
  s.mse_clip = false;
  s.clip = 1.0f;
  QuantizedMatrix m = QuantizedMatrix::allocate(rows, cols, s);
  const size_t g = m.group_size(), groups = m.groups_per_row(), n = rows * groups;
  const float top = static_cast<float>(s.qmax());
  auto values = [&](size_t i) { return w.subspan(i / groups * cols + i % groups * g, g); };
  std::vector<Group> grid(n);
  thread_pool().parallel_for(n, 64, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) grid[i] = init_group(values(i), top);
  });
  // The reference iterates the whole matrix at once and stops when its mean |error| (measured
  // before each step's update, which is kept) no longer improves.
  float beta = settings.beta;
  double best = INFINITY;
  std::vector<double> err(n);
  for (int it = 0; it < settings.iters; ++it) {
    const Shrink shrink(beta, settings.lp_norm);
    thread_pool().parallel_for(n, 64, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) err[i] = step_group(values(i), grid[i], top, shrink);
    });
    beta *= settings.kappa;
    double total = 0.0;
    for (double e : err) total += e;
    const double mean = total / static_cast<double>(rows * cols);
    if (mean < best)
      best = mean;
    else
      break;
  }
  thread_pool().parallel_for(n, 64, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const auto v = values(i);
      uint8_t* codes = m.codes.data() + i / groups * cols + i % groups * g;
      for (size_t j = 0; j < g; ++j) codes[j] = static_cast<uint8_t>(quant(v[j], grid[i], top));
      m.params[i] = {1.0f / grid[i].inv, grid[i].zero};
    }
  });
  return m;
}

std::unique_ptr<QuantPass> make_hqq_pass(const QuantizeOptions& o) {
  const HqqSettings st{.lp_norm = static_cast<float>(o.params.real("hqq-lp")),
                       .beta = static_cast<float>(o.params.real("hqq-beta")),
                       .kappa = static_cast<float>(o.params.real("hqq-kappa")),
                       .iters = static_cast<int>(o.params.integer("hqq-iters"))};
  return std::make_unique<HqqPass>(o.weight_specs(), st);
}

}  // namespace lowbit
