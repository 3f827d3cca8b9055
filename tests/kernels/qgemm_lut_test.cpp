// Codebook (look-up table) weights: the packed layout round-trips and refuses malformed blobs,
// every ISA's look-up-table GEMM matches the scalar reference bit for bit, and the reference
// matches a plain dequantized product.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/float16.h"
#include "kernels/kernel_test_util.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

struct LutCase {
  size_t n, k, group;  // group 0: one per row
  size_t tables;       // 1 or n
  int bits;            // the container: 2, 3 or 4
  bool fp16;           // tables stored in fp16
  std::vector<uint8_t> codes;
  std::vector<float> scales, codebook;
};

// Codes below 2^bits; table entries past 2^bits are 0 (what the packed view reads back for them),
// and fp16-exact values when the tables are stored in fp16.
LutCase make_case(std::mt19937& rng, size_t n, size_t k, size_t group, bool per_row, int bits = 4,
                  bool fp16 = false) {
  LutCase c{n, k, group, per_row ? n : 1, bits, fp16, {}, {}, {}};
  const size_t gs = group == 0 ? k : group, groups = (k + gs - 1) / gs;
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> scale(0.5f, 2.0f);
  c.codes.resize(n * k);
  for (auto& u : c.codes) u = static_cast<uint8_t>(code(rng));
  c.scales.resize(n * groups);
  for (auto& s : c.scales) s = scale(rng);
  c.codebook.resize(c.tables * 16);
  for (size_t i = 0; i < c.codebook.size(); ++i)
    c.codebook[i] = i % 16 < (size_t{1} << bits) ? normal(rng) : 0.0f;
  if (fp16)
    for (auto& t : c.codebook) t = f16_to_f32(f32_to_f16(t));
  return c;
}

PackedWeights pack(const LutCase& c) {
  return pack_codebook_weights(c.codes, c.n, c.k, c.group, c.scales, c.codebook, c.tables, c.bits,
                               c.fp16);
}

TEST(PackedCodebook, RoundTripsAndDequantizes) {
  std::mt19937 rng(1);
  for (int bits : {4, 3, 2})
    for (bool fp16 : {false, true})
      for (bool per_row : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << bits << "-bit codes, fp16 tables " << fp16 << ", per row " << per_row);
        const LutCase c = make_case(rng, 21, 70, 32, per_row, bits, fp16);
        const PackedWeights w = pack(c);
        EXPECT_TRUE(w.layout().codebook());
        // Codes at their own width (bit-plane containers below 4) and 2^bits entries per table.
        EXPECT_EQ(w.layout().bits, bits);
        EXPECT_EQ(w.layout().table_entries(), size_t{1} << bits);
        EXPECT_EQ(w.layout().table_bytes(), c.tables * (size_t{1} << bits) * (fp16 ? 2 : 4));
        EXPECT_EQ(w.layout().block_bytes(),
                  w.layout().chunks() * 64 * static_cast<size_t>(bits) / 4);
        const UnpackedWeights u = unpack_weights(w.view());
        EXPECT_EQ(u.codes, c.codes);
        EXPECT_EQ(u.scales, c.scales);
        EXPECT_EQ(u.codebook, c.codebook);
        EXPECT_EQ(u.codebook_rows, c.tables);
        const auto d = dequantize_weights(w.view());
        for (size_t j = 0; j < c.n; ++j)
          for (size_t k = 0; k < c.k; ++k) {
            const float t = c.codebook[(per_row ? j : 0) * 16 + c.codes[j * c.k + k]];
            ASSERT_EQ(d[j * c.k + k], t * c.scales[j * 3 + k / 32]) << j << " " << k;
          }
        // From bytes (as a mapped file gives them).
        const PackedWeights copy = PackedWeights::from_bytes(w.bytes());
        EXPECT_EQ(dequantize_weights(copy.view()), d);
        std::vector<float> row(c.k);
        copy.view().dequantize_row(c.n - 1, row);
        EXPECT_EQ(row, std::vector<float>(d.end() - static_cast<std::ptrdiff_t>(c.k), d.end()));
      }
}

// The same codes and tables in a narrower container (and fp16 tables) multiply to the same bits:
// the bit-plane chunks expand to the int4 layout, the tables widen to 16 fp32 entries.
TEST(PackedCodebook, NarrowContainersMultiplyLikeTheInt4One) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (int bits : {3, 2})
    for (bool per_row : {false, true})
      for (size_t m : {1, 5, 20}) {
        const LutCase c = make_case(rng, 40, 136, 0, per_row, bits, true);
        LutCase wide = c;
        wide.bits = 4;
        wide.fp16 = false;
        const PackedWeights narrow_w = pack(c), wide_w = pack(wide);
        EXPECT_LT(narrow_w.bytes().size(), wide_w.bytes().size());
        std::vector<float> x(m * c.k);
        for (auto& v : x) v = normal(rng);
        std::vector<float> y0(m * c.n), y1(m * c.n);
        qgemm_f32(x, m, c.k, narrow_w.view(), {}, y0, c.n);
        qgemm_f32(x, m, c.k, wide_w.view(), {}, y1, c.n);
        ASSERT_EQ(y0, y1) << bits << " bits, per row " << per_row << ", m " << m;
      }
}

TEST(PackedCodebook, MalformedBlobsFail) {
  std::mt19937 rng(2);
  const LutCase c = make_case(rng, 20, 64, 0, true);
  const PackedWeights w = pack(c);
  const auto bytes = w.bytes();
  std::vector<std::byte> b(bytes.begin(), bytes.end());
  auto expect_error = [&](const std::vector<std::byte>& blob, const std::string& what) {
    try {
      PackedWeightsView::parse(blob);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(what), std::string::npos) << err.what();
    }
  };
  auto bad = b;
  const uint32_t tables = 7;  // neither 1 nor n
  std::memcpy(bad.data() + 60, &tables, 4);
  expect_error(bad, "7 codebook tables for 20 rows");
  bad = b;
  const uint32_t none = 0;
  std::memcpy(bad.data() + 60, &none, 4);
  expect_error(bad, "codebook flag without tables");
  bad = b;
  bad.resize(b.size() - 64);
  expect_error(bad, "needs");
  bad = b;
  const float nan = NAN;
  std::memcpy(bad.data() + w.layout().codebook_offset() + (3 * 16 + 5) * 4, &nan, 4);
  expect_error(bad, "codebook table 3 entry 5 is nan");
  bad = b;
  const uint32_t bits = 8;
  std::memcpy(bad.data() + 8, &bits, 4);
  expect_error(bad, "");  // an int8 container with a codebook (sizes or the container check)
  bad = b;
  const uint32_t five = 5;  // codebooks take 2-, 3- and 4-bit containers
  std::memcpy(bad.data() + 8, &five, 4);
  expect_error(bad, "");
  bad = b;
  const uint32_t fp16_only = 4;  // fp16 tables without the codebook flag
  std::memcpy(bad.data() + 12, &fp16_only, 4);
  expect_error(bad, "fp16 tables without a codebook");
  {
    // An fp16 table entry that is not finite.
    const LutCase h = make_case(rng, 20, 64, 0, true, 3, true);
    const PackedWeights hw = pack(h);
    std::vector<std::byte> hb(hw.bytes().begin(), hw.bytes().end());
    const uint16_t inf16 = 0x7c00;
    std::memcpy(hb.data() + hw.layout().codebook_offset() + (2 * 8 + 7) * 2, &inf16, 2);
    expect_error(hb, "codebook table 2 entry 7 is inf");
    auto big = h.codebook;
    big[16 + 3] = 1e6f;  // past fp16's range
    EXPECT_THROW(pack_codebook_weights(h.codes, h.n, h.k, 0, h.scales, big, h.n, 3, true), Error);
    big[16 + 3] = 1.0f;
    big[16 + 9] = 1e6f;  // an entry past 2^bits is not stored
    EXPECT_NO_THROW(pack_codebook_weights(h.codes, h.n, h.k, 0, h.scales, big, h.n, 3, true));
    auto wide_codes = h.codes;
    wide_codes[5] = 8;  // does not fit 3 bits
    EXPECT_THROW(pack_codebook_weights(wide_codes, h.n, h.k, 0, h.scales, h.codebook, h.n, 3, true),
                 Error);
    for (int wrong : {1, 5, 8})
      EXPECT_THROW(
          pack_codebook_weights(h.codes, h.n, h.k, 0, h.scales, h.codebook, h.n, wrong, false),
          Error);
  }
  EXPECT_THROW(pack_codebook_weights(c.codes, c.n, c.k, 0, c.scales, c.codebook, 3), Error);
  auto inf = c.codebook;
  inf[9] = INFINITY;
  EXPECT_THROW(pack_codebook_weights(c.codes, c.n, c.k, 0, c.scales, inf, c.n), Error);
  // The integer GEMM has no codebook variant: it says so rather than compute garbage.
  QuantizedActivations qa;
  const std::vector<float> x(64, 1.0f);
  qa.quantize(x, 1, 64, 8);
  std::vector<float> y(20);
  EXPECT_THROW(qgemm(qa.view(), w.view(), {}, y, 20), Error);
}

// The reference order, written out: per output, fma over k within a group, fma by the scale.
std::vector<float> reference(const LutCase& c, const std::vector<float>& x, size_t m,
                             const std::vector<float>& bias) {
  const size_t gs = c.group == 0 ? c.k : c.group, groups = (c.k + gs - 1) / gs;
  std::vector<float> y(m * c.n);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < c.n; ++j) {
      const float* t = c.codebook.data() + (c.tables == 1 ? 0 : j * 16);
      float acc_y = 0.0f;
      for (size_t g = 0; g < groups; ++g) {
        float acc = 0.0f;
        for (size_t k = g * gs; k < std::min(c.k, (g + 1) * gs); ++k)
          acc = std::fma(x[i * c.k + k], t[c.codes[j * c.k + k]], acc);
        acc_y = std::fma(acc, c.scales[j * groups + g], acc_y);
      }
      y[i * c.n + j] = bias.empty() ? acc_y : acc_y + bias[j];
    }
  return y;
}

class QgemmLutIsaTest : public testing::ForcedVariantTest<qgemm_lut_isa> {};

TEST_P(QgemmLutIsaTest, BitExactAgainstTheReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  size_t cases = 0;
  for (size_t m : {1, 3, 8, 17})
    for (auto [n, k] : {std::pair<size_t, size_t>{48, 128}, {37, 200}, {16, 61}, {70, 256}})
      for (size_t group : {size_t{0}, size_t{32}, size_t{64}, size_t{128}})
        for (bool per_row : {false, true})
          for (bool with_bias : {false, true}) {
            if (group >= k) continue;
            // Each container and table precision in turn (bit-plane codes are expanded to the
            // int4 layout before the kernel reads them).
            const int bits = 4 - static_cast<int>(cases % 3);
            const LutCase c = make_case(rng, n, k, group, per_row, bits, cases % 2 == 1);
            const PackedWeights w = pack(c);
            std::vector<float> x(m * k), bias;
            for (auto& v : x) v = normal(rng);
            if (with_bias) bias.assign(n, 0.25f);
            const size_t ldy = n + 3;
            std::vector<float> y(m * ldy, -7.0f);
            qgemm_f32(x, m, k, w.view(), bias, y, ldy);
            const auto want = reference(c, x, m, bias);
            for (size_t i = 0; i < m; ++i)
              for (size_t j = 0; j < n; ++j)
                ASSERT_EQ(y[i * ldy + j], want[i * n + j])
                    << "m " << m << " n " << n << " k " << k << " group " << group << " per-row "
                    << per_row << " at " << i << "," << j;
            for (size_t i = 0; i + 1 < m; ++i) ASSERT_EQ(y[i * ldy + n], -7.0f);  // stride kept
            // The serial entry point gives the same bits.
            std::vector<float> ys(m * ldy, -7.0f);
            qgemm_f32_serial(x, m, k, w.view(), bias, ys, ldy);
            ASSERT_EQ(ys, y);
            ++cases;
          }
  EXPECT_GT(cases, 200u);
}

INSTANTIATE_TEST_SUITE_P(Isas, QgemmLutIsaTest, ::testing::ValuesIn(testing::arch_isas()),
                         testing::isa_param_name);

// The scalar reference against a dequantize-then-multiply product in double.
TEST(QgemmLutReference, MatchesDequantizedProduct) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  const ScopedIsa scalar(Isa::kScalar);
  for (bool per_row : {false, true}) {
    const LutCase c = make_case(rng, 33, 96, 32, per_row);
    const PackedWeights w = pack(c);
    const auto d = dequantize_weights(w.view());
    std::vector<float> x(5 * 96), y(5 * 33);
    for (auto& v : x) v = normal(rng);
    qgemm_f32(x, 5, 96, w.view(), {}, y, 33);
    for (size_t i = 0; i < 5; ++i)
      for (size_t j = 0; j < 33; ++j) {
        double want = 0;
        for (size_t k = 0; k < 96; ++k) want += double{x[i * 96 + k]} * d[j * 96 + k];
        EXPECT_NEAR(y[i * 33 + j], want, 1e-5 * (1 + std::fabs(want)));
      }
  }
}

}  // namespace
}  // namespace lowbit::kernels
