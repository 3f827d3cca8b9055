// Quantizer semantics against values computed by hand.
#include "layers/quantizer.h"

#include <gtest/gtest.h>

#include <random>
#include <span>
#include <vector>

#include "core/error.h"

namespace lowbit {
namespace {

TEST(Quantizer, SymmetricInt4ByHand) {
  // max|x| = 7 -> scale 1; values round half to even; -8 is representable, -9 clamps.
  QuantSpec spec{4, true, 0, 1.0f, false};
  std::vector<float> x = {7.0f, -2.5f, 0.5f, 1.5f, 3.49f, -7.0f};
  fake_quantize_rows(x, 1, x.size(), spec);
  EXPECT_EQ(x, (std::vector<float>{7.0f, -2.0f, 0.0f, 2.0f, 3.0f, -7.0f}));

  const QuantParams p{1.0f, 0.0f};
  EXPECT_EQ(quantize_value(-9.0f, p, spec.qmin(), spec.qmax()), -8);
  EXPECT_EQ(quantize_value(9.0f, p, spec.qmin(), spec.qmax()), 7);
}

TEST(Quantizer, SymmetricScaleAndClip) {
  QuantSpec spec{8, true, 0, 0.5f, false};
  std::vector<float> x = {254.0f, 1.0f, -100.0f};
  const auto p = choose_params(x, spec);
  EXPECT_FLOAT_EQ(p.scale, 1.0f);  // 0.5 * 254 / 127
  fake_quantize_rows(x, 1, 3, spec);
  EXPECT_EQ(x, (std::vector<float>{127.0f, 1.0f, -100.0f}));  // 254 clips to 127
}

TEST(Quantizer, AsymmetricInt2ByHand) {
  // lo = -1, hi = 2 -> scale 1, zero point 1, q in [0, 3] -> values {-1, 0, 1, 2}.
  QuantSpec spec{2, false, 0, 1.0f, false};
  std::vector<float> x = {-1.0f, 2.0f, 0.4f, 1.6f, -0.5f};
  const auto p = choose_params(x, spec);
  EXPECT_FLOAT_EQ(p.scale, 1.0f);
  EXPECT_FLOAT_EQ(p.zero, 1.0f);
  fake_quantize_rows(x, 1, x.size(), spec);
  EXPECT_EQ(x, (std::vector<float>{-1.0f, 2.0f, 0.0f, 2.0f, -0.0f}));
}

TEST(Quantizer, AsymmetricKeepsZeroExact) {
  // All-positive values: the range is extended to include 0, so 0 stays exact.
  QuantSpec spec{3, false, 0, 1.0f, false};
  std::vector<float> x = {0.0f, 7.0f, 3.0f};
  fake_quantize_rows(x, 1, 3, spec);
  EXPECT_EQ(x, (std::vector<float>{0.0f, 7.0f, 3.0f}));
}

TEST(Quantizer, GroupsHaveTheirOwnScales) {
  QuantSpec spec{4, true, 2, 1.0f, false};
  std::vector<float> x = {70.0f, 10.0f, 0.7f, 0.1f};  // per-row would zero the small group
  fake_quantize_rows(x, 1, 4, spec);
  EXPECT_FLOAT_EQ(x[0], 70.0f);
  EXPECT_FLOAT_EQ(x[1], 10.0f);
  EXPECT_FLOAT_EQ(x[2], 0.7f);
  EXPECT_FLOAT_EQ(x[3], 0.1f);
}

TEST(Quantizer, RowsAreIndependent) {
  QuantSpec spec{4, true, 0, 1.0f, false};
  std::vector<float> x = {7.0f, 1.0f, 0.07f, 0.01f};
  fake_quantize_rows(x, 2, 2, spec);
  EXPECT_FLOAT_EQ(x[2], 0.07f);
  EXPECT_FLOAT_EQ(x[3], 0.01f);
}

TEST(Quantizer, ZeroGroupStaysZero) {
  QuantSpec spec{4, false, 0, 1.0f, false};
  std::vector<float> x(8, 0.0f);
  fake_quantize_rows(x, 1, 8, spec);
  for (float v : x) EXPECT_EQ(v, 0.0f);
}

TEST(Quantizer, MseClipNeverWorseThanNoClip) {
  QuantSpec plain{3, true, 0, 1.0f, false};
  QuantSpec mse = plain;
  mse.mse_clip = true;
  std::vector<float> x = {100.0f, 1.0f, -1.2f, 0.8f, 2.0f, -0.3f, 1.7f, -2.2f};
  auto a = x, b = x;
  fake_quantize_rows(a, 1, x.size(), plain);
  fake_quantize_rows(b, 1, x.size(), mse);
  double ea = 0, eb = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ea += (a[i] - x[i]) * (a[i] - x[i]);
    eb += (b[i] - x[i]) * (b[i] - x[i]);
  }
  EXPECT_LE(eb, ea);
}

TEST(Quantizer, Int8ErrorBound) {
  QuantSpec spec{8, true, 0, 1.0f, false};
  std::vector<float> x(257);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 3.0f;
  auto y = x;
  fake_quantize_rows(y, 1, x.size(), spec);
  const float scale = 3.0f / 127.0f;
  for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(y[i] - x[i]), scale * 0.5f + 1e-6f);
}

// quantize_rows writes codes with the vectorized activation kernel (clamp before rounding, held
// in int8): they must be quantize_value's codes for every width, mode, clip and group size,
// including values far outside the clip range, exact halves and zero rows.
TEST(Quantizer, QuantizeRowsCodesMatchQuantizeValue) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t rows = 5, cols = 96;
  std::vector<float> x(rows * cols);
  for (float& v : x) v = normal(rng);
  x[3] = 40.0f;  // an outlier: most clip ratios clamp it
  x[100] = -0.5f;
  std::fill(x.begin() + 2 * cols, x.begin() + 3 * cols, 0.0f);  // a zero row
  for (int bits = 2; bits <= 8; ++bits)
    for (bool symmetric : {true, false})
      for (int group : {0, 32})
        for (bool mse : {false, true}) {
          const QuantSpec spec{bits, symmetric, group, mse ? 1.0f : 0.8f, mse};
          const QuantizedMatrix m = quantize_rows(x, rows, cols, spec);
          const size_t g = group > 0 ? static_cast<size_t>(group) : cols;
          for (size_t r = 0; r < rows; ++r)
            for (size_t c = 0; c < cols; ++c) {
              const auto values = std::span<const float>(x).subspan(r * cols + c / g * g, g);
              const QuantParams p = choose_params(values, spec);
              const int want = quantize_value(x[r * cols + c], p, spec.qmin(), spec.qmax());
              ASSERT_EQ(static_cast<int>(m.codes[r * cols + c]) + spec.qmin(), want)
                  << spec.describe() << " row " << r << " col " << c;
            }
        }
}

TEST(Quantizer, ValidateRejectsImpossibleSettings) {
  EXPECT_THROW((QuantSpec{.bits = 1}.validate("--abits")), Error);
  EXPECT_THROW((QuantSpec{.bits = 9}.validate("--wbits")), Error);
  EXPECT_THROW((QuantSpec{.bits = 4, .group_size = 100}.validate("--wbits", 384)), Error);
  EXPECT_THROW((QuantSpec{.bits = 4, .clip = 0.0f}.validate("--clip")), Error);
  EXPECT_NO_THROW((QuantSpec{.bits = 4, .group_size = 128}.validate("--wbits", 384)));
  EXPECT_NO_THROW((QuantSpec{.bits = 16}.validate("--abits")));
}

}  // namespace
}  // namespace lowbit
