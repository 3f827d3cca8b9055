// The integer GEMM (W4A8 / W4A4 / W8A8) and the fp32-activation GEMM (W4A16 / W8A16) on every ISA
// this CPU has, against the defining formulas: bit-exact, on odd shapes (m, n, k not multiples of
// the tiles, ragged last groups, padded k), symmetric and asymmetric weights, with and without
// bias, single-threaded and on the pool.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

using testing::ActCase;
using testing::expect_bit_exact;
using testing::WeightCase;

struct Shape {
  size_t n, k, group;
};

// n and k off the tile sizes; groups whole-row, dividing, and ragged (k = 100 with 32: 32+32+32+4).
// The long rows (k = 4100) make the weights span several L2 panels (the VNNI GEMM unpacks int4
// weights panel by panel).
constexpr Shape kShapes[] = {{16, 64, 0},   {37, 100, 0},    {100, 96, 32}, {40, 100, 32},
                             {33, 256, 64}, {130, 384, 128}, {5, 8, 0},     {17, 200, 8},
                             {24, 97, 0},   {48, 104, 8},    {70, 4100, 0}, {70, 4100, 512}};
constexpr size_t kRows[] = {1, 2, 3, 7, 17, 50, 64};
// The kernels' own containers and the bit-plane ones, which run them on expanded panels.
constexpr int kContainers[] = {4, 8, 2, 3, 5, 6};

class QgemmIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!cpu_supports(GetParam())) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
    guard_ = std::make_unique<ScopedIsa>(GetParam());
  }
  void TearDown() override { guard_.reset(); }
  std::unique_ptr<ScopedIsa> guard_;
};

TEST_P(QgemmIsaTest, IntegerGemmBitExact) {
  if (qgemm_isa() != GetParam()) GTEST_SKIP() << "no integer GEMM variant for this ISA";
  std::mt19937 rng(42);
  size_t cases = 0;
  for (const Shape& s : kShapes)
    for (int bits : kContainers)
      for (bool asym : {false, true}) {
        const WeightCase w = testing::random_weights(rng, s.n, s.k, s.group, bits, asym);
        const PackedWeights packed = w.pack();
        const std::vector<float> bias = testing::random_floats(rng, s.n);
        for (size_t m : kRows) {
          const int abits = (cases % 2) ? 4 : 8;  // W4A4-style 4-bit values and full int8
          const ActCase a = testing::random_acts(rng, m, s.k, abits);
          const bool with_bias = (cases % 3) != 0;
          const std::vector<float> want =
              testing::reference_qgemm(a, w, with_bias ? bias : std::vector<float>{});
          // Output with a row stride wider than n, checking nothing outside [0, n) is written.
          const size_t ldy = s.n + 3;
          std::vector<float> y(m * ldy, -7.0f);
          const auto bias_span =
              with_bias ? std::span<const float>(bias) : std::span<const float>();
          if (cases % 2)
            qgemm(a.view(), packed.view(), bias_span, y, ldy);
          else
            qgemm_serial(a.view(), packed.view(), bias_span, y, ldy);
          const std::string what = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                                   " g=" + std::to_string(s.group) + " W" + std::to_string(bits) +
                                   "A" + std::to_string(abits) + (asym ? " asym" : " sym") +
                                   " m=" + std::to_string(m);
          expect_bit_exact(want, y, m, s.n, ldy, what);
          for (size_t i = 0; i < m; ++i)
            for (size_t j = s.n; j < ldy; ++j) ASSERT_EQ(y[i * ldy + j], -7.0f) << what;
          ++cases;
        }
      }
}

// The int16 and int32 accumulation bounds: every product at its extreme, over a long group.
TEST_P(QgemmIsaTest, IntegerGemmExtremeValues) {
  if (qgemm_isa() != GetParam()) GTEST_SKIP() << "no integer GEMM variant for this ISA";
  for (int bits : {4, 8})
    for (int code : {0, (1 << bits) - 1})
      for (int act : {-128, 127}) {
        WeightCase w;
        w.n = 20;
        w.k = 4096;
        w.bits = bits;
        w.sym_zero = code == 0 ? (1 << bits) - 1 : 0;  // u - z = -(2^b - 1) or 2^b - 1
        w.codes.assign(w.n * w.k, static_cast<uint8_t>(code));
        w.scales.assign(w.n, 1.0f);
        ActCase a;
        a.rows = 3;
        a.cols = w.k;
        a.stride = activation_stride(w.k);
        a.codes.assign(a.rows * a.stride, 0);
        for (size_t r = 0; r < a.rows; ++r)
          for (size_t c = 0; c < w.k; ++c) a.codes[r * a.stride + c] = static_cast<int8_t>(act);
        a.scales.assign(a.rows, 1.0f);
        const PackedWeights packed = w.pack();
        std::vector<float> y(a.rows * w.n);
        qgemm_serial(a.view(), packed.view(), {}, y, w.n);
        const float want = static_cast<float>(int64_t{act} * (code - w.sym_zero) * 4096);
        for (float v : y) ASSERT_EQ(v, want) << "W" << bits << " code " << code << " act " << act;
      }
}

// 8-bit asymmetric activations: codes shifted into int8 with a per-row offset, which the kernels
// fold out as offset * sum(u - z) per group; the weight sums are passed in or computed per call.
TEST_P(QgemmIsaTest, IntegerGemmActivationOffsetsBitExact) {
  if (qgemm_isa() != GetParam()) GTEST_SKIP() << "no integer GEMM variant for this ISA";
  std::mt19937 rng(21);
  size_t cases = 0;
  for (const Shape& s : kShapes)
    for (int bits : kContainers)
      for (bool asym : {false, true}) {
        const WeightCase w = testing::random_weights(rng, s.n, s.k, s.group, bits, asym);
        const PackedWeights packed = w.pack();
        const std::vector<int32_t> wsums = packed_weight_sums(packed.view());
        const std::vector<float> bias = testing::random_floats(rng, s.n);
        for (size_t m : kRows) {
          const ActCase a = testing::random_acts_with_offsets(rng, m, s.k);
          const bool with_bias = (cases % 3) != 0;
          const std::vector<float> want =
              testing::reference_qgemm(a, w, with_bias ? bias : std::vector<float>{});
          const size_t ldy = s.n + 2;
          std::vector<float> y(m * ldy, -7.0f);
          const auto bias_span =
              with_bias ? std::span<const float>(bias) : std::span<const float>();
          const auto sums =
              (cases % 4) < 2 ? std::span<const int32_t>(wsums) : std::span<const int32_t>();
          if (cases % 2)
            qgemm(a.view(), packed.view(), bias_span, y, ldy, sums);
          else
            qgemm_serial(a.view(), packed.view(), bias_span, y, ldy, sums);
          const std::string what = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                                   " g=" + std::to_string(s.group) + " W" + std::to_string(bits) +
                                   "A8 asym-act" + (asym ? " asym" : " sym") +
                                   " m=" + std::to_string(m);
          expect_bit_exact(want, y, m, s.n, ldy, what);
          for (size_t i = 0; i < m; ++i)
            for (size_t j = s.n; j < ldy; ++j) ASSERT_EQ(y[i * ldy + j], -7.0f) << what;
          ++cases;
        }
      }
  // Threaded GEMM and GEMV over many blocks.
  for (size_t m : {33, 1}) {
    const WeightCase w = testing::random_weights(rng, 3000 - 8 * m, 384, 128, 4, m == 1);
    const PackedWeights packed = w.pack();
    const ActCase a = testing::random_acts_with_offsets(rng, m, w.k);
    std::vector<float> y(m * w.n);
    qgemm(a.view(), packed.view(), {}, y, w.n);
    expect_bit_exact(testing::reference_qgemm(a, w, {}), y, m, w.n, w.n,
                     "offsets parallel m=" + std::to_string(m));
  }
}

// The int32 bound with activation offsets: values q - z = +-255 against asymmetric int8 weights
// u - z = +-255 over the longest group that fits (33024 values: 255 * 255 * 33024 < 2^31), and
// one of 33032 rejected.
TEST_P(QgemmIsaTest, IntegerGemmActivationOffsetsExtremeValues) {
  if (qgemm_isa() != GetParam()) GTEST_SKIP() << "no integer GEMM variant for this ISA";
  for (int wv : {-255, 255})
    for (int av : {-255, 255}) {
      WeightCase w;
      w.n = 20;
      w.k = 33024;
      w.bits = 8;
      w.asym = true;
      w.codes.assign(w.n * w.k, static_cast<uint8_t>(wv > 0 ? 255 : 0));
      w.zeros.assign(w.n, static_cast<uint8_t>(wv > 0 ? 0 : 255));
      w.scales.assign(w.n, 1.0f);
      ActCase a;
      a.rows = 3;
      a.cols = w.k;
      a.stride = activation_stride(w.k);
      a.codes.assign(a.rows * a.stride, 0);
      // q - 128 with q = 255, z = 0 (offset 128) or q = 0, z = 255 (offset -127).
      for (size_t r = 0; r < a.rows; ++r)
        for (size_t c = 0; c < w.k; ++c)
          a.codes[r * a.stride + c] = static_cast<int8_t>(av > 0 ? 127 : -128);
      a.offsets.assign(a.rows, av > 0 ? 128 : -127);
      a.scales.assign(a.rows, 1.0f);
      const PackedWeights packed = w.pack();
      std::vector<float> y(a.rows * w.n);
      qgemm_serial(a.view(), packed.view(), {}, y, w.n);
      const float want = static_cast<float>(int64_t{av} * wv * int64_t(w.k));
      for (float v : y) ASSERT_EQ(v, want) << "w " << wv << " a " << av;
      if (wv == 255 && av == 255) {
        w.k += 8;
        w.codes.assign(w.n * w.k, 255);
        a.cols = w.k;
        a.stride = activation_stride(w.k);
        a.codes.assign(a.rows * a.stride, 0);
        EXPECT_THROW(qgemm_serial(a.view(), w.pack().view(), {}, y, w.n), Error);
      }
    }
}

TEST_P(QgemmIsaTest, F32GemmBitExact) {
  if (qgemm_f32_isa() != GetParam()) GTEST_SKIP() << "no W4A16 variant for this ISA";
  std::mt19937 rng(7);
  size_t cases = 0;
  for (const Shape& s : kShapes)
    for (int bits : kContainers)
      for (bool asym : {false, true}) {
        const WeightCase w = testing::random_weights(rng, s.n, s.k, s.group, bits, asym);
        const PackedWeights packed = w.pack();
        const std::vector<float> bias = testing::random_floats(rng, s.n);
        for (size_t m : kRows) {
          const std::vector<float> x = testing::random_floats(rng, m * s.k, 3.0f);
          const bool with_bias = (cases % 3) != 0;
          const std::vector<float> want =
              testing::reference_qgemm_f32(x, m, w, with_bias ? bias : std::vector<float>{});
          const size_t ldy = s.n + 1;
          std::vector<float> y(m * ldy, -7.0f);
          const auto bias_span =
              with_bias ? std::span<const float>(bias) : std::span<const float>();
          if (cases % 2)
            qgemm_f32(x, m, s.k, packed.view(), bias_span, y, ldy);
          else
            qgemm_f32_serial(x, m, s.k, packed.view(), bias_span, y, ldy);
          const std::string what = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                                   " g=" + std::to_string(s.group) + " W" + std::to_string(bits) +
                                   "A16" + (asym ? " asym" : " sym") + " m=" + std::to_string(m);
          expect_bit_exact(want, y, m, s.n, ldy, what);
          for (size_t i = 0; i < m; ++i) ASSERT_EQ(y[i * ldy + s.n], -7.0f) << what;
          ++cases;
        }
      }
}

// Large enough for the pool to split the columns (GEMM and GEMV, odd block counts per thread);
// compares against the reference.
TEST_P(QgemmIsaTest, ParallelMatchesReference) {
  std::mt19937 rng(3);
  for (const auto& [m, bits] : {std::pair<size_t, int>{9, 4}, {1, 4}, {9, 3}, {1, 3}, {2, 6}}) {
    // Over kParallelMinMacs (4 M) even for one row.
    const WeightCase w = testing::random_weights(rng, 12000 - 8 * m, 384, 128, bits, m == 1);
    const PackedWeights packed = w.pack();
    const ActCase a = testing::random_acts(rng, m, w.k, 8);
    std::vector<float> y(m * w.n);
    qgemm(a.view(), packed.view(), {}, y, w.n);
    expect_bit_exact(testing::reference_qgemm(a, w, {}), y, m, w.n, w.n,
                     "int m=" + std::to_string(m) + " W" + std::to_string(bits));
    const std::vector<float> x = testing::random_floats(rng, m * w.k);
    qgemm_f32(x, m, w.k, packed.view(), {}, y, w.n);
    expect_bit_exact(testing::reference_qgemm_f32(x, m, w, {}), y, m, w.n, w.n,
                     "f32 m=" + std::to_string(m) + " W" + std::to_string(bits));
  }
}

// Several products of one activation matrix in one region (q/k/v with a --bits-map: different
// widths, groups and zero points): each product's bits are its own qgemm's, small (serial) and
// large (split over the pool, product boundaries inside a thread's range) alike.
TEST_P(QgemmIsaTest, GroupedProductsMatchTheirReferences) {
  if (qgemm_isa() != GetParam()) GTEST_SKIP() << "no integer GEMM variant for this ISA";
  std::mt19937 rng(17);
  for (const size_t m : {1, 4, 9})
    for (const size_t scale : {1, 16}) {  // 16: over the parallel threshold from 4 rows
      const size_t k = 96 * scale;
      const WeightCase ws[] = {testing::random_weights(rng, 40 * scale, k, 32, 4, false),
                               testing::random_weights(rng, 17, k, 0, 8, true),
                               testing::random_weights(rng, 33 * scale, k, 96, 3, true)};
      for (const bool offsets : {false, true}) {
        const ActCase a = offsets ? testing::random_acts_with_offsets(rng, m, k)
                                  : testing::random_acts(rng, m, k, 8);
        std::vector<PackedWeights> packed;
        std::vector<std::vector<float>> ys, biases;
        std::vector<QgemmProduct> products;
        for (const WeightCase& w : ws) {
          packed.push_back(w.pack());
          biases.push_back(testing::random_floats(rng, w.n));
          ys.emplace_back(m * w.n, -7.0f);
        }
        const std::vector<int32_t> sums = packed_weight_sums(packed[1].view());
        for (size_t i = 0; i < 3; ++i)
          products.push_back(
              {packed[i].view(), i == 2 ? std::span<const float>() : biases[i], ys[i], ws[i].n,
               i == 1 ? std::span<const int32_t>(sums) : std::span<const int32_t>()});
        qgemm_group(a.view(), products);
        for (size_t i = 0; i < 3; ++i)
          expect_bit_exact(
              testing::reference_qgemm(a, ws[i], i == 2 ? std::vector<float>{} : biases[i]), ys[i],
              m, ws[i].n, ws[i].n,
              "product " + std::to_string(i) + " m=" + std::to_string(m) +
                  " k=" + std::to_string(k) + (offsets ? " offsets" : ""));
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Isas, QgemmIsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

// The reference formulas themselves, against plain double-precision dequantized products.
TEST(QgemmReference, MatchesDequantizedProduct) {
  std::mt19937 rng(11);
  for (bool asym : {false, true}) {
    const WeightCase w = testing::random_weights(rng, 21, 100, 32, 4, asym);
    const PackedWeights packed = w.pack();
    const std::vector<float> wf = dequantize_weights(packed.view());
    const ActCase a = testing::random_acts(rng, 5, w.k, 8);
    const std::vector<float> x = testing::random_floats(rng, 5 * w.k);
    const std::vector<float> yi = testing::reference_qgemm(a, w, {});
    const std::vector<float> yf = testing::reference_qgemm_f32(x, 5, w, {});
    for (size_t i = 0; i < 5; ++i)
      for (size_t j = 0; j < w.n; ++j) {
        double di = 0, df = 0, mag = 0;
        for (size_t c = 0; c < w.k; ++c) {
          const double wv = wf[j * w.k + c];
          di += double(a.code(i, c)) * a.scales[i] * wv;
          df += double(x[i * w.k + c]) * wv;
          mag += std::fabs(double(x[i * w.k + c]) * wv);
        }
        EXPECT_NEAR(yi[i * w.n + j], di, 1e-4 * std::fabs(di) + 1e-4);
        EXPECT_NEAR(yf[i * w.n + j], df, 1e-5 * mag + 1e-6);
      }
  }
}

TEST(QgemmErrors, ShapeMismatchesFail) {
  std::mt19937 rng(5);
  const WeightCase w = testing::random_weights(rng, 16, 64, 0, 4, false);
  const PackedWeights packed = w.pack();
  const ActCase a = testing::random_acts(rng, 2, 32, 8);  // k = 32, weights want 64
  std::vector<float> y(2 * 16);
  EXPECT_THROW(qgemm(a.view(), packed.view(), {}, y, 16), Error);
  const ActCase ok = testing::random_acts(rng, 2, 64, 8);
  EXPECT_THROW(qgemm(ok.view(), packed.view(), {}, y, 8), Error);  // ldy < n
  std::vector<float> small(10);
  EXPECT_THROW(qgemm(ok.view(), packed.view(), {}, small, 16), Error);
  const std::vector<float> bias(3);
  EXPECT_THROW(qgemm(ok.view(), packed.view(), bias, y, 16), Error);
  const std::vector<float> x(2 * 64);
  EXPECT_THROW(qgemm_f32(x, 2, 32, packed.view(), {}, y, 16), Error);  // ldx < k
}

}  // namespace
}  // namespace lowbit::kernels
