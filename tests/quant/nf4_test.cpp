// NF4: blockwise absmax NormalFloat codes, and double quantization of the block scales.
#include "quant/nf4.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace lowbit {
namespace {

TEST(Nf4, MatchesItsDefinition) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> w(32 * 256);
  for (auto& x : w) x = d(rng);
  const auto q = nf4_quantize(w, 32, 256, 64, false);
  EXPECT_EQ(q.spec.codebook, Codebook::kNf4);
  const auto t = nf4_table();
  for (size_t r = 0; r < 32; ++r)
    for (size_t g = 0; g < 4; ++g) {
      float amax = 0;
      for (size_t i = 0; i < 64; ++i) amax = std::max(amax, std::fabs(w[r * 256 + g * 64 + i]));
      ASSERT_EQ(q.params[r * 4 + g].scale, amax);
      for (size_t i = 0; i < 64; ++i) {
        const size_t at = r * 256 + g * 64 + i;
        ASSERT_EQ(q.codes[at], nearest_code(t, w[at] / amax));
      }
    }
}

TEST(Nf4, DoubleQuantizationKeepsScalesClose) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(0.01f, 0.1f);
  std::vector<float> s(1000);
  for (auto& x : s) x = u(rng);
  auto dq = s;
  double_quantize_scales(dq);
  // 8 bits over a block's spread around the mean: within half a step of 127.
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(dq[i], s[i], 0.09 / 254 + 1e-7) << i;
  EXPECT_NE(dq, s);
  // The codes are re-chosen against the stored scales.
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> w(8 * 512);
  for (auto& x : w) x = d(rng);
  const auto q = nf4_quantize(w, 8, 512, 64, true);
  const auto t = nf4_table();
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_EQ(q.codes[i], nearest_code(t, w[i] / q.params[i / 64].scale));
}

}  // namespace
}  // namespace lowbit
