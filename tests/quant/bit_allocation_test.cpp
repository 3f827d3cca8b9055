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
  const std::vector<int> candidates = {2, 4, 8};
  const std::vector<int32_t> ids = {1, 300, 301, 45};
  KVCache c0 = t.m.model->make_cache(8);
  const auto f = t.m.model->forward(ids, c0, LogitsFor::kAllTokens);
  const std::vector<float> before(f.begin(), f.end());

  const double lo = nominal_bits_per_weight(QuantSpec{.bits = 2, .group_size = 32}, 64);
  const double hi = nominal_bits_per_weight(QuantSpec{.bits = 8, .group_size = 32}, 64);
  EXPECT_DOUBLE_EQ(lo, 2 + 32.0 / 32);  // symmetric: one fp32 scale per group of 32
  for (double budget : {4.0, 5.5}) {
    const BitAllocation a = allocate_bits(*t.m.model, windows, base, candidates, budget, false);
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
  const BitAllocation all = allocate_bits(*t.m.model, windows, base, candidates, hi, false);
  EXPECT_NEAR(all.average_bits, hi, 1e-9);
  EXPECT_NE(testing::error_of([&] {
              allocate_bits(*t.m.model, windows, base, candidates, lo - 0.1, false);
            }).find("even 2 bits everywhere"),
            std::string::npos);

  KVCache c1 = t.m.model->make_cache(8);
  const auto g = t.m.model->forward(ids, c1, LogitsFor::kAllTokens);
  for (size_t i = 0; i < before.size(); ++i) ASSERT_EQ(g[i], before[i]) << i;
}

TEST(BitAllocation, CliFlagErrors) {
  Tiny t;
  const std::string base =
      "quantize -m '" + t.dir.path().string() + "' -o '" + (t.dir / "out.lowbit").string() + "' ";
  auto r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-candidates 2,x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'x' is not a number"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-candidates 2,9");
  EXPECT_NE(r.err.find("9 bits (2..8 or 16)"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5 --bits-map down_proj=8");
  EXPECT_NE(r.err.find("do not give --bits-map too"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--bits-budget 4.5");
  EXPECT_NE(r.err.find("give --calib FILE"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t.dir / "out.lowbit"));
}

}  // namespace
}  // namespace lowbit
