// LoRC: the rank-r compensation shrinks each projection's quantization error as the SVD says.
#include "quant/lorc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"

namespace lowbit {
namespace {

double frobenius(std::span<const float> a, std::span<const float> b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (a[i] - b[i]) * double(a[i] - b[i]);
  return std::sqrt(e);
}

TEST(Lorc, CompensatesTheQuantizationError) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  WorkLinear p;
  p.in = 128;
  p.out = 96;
  // A weight with low-rank structure that 3-bit RTN smears out.
  std::vector<float> a(96 * 4), b(4 * 128);
  for (auto& x : a) x = d(rng);
  for (auto& x : b) x = d(rng);
  p.w.resize(96 * 128);
  for (size_t i = 0; i < 96; ++i)
    for (size_t j = 0; j < 128; ++j) {
      float acc = 0.1f * d(rng);
      for (size_t t = 0; t < 4; ++t) acc += a[i * 4 + t] * b[t * 128 + j];
      p.w[i * 128 + j] = acc;
    }
  p.q = quantize_rows(p.w, 96, 128, QuantSpec{.bits = 3, .group_size = 32});
  const double before = frobenius(p.w, p.q->dequantize());
  double last = before;
  for (size_t rank : {1, 4, 16}) {
    WorkLinear c = p;
    add_low_rank_compensation(c, rank, 7);
    ASSERT_TRUE(c.extras);
    EXPECT_EQ(c.extras->low_rank.rank, rank);
    auto eff = c.q->dequantize();
    c.extras->add_to_dense(eff, 96, 128);
    const double after = frobenius(c.w, eff);
    EXPECT_LT(after, last) << rank;
    last = after;
  }
  EXPECT_LT(last, 0.9 * before);
  WorkLinear none;
  EXPECT_THROW(add_low_rank_compensation(none, 4, 0), Error);
}

}  // namespace
}  // namespace lowbit
