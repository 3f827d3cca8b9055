// bf16 / f16 widening: hand-computed values, and every ISA bit-identical to the scalar reference
// on all 65,536 bit patterns at every tail length.
#include "kernels/widen.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_test_util.h"

namespace lowbit::kernels {
namespace {

using KernelWidenIsa = testing::ForcedVariantTest<widen_isa>;

std::vector<uint16_t> all_patterns() {
  std::vector<uint16_t> v(65536);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint16_t>(i);
  return v;
}

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want,
                      const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << what << " pattern " << i;
}

TEST(KernelWiden, HandComputed) {
  ScopedIsa scalar(Isa::kScalar);
  const std::vector<uint16_t> bf = {0x3f80, 0xc000, 0x0000, 0x8000, 0x7f80, 0x0001, 0x4049};
  std::vector<float> out(bf.size());
  widen_bf16(bf, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(std::bit_cast<uint32_t>(out[3]), 0x80000000u);
  EXPECT_EQ(out[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(std::bit_cast<uint32_t>(out[5]), 0x00010000u);  // an fp32 subnormal
  EXPECT_EQ(out[6], 3.140625f);
  const std::vector<uint16_t> h = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x3555};
  out.resize(h.size());
  widen_f16(h, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(out[3], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(out[4], 65504.0f);                  // largest finite
  EXPECT_EQ(out[5], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(out[6], 0.333251953125f);
}

TEST_P(KernelWidenIsa, EveryPatternMatchesScalar) {
  const auto patterns = all_patterns();
  for (auto widen : {widen_bf16, widen_f16}) {
    std::vector<float> want(patterns.size()), got(patterns.size());
    {
      ScopedIsa scalar(Isa::kScalar);
      widen(patterns, want);
    }
    widen(patterns, got);
    expect_same_bits(got, want, isa_name(GetParam()).data());
  }
}

TEST_P(KernelWidenIsa, TailsAndOffsets) {
  const auto patterns = all_patterns();
  for (size_t offset : {0, 1, 3}) {
    for (size_t n = 1; n <= 40; ++n) {
      const std::span<const uint16_t> in(patterns.data() + 0x3c00 + offset, n);
      for (auto widen : {widen_bf16, widen_f16}) {
        std::vector<float> want(n), got(n + 1, -7.0f);
        {
          ScopedIsa scalar(Isa::kScalar);
          widen(in, want);
        }
        widen(in, std::span(got).first(n));
        EXPECT_EQ(got[n], -7.0f) << "wrote past the end, n=" << n;
        got.pop_back();
        expect_same_bits(got, want, "tail");
      }
    }
  }
}

// gemv against the exact (double) product of the widened weights: every variant within a bound
// on fp32 summation error, for 1-6 rows, lengths with every tail, bf16 and f16.
TEST_P(KernelWidenIsa, GemvMatchesExactProduct) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (bool f16 : {false, true}) {
    for (size_t k : {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 257}) {
      for (size_t rows : {1, 2, 3, 4, 5, 6}) {
        const size_t n = 5, ldx = k + 3, ldy = n + 2;
        std::vector<uint16_t> w(n * k);
        std::vector<float> wf(n * k), x(rows * ldx);
        for (size_t i = 0; i < w.size(); ++i) {
          const float v = normal(rng);
          const uint32_t bits = std::bit_cast<uint32_t>(v);
          w[i] = f16 ? static_cast<uint16_t>(0x3c00 + (bits & 0x3ff) - (i % 3) * 0x400)
                     : static_cast<uint16_t>(bits >> 16);
        }
        {
          ScopedIsa scalar(Isa::kScalar);
          (f16 ? widen_f16 : widen_bf16)(w, wf);
        }
        for (auto& v : x) v = normal(rng);
        std::vector<float> y(rows * ldy, -9.0f);
        (f16 ? gemv_f16 : gemv_bf16)(x.data(), rows, ldx, w.data(), n, k, y.data(), ldy);
        for (size_t r = 0; r < rows; ++r)
          for (size_t o = 0; o < n; ++o) {
            double exact = 0.0, magnitude = 0.0;
            for (size_t i = 0; i < k; ++i) {
              exact += static_cast<double>(x[r * ldx + i]) * wf[o * k + i];
              magnitude += std::fabs(static_cast<double>(x[r * ldx + i]) * wf[o * k + i]);
            }
            ASSERT_NEAR(y[r * ldy + o], exact, 1e-6 * magnitude * static_cast<double>(k) + 1e-30)
                << "f16=" << f16 << " k=" << k << " rows=" << rows << " r=" << r << " o=" << o;
          }
        for (size_t r = 0; r < rows; ++r)
          for (size_t o = n; o < ldy; ++o) ASSERT_EQ(y[r * ldy + o], -9.0f) << "wrote past n";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, KernelWidenIsa, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(KernelWiden, RejectsMismatchedLengths) {
  std::vector<uint16_t> in(3);
  std::vector<float> out(2);
  EXPECT_THROW(widen_bf16(in, out), Error);
  EXPECT_THROW(widen_f16(in, out), Error);
}

}  // namespace
}  // namespace lowbit::kernels
