// HQQ: the half-quadratic solver lowers the l_p error of the min-max grid it starts from, its zero
// points are kept fractional, and it beats asymmetric RTN's error at the same group size.
#include "quant/hqq.h"

#include <gtest/gtest.h>

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

TEST(Hqq, ConstantGroupsAreExact) {
  std::vector<float> w(128, 0.25f);
  const auto q = hqq_quantize(w, 2, 64, QuantSpec{.bits = 4, .group_size = 32}, HqqSettings{});
  for (float v : q.dequantize()) EXPECT_NEAR(v, 0.25f, 1e-6f);
}

}  // namespace
}  // namespace lowbit
