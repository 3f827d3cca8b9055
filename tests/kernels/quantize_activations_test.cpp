// Activation quantization: hand-computed values (round half to even, clamping, all-zero rows,
// padding), and every ISA bit-exact with the scalar reference on odd lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/quantize_activations.h"

namespace lowbit::kernels {
namespace {

using KernelQuantizeActivationsIsa = testing::ForcedVariantTest<quantize_activations_isa>;

TEST_P(KernelQuantizeActivationsIsa, HandComputed8Bit) {
  // max|x| = 2.54 -> s = 2.54 / 127 (about 0.02): x / s = 50, -127, about 0.5, 1.5, 2.5, ...
  std::vector<float> x = {1.0f, -2.54f, 0.01f, 0.03f, 0.05f, -0.05f, 1.27f, 0.0f};
  QuantizedActivations q;
  q.quantize(x, 1, x.size(), 8);
  const float s = 2.54f / 127.0f;
  EXPECT_EQ(q.scale(0), s);
  std::vector<int> want;
  for (float v : x) want.push_back(static_cast<int>(std::nearbyint(v / s)));
  std::vector<int> got(q.row(0).begin(), q.row(0).end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(got[1], -127);
  EXPECT_EQ(got[0], 50);
}

TEST_P(KernelQuantizeActivationsIsa, HandComputed4Bit) {
  // max|x| = 7 -> s = 1: exact ties round to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -3.5 -> -4).
  std::vector<float> x = {7.0f, 0.5f, 1.5f, 2.5f, -3.5f, -7.0f, 6.49f, -0.51f, 3.5f};
  QuantizedActivations q;
  q.quantize(x, 1, x.size(), 4);
  EXPECT_EQ(q.scale(0), 1.0f);
  const std::vector<int> want = {7, 0, 2, 2, -4, -7, 6, -1, 4};
  EXPECT_EQ(std::vector<int>(q.row(0).begin(), q.row(0).end()), want);
}

TEST_P(KernelQuantizeActivationsIsa, ZeroRowAndPadding) {
  std::vector<float> x(2 * 70, 0.0f);
  x[70 + 3] = -4.0f;
  QuantizedActivations q;
  q.quantize(x, 2, 70, 8);
  EXPECT_EQ(q.stride(), 128u);
  EXPECT_EQ(q.scale(0), 1.0f);  // all-zero row: scale 1, codes 0
  for (int8_t c : q.row(0)) EXPECT_EQ(c, 0);
  EXPECT_EQ(q.row(1)[3], -127);
  const QuantizedRowsView v = q.view();
  for (size_t r = 0; r < 2; ++r)
    for (size_t c = 70; c < v.stride; ++c) EXPECT_EQ(v.codes[r * v.stride + c], 0);
}

TEST_P(KernelQuantizeActivationsIsa, MatchesScalarBitExact) {
  std::mt19937 rng(9);
  for (size_t cols : {1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 100, 384, 1000})
    for (int bits : {8, 4, 2}) {
      const size_t rows = 5, ldx = cols + 2;
      std::vector<float> x = testing::random_floats(rng, rows * ldx, 5.0f);
      // Row 0: max|x| = qmax gives s = 1, so halves are exact ties (and +-2 clamps at 2 bits).
      const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
      for (size_t c = 0; c < cols; ++c)
        x[c] = static_cast<float>(static_cast<int>(c % 9) - 4) * 0.5f;
      x[0] = qmax;
      const size_t stride = activation_stride(cols);
      std::vector<int8_t> got(rows * stride, 99), want(rows * stride, 99);
      std::vector<float> gs(rows), ws(rows);
      std::vector<int32_t> sums(rows, 12345);
      quantize_activations(x, rows, cols, ldx, bits, got, stride, gs, sums);
      for (size_t r = 0; r < rows; ++r) {
        int32_t sum = 0;
        for (size_t c = 0; c < cols; ++c) sum += got[r * stride + c];
        ASSERT_EQ(sums[r], sum) << "row sums, " << cols << " " << bits;
      }
      {
        ScopedIsa scalar(Isa::kScalar);
        quantize_activations(x, rows, cols, ldx, bits, want, stride, ws);
      }
      ASSERT_EQ(gs, ws) << cols << " " << bits;
      ASSERT_EQ(got, want) << cols << " " << bits;
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) {
          // The quantizer's formula, straight.
          const float s = ws[r];
          float q = std::nearbyint(x[r * ldx + c] / s);
          q = std::fmin(std::fmax(q, -qmax - 1), qmax);
          ASSERT_EQ(want[r * stride + c], static_cast<int8_t>(q));
        }
    }
}

// The quantizer of layers/quantizer.h written out (choose_params + quantize_value), returning the
// value q - z (q for symmetric) of each column and the scale: what the simulated path computes.
struct QuantizerRow {
  std::vector<int> values;
  float scale;
};
QuantizerRow quantizer_row(const float* x, size_t cols, const ActivationFormat& f) {
  constexpr float kMagic = 12582912.0f;
  auto rne = [](float v) { return (v + kMagic) - kMagic; };
  QuantizerRow out;
  float zero = 0.0f, qmin, qmax;
  if (f.symmetric) {
    float amax = 0.0f;
    for (size_t i = 0; i < cols; ++i) amax = std::max(amax, std::fabs(x[i]));
    amax *= f.clip;
    qmax = static_cast<float>((1 << (f.bits - 1)) - 1);
    qmin = -qmax - 1;
    out.scale = amax > 0.0f ? amax / qmax : 1.0f;
  } else {
    float lo = 0.0f, hi = 0.0f;
    for (size_t i = 0; i < cols; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    lo *= f.clip;
    hi *= f.clip;
    qmin = 0.0f;
    qmax = static_cast<float>((1 << f.bits) - 1);
    out.scale = hi > lo ? (hi - lo) / qmax : 1.0f;
    zero = rne(-lo / out.scale);
  }
  for (size_t i = 0; i < cols; ++i) {
    float q = rne(x[i] / out.scale) + zero;
    q = q < qmin ? qmin : q;
    q = q > qmax ? qmax : q;
    out.values.push_back(static_cast<int>(q - zero));
  }
  return out;
}

// Asymmetric and clipped formats: every ISA bit-exact with the scalar reference (codes, scales,
// offsets, row sums), and code + offset equal to the quantizer's q - z, on odd lengths, all-zero
// rows, rows of one sign only, exact ties, and values clipped away.
TEST_P(KernelQuantizeActivationsIsa, AllFormatsMatchScalarAndQuantizer) {
  std::mt19937 rng(17);
  size_t checked = 0;
  for (size_t cols : {1, 7, 8, 17, 31, 33, 64, 100, 385})
    for (int bits : {8, 7, 4, 3, 2})
      for (bool symmetric : {false, true})
        for (float clip : {1.0f, 0.9f, 0.5f}) {
          const ActivationFormat f{bits, symmetric, clip};
          const size_t rows = 6, ldx = cols + 3;
          std::vector<float> x = testing::random_floats(rng, rows * ldx, 4.0f);
          for (size_t c = 0; c < cols; ++c) {
            x[1 * ldx + c] = 0.0f;                               // all zero
            x[2 * ldx + c] = std::fabs(x[2 * ldx + c]) + 0.25f;  // positive only
            x[3 * ldx + c] = -std::fabs(x[3 * ldx + c]) - 0.5f;  // negative only
            // Range [-qmax', qmax'] in steps of 0.5 at scale 1: exact ties.
            x[4 * ldx + c] = static_cast<float>(static_cast<int>(c % 11) - 5) * 0.5f;
          }
          x[5 * ldx] = 300.0f;  // one outlier (clipped away with clip < 1)
          const size_t stride = activation_stride(cols);
          std::vector<int8_t> got(rows * stride, 99), want(rows * stride, 99);
          std::vector<float> gs(rows), ws(rows);
          std::vector<int32_t> gsum(rows), wsum(rows), goff(rows, 7), woff(rows, 7);
          const std::span<int32_t> go =
              f.has_offsets() ? std::span<int32_t>(goff) : std::span<int32_t>();
          const std::span<int32_t> wo =
              f.has_offsets() ? std::span<int32_t>(woff) : std::span<int32_t>();
          quantize_activations(x, rows, cols, ldx, f, got, stride, gs, gsum, go);
          {
            ScopedIsa scalar(Isa::kScalar);
            quantize_activations(x, rows, cols, ldx, f, want, stride, ws, wsum, wo);
          }
          const std::string what = std::to_string(cols) + " cols, " + std::to_string(bits) +
                                   " bits " + (symmetric ? "sym" : "asym") + " clip " +
                                   std::to_string(clip);
          ASSERT_EQ(got, want) << what;
          ASSERT_EQ(gs, ws) << what;
          ASSERT_EQ(gsum, wsum) << what;
          ASSERT_EQ(goff, woff) << what;
          for (size_t r = 0; r < rows; ++r) {
            const QuantizerRow q = quantizer_row(x.data() + r * ldx, cols, f);
            ASSERT_EQ(ws[r], q.scale) << what << " row " << r;
            const int off = f.has_offsets() ? woff[r] : 0;
            for (size_t c = 0; c < cols; ++c) {
              ASSERT_EQ(want[r * stride + c] + off, q.values[c]) << what << " row " << r;
              ++checked;
            }
            for (size_t c = cols; c < stride; ++c) ASSERT_EQ(want[r * stride + c], 0);
          }
          ASSERT_EQ(ws[1], 1.0f) << what;  // all-zero row: scale 1, values 0
        }
  EXPECT_GT(checked, 0u);
}

INSTANTIATE_TEST_SUITE_P(Isas, KernelQuantizeActivationsIsa,
                         ::testing::ValuesIn(testing::arch_isas()), testing::isa_param_name);

TEST(KernelQuantizeActivations, RejectsBadArguments) {
  std::vector<float> x(16);
  std::vector<int8_t> codes(64);
  std::vector<float> scales(1);
  EXPECT_THROW(quantize_activations(x, 1, 16, 16, 9, codes, 64, scales), Error);
  EXPECT_THROW(quantize_activations(x, 1, 16, 16, 8, codes, 12, scales), Error);  // stride < 16
  EXPECT_THROW(quantize_activations(x, 2, 16, 16, 8, codes, 64, scales), Error);  // too few
  std::vector<int32_t> sums(0);
  x.resize(32);
  codes.resize(128);
  scales.resize(2);
  sums.resize(1);
  EXPECT_THROW(quantize_activations(x, 2, 16, 16, 8, codes, 64, scales, sums), Error);
  // 8-bit asymmetric needs row offsets; the others take none; the clip ratio is in (0, 1].
  std::vector<int32_t> offsets(2);
  sums.resize(2);
  EXPECT_THROW(quantize_activations(x, 2, 16, 16, {8, false, 1.0f}, codes, 64, scales, sums, {}),
               Error);
  EXPECT_THROW(
      quantize_activations(x, 2, 16, 16, {4, false, 1.0f}, codes, 64, scales, sums, offsets),
      Error);
  EXPECT_THROW(quantize_activations(x, 2, 16, 16, {4, true, 0.0f}, codes, 64, scales, sums, {}),
               Error);
  EXPECT_NO_THROW(
      quantize_activations(x, 2, 16, 16, {8, false, 0.9f}, codes, 64, scales, sums, offsets));
}

}  // namespace
}  // namespace lowbit::kernels
