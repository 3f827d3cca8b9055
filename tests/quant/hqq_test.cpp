// HQQ: the half-quadratic solver lowers the l_p error of the min-max grid it starts from, its zero
// points are kept fractional, and it beats asymmetric RTN's error at the same group size.
#include "quant/hqq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace lowbit {
namespace {

std::vector<float> heavy_tailed(size_t n, uint32_t seed) {
  // Student-t-like weights: a few large values, as real projections have.
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> w(n);
  for (auto& x : w) {
    const float c = d(rng);
    x = d(rng) / std::sqrt(0.2f + c * c * 0.3f) * 0.02f;
  }
  return w;
}

double lp_error(std::span<const float> w, std::span<const float> q, double p) {
  double e = 0;
  for (size_t i = 0; i < w.size(); ++i) e += std::pow(std::fabs(w[i] - q[i]), p);
  return e / static_cast<double>(w.size());
}

TEST(Hqq, SolverLowersTheErrorOfItsStartingGrid) {
  const size_t rows = 64, cols = 256;
  const auto w = heavy_tailed(rows * cols, 1);
  const QuantSpec spec{.bits = 4, .group_size = 64};
  HqqSettings none;
  none.iters = 0;  // the min-max grid with an unrounded zero point, HQQ's start
  const auto start = hqq_quantize(w, rows, cols, spec, none).dequantize();
  const QuantizedMatrix q = hqq_quantize(w, rows, cols, spec, HqqSettings{});
  const auto opt = q.dequantize();
  EXPECT_LT(lp_error(w, opt, 0.7), lp_error(w, start, 0.7));
  EXPECT_LT(lp_error(w, opt, 1.0), lp_error(w, start, 1.0));
  EXPECT_FALSE(q.spec.symmetric);
  bool fractional = false;
  for (const auto& p : q.params) fractional = fractional || p.zero != std::nearbyint(p.zero);
  EXPECT_TRUE(fractional);
  for (uint8_t c : q.codes) ASSERT_LT(c, 16);
}

TEST(Hqq, BeatsAsymmetricRoundToNearest) {
  const size_t rows = 64, cols = 256;
  const auto w = heavy_tailed(rows * cols, 2);
  for (int bits : {3, 4}) {
    const QuantSpec spec{.bits = bits, .symmetric = false, .group_size = 64};
    const auto rtn = quantize_rows(w, rows, cols, spec).dequantize();
    const auto hqq = hqq_quantize(w, rows, cols, spec, HqqSettings{}).dequantize();
    EXPECT_LT(lp_error(w, hqq, 1.0), lp_error(w, rtn, 1.0)) << bits;
  }
}

// The solver written out as the reference's optimize_weights_proximal reads, the shrinkage's pow
// taken for every element: the quantizer (which skips the pow where the shrinkage is 0) must give
// the same codes and parameters, also where beta puts many residuals above the threshold.
QuantizedMatrix reference_hqq(std::span<const float> w, size_t rows, size_t cols, int bits,
                              size_t g, const HqqSettings& st) {
  QuantizedMatrix m = QuantizedMatrix::allocate(
      rows, cols, QuantSpec{.bits = bits, .symmetric = false, .group_size = static_cast<int>(g)});
  const float top = static_cast<float>((1 << bits) - 1);
  const size_t groups = cols / g, n = rows * groups;
  std::vector<float> inv(n), zero(n);
  auto values = [&](size_t i) { return w.subspan(i / groups * cols + i % groups * g, g); };
  auto quant = [&](float x, size_t i) {
    return std::clamp(std::nearbyint(x * inv[i] + zero[i]), 0.0f, top);
  };
  for (size_t i = 0; i < n; ++i) {
    const auto v = values(i);
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    inv[i] = *hi > *lo ? std::min(top / (*hi - *lo), 2e4f) : 1.0f;
    zero[i] = -*lo * inv[i];
  }
  float beta = st.beta;
  double best = INFINITY;
  for (int it = 0; it < st.iters; ++it) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
      double zsum = 0.0;
      for (float x : values(i)) {
        const float q = quant(x, i);
        const float r = (q - zero[i]) / inv[i];
        const float a = std::fabs(x - r);
        const float t = st.lp_norm == 1.0f ? 1.0f / beta : std::pow(a, st.lp_norm - 1.0f) / beta;
        const float e = std::copysign(std::max(a - t, 0.0f), x - r);
        zsum += q - (x - e) * inv[i];
        total += std::fabs(x - r);
      }
      zero[i] = static_cast<float>(zsum / static_cast<double>(g));
    }
    beta *= st.kappa;
    const double mean = total / static_cast<double>(rows * cols);
    if (!(mean < best)) break;
    best = mean;
  }
  for (size_t i = 0; i < n; ++i) {
    const auto v = values(i);
    for (size_t j = 0; j < g; ++j)
      m.codes[i / groups * cols + i % groups * g + j] = static_cast<uint8_t>(quant(v[j], i));
    m.params[i] = {1.0f / inv[i], zero[i]};
  }
  return m;
}

TEST(Hqq, MatchesTheSolverWithThePowTakenEverywhere) {
  const size_t rows = 32, cols = 256;
  const auto w = heavy_tailed(rows * cols, 3);
  for (float beta : {10.0f, 1e3f, 1e5f})
    for (float p : {0.7f, 0.4f, 1.0f}) {
      const HqqSettings st{.lp_norm = p, .beta = beta};
      const QuantizedMatrix want = reference_hqq(w, rows, cols, 3, 64, st);
      const QuantizedMatrix got = hqq_quantize(
          w, rows, cols, QuantSpec{.bits = 3, .symmetric = false, .group_size = 64}, st);
      ASSERT_EQ(got.codes, want.codes) << "beta " << beta << " p " << p;
      for (size_t i = 0; i < want.params.size(); ++i) {
        ASSERT_FLOAT_EQ(got.params[i].scale, want.params[i].scale) << i;
        ASSERT_FLOAT_EQ(got.params[i].zero, want.params[i].zero) << "beta " << beta << " p " << p;
      }
    }
}

TEST(Hqq, ConstantGroupsAreExact) {
  std::vector<float> w(128, 0.25f);
  const auto q = hqq_quantize(w, 2, 64, QuantSpec{.bits = 4, .group_size = 32}, HqqSettings{});
  for (float v : q.dequantize()) EXPECT_NEAR(v, 0.25f, 1e-6f);
}

}  // namespace
}  // namespace lowbit
