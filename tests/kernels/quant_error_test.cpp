// The MSE clip search's error kernel: a hand-computed sum, the tail past the 16 lanes, and every
// ISA bit-identical to the scalar reference.
#include "kernels/quant_error.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/kernel_test_util.h"

namespace lowbit::kernels {
namespace {

using KernelQuantErrorIsa = testing::ForcedVariantTest<quant_error_isa>;

TEST(KernelQuantError, HandComputed) {
  // scale 0.5, symmetric 4-bit grid [-8, 7]: 0.3 -> 0.5 (error 0.2), 1.1 -> 1.0 (0.1),
  // 9.0 -> clamped to 7 * 0.5 = 3.5 (5.5), -0.25 -> round-half-even(-0.5) = -0 -> 0 (0.25).
  const std::vector<float> x = {0.3f, 1.1f, 9.0f, -0.25f};
  const double want = 0.2 * 0.2 + 0.1 * 0.1 + 5.5 * 5.5 + 0.25 * 0.25;
  EXPECT_NEAR(quantization_squared_error(x, 0.5f, 0.0f, -8.0f, 7.0f), want, 1e-6);
  // Asymmetric: zero point 3 on [0, 15]: -1.6 / 0.5 = -3.2 -> -3 + 3 = 0 -> (0 - 3) * 0.5 = -1.5.
  const std::vector<float> y = {-1.6f};
  EXPECT_NEAR(quantization_squared_error(y, 0.5f, 3.0f, 0.0f, 15.0f), 0.1 * 0.1, 1e-6);
  EXPECT_EQ(quantization_squared_error({}, 0.5f, 0.0f, -8.0f, 7.0f), 0.0);
}

TEST_P(KernelQuantErrorIsa, MatchesScalarBits) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t n : {1, 15, 16, 17, 31, 32, 64, 100, 128, 4096, 4099}) {
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng) * (rng() % 7 == 0 ? 20.0f : 1.0f);
    for (auto [scale, zero, qmin, qmax] :
         {std::tuple{0.37f, 0.0f, -8.0f, 7.0f}, std::tuple{0.011f, 0.0f, -128.0f, 127.0f},
          std::tuple{0.2f, 7.0f, 0.0f, 15.0f}}) {
      double want;
      {
        ScopedIsa scalar(Isa::kScalar);
        want = quantization_squared_error(x, scale, zero, qmin, qmax);
      }
      EXPECT_EQ(quantization_squared_error(x, scale, zero, qmin, qmax), want) << "n=" << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, KernelQuantErrorIsa, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

}  // namespace
}  // namespace lowbit::kernels
