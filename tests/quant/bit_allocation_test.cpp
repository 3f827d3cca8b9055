// --bits-budget: the sensitivity measurement and the greedy that spends the budget, on a tiny
// random checkpoint; the CLI's flag errors.
#include "quant/bit_allocation.h"

#include <gtest/gtest.h>

#include <random>

#include "io/model_loader.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<int32_t>> random_windows(int count, int len, int vocab) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, vocab - 1);
  std::vector<std::vector<int32_t>> w(static_cast<size_t>(count));
  for (auto& x : w) {
    x.push_back(1);
    for (int i = 1; i < len; ++i) x.push_back(id(rng));
  }
  return w;
}

struct Tiny {
  testing::TempDir dir;
  LoadedModel m;
  Tiny() {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    testing::write_tiny_checkpoint(dir.path(), spec);
    m = load_model(dir.path());
  }
};

TEST(BitAllocation, LogitsOfTheResidualStreamAreTheForwardPass) {
  Tiny t;
  const std::vector<int32_t> ids = {1, 300, 301, 45, 46, 7};
  KVCache cache = t.m.model->make_cache(8);
  const auto f = t.m.model->forward(ids, cache, LogitsFor::kAllTokens);
  const std::vector<float> want(f.begin(), f.end());
  const size_t dim = static_cast<size_t>(t.m.model->config().dim);
  std::vector<float> x(ids.size() * dim);
  t.m.model->embed(ids, x);
  KVCache layer = t.m.model->make_layer_cache(8);
  for (int l = 0; l < t.m.model->config().n_layers; ++l)
    t.m.model->forward_layer(l, x, ids.size(), layer);
  const auto got = t.m.model->logits_of(x, ids.size());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
}

TEST(BitAllocation, MeetsTheBudgetAndLeavesTheModelAsItWas) {
  Tiny t;
  const auto windows = random_windows(2, 24, 512);
  const QuantSpec base{.bits = 4, .group_size = 32};
  const std::vector<BitCandidate> candidates = parse_bit_candidates("2,4,8");
  const std::vector<int32_t> ids = {1, 300, 301, 45};
  KVCache c0 = t.m.model->make_cache(8);
  const auto f = t.m.model->forward(ids, c0, LogitsFor::kAllTokens);
  const std::vector<float> before(f.begin(), f.end());

  const double lo = nominal_bits_per_weight(QuantSpec{.bits = 2, .group_size = 32}, 64);
  const double hi = nominal_bits_per_weight(QuantSpec{.bits = 8, .group_size = 32}, 64);
  EXPECT_DOUBLE_EQ(lo, 2 + 32.0 / 32);  // symmetric: one fp32 scale per group of 32
  for (double budget : {4.0, 5.5}) {
    const BitAllocation a =
        allocate_bits(*t.m.model, windows, base, candidates, budget, BitsCost::kNominal, false);
    EXPECT_LE(a.average_bits, budget + 1e-9);
    EXPECT_GT(a.average_bits, budget - 4.0);  // the greedy spends: not everything left at 2 bits
    EXPECT_GT(a.average_bits, lo);
    // One table row per projection, each with a KL at 8 bits below its KL at 2 bits.
    size_t rows = 0;
    for (size_t at = a.table.find("| layers."); at != std::string::npos;
         at = a.table.find("| layers.", at + 1))
      ++rows;
    EXPECT_EQ(rows, 2u * 7u) << a.table;
    for (size_t l = 0; l < 2; ++l)
      for (const char* p : {"q_proj", "down_proj"}) {
        const int b = a.map.bits_for(static_cast<int>(l), p, 4);
        EXPECT_TRUE(b == 2 || b == 4 || b == 8) << l << p << b;
      }
  }
  // Everything fits at the top; nothing fits below the bottom.
  const BitAllocation all =
      allocate_bits(*t.m.model, windows, base, candidates, hi, BitsCost::kNominal, false);
  EXPECT_NEAR(all.average_bits, hi, 1e-9);
  EXPECT_NE(testing::error_of([&] {
              allocate_bits(*t.m.model, windows, base, candidates, lo - 0.1, BitsCost::kNominal,
                            false);
            }).find("even the cheapest candidates need 3.000 bits per weight (nominal)"),
            std::string::npos);

  KVCache c1 = t.m.model->make_cache(8);
  const auto g = t.m.model->forward(ids, c1, LogitsFor::kAllTokens);
  for (size_t i = 0; i < before.size(); ++i) ASSERT_EQ(g[i], before[i]) << i;
}

TEST(BitAllocation, CandidatesAndCosts) {
  EXPECT_EQ(parse_bit_candidates("4g0, 4,8g32,4"),
            (std::vector<BitCandidate>{{4, 0}, {4, -1}, {8, 32}}));  // spaces, duplicates
  EXPECT_EQ(default_bit_candidates().size(), 6u);
  EXPECT_EQ(default_bit_candidates().front(), (BitCandidate{2, -1}));
  EXPECT_EQ((BitCandidate{4, 32}).text(), "4g32");
  EXPECT_EQ((BitCandidate{16, -1}).text(), "16");
  for (const char* bad : {"4g", "x", "4g12", "9", ""}) {
    const std::string e = testing::error_of([&] { parse_bit_candidates(bad); });
    EXPECT_NE(e.find("--bits-candidates"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_NE(testing::error_of([] { parse_bits_cost("bytes"); }).find("--bits-cost 'bytes'"),
            std::string::npos);
  // Stored: the packed blob as `lowbit inspect` counts it (64-byte header, codes in their
  // bit-plane container, fp32 scales, 8-bit zero points when asymmetric, sections 64-byte
  // aligned); nominal: the code width plus the scales.
  const QuantSpec w3{.bits = 3, .group_size = 128};
  // 16 x 384 3-bit: header 64 + codes 16 x 384 x 3 / 8 + scales 16 x 3 x 4 = 192.
  EXPECT_DOUBLE_EQ(stored_bits_per_weight(w3, 16, 384), 8.0 * (64 + 2304 + 192) / (16 * 384));
  EXPECT_DOUBLE_EQ(nominal_bits_per_weight(w3, 384), 3 + 32.0 / 128);
  // 32 x 1024 6-bit asymmetric per row: codes 32 x 768, scales 128, zeros 32 -> 64 (aligned).
  const QuantSpec w6{.bits = 6, .symmetric = false, .group_size = 0};
  EXPECT_DOUBLE_EQ(stored_bits_per_weight(w6, 32, 1024),
                   8.0 * (64 + 32 * 768 + 128 + 64) / (32 * 1024));
  // 7-bit codes sit in the 8-bit container.
  EXPECT_DOUBLE_EQ(stored_bits_per_weight(QuantSpec{.bits = 7, .group_size = 0}, 32, 1024),
                   8.0 * (64 + 32 * 1024 + 128) / (32 * 1024));
  EXPECT_DOUBLE_EQ(stored_bits_per_weight(QuantSpec{.bits = 16}, 8, 64), 32.0);
}

// Stored bits: the budget buys finer groups and more bits; the map records each projection's
// group; a candidate whose group does not divide a projection's width is skipped for it.
TEST(BitAllocation, StoredCostsChooseGroupsAndBits) {
  Tiny t;
  const auto windows = random_windows(2, 24, 512);
  const QuantSpec base{.bits = 4, .group_size = 32};
  const auto candidates = parse_bit_candidates("2g0,4g0,4g16,8g0,4g128");  // 128: down_proj only
  const BitAllocation a =
      allocate_bits(*t.m.model, windows, base, candidates, 6.0, BitsCost::kStored, false);
  EXPECT_LE(a.average_bits, 6.0 + 1e-9);
  // All at 4g0 would be about 4.6 (64 inputs, with the headers): the greedy spends above it.
  EXPECT_GT(a.average_bits, stored_bits_per_weight(QuantSpec{.bits = 4, .group_size = 0}, 64, 64));
  bool finer = false, eight = false;
  for (const BitsRule& r : a.map.rules()) {
    EXPECT_TRUE(r.group == 0 || r.group == 16 || r.group == 128) << r.text;
    if (r.group == 128) {
      EXPECT_EQ(r.projection, "down_proj") << r.text;
    }
    finer = finer || r.group == 16;
    eight = eight || r.bits == 8;
  }
  EXPECT_TRUE(finer || eight) << a.table;  // 2 bits per weight to spend above 4g0
  EXPECT_NE(a.table.find("| layers.0.q_proj | "), std::string::npos);
  EXPECT_NE(a.table.find(" - |"), std::string::npos) << a.table;  // 4g128 on a 64-wide input
}

TEST(BitAllocation, CliFlagErrors) {
  Tiny t;
  const std::string base =
      "quantize -m '" + t.dir.path().string() + "' -o '" + (t.dir / "out.lowbit").string() + "' ";
  auto r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-candidates 2,x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'x' is not BITS or BITSgGROUP"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-candidates 2,9");
  EXPECT_NE(r.err.find("'9' is not BITS or BITSgGROUP"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-cost bytes --calib x");
  EXPECT_NE(r.err.find("bytes"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-map down_proj=8");
  EXPECT_NE(r.err.find("do not give --bits-map too"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5");
  EXPECT_NE(r.err.find("give --calib FILE"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t.dir / "out.lowbit"));
}

}  // namespace
}  // namespace lowbit
