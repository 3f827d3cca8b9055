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

}  // namespace
}  // namespace lowbit::kernels
