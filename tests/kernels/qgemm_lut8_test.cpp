// W4A8 on codebook weights (qgemm_lut8): the int8 table's rounding stays within its stated bound,
// the code look-up (vpshufb, tbl) gives the reference's bytes on every ISA, and the whole product
// is bit-exact with the integer GEMM's defining formula for the looked-up int8 weights (zero point
// 128, activation scales times the table's scale), with ragged k, groups, offsets, and on the pool.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/kernel_variants.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

using testing::ActCase;
using testing::WeightCase;

std::vector<float> normal_table(std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> t(16);
  for (auto& v : t) v = normal(rng);
  return t;
}

std::string table_error(const std::vector<float>& table) {
  try {
    lut8_table(table);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Lut8Table, RoundsWithinHalfAStep) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    const std::vector<float> table = normal_table(rng);
    const Lut8Table t = lut8_table(table);
    float top = 0.0f;
    for (const float v : table) top = std::max(top, std::fabs(v));
    EXPECT_FLOAT_EQ(t.scale, top / 127.0f);
    for (size_t c = 0; c < 16; ++c) {
      EXPECT_GE(t.codes[c], 1);
      EXPECT_LE(std::fabs(table[c] - t.scale * (t.codes[c] - 128)), t.scale * 0.5f + 1e-7f) << c;
    }
  }
}

TEST(Lut8Table, RefusesBadTables) {
  std::vector<float> t(16, 0.0f);
  EXPECT_NE(table_error(t).find("every entry is 0"), std::string::npos);
  t[3] = NAN;
  EXPECT_NE(table_error(t).find("entry 3 is nan"), std::string::npos);
  EXPECT_NE(table_error(std::vector<float>(8, 1.0f)).find("8 entries, expected 16"),
            std::string::npos);
}

using Lut8UnpackTest = testing::ForcedVariantTest<lut8_unpack_isa>;

TEST_P(Lut8UnpackTest, MatchesTheScalarBytes) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> codes(7 * 64), table(16);
  for (auto& c : codes) c = static_cast<uint8_t>(byte(rng));
  for (auto& t : table) t = static_cast<uint8_t>(byte(rng));  // high bits set too
  std::vector<uint8_t> want(7 * 128), got(7 * 128);
  detail::lut8_unpack_scalar(codes.data(), 7, table.data(), want.data());
  detail::selected_lut8_unpack()(codes.data(), 7, table.data(), got.data());
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Isas, Lut8UnpackTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

using QgemmLut8Test = testing::ForcedVariantTest<qgemm_isa>;

struct Shape {
  size_t n, k, group;
};

TEST_P(QgemmLut8Test, BitExactWithTheLookedUpInt8Product) {
  std::mt19937 rng(3);
  // k off 8 (padding), a ragged last group, a product big enough for the pool and several panels.
  const Shape shapes[] = {{37, 100, 32}, {16, 64, 64}, {130, 384, 64}, {5, 8, 8}, {2100, 384, 64}};
  size_t cases = 0;
  for (const Shape& s : shapes)
    for (const size_t m : {1, 3, 17})
      for (const bool offsets : {false, true}) {
        if (s.n > 1000 && m == 3) continue;
        // The codebook weights (random codes and scales, one shared table).
        WeightCase cb = testing::random_weights(rng, s.n, s.k, s.group, 4, false);
        const std::vector<float> table = normal_table(rng);
        const PackedWeights packed =
            pack_codebook_weights(cb.codes, s.n, s.k, s.group, cb.scales, table, 1);
        const Lut8Table t = lut8_table(table);
        // What the kernel must equal: int8 weights u = t8 + 128 around zero point 128, and the
        // activation scales times the table's scale.
        WeightCase w8 = cb;
        w8.bits = 8;
        w8.sym_zero = 128;
        for (auto& u : w8.codes) u = t.codes[u];
        ActCase a = offsets ? testing::random_acts_with_offsets(rng, m, s.k)
                            : testing::random_acts(rng, m, s.k, 8);
        ActCase scaled = a;
        for (auto& sa : scaled.scales) sa *= t.scale;
        const std::vector<float> bias = testing::random_floats(rng, s.n);
        const bool with_bias = cases % 2 == 0;
        const auto want =
            testing::reference_qgemm(scaled, w8, with_bias ? bias : std::vector<float>{});
        const size_t ldy = s.n + 1;
        std::vector<float> y(m * ldy, -7.0f);
        const std::vector<int32_t> sums = packed_weight_sums_lut8(packed.view(), t);
        qgemm_lut8(a.view(), packed.view(), t,
                   with_bias ? std::span<const float>(bias) : std::span<const float>(), y, ldy,
                   cases % 4 < 2 ? std::span<const int32_t>(sums) : std::span<const int32_t>());
        const std::string what = "n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                                 " m=" + std::to_string(m) + (offsets ? " offsets" : "");
        testing::expect_bit_exact(want, y, m, s.n, ldy, what);
        for (size_t i = 0; i < m; ++i) ASSERT_EQ(y[i * ldy + s.n], -7.0f) << what;
        ++cases;
      }
}

INSTANTIATE_TEST_SUITE_P(Isas, QgemmLut8Test, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

TEST(QgemmLut8, RefusesPerRowTablesAndIntegerWeights) {
  std::mt19937 rng(4);
  const WeightCase w = testing::random_weights(rng, 16, 64, 32, 4, false);
  const ActCase a = testing::random_acts(rng, 1, 64, 8);
  std::vector<float> y(16);
  const Lut8Table t = lut8_table(normal_table(rng));
  std::vector<float> tables(16 * 16);
  for (auto& v : tables) v = 0.5f;
  const PackedWeights per_row = pack_codebook_weights(w.codes, 16, 64, 32, w.scales, tables, 16);
  try {
    qgemm_lut8(a.view(), per_row.view(), t, {}, y, 16);
    FAIL() << "per-row tables accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("one table shared by every row"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(qgemm_lut8(a.view(), w.pack().view(), t, {}, y, 16), Error);
}

}  // namespace
}  // namespace lowbit::kernels
