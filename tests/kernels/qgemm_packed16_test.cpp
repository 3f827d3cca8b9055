// The packed int16 multiplier (Agile-Quant's W4A4 kernel, qgemm_packed16) on every ISA this CPU
// has (and under qemu for NEON, scripts/test_arm.sh): bit-exact against the GEMM's defining
// formula on odd shapes, groups and both weight kinds; every product at its largest over the
// longest accumulation before a split and past it; inputs it cannot take fail.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kernel_variants.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

using testing::ActCase;
using testing::expect_bit_exact;
using testing::WeightCase;

class Packed16IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!cpu_supports(GetParam())) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
    guard_ = std::make_unique<ScopedIsa>(GetParam());
    if (qgemm_packed16_isa() != GetParam()) GTEST_SKIP() << "no packed16 variant for this ISA";
  }
  void TearDown() override { guard_.reset(); }
  std::unique_ptr<ScopedIsa> guard_;
};

struct Shape {
  size_t n, k, group;
};

TEST_P(Packed16IsaTest, BitExactOnOddShapes) {
  // Ragged groups, k past one split (1024 k values = 256 products per field) and off the tiles.
  constexpr Shape kShapes[] = {{16, 64, 0},   {37, 100, 0},    {100, 96, 32}, {40, 100, 32},
                               {5, 8, 0},     {17, 200, 8},    {24, 97, 0},   {70, 1032, 0},
                               {33, 4100, 0}, {19, 3000, 1024}};
  std::mt19937 rng(7);
  size_t cases = 0;
  for (const Shape& s : kShapes)
    for (bool asym : {false, true}) {
      const WeightCase w = testing::random_weights(rng, s.n, s.k, s.group, 4, asym);
      const PackedWeights packed = w.pack();
      const std::vector<int32_t> sums = packed_weight_sums(packed.view());
      const std::vector<float> bias = testing::random_floats(rng, s.n);
      for (size_t m : {1u, 2u, 3u, 5u, 17u}) {
        const ActCase a = testing::random_acts(rng, m, s.k, 4);
        const bool with_bias = cases % 3 != 0;
        const auto bias_span = with_bias ? std::span<const float>(bias) : std::span<const float>();
        const std::vector<float> want =
            testing::reference_qgemm(a, w, with_bias ? bias : std::vector<float>{});
        const size_t ldy = s.n + 2;
        std::vector<float> y(m * ldy, -7.0f);
        qgemm_packed16(a.view(), packed.view(), bias_span, y, ldy,
                       cases % 2 ? std::span<const int32_t>(sums) : std::span<const int32_t>());
        const std::string what = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                                 " g=" + std::to_string(s.group) + (asym ? " asym" : " sym") +
                                 " m=" + std::to_string(m);
        expect_bit_exact(want, y, m, s.n, ldy, what);
        for (size_t i = 0; i < m; ++i)
          for (size_t j = s.n; j < ldy; ++j) ASSERT_EQ(y[i * ldy + j], -7.0f) << what;
        ++cases;
      }
    }
}

// Every product at 15 x 15 (b = a + 8 = 15 against code 15): a 16-bit field reaches 225 * 256 =
// 57600 just before each split. k runs to exactly one split, one k-chunk past it, and four splits.
TEST_P(Packed16IsaTest, AccumulationAtItsLongestBeforeASplit) {
  constexpr size_t kPerSplit = detail::kPacked16Products * 4;  // k values per field split
  for (size_t k : {kPerSplit, kPerSplit + 8, 4 * kPerSplit})
    for (int code : {0, 15})
      for (int act : {-8, 7})
        for (int zero : {0, 8, 15}) {
          WeightCase w;
          w.n = 20;
          w.k = k;
          w.bits = 4;
          w.sym_zero = zero;
          w.codes.assign(w.n * w.k, static_cast<uint8_t>(code));
          w.scales.assign(w.n, 1.0f);
          ActCase a;
          a.rows = 2;
          a.cols = k;
          a.stride = activation_stride(k);
          a.codes.assign(a.rows * a.stride, 0);
          for (size_t r = 0; r < a.rows; ++r)
            for (size_t c = 0; c < k; ++c) a.codes[r * a.stride + c] = static_cast<int8_t>(act);
          a.scales.assign(a.rows, 1.0f);
          const PackedWeights packed = w.pack();
          std::vector<float> y(a.rows * w.n);
          qgemm_packed16(a.view(), packed.view(), {}, y, w.n);
          const float want = static_cast<float>(int64_t{act} * (code - zero) * int64_t(k));
          for (float v : y)
            ASSERT_EQ(v, want) << "k " << k << " code " << code << " act " << act << " z " << zero;
        }
}

INSTANTIATE_TEST_SUITE_P(Isas, Packed16IsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(Packed16Errors, RejectsWhatItCannotMultiply) {
  std::mt19937 rng(3);
  const WeightCase w8 = testing::random_weights(rng, 16, 64, 0, 8, false);
  const WeightCase w4 = testing::random_weights(rng, 16, 64, 0, 4, false);
  std::vector<float> y(2 * 16);
  const ActCase a = testing::random_acts(rng, 2, 64, 4);
  const auto message = [&](const ActCase& acts, const WeightCase& w) {
    try {
      qgemm_packed16(acts.view(), w.pack().view(), {}, y, 16);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(a, w8).find("8-bit weights"), std::string::npos);
  ActCase wide = a;
  wide.codes[5] = 8;
  EXPECT_NE(message(wide, w4).find("outside [-8, 7]"), std::string::npos);
  wide.codes[5] = -9;
  EXPECT_NE(message(wide, w4).find("outside [-8, 7]"), std::string::npos);
  const ActCase offsets = testing::random_acts_with_offsets(rng, 2, 64);
  EXPECT_NE(message(offsets, w4).find("offsets"), std::string::npos);
}

}  // namespace
}  // namespace lowbit::kernels
