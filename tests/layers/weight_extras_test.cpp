// Side data of quantized weights (LLM.int8() outlier columns, a sparse part, low-rank factors)
// and fractional zero points: the simulated layer multiplies by the effective weight, the packed
// layer adds the same products to the integer kernels' result, and malformed side data fails.
#include "layers/weight_extras.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>

#include "core/error.h"
#include "layers/fake_quant_linear.h"
#include "layers/packed_linear.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

constexpr size_t kIn = 96, kOut = 40, kRows = 7;

std::vector<float> normal(std::mt19937& rng, size_t n, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

WeightExtras make_extras(std::mt19937& rng, bool outliers, bool sparse, bool low_rank) {
  WeightExtras ex;
  if (outliers) {
    ex.outliers.cols = {3, 17, 60};
    ex.outliers.weight = normal(rng, kOut * 3);
    ex.outliers.threshold = 6.0f;
  }
  if (sparse) {
    ex.sparse.row_ptr.push_back(0);
    for (size_t r = 0; r < kOut; ++r) {
      for (uint32_t c = static_cast<uint32_t>(r % 5); c < kIn; c += 23) {
        ex.sparse.col.push_back(c);
        ex.sparse.value.push_back(normal(rng, 1, 3.0f)[0]);
      }
      ex.sparse.row_ptr.push_back(static_cast<uint32_t>(ex.sparse.value.size()));
    }
  }
  if (low_rank) {
    ex.low_rank.rank = 3;
    ex.low_rank.u = normal(rng, kOut * 3, 0.1f);
    ex.low_rank.v = normal(rng, 3 * kIn, 0.1f);
  }
  round_to_f16(ex.outliers.weight);
  round_to_f16(ex.sparse.value);
  round_to_f16(ex.low_rank.u);
  round_to_f16(ex.low_rank.v);
  return ex;
}

// An asymmetric 4-bit weight with fractional zero points (as HQQ makes them).
QuantizedMatrix fractional_weight(std::mt19937& rng) {
  const auto w = normal(rng, kOut * kIn);
  QuantizedMatrix q =
      quantize_rows(w, kOut, kIn, QuantSpec{.bits = 4, .symmetric = false, .group_size = 32});
  std::uniform_real_distribution<float> u(-0.45f, 0.45f);
  for (auto& p : q.params) p.zero += u(rng);
  return q;
}

double rel_diff(std::span<const float> a, std::span<const float> b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

TEST(WeightExtras, SimulatedLayerMultipliesTheEffectiveWeight) {
  std::mt19937 rng(1);
  const QuantizedMatrix q = fractional_weight(rng);
  auto ex = std::make_shared<WeightExtras>(make_extras(rng, true, true, true));
  const FakeQuantLinear layer(q, {}, QuantSpec{}, nullptr, ex);
  // The effective weight, built element by element.
  std::vector<double> w(kOut * kIn);
  const auto d = q.dequantize();
  for (size_t i = 0; i < w.size(); ++i) w[i] = d[i];
  for (size_t r = 0; r < kOut; ++r) {
    for (size_t j = 0; j < 3; ++j)
      w[r * kIn + ex->outliers.cols[j]] = ex->outliers.weight[r * 3 + j];
    for (uint32_t i = ex->sparse.row_ptr[r]; i < ex->sparse.row_ptr[r + 1]; ++i)
      w[r * kIn + ex->sparse.col[i]] += ex->sparse.value[i];
    for (size_t c = 0; c < kIn; ++c)
      for (size_t t = 0; t < 3; ++t)
        w[r * kIn + c] += double{ex->low_rank.u[r * 3 + t]} * ex->low_rank.v[t * kIn + c];
  }
  const auto x = normal(rng, kRows * kIn);
  std::vector<float> y(kRows * kOut), ref(kRows * kOut);
  layer.forward(x, kRows, y);
  for (size_t i = 0; i < kRows; ++i)
    for (size_t o = 0; o < kOut; ++o) {
      double acc = 0;
      for (size_t c = 0; c < kIn; ++c) acc += double{x[i * kIn + c]} * w[o * kIn + c];
      ref[i * kOut + o] = static_cast<float>(acc);
    }
  EXPECT_LT(rel_diff(y, ref), 1e-5);
  std::vector<float> row(kIn);
  layer.weight_row(5, row);
  for (size_t c = 0; c < kIn; ++c) EXPECT_NEAR(row[c], w[5 * kIn + c], 1e-5) << c;
  EXPECT_NE(layer.format().find("+sparse"), std::string::npos) << layer.format();
}

TEST(WeightExtras, OutlierColumnsAreLeftOutOfTheActivationScale) {
  // One huge feature: quantized with the rest it would flatten every other feature to zero.
  std::mt19937 rng(2);
  QuantizedMatrix q = quantize_rows(normal(rng, kOut * kIn), kOut, kIn, QuantSpec{.bits = 8});
  auto ex = std::make_shared<WeightExtras>();
  ex->outliers.cols = {10};
  ex->outliers.weight = normal(rng, kOut);
  round_to_f16(ex->outliers.weight);
  for (size_t r = 0; r < kOut; ++r) q.codes[r * kIn + 10] = 128;  // the int8 part is zero there
  const QuantSpec a8{.bits = 8};
  const FakeQuantLinear with(q, {}, a8, nullptr, ex), without(q, {}, a8, nullptr, nullptr);
  const FakeQuantLinear exact(q, {}, QuantSpec{}, nullptr, ex);
  auto x = normal(rng, kRows * kIn);
  for (size_t i = 0; i < kRows; ++i) x[i * kIn + 10] = 500.0f;
  std::vector<float> y(kRows * kOut), y0(kRows * kOut), yx(kRows * kOut);
  with.forward(x, kRows, y);
  exact.forward(x, kRows, yx);
  EXPECT_LT(rel_diff(y, yx), 0.01);
  // Without the decomposition the int8 activations lose the rest (and the column's weight).
  without.forward(x, kRows, y0);
  EXPECT_GT(rel_diff(y0, yx), 0.5);
}

TEST(WeightExtras, PackedLayerAddsTheSameProducts) {
  std::mt19937 rng(3);
  for (int abits : {16, 8, 4})
    for (bool sym : {true, false})
      for (int parts = 0; parts < 8; ++parts) {
        const QuantizedMatrix q = fractional_weight(rng);
        auto ex = std::make_shared<WeightExtras>(
            make_extras(rng, parts & 1, (parts & 2) != 0, (parts & 4) != 0));
        const QuantSpec act{.bits = abits, .symmetric = sym};
        const auto bias = normal(rng, kOut);
        const FakeQuantLinear sim(q, bias, act, nullptr, ex);
        auto packed = std::make_shared<kernels::PackedWeights>(pack_quantized(q));
        const PackedLinear real(packed->view(), packed, q.spec, bias, act, nullptr, ex,
                                zero_fractions(q));
        ASSERT_FALSE(real.zero_fractions().empty());
        const auto x = normal(rng, kRows * kIn);
        std::vector<float> ys(kRows * kOut), yr(kRows * kOut);
        sim.forward(x, kRows, ys);
        real.forward(x, kRows, yr);
        EXPECT_LT(rel_diff(yr, ys), 2e-5) << abits << " " << sym << " " << parts;
        std::vector<float> rs(kIn), rr(kIn);
        sim.weight_row(11, rs);
        real.weight_row(11, rr);
        for (size_t c = 0; c < kIn; ++c) ASSERT_NEAR(rr[c], rs[c], 1e-5) << c;
        EXPECT_EQ(real.weight_bytes(), packed->bytes().size() + ex->bytes() +
                                           real.zero_fractions().size() * sizeof(float));
      }
}

TEST(WeightExtras, UnpackingRestoresFractionalZeros) {
  std::mt19937 rng(4);
  const QuantizedMatrix q = fractional_weight(rng);
  const auto packed = pack_quantized(q);
  const auto f = zero_fractions(q);
  const QuantizedMatrix back = unpack_quantized(packed.view(), q.spec, f);
  for (size_t i = 0; i < q.params.size(); ++i)
    EXPECT_FLOAT_EQ(back.params[i].zero, q.params[i].zero);
  EXPECT_EQ(back.codes, q.codes);
  // Integral zero points need no fractions.
  const QuantizedMatrix plain =
      quantize_rows(normal(rng, kOut * kIn), kOut, kIn, QuantSpec{.bits = 4, .symmetric = false});
  EXPECT_TRUE(zero_fractions(plain).empty());
}

TEST(WeightExtras, MalformedSideDataFails) {
  std::mt19937 rng(5);
  const auto expect_error = [](const WeightExtras& ex, const std::string& what) {
    const std::string e = testing::error_of([&] { ex.validate(kOut, kIn, "f.lowbit: q_proj"); });
    EXPECT_NE(e.find("f.lowbit: q_proj: "), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  WeightExtras ex = make_extras(rng, true, true, true);
  EXPECT_NO_THROW(ex.validate(kOut, kIn, "x"));
  WeightExtras bad = ex;
  bad.outliers.cols[1] = 3;
  expect_error(bad, "not ascending");
  bad = ex;
  bad.outliers.cols[2] = static_cast<uint32_t>(kIn);
  expect_error(bad, "out of range");
  bad = ex;
  bad.sparse.col[0] = static_cast<uint32_t>(kIn + 5);
  expect_error(bad, "out of range or out of order");
  bad = ex;
  bad.sparse.row_ptr.back() += 1;
  expect_error(bad, "do not span");
  bad = ex;
  bad.low_rank.v.pop_back();
  expect_error(bad, "low-rank factors");
  bad = ex;
  bad.sparse.value[2] = NAN;
  expect_error(bad, "sparse value 2 is nan");
}

}  // namespace
}  // namespace lowbit
