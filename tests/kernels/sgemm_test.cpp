// The fp32 products on OpenBLAS against a double-precision reference: both transposes, strides
// wider than the rows, accumulation, and the row counts on either side of the switch from one
// matrix-vector product per row (few rows) to sgemm.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/sgemm.h"

namespace lowbit::kernels {
namespace {

std::vector<float> random_floats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// C[m x n] (ldc) = A[m x k] (lda) * op(B) (+ C): op(B)[p][j] = B[j][p] when b_transposed (B is
// [n x k]), else B[p][j] (B is [k x n]).
std::vector<float> reference(size_t m, size_t n, size_t k, const std::vector<float>& a, size_t lda,
                             const std::vector<float>& b, size_t ldb, bool b_transposed,
                             std::vector<float> c, size_t ldc, bool accumulate) {
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = accumulate ? c[i * ldc + j] : 0.0;
      for (size_t p = 0; p < k; ++p)
        s += static_cast<double>(a[i * lda + p]) * (b_transposed ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = static_cast<float>(s);
    }
  return c;
}

TEST(Sgemm, MatchesReferenceForFewAndManyRows) {
  std::mt19937 rng(7);
  for (size_t m : {1, 2, 3, 4, 5, 17})
    for (size_t n : {1, 33, 130})
      for (size_t k : {1, 64, 97})
        for (bool accumulate : {false, true}) {
          const size_t lda = k + 3, ldc = n + 5;
          const auto a = random_floats(rng, m * lda);
          const auto c0 = random_floats(rng, m * ldc);
          // nt: B is [n x k].
          const size_t ldb_t = k + 2;
          const auto bt = random_floats(rng, n * ldb_t);
          auto c = c0;
          sgemm_nt_serial(m, n, k, a.data(), lda, bt.data(), ldb_t, c.data(), ldc, accumulate);
          auto want = reference(m, n, k, a, lda, bt, ldb_t, true, c0, ldc, accumulate);
          for (size_t i = 0; i < c.size(); ++i)
            ASSERT_NEAR(c[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
                << "nt m=" << m << " n=" << n << " k=" << k << " at " << i;
          // The threaded variant gives the same result.
          auto cp = c0;
          sgemm_nt(m, n, k, a.data(), lda, bt.data(), ldb_t, cp.data(), ldc, accumulate);
          for (size_t i = 0; i < cp.size(); ++i)
            ASSERT_NEAR(cp[i], want[i], 1e-4f * (1 + std::fabs(want[i]))) << "nt threaded";
          // nn: B is [k x n].
          const size_t ldb_n = n + 4;
          const auto bn = random_floats(rng, k * ldb_n);
          c = c0;
          sgemm_nn_serial(m, n, k, a.data(), lda, bn.data(), ldb_n, c.data(), ldc, accumulate);
          want = reference(m, n, k, a, lda, bn, ldb_n, false, c0, ldc, accumulate);
          for (size_t i = 0; i < c.size(); ++i)
            ASSERT_NEAR(c[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
                << "nn m=" << m << " n=" << n << " k=" << k << " at " << i;
        }
}

}  // namespace
}  // namespace lowbit::kernels
