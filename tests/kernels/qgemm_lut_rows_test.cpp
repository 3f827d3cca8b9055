// Per-row codebook weights in the row layout (qgemm_lut_rows.h): the re-layout keeps every code,
// table and scale; every ISA's product matches the formula written out here (16 lane sums, the
// tree, one fma) bit for bit; the result agrees with the packed-layout product (qgemm_f32) and a
// dequantized product in double; bad arguments fail by name.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_lut_rows.h"

namespace lowbit::kernels {
namespace {

struct RowsCase {
  size_t n, k;
  int bits;  // the container: 2, 3 (bit-plane, widened to 4 bits by the re-layout) or 4
  std::vector<uint8_t> codes;  // [n, k]
  std::vector<float> scales, tables;
};

RowsCase make_case(std::mt19937& rng, size_t n, size_t k, int bits = 4) {
  RowsCase c{n, k, bits, {}, {}, {}};
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> scale(0.5f, 2.0f);
  c.codes.resize(n * k);
  for (auto& u : c.codes) u = static_cast<uint8_t>(code(rng));
  c.scales.resize(n);
  for (auto& s : c.scales) s = scale(rng);
  c.tables.resize(n * 16);
  for (size_t i = 0; i < c.tables.size(); ++i)
    c.tables[i] = i % 16 < (size_t{1} << bits) ? normal(rng) : 0.0f;
  return c;
}

PackedWeights pack(const RowsCase& c) {
  return pack_codebook_weights(c.codes, c.n, c.k, 0, c.scales, c.tables, c.n, c.bits);
}

// The documented result, from the row-major codes (not the layout under test).
std::vector<float> reference(const RowsCase& c, const std::vector<float>& x, size_t m,
                             const std::vector<float>& bias) {
  std::vector<float> y(m * c.n);
  const size_t blocks = (c.k + 15) / 16;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < c.n; ++j) {
      float acc[16] = {};
      for (size_t b = 0; b < blocks; ++b)
        for (size_t l = 0; l < 16; ++l) {
          const size_t col = 16 * b + l;
          const float xv = col < c.k ? x[i * c.k + col] : 0.0f;
          const float t = col < c.k ? c.tables[j * 16 + c.codes[j * c.k + col]] : c.tables[j * 16];
          acc[l] = std::fma(xv, t, acc[l]);
        }
      const float h8[8] = {acc[0] + acc[8],  acc[1] + acc[9],  acc[2] + acc[10], acc[3] + acc[11],
                           acc[4] + acc[12], acc[5] + acc[13], acc[6] + acc[14], acc[7] + acc[15]};
      const float h4[4] = {h8[0] + h8[4], h8[1] + h8[5], h8[2] + h8[6], h8[3] + h8[7]};
      const float h = (h4[0] + h4[2]) + (h4[1] + h4[3]);
      y[i * c.n + j] = std::fma(h, c.scales[j], bias.empty() ? 0.0f : bias[j]);
    }
  return y;
}

TEST(LutRowsWeights, KeepsEveryCodeTableAndScale) {
  std::mt19937 rng(1);
  for (int bits : {4, 3, 2})
    for (auto [n, k] : {std::pair<size_t, size_t>{21, 70}, {16, 128}, {3, 300}, {40, 8}}) {
      const RowsCase c = make_case(rng, n, k, bits);
      const PackedWeights w = pack(c);
      ASSERT_TRUE(LutRowsWeights::applies(w.view()));
      const LutRowsWeights r = LutRowsWeights::from_packed(w.view());
      EXPECT_EQ(r.n(), n);
      EXPECT_EQ(r.k(), k);
      EXPECT_EQ(r.row_bytes(), (k + 127) / 128 * 64);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(r.codes()) % 64, 0u);
      for (size_t j = 0; j < n; ++j)
        for (size_t col = 0; col < k; ++col)
          ASSERT_EQ(r.code(j, col), c.codes[j * k + col]) << j << "," << col;
      EXPECT_EQ(std::vector<float>(r.tables().begin(), r.tables().end()), c.tables);
      EXPECT_EQ(std::vector<float>(r.scales().begin(), r.scales().end()), c.scales);
      // Padding codes past k are 0 (a lane past k adds 0 * table[0]).
      const size_t tiles = r.tiles();
      for (size_t j = 0; j < n; ++j)
        for (size_t col = k; col < tiles * 128; ++col) {
          const size_t t = col / 128, s = col % 128 / 16, l = col % 16;
          const uint8_t byte = r.codes()[j * r.row_bytes() + t * 64 + 4 * l + s / 2];
          ASSERT_EQ((byte >> (4 * (s % 2))) & 15, 0) << j << "," << col;
        }
      EXPECT_THROW((void)r.code(n, 0), Error);
    }
}

TEST(LutRowsWeights, RefusesOtherFormats) {
  std::mt19937 rng(2);
  const RowsCase c = make_case(rng, 20, 64);
  // A shared table (NF4).
  const PackedWeights shared =
      pack_codebook_weights(c.codes, c.n, c.k, 0, c.scales, std::span(c.tables).first(16), 1);
  EXPECT_FALSE(LutRowsWeights::applies(shared.view()));
  // Per-row tables with groups.
  std::vector<float> group_scales(c.n * 2, 1.0f);
  const PackedWeights grouped =
      pack_codebook_weights(c.codes, c.n, c.k, 32, group_scales, c.tables, c.n);
  EXPECT_FALSE(LutRowsWeights::applies(grouped.view()));
  // The integer grid.
  const PackedWeights grid = pack_weights(c.codes, c.n, c.k, 4, 0, c.scales, {}, 8);
  EXPECT_FALSE(LutRowsWeights::applies(grid.view()));
  try {
    (void)LutRowsWeights::from_packed(grouped.view());
    ADD_FAILURE() << "accepted grouped weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("20 rows with 20 tables and 2 groups"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)LutRowsWeights::from_packed(shared.view()), Error);
  EXPECT_THROW((void)LutRowsWeights::from_packed(grid.view()), Error);
}

class QgemmLutRowsIsaTest : public testing::ForcedVariantTest<qgemm_lut_rows_isa> {};

TEST_P(QgemmLutRowsIsaTest, BitExactAgainstTheFormula) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  size_t cases = 0;
  for (size_t m : {1, 2, 3, 4, 5, 9, 17})
    for (auto [n, k] : {std::pair<size_t, size_t>{48, 128},
                        {37, 200},
                        {16, 61},
                        {70, 256},
                        {9, 15},
                        {130, 1000},
                        {300, 1000},  // with 17 rows, over the parallel threshold
                        {5, 384}})
      for (bool with_bias : {false, true}) {
        const RowsCase c = make_case(rng, n, k);
        const LutRowsWeights w = LutRowsWeights::from_packed(pack(c).view());
        std::vector<float> x(m * k), bias;
        for (auto& v : x) v = normal(rng);
        if (with_bias)
          for (size_t j = 0; j < n; ++j) bias.push_back(normal(rng));
        const size_t ldy = n + 3;
        std::vector<float> y(m * ldy, -7.0f);
        qgemm_lut_rows(x, m, k, w, bias, y, ldy);
        const auto want = reference(c, x, m, bias);
        for (size_t i = 0; i < m; ++i) {
          for (size_t j = 0; j < n; ++j)
            ASSERT_EQ(y[i * ldy + j], want[i * n + j])
                << "m " << m << " n " << n << " k " << k << " at " << i << "," << j;
          if (i + 1 < m) {
            ASSERT_EQ(y[i * ldy + n], -7.0f);  // the stride's gap untouched
          }
        }
        std::vector<float> ys(m * ldy, -7.0f);
        qgemm_lut_rows_serial(x, m, k, w, bias, ys, ldy);
        ASSERT_EQ(ys, y);
        ++cases;
      }
  EXPECT_EQ(cases, 112u);
}

INSTANTIATE_TEST_SUITE_P(Isas, QgemmLutRowsIsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

// Against the packed layout's product (another summation order) and a dequantized product in
// double: the same weights, only rounding apart.
TEST(QgemmLutRows, AgreesWithThePackedLayoutAndDouble) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  const RowsCase c = make_case(rng, 33, 300);
  const PackedWeights packed = pack(c);
  const LutRowsWeights rows = LutRowsWeights::from_packed(packed.view());
  const auto d = dequantize_weights(packed.view());
  const size_t m = 6;
  std::vector<float> x(m * c.k), y(m * c.n), y_packed(m * c.n);
  for (auto& v : x) v = normal(rng);
  // A strided input: the kernels read ldx, not k.
  std::vector<float> xs(m * (c.k + 5), 99.0f);
  for (size_t i = 0; i < m; ++i)
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(i * c.k), c.k,
                xs.begin() + static_cast<std::ptrdiff_t>(i * (c.k + 5)));
  qgemm_lut_rows(xs, m, c.k + 5, rows, {}, y, c.n);
  qgemm_f32(x, m, c.k, packed.view(), {}, y_packed, c.n);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < c.n; ++j) {
      double want = 0, mag = 0;
      for (size_t k = 0; k < c.k; ++k) {
        want += double{x[i * c.k + k]} * d[j * c.k + k];
        mag += std::fabs(double{x[i * c.k + k]} * d[j * c.k + k]);
      }
      EXPECT_NEAR(y[i * c.n + j], want, 1e-6 * mag + 1e-6) << i << "," << j;
      EXPECT_NEAR(y[i * c.n + j], y_packed[i * c.n + j], 2e-6 * mag + 1e-6) << i << "," << j;
    }
}

TEST(QgemmLutRows, BadArgumentsFailByName) {
  std::mt19937 rng(3);
  const RowsCase c = make_case(rng, 10, 40);
  const LutRowsWeights w = LutRowsWeights::from_packed(pack(c).view());
  std::vector<float> x(2 * 40), y(2 * 10);
  auto expect = [&](auto call, const std::string& what) {
    try {
      call();
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect([&] { qgemm_lut_rows(std::span(x).first(79), 2, 40, w, {}, y, 10); },
         "input of 79 floats for 2 rows of 40");
  expect([&] { qgemm_lut_rows(x, 2, 39, w, {}, y, 10); }, "input stride 39 < 40");
  expect([&] { qgemm_lut_rows(x, 2, 40, w, {}, y, 9); }, "output stride 9 < 10");
  expect([&] { qgemm_lut_rows(x, 2, 40, w, {}, std::span(y).first(19), 10); },
         "output of 19 floats");
  const std::vector<float> bias(3);
  expect([&] { qgemm_lut_rows(x, 2, 40, w, bias, y, 10); }, "bias of 3 for 10 outputs");
  // No rows: nothing written, nothing read.
  qgemm_lut_rows({}, 0, 40, w, {}, {}, 10);
}

}  // namespace
}  // namespace lowbit::kernels
