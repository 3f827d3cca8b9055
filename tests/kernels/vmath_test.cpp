// Softmax and SwiGLU: hand-computed values, and every ISA against the scalar (std::exp) reference
// on odd lengths and extreme inputs.
#include "kernels/vmath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_test_util.h"

namespace lowbit::kernels {
namespace {

using KernelVmathIsa = testing::ForcedVariantTest<vmath_isa>;

const size_t kLengths[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 511, 512, 513};

// |got - want| <= rel * |want| + abs, element by element.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel,
                  float abs, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + abs)
        << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

TEST_P(KernelVmathIsa, SoftmaxHandComputed) {
  std::vector<float> x = {std::log(3.0f), 0.0f};
  softmax(x, 1.0f);
  EXPECT_NEAR(x[0], 0.75f, 1e-6f);
  EXPECT_NEAR(x[1], 0.25f, 1e-6f);
  std::vector<float> one = {123.0f};
  softmax(one, 0.125f);
  EXPECT_EQ(one[0], 1.0f);
  // scale applies before the exponential: softmax(0.5 * {2 ln 2, 0, 0}) = {1/2, 1/4, 1/4}.
  std::vector<float> y = {2.0f * std::log(2.0f), 0.0f, 0.0f};
  softmax(y, 0.5f);
  EXPECT_NEAR(y[0], 0.5f, 1e-6f);
  EXPECT_NEAR(y[1], 0.25f, 1e-6f);
}

TEST_P(KernelVmathIsa, SoftmaxMatchesScalarReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (size_t n : kLengths)
    for (float scale : {0.125f, 1.0f}) {
      std::vector<float> x(n);
      for (auto& v : x) v = normal(rng);
      if (n > 3) x[n / 3] = 300.0f;  // a dominant score: the others underflow toward 0
      std::vector<float> want = x;
      {
        ScopedIsa scalar(Isa::kScalar);
        softmax(want, scale);
      }
      softmax(x, scale);
      expect_close(x, want, 2e-6f, 1e-37f, "softmax n=" + std::to_string(n));
      double sum = 0;
      for (float v : x) sum += v;
      EXPECT_NEAR(sum, 1.0, 1e-5) << n;
    }
}

TEST_P(KernelVmathIsa, SwigluHandComputed) {
  std::vector<float> g = {0.0f, 1.0f, -1.0f, 40.0f, -200.0f};
  std::vector<float> up = {5.0f, 2.0f, 1.0f, 0.5f, 1.0f};
  swiglu(g, up);
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], 2.0f * 0.7310585786f, 1e-6f);
  EXPECT_NEAR(g[2], -0.2689414214f, 1e-6f);
  EXPECT_NEAR(g[3], 20.0f, 1e-5f);
  EXPECT_NEAR(g[4], 0.0f, 1e-30f);
}

TEST_P(KernelVmathIsa, SwigluMatchesScalarReference) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> wide(-95.0f, 95.0f);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (size_t n : kLengths) {
    std::vector<float> g(n), up(n);
    for (size_t i = 0; i < n; ++i) {
      g[i] = i % 2 ? wide(rng) : normal(rng);
      up[i] = normal(rng);
    }
    std::vector<float> want = g;
    {
      ScopedIsa scalar(Isa::kScalar);
      swiglu(want, up);
    }
    swiglu(g, up);
    expect_close(g, want, 2e-6f, 1e-30f, "swiglu n=" + std::to_string(n));
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, KernelVmathIsa, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(KernelVmath, RejectsBadArguments) {
  std::vector<float> empty, x = {1.0f, 2.0f}, up = {1.0f};
  EXPECT_THROW(softmax(empty, 1.0f), Error);
  EXPECT_THROW(softmax(x, 0.0f), Error);
  EXPECT_THROW(swiglu(x, up), Error);
}

}  // namespace
}  // namespace lowbit::kernels
