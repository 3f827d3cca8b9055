// The LAPACK-backed factorisations GPTQ uses, against their definitions: L L^T = A with L lower,
// A A^-1 = I, and a refusal for a matrix that is not positive definite.
#include "kernels/dense_linalg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"

namespace lowbit::kernels {
namespace {

std::vector<double> random_spd(size_t n, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(n * (n + 3)), a(n * n, 0.0);
  for (auto& v : x) v = normal(rng);
  const size_t m = n + 3;  // A = X X^T + 0.1 I (X: n x m)
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = i == j ? 0.1 : 0.0;
      for (size_t k = 0; k < m; ++k) s += x[i * m + k] * x[j * m + k];
      a[i * n + j] = s;
    }
  return a;
}

TEST(KernelDenseLinalg, CholeskyAndInverseMatchTheirDefinitions) {
  std::mt19937 rng(5);
  for (size_t n : {1, 2, 7, 64, 129}) {
    const auto a = random_spd(n, rng);
    auto l = a;
    ASSERT_TRUE(cholesky_lower(l, n));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) {
        if (j > i) {
          ASSERT_EQ(l[i * n + j], 0.0);
        }
        double s = 0.0;
        for (size_t k = 0; k < n; ++k) s += l[i * n + k] * l[j * n + k];
        ASSERT_NEAR(s, a[i * n + j], 1e-9 * (1.0 + std::fabs(a[i * n + j]))) << n;
      }
    auto inv = l;
    ASSERT_TRUE(inverse_from_cholesky(inv, n));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) {
        ASSERT_EQ(inv[i * n + j], inv[j * n + i]);
        double s = 0.0;
        for (size_t k = 0; k < n; ++k) s += a[i * n + k] * inv[k * n + j];
        ASSERT_NEAR(s, i == j ? 1.0 : 0.0, 1e-6) << n;
      }
  }
}

TEST(KernelDenseLinalg, LowerTriangularInverseMatchesItsDefinition) {
  std::mt19937 rng(9);
  for (size_t n : {1, 3, 64, 130}) {
    auto l = random_spd(n, rng);
    ASSERT_TRUE(cholesky_lower(l, n));
    auto inv = l;
    ASSERT_TRUE(invert_lower_triangular(inv, n));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) {
        if (j > i) {
          ASSERT_EQ(inv[i * n + j], 0.0);
        }
        double s = 0.0;
        for (size_t k = 0; k < n; ++k) s += l[i * n + k] * inv[k * n + j];
        ASSERT_NEAR(s, i == j ? 1.0 : 0.0, 1e-8) << n;
      }
  }
  std::vector<double> singular = {1.0, 0.0, 2.0, 0.0};
  EXPECT_FALSE(invert_lower_triangular(singular, 2));
}

TEST(KernelDenseLinalg, RefusesWhatIsNotPositiveDefinite) {
  std::vector<double> a = {1.0, 2.0, 2.0, 1.0};  // eigenvalues 3 and -1
  EXPECT_FALSE(cholesky_lower(a, 2));
  std::vector<double> wrong(3);
  EXPECT_THROW(cholesky_lower(wrong, 2), Error);
}

// A [m, n] matrix of exact rank r, plus `noise` times a Gaussian.
std::vector<float> low_rank_matrix(size_t m, size_t n, size_t r, float noise, std::mt19937& rng) {
  std::normal_distribution<float> d;
  std::vector<float> a(m * r), b(r * n), out(m * n);
  for (auto& v : a) v = d(rng);
  for (auto& v : b) v = d(rng);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      float s = noise * d(rng);
      for (size_t t = 0; t < r; ++t) s += a[i * r + t] * b[t * n + j];
      out[i * n + j] = s;
    }
  return out;
}

double approximation_error(std::span<const float> a, const TruncatedSvd& svd, size_t m, size_t n) {
  double e = 0, total = 0;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double v = 0;
      for (size_t t = 0; t < svd.rank; ++t)
        v += svd.u[i * svd.rank + t] * svd.s[t] * svd.vt[t * n + j];
      e += (a[i * n + j] - v) * (a[i * n + j] - v);
      total += double{a[i * n + j]} * a[i * n + j];
    }
  return std::sqrt(e / total);
}

TEST(KernelDenseLinalg, TruncatedSvdRecoversLowRankMatrices) {
  std::mt19937 rng(3);
  for (auto [m, n] : {std::pair<size_t, size_t>{60, 150}, {150, 60}}) {
    const auto a = low_rank_matrix(m, n, 5, 0.0f, rng);
    const auto svd = truncated_svd(a, m, n, 5, 1);
    ASSERT_EQ(svd.rank, 5u);
    EXPECT_LT(approximation_error(a, svd, m, n), 1e-6);
    for (size_t t = 1; t < 5; ++t) EXPECT_GE(svd.s[t - 1], svd.s[t]);
    // U's columns are orthonormal.
    for (size_t p = 0; p < 5; ++p)
      for (size_t q = 0; q < 5; ++q) {
        double dot = 0;
        for (size_t i = 0; i < m; ++i) dot += svd.u[i * 5 + p] * svd.u[i * 5 + q];
        EXPECT_NEAR(dot, p == q ? 1.0 : 0.0, 1e-9);
      }
  }
}

TEST(KernelDenseLinalg, TruncatedSvdIsNearOptimalOnNoisyMatrices) {
  // Rank 8 plus noise: the rank-8 approximation's error is the noise's, which the optimum also
  // leaves (within a few percent), and a larger rank only does better.
  std::mt19937 rng(4);
  const size_t m = 200, n = 120;
  const auto a = low_rank_matrix(m, n, 8, 0.3f, rng);
  const double e8 = approximation_error(a, truncated_svd(a, m, n, 8, 1), m, n);
  const double e16 = approximation_error(a, truncated_svd(a, m, n, 16, 1), m, n);
  const double exact = approximation_error(a, truncated_svd(a, m, n, 120, 1), m, n);
  EXPECT_LT(e16, e8);
  EXPECT_LT(exact, 1e-6);  // full rank: exact
  // The noise alone is ~0.3 / sqrt(8) of the signal's scale per entry: e8 is that, not more.
  EXPECT_LT(e8, 0.15);
  EXPECT_THROW(truncated_svd(a, m, n + 1, 4), Error);
}

}  // namespace
}  // namespace lowbit::kernels
