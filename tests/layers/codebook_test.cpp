// Codebooks: the NF4 table is QLoRA's construction, nearest_code rounds to the nearest entry, and
// NF4 quantization and unknown names behave as documented.
#include "layers/codebook.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "layers/quantizer.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

// The standard normal quantile by bisection on erfc (double precision is ample here).
double normal_ppf(double p) {
  double lo = -10.0, hi = 10.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

TEST(Codebook, Nf4IsQloraNormalMap) {
  // bitsandbytes create_normal_map(offset=0.9677083, use_extra_value=True).
  const double offset = 0.9677083;
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(normal_ppf(offset + (0.5 - offset) * i / 8.0));
  for (int i = 0; i < 7; ++i) v.push_back(-normal_ppf(offset + (0.5 - offset) * i / 7.0));
  v.push_back(0.0);
  std::sort(v.begin(), v.end());
  const double top = v.back();
  const auto table = nf4_table();
  ASSERT_EQ(table.size(), 16u);
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(table[i], v[i] / top, 2e-6) << i;
  EXPECT_EQ(table[7], 0.0f);
}

TEST(Codebook, NearestCode) {
  const std::vector<float> t = {-1.0f, -0.25f, 0.0f, 0.5f, 1.0f};
  EXPECT_EQ(nearest_code(t, -5.0f), 0);
  EXPECT_EQ(nearest_code(t, 5.0f), 4);
  EXPECT_EQ(nearest_code(t, -0.2f), 1);
  EXPECT_EQ(nearest_code(t, 0.2f), 2);
  EXPECT_EQ(nearest_code(t, 0.3f), 3);
  EXPECT_EQ(nearest_code(t, 0.25f), 2);  // a tie goes to the lower entry
  for (float x = -1.2f; x <= 1.2f; x += 0.01f) {
    const uint8_t c = nearest_code(t, x);
    for (float e : t) EXPECT_LE(std::fabs(x - t[c]), std::fabs(x - e) + 1e-7f) << x;
  }
}

TEST(Codebook, Nf4QuantizationIsAbsmaxScaledNearest) {
  const std::vector<float> w = {0.0f, 1.0f, -2.0f, 0.5f, 4.0f, -4.0f, 0.1f, 3.0f};
  const QuantSpec spec{.bits = 4, .group_size = 4, .codebook = Codebook::kNf4};
  const QuantizedMatrix q = quantize_rows(w, 1, 8, spec);
  ASSERT_EQ(q.codebook_rows, 1u);
  EXPECT_EQ(q.params[0].scale, 2.0f);
  EXPECT_EQ(q.params[1].scale, 4.0f);
  const auto d = q.dequantize();
  const auto t = nf4_table();
  for (size_t i = 0; i < 8; ++i) {
    const float s = q.params[i / 4].scale;
    EXPECT_EQ(d[i], t[nearest_code(t, w[i] / s)] * s) << i;
  }
  EXPECT_EQ(d[2], -2.0f);  // the absmax is exact
  EXPECT_EQ(d[0], 0.0f);   // so is zero
}

TEST(Codebook, UnknownNamesAndImpossibleSpecsFail) {
  EXPECT_EQ(parse_codebook("nf4", "x"), Codebook::kNf4);
  const std::string e = testing::error_of([] { parse_codebook("nf5", "model.lowbit: q_proj"); });
  EXPECT_NE(e.find("model.lowbit: q_proj: unknown codebook 'nf5' (known: none, nf4, per-row)"),
            std::string::npos)
      << e;
  EXPECT_THROW((QuantSpec{.bits = 3, .codebook = Codebook::kNf4}.validate("--wbits")), Error);
  EXPECT_THROW((QuantSpec{.bits = 5, .codebook = Codebook::kPerRow}.validate("--wbits")), Error);
  EXPECT_NO_THROW((QuantSpec{.bits = 3, .codebook = Codebook::kPerRow}.validate("--wbits")));
}

}  // namespace
}  // namespace lowbit
