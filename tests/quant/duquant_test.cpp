#include "quant/duquant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "layers/activation_transform.h"
#include "layers/quantizer.h"

namespace lowbit {
namespace {

float max_abs(const std::vector<float>& x) {
  float m = 0;
  for (float v : x) m = std::max(m, std::fabs(v));
  return m;
}

std::vector<float> outlier_activations(size_t rows, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, 1);
  std::vector<float> x(rows * dim);
  for (auto& v : x) v = n(rng);
  // "Normal" outlier channels 5 and 40 (taken modulo dim, so narrow inputs stay in their rows:
  // an unreduced 40 once wrote past the end of a 32-wide buffer and corrupted the heap).
  for (size_t r = 0; r < rows; ++r) {
    x[r * dim + 5 % dim] *= 60.0f;
    x[r * dim + 40 % dim] *= 30.0f;
  }
  x[3 * dim + 17 % dim] = 400.0f;  // one massive outlier
  return x;
}

// max |M M^T - I| of an n x n row-major matrix.
template <class T>
double orthogonality_error(const std::vector<T>& m, size_t n, size_t offset = 0) {
  double worst = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double d = 0;
      for (size_t e = 0; e < n; ++e)
        d += double(m[offset + i * n + e]) * double(m[offset + j * n + e]);
      worst = std::max(worst, std::fabs(d - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

TEST(DuQuant, BothUniformRotationsHaveAUniformFirstRow) {
  for (size_t b : {2u, 3u, 16u, 128u}) {
    for (const auto& r : {uniform_first_row_rotation(b), authors_uniform_rotation(b)}) {
      for (size_t j = 0; j < b; ++j)
        EXPECT_NEAR(r[j], 1.0 / std::sqrt(double(b)), 1e-12) << "b=" << b << " j=" << j;
      EXPECT_LT(orthogonality_error(r, b), 1e-12) << b;
    }
  }
}

TEST(DuQuant, RandomOrthogonalIsOrthogonalSeededAndSignCorrected) {
  const auto a = random_orthogonal(127, 7, true), b = random_orthogonal(127, 7, true);
  EXPECT_EQ(a, b);  // the same seed gives the same matrix
  EXPECT_NE(a, random_orthogonal(127, 8, true));
  EXPECT_LT(orthogonality_error(a, 127), 1e-12);
  // Without the sign correction some columns come out negated, nothing else changes.
  const auto raw = random_orthogonal(127, 7, false);
  size_t flipped = 0;
  for (size_t j = 0; j < 127; ++j) {
    const bool neg = raw[j] == -a[j];
    flipped += neg;
    for (size_t i = 0; i < 127; ++i)
      EXPECT_EQ(raw[i * 127 + j], neg ? -a[i * 127 + j] : a[i * 127 + j]);
  }
  EXPECT_GT(flipped, 20u);  // about half of them
  EXPECT_LT(flipped, 107u);
}

TEST(DuQuant, GreedyStepIsUniformRotationTimesARandomFactor) {
  for (bool code : {false, true}) {
    const size_t b = 128;
    const auto m = greedy_step_matrix(b, 3, code);
    const auto rt = code ? authors_uniform_rotation(b) : uniform_first_row_rotation(b);
    EXPECT_LT(orthogonality_error(m, b), 1e-12) << code;
    // M = R~ diag(1, Q'): column 0 is R~'s, and R~^T M = diag(1, Q') is block-diagonal with an
    // orthogonal, non-identity Q'.
    std::vector<double> q(b * b, 0.0);  // R~^T M
    for (size_t i = 0; i < b; ++i)
      for (size_t k = 0; k < b; ++k)
        for (size_t j = 0; j < b; ++j) q[i * b + j] += rt[k * b + i] * m[k * b + j];
    EXPECT_NEAR(q[0], 1.0, 1e-12);
    double off_block = 0, off_identity = 0;
    for (size_t i = 0; i < b; ++i) {
      EXPECT_NEAR(m[i * b], rt[i * b], 1e-12);
      for (size_t j = 0; j < b; ++j) {
        if ((i == 0) != (j == 0)) off_block = std::max(off_block, std::fabs(q[i * b + j]));
        off_identity = std::max(off_identity, std::fabs(q[i * b + j] - (i == j ? 1.0 : 0.0)));
      }
    }
    EXPECT_LT(off_block, 1e-12) << code;
    EXPECT_GT(off_identity, 0.1) << code;
    EXPECT_EQ(m, greedy_step_matrix(b, 3, code));
    EXPECT_NE(m, greedy_step_matrix(b, 4, code));
    // Unlike the reflection alone, a step is not its own inverse: M M != I.
    double involution = 0;
    for (size_t i = 0; i < b; ++i) {
      double d = 0;
      for (size_t k = 0; k < b; ++k) d += m[i * b + k] * m[k * b + i];
      involution = std::max(involution, std::fabs(d - 1.0));
    }
    EXPECT_GT(involution, 0.1) << code;
  }
}

// The synthetic block: 512 tokens x 128 channels of N(0, 1), channels 3 and 77 scaled by
// 40 ("normal" outliers), every 64th token scaled by 20 ("massive" outliers).
std::vector<float> synthetic_block() {
  std::mt19937 rng(0);
  std::normal_distribution<float> n(0, 1);
  std::vector<float> x(512 * 128);
  for (auto& v : x) v = n(rng);
  for (size_t r = 0; r < 512; ++r) {
    x[r * 128 + 3] *= 40.0f;
    x[r * 128 + 77] *= 40.0f;
    if (r % 64 == 0)
      for (size_t j = 0; j < 128; ++j) x[r * 128 + j] *= 20.0f;
  }
  return x;
}

// Relative Frobenius error of 4-bit symmetric per-token fake quantization.
double per_token_error(const std::vector<float>& x, size_t rows, size_t cols) {
  auto q = x;
  fake_quantize_rows(q, rows, cols, QuantSpec{.bits = 4});
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += double(q[i] - x[i]) * (q[i] - x[i]);
    den += double(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

TEST(DuQuant, PublishedStepBeatsNoRotationAndOneRandomRotation) {
  const size_t rows = 512, dim = 128;
  const auto x = synthetic_block();
  DuQuantOptions o;  // block 128, 256 steps, paper variant
  std::vector<float> absmax(dim, 0), wmax(dim, 1.0f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j) absmax[j] = std::max(absmax[j], std::fabs(x[r * dim + j]));
  o.alpha = 0.0f;  // rotations only: smoothing would hide what they do
  // The kept prefix lowers the peak.
  auto r1 = x;
  const auto mats = greedy_block_rotation(r1, rows, dim, o);
  EXPECT_LT(max_abs(r1), max_abs(x));
  EXPECT_LT(orthogonality_error(mats, dim), 1e-5);
  // The whole transform R1 P R2 against none and against one Haar rotation.
  const auto t = build_duquant_transform(x, rows, dim, absmax, wmax, o);
  auto xt = x;
  t.apply(xt, rows);
  const auto q = random_orthogonal(dim, 1, true);
  std::vector<float> xq(x.size(), 0.0f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j) {
      double acc = 0;
      for (size_t k = 0; k < dim; ++k) acc += double(x[r * dim + k]) * q[k * dim + j];
      xq[r * dim + j] = static_cast<float>(acc);
    }
  const double none = per_token_error(x, rows, dim), haar = per_token_error(xq, rows, dim),
               duq = per_token_error(xt, rows, dim);
  std::printf(
      "[ measured ] 4-bit per-token error: none %.4f, one Haar rotation %.4f, DuQuant %.4f\n", none,
      haar, duq);
  EXPECT_LT(duq, none);
  EXPECT_LT(duq, haar);
}

// The authors' rotation() written out plainly (their Python, in double) for a small input, with
// the same random factor: lowbit's code-compat search must pick the same steps and matrix.
std::vector<double> authors_rotation(std::vector<double> w, size_t n_rows, size_t b, int max_steps,
                                     const std::vector<double>& rot) {
  auto exchange = [&](size_t id) {  // exchange_row_col(Rot, 0, id)
    std::vector<double> r(rot);
    for (size_t j = 0; j < b; ++j) std::swap(r[0 * b + j], r[id * b + j]);
    for (size_t i = 0; i < b; ++i) std::swap(r[i * b + 0], r[i * b + id]);
    return r;
  };
  auto times = [&](const std::vector<double>& a, size_t m, const std::vector<double>& r) {
    std::vector<double> c(m * b, 0.0);
    for (size_t i = 0; i < m; ++i)
      for (size_t k = 0; k < b; ++k)
        for (size_t j = 0; j < b; ++j) c[i * b + j] += a[i * b + k] * r[k * b + j];
    return c;
  };
  std::vector<size_t> ids;
  std::vector<double> peaks;
  for (int step = 0; step <= max_steps; ++step) {
    const size_t amax = std::max_element(w.begin(), w.end()) - w.begin();
    const size_t amin = std::min_element(w.begin(), w.end()) - w.begin();
    peaks.push_back(w[amax] - w[amin]);
    const size_t id = std::fabs(w[amax]) > std::fabs(w[amin]) ? amax / b : amin / b;
    ids.push_back(id);
    if (step < max_steps) w = times(w, n_rows, exchange(id % b));
  }
  const size_t select = std::min_element(peaks.begin(), peaks.end()) - peaks.begin();
  std::vector<double> R(b * b, 0.0);
  for (size_t i = 0; i < b; ++i) R[i * b + i] = 1.0;
  for (size_t s = 0; s < select; ++s) R = times(R, b, exchange(ids[s] % b));
  return R;
}

TEST(DuQuant, CodeCompatReproducesTheAuthorsRotation) {
  // 6 tokens x 8 channels, blocks of 4: the authors reshape to 12 x 4 and fit one rotation.
  const size_t rows = 6, dim = 8, b = 4;
  auto x = outlier_activations(rows, dim, 11);
  DuQuantOptions o;
  o.block = b;
  o.max_steps = 6;
  o.code_compat = true;
  o.seed = 42;
  std::vector<double> w(x.begin(), x.end());
  const auto want =
      authors_rotation(w, rows * dim / b, b, o.max_steps, greedy_step_matrix(b, o.seed, true));
  const auto mats = greedy_block_rotation(x, rows, dim, o);
  ASSERT_EQ(mats.size(), 2 * b * b);
  for (size_t k = 0; k < 2; ++k)  // one matrix, shared by both blocks
    for (size_t i = 0; i < b * b; ++i)
      EXPECT_NEAR(mats[k * b * b + i], want[i], 1e-6) << k << " " << i;
  bool identity = true;
  for (size_t i = 0; i < b; ++i)
    for (size_t j = 0; j < b; ++j) identity &= std::fabs(want[i * b + j] - (i == j)) < 1e-9;
  EXPECT_FALSE(identity) << "the search kept no step: the test checks nothing";
}

TEST(DuQuant, ZigzagDealsChannelsAcrossBlocks) {
  // 8 channels, 2 blocks: ranks 0..7 go to blocks 0,1,1,0,0,1,1,0.
  const std::vector<float> m = {8, 7, 6, 5, 4, 3, 2, 1};
  const auto perm = zigzag_permutation(m, 4);
  EXPECT_EQ(perm, (std::vector<int32_t>{0, 3, 4, 7, 1, 2, 5, 6}));
}

TEST(DuQuant, GreedyRotationLowersThePeakAndIsOrthogonal) {
  const size_t rows = 64, dim = 64;
  auto x = outlier_activations(rows, dim, 3);
  const auto before = max_abs(x);
  DuQuantOptions o;
  o.block = 32;
  o.max_steps = 64;
  const auto mats = greedy_block_rotation(x, rows, dim, o);
  EXPECT_LT(max_abs(x), before * 0.5f);
  // R R^T = I, every entry (orthonormal rows, not just unit norms). 64 greedy steps compose up to
  // 64 rotations; the largest deviation measured 3.4e-8 (below one fp32 ulp of 1).
  ASSERT_EQ(mats.size(), 2u * 32 * 32);
  double worst = 0;
  for (size_t k = 0; k < 2; ++k)
    for (size_t i = 0; i < 32; ++i)
      for (size_t j = 0; j < 32; ++j) {
        double d = 0;
        for (size_t e = 0; e < 32; ++e)
          d += double(mats[k * 1024 + i * 32 + e]) * mats[k * 1024 + j * 32 + e];
        worst = std::max(worst, std::fabs(d - (i == j ? 1.0 : 0.0)));
      }
  EXPECT_LT(worst, 1e-6);
  std::printf("[ measured ] max |R R^T - I| %.3g\n", worst);
}

TEST(DuQuant, TransformIsExactOnTheProduct) {
  const size_t rows = 48, dim = 64, out = 8;
  auto x = outlier_activations(rows, dim, 5);
  std::vector<float> absmax(dim, 0), wmax(dim, 0.5f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j) absmax[j] = std::max(absmax[j], std::fabs(x[r * dim + j]));
  for (bool code_compat : {false, true}) {
    DuQuantOptions o;
    o.block = 16;
    o.code_compat = code_compat;
    const auto t = build_duquant_transform(x, rows, dim, absmax, wmax, o);
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0, 1);
    std::vector<float> w(out * dim);
    for (auto& v : w) v = n(rng);
    auto xt = x, wt = w;
    t.apply(xt, rows);
    t.apply_to_weight(wt, out);
    EXPECT_LT(max_abs(xt), max_abs(x) * 0.5f);
    for (size_t r = 0; r < rows; ++r)
      for (size_t o2 = 0; o2 < out; ++o2) {
        double a = 0, b = 0;
        for (size_t j = 0; j < dim; ++j) {
          a += double(x[r * dim + j]) * w[o2 * dim + j];
          b += double(xt[r * dim + j]) * wt[o2 * dim + j];
        }
        EXPECT_NEAR(a, b, 1e-3 * (1 + std::fabs(a)));
      }
  }
}

TEST(ActivationTransform, GramTransformMatchesTransformedInputs) {
  const size_t rows = 40, dim = 32;
  auto x = outlier_activations(rows, dim, 9);
  ActivationTransform t(dim);
  std::vector<float> s(dim);
  for (size_t j = 0; j < dim; ++j) s[j] = 0.5f + 0.1f * static_cast<float>(j % 7);
  t.set_smooth(s);
  std::vector<int32_t> perm(dim);
  for (size_t j = 0; j < dim; ++j) perm[j] = static_cast<int32_t>((j * 5) % dim);
  DuQuantOptions o;
  o.block = 16;
  auto xr = x;
  t.add_block_rotation(16, greedy_block_rotation(xr, rows, dim, o));
  t.add_permutation(perm);
  std::vector<double> h(dim * dim, 0.0), h2(dim * dim, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < dim; ++i)
      for (size_t j = 0; j < dim; ++j) h[i * dim + j] += double(x[r * dim + i]) * x[r * dim + j];
  auto xt = x;
  t.apply(xt, rows);
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < dim; ++i)
      for (size_t j = 0; j < dim; ++j) h2[i * dim + j] += double(xt[r * dim + i]) * xt[r * dim + j];
  t.transform_gram(h);
  // h is transformed in double, h2 sums products of fp32 transformed inputs: the largest
  // |h - h2| / (1 + |h2|) measured 3.4e-7 (entries reach ~1e5 from the outlier channels).
  double worst = 0;
  for (size_t i = 0; i < h.size(); ++i)
    worst = std::max(worst, std::fabs(h[i] - h2[i]) / (1 + std::fabs(h2[i])));
  EXPECT_LT(worst, 1e-5);
  std::printf("[ measured ] max Gram relative error %.3g\n", worst);
}

}  // namespace
}  // namespace lowbit
