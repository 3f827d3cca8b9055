// FakeQuantLinear keeps a quantized weight as codes and dequantizes it on first use: the result
// must be the layer built from the dequantized weight, whichever is asked first.
#include "layers/fake_quant_linear.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/error.h"

namespace lowbit {
namespace {

QuantizedMatrix random_quantized(size_t rows, size_t cols) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (float& v : w) v = normal(rng);
  return quantize_rows(w, rows, cols, QuantSpec{4, true, 16, 1.0f, true});
}

TEST(FakeQuantLinear, QuantizedWeightIsDequantizedOnFirstUse) {
  const size_t in = 32, out = 6, rows = 3;
  const QuantizedMatrix q = random_quantized(out, in);
  const std::vector<float> dense = q.dequantize();
  const QuantSpec act{8, true, 0, 1.0f, false};
  const FakeQuantLinear lazy(q, {}, act, nullptr);
  const FakeQuantLinear eager(static_cast<int>(in), static_cast<int>(out), dense, {}, act, nullptr);

  std::vector<float> x(rows * in);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  std::vector<float> y_lazy(rows * out), y_eager(rows * out);
  lazy.forward(x, rows, y_lazy);  // the first use: dequantizes
  eager.forward(x, rows, y_eager);
  EXPECT_EQ(y_lazy, y_eager);
  const auto w = lazy.weight();
  EXPECT_EQ(std::vector<float>(w.begin(), w.end()), dense);
  ASSERT_NE(lazy.quantized_weight(), nullptr);
  EXPECT_EQ(lazy.quantized_weight()->codes, q.codes);
  EXPECT_EQ(lazy.weight_bytes(), 96u + 12u * sizeof(float));  // 4-bit codes + a scale per 16
  std::vector<float> row(in);
  lazy.weight_row(2, row);
  EXPECT_EQ(row, std::vector<float>(dense.begin() + 2 * in, dense.begin() + 3 * in));
}

TEST(FakeQuantLinear, RejectsMismatchedShapes) {
  const QuantizedMatrix q = random_quantized(4, 16);
  EXPECT_THROW(FakeQuantLinear(q, std::vector<float>(3), QuantSpec{}, nullptr), Error);
  EXPECT_THROW(FakeQuantLinear(16, 4, std::vector<float>(63), {}, QuantSpec{}, nullptr), Error);
  EXPECT_THROW(FakeQuantLinear(QuantizedMatrix{}, {}, QuantSpec{}, nullptr), Error);
}

}  // namespace
}  // namespace lowbit
