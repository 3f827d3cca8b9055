// Attention products over integer KV codes, every ISA the CPU has, against a double-precision
// reference that dequantizes each value: 8-bit and packed 4-bit codes and fp32 rows (bits = 32),
// head sizes on and off the 8- and 16-lane widths, row counts around the 4-row pass, position
// counts around the 4-key step, rows embedded in a wider cache row.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kv_attention.h"

namespace lowbit::kernels {
namespace {

struct CacheCase {
  std::vector<float> floats;  // bits = 32
  std::vector<uint8_t> codes;
  std::vector<float> params;
  KvCodesView view;
};

// n positions of one head inside rows two heads wide (the second head's bytes are noise).
CacheCase random_cache(std::mt19937& rng, size_t n, size_t hd, int bits) {
  CacheCase c;
  if (bits == 32) {  // no parameters: a null pointer, which must not be read
    std::normal_distribution<float> normal(0.0f, 1.0f);
    c.floats.resize(n * 2 * hd);
    for (auto& x : c.floats) x = normal(rng);
    c.view = {reinterpret_cast<const uint8_t*>(c.floats.data()),
              2 * hd * sizeof(float),
              nullptr,
              0,
              32,
              0,
              hd};
    return c;
  }
  const size_t head_bytes = bits == 8 ? hd : hd / 2;
  const size_t row_bytes = 2 * head_bytes;
  c.codes.resize(n * row_bytes);
  for (auto& b : c.codes) b = static_cast<uint8_t>(rng());
  c.params.resize(n * 4);
  std::uniform_real_distribution<float> scale(0.01f, 0.1f);
  for (size_t t = 0; t < n; ++t) {
    c.params[t * 4] = scale(rng);
    c.params[t * 4 + 1] = static_cast<float>(rng() % (1u << bits));
    c.params[t * 4 + 2] = -1e30f;  // the other head's parameters: must not be read
    c.params[t * 4 + 3] = 1e30f;
  }
  c.view = {c.codes.data(), row_bytes, c.params.data(), 4, bits, bits == 8 ? -128 : -8, hd};
  return c;
}

double value(const KvCodesView& v, size_t t, size_t d) {
  const uint8_t* row = v.codes + t * v.row_bytes;
  if (v.bits == 32) return reinterpret_cast<const float*>(row)[d];
  const int c = v.bits == 8 ? row[d] : (d % 2 == 0 ? row[d / 2] & 0x0f : row[d / 2] >> 4);
  const float* p = v.params + t * v.param_stride;
  return (c + v.qmin - static_cast<double>(p[1])) * p[0];
}

using KvAttentionIsaTest = testing::ForcedVariantTest<kv_attention_isa>;

TEST_P(KvAttentionIsaTest, MatchesDequantizedReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int bits : {8, 4, 32})
    for (size_t hd : {64, 16, 80, 24, 10})
      for (size_t rows : {1, 3, 4, 5, 9})
        for (size_t n : {1, 7, 8, 100}) {
          const CacheCase c = random_cache(rng, n, hd, bits);
          const std::string what = "bits=" + std::to_string(bits) + " hd=" + std::to_string(hd) +
                                   " rows=" + std::to_string(rows) + " n=" + std::to_string(n);
          // Scores: q [rows x hd] at a wider stride.
          const size_t ldq = hd + 3, lds = n + 2;
          std::vector<float> q(rows * ldq);
          for (auto& x : q) x = normal(rng);
          std::vector<float> s(rows * lds, -7.0f);
          kv_scores(q.data(), rows, ldq, c.view, n, s.data(), lds);
          for (size_t r = 0; r < rows; ++r) {
            for (size_t t = 0; t < n; ++t) {
              double want = 0, mag = 0;
              for (size_t d = 0; d < hd; ++d) {
                want += q[r * ldq + d] * value(c.view, t, d);
                mag += std::fabs(q[r * ldq + d] * value(c.view, t, d));
              }
              ASSERT_NEAR(s[r * lds + t], want, 1e-5 * mag + 1e-6) << what << " score " << r;
            }
            for (size_t t = n; t < lds; ++t) ASSERT_EQ(s[r * lds + t], -7.0f) << what;
          }
          // Weighted sum: probabilities [rows x n].
          const size_t ldp = n + 1, ldo = hd + 5;
          std::vector<float> p(rows * ldp);
          std::uniform_real_distribution<float> unit(0.0f, 1.0f);
          for (auto& x : p) x = unit(rng);
          std::vector<float> o(rows * ldo, -7.0f);
          kv_weighted_sum(p.data(), rows, ldp, c.view, n, o.data(), ldo);
          for (size_t r = 0; r < rows; ++r) {
            for (size_t d = 0; d < hd; ++d) {
              double want = 0, mag = 0;
              for (size_t t = 0; t < n; ++t) {
                want += p[r * ldp + t] * value(c.view, t, d);
                mag += std::fabs(p[r * ldp + t] * value(c.view, t, d));
              }
              ASSERT_NEAR(o[r * ldo + d], want, 1e-5 * mag + 1e-6) << what << " out " << r;
            }
            for (size_t d = hd; d < ldo; ++d) ASSERT_EQ(o[r * ldo + d], -7.0f) << what;
          }
        }
}

INSTANTIATE_TEST_SUITE_P(Isas, KvAttentionIsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(KvAttention, RejectsBadViews) {
  std::vector<uint8_t> codes(64);
  std::vector<float> params(2, 1.0f), q(64), s(4);
  KvCodesView v{codes.data(), 64, params.data(), 2, 8, -128, 64};
  v.bits = 5;
  EXPECT_THROW(kv_scores(q.data(), 1, 64, v, 1, s.data(), 4), Error);
  v.bits = 8;
  v.head_dim = 63;
  EXPECT_THROW(kv_scores(q.data(), 1, 64, v, 1, s.data(), 4), Error);
  v.head_dim = 64;
  v.row_bytes = 32;  // too short for 64 8-bit codes
  EXPECT_THROW(kv_weighted_sum(q.data(), 1, 64, v, 1, s.data(), 64), Error);
  // fp32 rows: no parameters needed, but whole, aligned floats of at least head_dim.
  std::vector<float> rows(2 * 64);
  KvCodesView f{reinterpret_cast<const uint8_t*>(rows.data()), 256, nullptr, 0, 32, 0, 64};
  EXPECT_NO_THROW(kv_scores(q.data(), 1, 64, f, 1, s.data(), 4));
  f.row_bytes = 255;
  EXPECT_THROW(kv_scores(q.data(), 1, 64, f, 1, s.data(), 4), Error);
  f.row_bytes = 252;  // 63 floats
  EXPECT_THROW(kv_scores(q.data(), 1, 64, f, 1, s.data(), 4), Error);
  f.row_bytes = 256;
  f.codes += 2;  // not on a float boundary
  EXPECT_THROW(kv_scores(q.data(), 1, 64, f, 1, s.data(), 4), Error);
}

}  // namespace
}  // namespace lowbit::kernels
