#include "layers/hadamard.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace lowbit {
namespace {

// Double accumulation (in four partial sums, so it stays quick) keeps the reference error far
// below the tolerances checked.
double dot(const float* a, const float* b, size_t n) {
  double s[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t k = 0; k < 4; ++k) s[k] += double(a[i + k]) * double(b[i + k]);
  for (; i < n; ++i) s[0] += double(a[i]) * double(b[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// max |(Q Q^T - I)[i][j]| over all pairs.
double gram_error(const std::vector<float>& q, size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i; j < n; ++j) {
      const double d = dot(&q[i * n], &q[j * n], n) - (i == j ? 1.0 : 0.0);
      worst = std::max(worst, std::fabs(d));
    }
  return worst;
}

std::vector<float> random_rows(size_t rows, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, 1);
  std::vector<float> x(rows * n);
  for (auto& v : x) v = dist(rng);
  x[0] = 40.0f;  // an outlier channel, the case the rotation exists for
  return x;
}

// y = x * Q (rows x n times n x n), in double.
std::vector<double> dense_product(const std::vector<float>& x, size_t rows,
                                  const std::vector<float>& q, size_t n) {
  std::vector<double> y(rows * n, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < n; ++i) {
      const double xi = x[r * n + i];
      const float* qi = &q[i * n];
      double* yr = &y[r * n];
      for (size_t j = 0; j < n; ++j) yr[j] += xi * qi[j];
    }
  return y;
}

// y = x * Q^T, in double.
std::vector<double> dense_product_transposed(const std::vector<double>& x, size_t rows,
                                             const std::vector<float>& q, size_t n) {
  std::vector<double> y(rows * n, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t i = 0; i < n; ++i) s += x[r * n + i] * q[j * n + i];
      y[r * n + j] = s;
    }
  return y;
}

double row_norm(const float* x, size_t n) {
  return std::sqrt(dot(x, x, n));
}

// Fast transform of `rows` random rows against the dense product with the seed-0 matrix. The
// tolerance is relative to the row norm, which the orthogonal transform preserves.
void expect_fast_matches_dense(size_t n, const std::vector<float>& q, size_t rows) {
  const auto x = random_rows(rows, n, static_cast<uint32_t>(n));
  const auto want = dense_product(x, rows, q, n);
  auto got = x;
  hadamard_transform_rows(got, rows, n);
  for (size_t r = 0; r < rows; ++r) {
    const double tol = 1e-5 * row_norm(&x[r * n], n);
    double worst = 0;
    for (size_t j = 0; j < n; ++j)
      worst = std::max(worst, std::fabs(double(got[r * n + j]) - want[r * n + j]));
    EXPECT_LE(worst, tol) << "n = " << n << ", row " << r;
  }
}

struct PlanCase {
  size_t n, m, pow2;
  bool block_diagonal;
};

TEST(Hadamard, PlansForHiddenSizes) {
  const PlanCase cases[] = {
      {1, 1, 1, false},
      {2, 1, 2, false},
      {4, 1, 4, false},
      {12, 12, 1, false},
      {20, 20, 1, false},
      {24, 12, 2, false},
      {28, 28, 1, false},
      {36, 36, 1, false},
      {64, 1, 64, false},
      {96, 12, 8, false},
      {384, 12, 32, false},
      {768, 12, 64, false},
      {1024, 1, 1024, false},
      {4864, 76, 64, false},
      {5632, 44, 128, false},
      {11008, 5504, 2, false},  // 43 * 2^b is Paley only at b = 7: q = 5503
      // Only prime q are used: q = 25 (52), 171 = 9 * 19 and 85 (172), 343 = 7^3 and 171 (344).
      {52, 13, 4, true},
      {172, 43, 4, true},
      {344, 43, 8, true},
      {7, 7, 1, true},
      {6, 3, 2, true},
  };
  for (const auto& c : cases) {
    const HadamardPlan p = plan_hadamard(c.n);
    EXPECT_EQ(p.n, c.n);
    EXPECT_EQ(p.m, c.m) << "n = " << c.n;
    EXPECT_EQ(p.pow2, c.pow2) << "n = " << c.n;
    EXPECT_EQ(p.block_diagonal, c.block_diagonal) << "n = " << c.n;
    EXPECT_EQ(p.m * p.pow2, c.n);
  }
}

TEST(Hadamard, Plan384IsATrueHadamard) {
  const HadamardPlan p = plan_hadamard(384);
  EXPECT_FALSE(p.block_diagonal);
  EXPECT_EQ(p.m, 12u);
  EXPECT_EQ(p.pow2, 32u);
}

TEST(Hadamard, DescribeNamesTheConstruction) {
  EXPECT_EQ(plan_hadamard(1024).describe(), "Sylvester H_1024");
  EXPECT_EQ(plan_hadamard(384).describe(), "Paley I H_12 (q = 11) (x) Sylvester H_32");
  EXPECT_EQ(plan_hadamard(36).describe(), "Paley II H_36 (q = 17)");
  EXPECT_EQ(plan_hadamard(344).describe(),
            "block-diagonal: 43 blocks of Sylvester H_8 (no Paley order fits 344)");
  EXPECT_EQ(plan_hadamard(7).describe(), "identity (n = 7 is odd: no Hadamard block fits)");
}

TEST(Hadamard, BadSizesThrow) {
  EXPECT_THROW(plan_hadamard(0), Error);
  EXPECT_THROW(random_hadamard_matrix(0, 1), Error);
  std::vector<float> x(10);
  EXPECT_THROW(hadamard_transform_rows(x, 1, 12), Error);
  EXPECT_THROW(hadamard_transform_rows(x, 2, 4), Error);
}

// The Paley factors themselves, checked exactly: H H^T = m I over the integers.
TEST(Hadamard, PaleyFactorsAreExactHadamardMatrices) {
  const struct {
    size_t m;
    const char* kind;
  } cases[] = {{12, "Paley I "},  {20, "Paley I "},  {28, "Paley II "},  {36, "Paley II "},
               {44, "Paley I "},  {60, "Paley I "},  {68, "Paley I "},   {76, "Paley II "},
               {84, "Paley I "},  {108, "Paley I "}, {124, "Paley II "}, {148, "Paley II "},
               {252, "Paley I "}, {332, "Paley I "}};
  for (const auto& c : cases) {
    const size_t m = c.m;
    const HadamardPlan p = plan_hadamard(m);
    ASSERT_FALSE(p.block_diagonal) << m;
    ASSERT_EQ(p.m, m);
    EXPECT_EQ(p.describe().rfind(c.kind, 0), 0u) << p.describe();
    const auto q = random_hadamard_matrix(m, 0);
    const double root = std::sqrt(double(m));
    std::vector<int> h(m * m);
    for (size_t i = 0; i < m * m; ++i) {
      h[i] = static_cast<int>(std::lround(q[i] * root));
      ASSERT_TRUE(h[i] == 1 || h[i] == -1) << "m = " << m << ", entry " << i;
    }
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < m; ++j) {
        long s = 0;
        for (size_t k = 0; k < m; ++k) s += h[i * m + k] * h[j * m + k];
        ASSERT_EQ(s, i == j ? static_cast<long>(m) : 0L)
            << "m = " << m << ", rows " << i << ", " << j;
      }
  }
}

TEST(Hadamard, RandomMatricesAreOrthogonal) {
  for (size_t n : {1, 2, 4, 12, 20, 24, 28, 36, 64, 96, 384, 768, 1024, 344, 52, 6, 7}) {
    const auto q = random_hadamard_matrix(n, 0x9e3779b97f4a7c15ull + n);
    ASSERT_EQ(q.size(), n * n);
    EXPECT_LE(gram_error(q, n), 1e-4) << "n = " << n << ": " << plan_hadamard(n).describe();
  }
}

TEST(Hadamard, EntriesHaveEqualMagnitude) {
  for (size_t n : {1, 2, 4, 12, 20, 24, 28, 36, 64, 96, 384, 768, 1024}) {
    ASSERT_FALSE(plan_hadamard(n).block_diagonal);
    const auto q = random_hadamard_matrix(n, 7);
    const float want = static_cast<float>(1.0 / std::sqrt(double(n)));
    for (size_t i = 0; i < n * n; ++i)
      ASSERT_NEAR(std::fabs(q[i]), want, 1e-6) << "n = " << n << ", entry " << i;
  }
}

// The fallback is I_m (x) H_pow2: Sylvester blocks of pow2 on the diagonal, zeros elsewhere.
TEST(Hadamard, FallbackIsBlockDiagonal) {
  for (size_t n : {344, 172, 52, 6}) {
    const HadamardPlan p = plan_hadamard(n);
    ASSERT_TRUE(p.block_diagonal);
    const auto q = random_hadamard_matrix(n, 3);
    const float want = static_cast<float>(1.0 / std::sqrt(double(p.pow2)));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) {
        const float v = std::fabs(q[i * n + j]);
        if (i / p.pow2 == j / p.pow2) {
          ASSERT_NEAR(v, want, 1e-6) << "n = " << n << " (" << i << ", " << j << ")";
        } else {
          ASSERT_EQ(v, 0.0f) << "n = " << n << " (" << i << ", " << j << ")";
        }
      }
  }
}

TEST(Hadamard, SeedOnlyFlipsRowSigns) {
  const size_t n = 96;
  const auto h = random_hadamard_matrix(n, 0);
  const auto a = random_hadamard_matrix(n, 11), b = random_hadamard_matrix(n, 12);
  EXPECT_EQ(a, random_hadamard_matrix(n, 11));  // deterministic
  EXPECT_NE(a, b);
  size_t flipped = 0;
  for (size_t i = 0; i < n; ++i) {
    const float s = a[i * n] == h[i * n] ? 1.0f : -1.0f;
    flipped += s < 0;
    for (size_t j = 0; j < n; ++j) ASSERT_EQ(a[i * n + j], s * h[i * n + j]);
  }
  EXPECT_GT(flipped, 0u);
  EXPECT_LT(flipped, n);
}

TEST(Hadamard, FastTransformMatchesDenseProduct) {
  for (size_t n : {8, 12, 384, 1024, 96, 1, 2, 20, 24, 28, 36, 76, 344, 52, 7, 4864}) {
    const auto q = random_hadamard_matrix(n, 0);
    expect_fast_matches_dense(n, q, 5);
  }
}

TEST(Hadamard, TransposeUndoesTheRotation) {
  for (size_t n : {12, 28, 96, 384, 1024, 344}) {
    const size_t rows = 3;
    const auto q = random_hadamard_matrix(n, 42);
    const auto x = random_rows(rows, n, 5);
    const auto back = dense_product_transposed(dense_product(x, rows, q, n), rows, q, n);
    for (size_t i = 0; i < rows * n; ++i) ASSERT_NEAR(back[i], x[i], 1e-4) << "n = " << n;

    // The same through the fast transform (which applies the unsigned H).
    const auto h = random_hadamard_matrix(n, 0);
    auto y = x;
    hadamard_transform_rows(y, rows, n);
    const auto again =
        dense_product_transposed(std::vector<double>(y.begin(), y.end()), rows, h, n);
    for (size_t i = 0; i < rows * n; ++i) ASSERT_NEAR(again[i], x[i], 1e-4) << "n = " << n;
  }
}

// LLaMA-7B's FFN width: the dense matrix has 121M entries, so only sampled rows are checked.
TEST(Hadamard, LlamaFfnWidthIsOrthogonalOnSampledRows) {
  const size_t n = 11008;
  {
    const auto q = random_hadamard_matrix(n, 99);
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<size_t> pick(0, n - 1);
    const float want = static_cast<float>(1.0 / std::sqrt(double(n)));
    for (int t = 0; t < 24; ++t) {
      const size_t i = pick(rng), j = t < 4 ? i : pick(rng);
      EXPECT_NEAR(dot(&q[i * n], &q[j * n], n), i == j ? 1.0 : 0.0, 1e-4) << i << ", " << j;
      for (size_t k = 0; k < n; ++k) ASSERT_NEAR(std::fabs(q[i * n + k]), want, 1e-6);
    }
    // Rows at the seams of the Kronecker structure.
    for (size_t i : {size_t{0}, size_t{1}, size_t{2}, n - 1})
      for (size_t j : {size_t{0}, size_t{1}, size_t{3}, n - 2})
        EXPECT_NEAR(dot(&q[i * n], &q[j * n], n), i == j ? 1.0 : 0.0, 1e-4) << i << ", " << j;
  }  // frees the 484 MB matrix before the next one
  expect_fast_matches_dense(n, random_hadamard_matrix(n, 0), 2);
}

// Not a timed assertion: prints the time so an O(n^2) regression is visible in the log.
TEST(Hadamard, FastTransformSpeedSanity) {
  const size_t rows = 512, n = 1024;
  auto x = random_rows(rows, n, 17);
  const double before = row_norm(x.data(), n);
  const auto t0 = std::chrono::steady_clock::now();
  hadamard_transform_rows(x, rows, n);
  const auto t1 = std::chrono::steady_clock::now();
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  std::cout << "[          ] hadamard_transform_rows 512 x 1024: " << ms << " ms\n";
  RecordProperty("ms_512x1024", std::to_string(ms));
  EXPECT_NEAR(row_norm(x.data(), n), before, 1e-4 * before);

  const size_t rows2 = 64, n2 = 384;
  auto x2 = random_rows(rows2, n2, 18);
  const auto t2 = std::chrono::steady_clock::now();
  hadamard_transform_rows(x2, rows2, n2);
  const auto t3 = std::chrono::steady_clock::now();
  std::cout << "[          ] hadamard_transform_rows 64 x 384: "
            << std::chrono::duration<double, std::milli>(t3 - t2).count() << " ms\n";

  // 11008 = 5504 * 2: the Paley factor dominates at O(n * m) per row.
  const size_t rows3 = 4, n3 = 11008;
  auto x3 = random_rows(rows3, n3, 19);
  const auto t4 = std::chrono::steady_clock::now();
  hadamard_transform_rows(x3, rows3, n3);
  const auto t5 = std::chrono::steady_clock::now();
  std::cout << "[          ] hadamard_transform_rows 4 x 11008: "
            << std::chrono::duration<double, std::milli>(t5 - t4).count() << " ms\n";
}

}  // namespace
}  // namespace lowbit
