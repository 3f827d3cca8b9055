// Fused causal attention, every ISA the CPU has, against a double-precision two-pass reference:
// head sizes on and off the 16-lane width (and past one 64-wide output pass), row counts around
// the 6-row tile, causal limits on and off the 16- and 64-key boundaries, rows whose keys end
// blocks before the tile's longest, dominant scores, and strides wider than the data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/kernel_test_util.h"

namespace lowbit::kernels {
namespace {

struct Case {
  size_t rows, n_keys, hd;
  std::vector<uint32_t> lens;
  std::vector<float> q, kt, v;
  size_t ldq, ldkt, ldv;
  float scale;
};

Case random_case(std::mt19937& rng, size_t rows, size_t n_keys, size_t hd, float spread) {
  Case c{rows, n_keys, hd, {}, {}, {}, {}, hd + 3, n_keys + 5, hd + 7, 0.125f};
  std::normal_distribution<float> normal(0.0f, spread);
  c.q.resize(rows * c.ldq);
  c.kt.resize(hd * c.ldkt);
  c.v.resize(n_keys * c.ldv);
  for (auto& x : c.q) x = normal(rng);
  for (auto& x : c.kt) x = normal(rng);
  for (auto& x : c.v) x = normal(rng) / spread;
  // Mostly consecutive causal limits (a prefill block), with a few arbitrary ones.
  const size_t first = 1 + rng() % n_keys;
  for (size_t r = 0; r < rows; ++r) {
    size_t len = std::min(n_keys, first + r);
    if (rng() % 4 == 0) len = 1 + rng() % n_keys;
    c.lens.push_back(static_cast<uint32_t>(len));
  }
  return c;
}

// out[r][d] in double, two passes.
std::vector<double> reference(const Case& c) {
  std::vector<double> out(c.rows * c.hd);
  for (size_t r = 0; r < c.rows; ++r) {
    const size_t len = c.lens[r];
    std::vector<double> p(len);
    double max = -INFINITY, sum = 0;
    for (size_t t = 0; t < len; ++t) {
      double s = 0;
      for (size_t d = 0; d < c.hd; ++d)
        s += static_cast<double>(c.q[r * c.ldq + d]) * c.kt[d * c.ldkt + t];
      p[t] = s * c.scale;
      max = std::max(max, p[t]);
    }
    for (auto& x : p) sum += x = std::exp(x - max);
    for (size_t d = 0; d < c.hd; ++d) {
      double acc = 0;
      for (size_t t = 0; t < len; ++t) acc += p[t] * c.v[t * c.ldv + d];
      out[r * c.hd + d] = acc / sum;
    }
  }
  return out;
}

CausalAttentionProblem problem(const Case& c, std::vector<float>& out, size_t ldo) {
  CausalAttentionProblem p;
  p.q = c.q.data();
  p.rows = c.rows;
  p.ldq = c.ldq;
  p.lens = c.lens.data();
  p.kt = c.kt.data();
  p.ldkt = c.ldkt;
  p.v = c.v.data();
  p.ldv = c.ldv;
  p.n_keys = c.n_keys;
  p.head_dim = c.hd;
  p.scale = c.scale;
  p.out = out.data();
  p.ldo = ldo;
  return p;
}

using AttentionIsaTest = testing::ForcedVariantTest<causal_attention_isa>;

TEST_P(AttentionIsaTest, MatchesDoubleReference) {
  std::mt19937 rng(5);
  for (size_t hd : {64, 16, 80, 128, 10})
    for (size_t rows : {1, 5, 6, 7, 13})
      for (size_t n_keys : {1, 15, 64, 65, 200})
        for (float spread : {1.0f, 6.0f}) {
          const Case c = random_case(rng, rows, n_keys, hd, spread);
          const std::string what = "hd=" + std::to_string(hd) + " rows=" + std::to_string(rows) +
                                   " keys=" + std::to_string(n_keys) +
                                   " spread=" + std::to_string(spread);
          const size_t ldo = hd + 2;
          std::vector<float> out(rows * ldo, -7.0f);
          causal_attention(problem(c, out, ldo));
          const auto want = reference(c);
          for (size_t r = 0; r < rows; ++r) {
            // fp32 scores carry a rounding error proportional to sum |q k| (times the scale),
            // which exp turns into a relative error of the probabilities.
            double mag = 0, vmax = 0;
            for (size_t t = 0; t < c.lens[r]; ++t) {
              double m = 0;
              for (size_t d = 0; d < hd; ++d) {
                m += std::fabs(c.q[r * c.ldq + d] * c.kt[d * c.ldkt + t]);
                vmax = std::max(vmax, std::fabs(static_cast<double>(c.v[t * c.ldv + d])));
              }
              mag = std::max(mag, m * c.scale);
            }
            const double tol = 2e-6 * (1 + mag) * vmax + 1e-6;
            for (size_t d = 0; d < hd; ++d)
              ASSERT_NEAR(out[r * ldo + d], want[r * hd + d], tol)
                  << what << " row " << r << " (sees " << c.lens[r] << ") dim " << d;
            for (size_t d = hd; d < ldo; ++d) ASSERT_EQ(out[r * ldo + d], -7.0f) << what;
          }
        }
}

// Keys past the row's limit hold huge values: a variant that let one through would be far off.
TEST_P(AttentionIsaTest, IgnoresKeysPastTheRowsLimit) {
  std::mt19937 rng(9);
  const Case base = random_case(rng, 1, 150, 64, 1.0f);
  for (uint32_t len : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 100u, 149u}) {
    Case c = base;
    c.lens = {len};
    const auto want = reference(c);
    for (size_t t = len; t < c.n_keys; ++t)
      for (size_t d = 0; d < c.hd; ++d) {
        c.kt[d * c.ldkt + t] = 1e4f;
        c.v[t * c.ldv + d] = 1e4f;
      }
    std::vector<float> out(c.hd);
    causal_attention(problem(c, out, c.hd));
    for (size_t d = 0; d < c.hd; ++d) ASSERT_NEAR(out[d], want[d], 2e-5) << "len " << len;
  }
}

// The probability of key 0 (token pruning's importance) against the double reference's, on
// rows that see one key (probability 1), short and long rows, and scores large enough that the
// log-sum-exp must be taken after the maximum is subtracted.
TEST_P(AttentionIsaTest, ReportsTheProbabilityOfKeyZero) {
  std::mt19937 rng(13);
  for (size_t hd : {64, 80, 10})
    for (size_t rows : {1, 6, 13})
      for (float spread : {1.0f, 8.0f}) {
        Case c = random_case(rng, rows, 130, hd, spread);
        c.lens[0] = 1;
        std::vector<float> out(rows * hd), prob(rows, -1.0f);
        auto p = problem(c, out, hd);
        p.first_key_prob = prob.data();
        causal_attention(p);
        for (size_t r = 0; r < rows; ++r) {
          double max = -INFINITY, sum = 0, s0 = 0;
          std::vector<double> s(c.lens[r]);
          for (size_t t = 0; t < s.size(); ++t) {
            for (size_t d = 0; d < hd; ++d)
              s[t] += static_cast<double>(c.q[r * c.ldq + d]) * c.kt[d * c.ldkt + t];
            s[t] *= c.scale;
            max = std::max(max, s[t]);
          }
          for (double x : s) sum += std::exp(x - max);
          s0 = std::exp(s[0] - max) / sum;
          ASSERT_NEAR(prob[r], s0, 1e-5 * (1 + spread * spread)) << "hd " << hd << " row " << r;
        }
        EXPECT_NEAR(prob[0], 1.0f, 2e-5f);  // one key: probability 1, up to the polynomial exp
      }
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionIsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(CausalAttention, RejectsBadProblems) {
  std::vector<float> q(64, 0.0f), kt(64 * 4, 0.0f), v(4 * 64, 0.0f), out(64);
  std::vector<uint32_t> lens{4};
  CausalAttentionProblem p{q.data(), 1, 64, lens.data(), kt.data(),  4, v.data(),
                           64,       4, 64, 0.125f,      out.data(), 64};
  EXPECT_NO_THROW(causal_attention(p));
  lens[0] = 5;  // more keys than there are
  EXPECT_THROW(causal_attention(p), Error);
  lens[0] = 0;  // a row must see at least its own key
  EXPECT_THROW(causal_attention(p), Error);
  lens[0] = 4;
  p.ldkt = 3;  // shorter than the keys
  EXPECT_THROW(causal_attention(p), Error);
  p.ldkt = 4;
  p.scale = 0.0f;
  EXPECT_THROW(causal_attention(p), Error);
  p.scale = 0.125f;
  p.v = nullptr;
  EXPECT_THROW(causal_attention(p), Error);
}

}  // namespace
}  // namespace lowbit::kernels
