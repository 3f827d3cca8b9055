#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace lowbit {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.dim = 48;
  c.hidden_dim = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 12;
  c.vocab_size = 16;
  return c;
}

std::vector<float> random_rows(size_t n, size_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> x(n * cols);
  for (auto& v : x) v = d(rng);
  x[3] = 40.0f;  // an outlier in the first head of row 0
  return x;
}

TEST(KVCache, Fp32StorageReturnsWhatWasStored) {
  const auto c = small_config();
  KVCache cache(c, 8);
  const size_t kv = static_cast<size_t>(c.kv_dim());
  const auto k = random_rows(5, kv, 1), v = random_rows(5, kv, 2);
  const int32_t pos[] = {0, 1, 2, 3, 4};
  cache.append(1, pos, k, v);
  const auto rows = cache.load(1, 5);
  EXPECT_EQ(rows.stride, kv);
  EXPECT_EQ(std::vector<float>(rows.keys, rows.keys + 5 * kv), k);
  EXPECT_EQ(std::vector<float>(rows.values, rows.values + 5 * kv), v);
}

// The integer cache must hold exactly what fake quantization (per token and head) produces.
TEST(KVCache, QuantizedStorageMatchesFakeQuantizationBitExactly) {
  const auto c = small_config();
  const size_t kv = static_cast<size_t>(c.kv_dim());
  for (int bits : {2, 3, 4, 8}) {
    for (bool sym : {false, true}) {
      QuantSpec spec{bits, sym, 0, 1.0f, false};
      KVCache cache(c, 10, spec);
      const auto k = random_rows(7, kv, 3), v = random_rows(7, kv, 4);
      const int32_t first[] = {0, 1, 2, 3}, rest[] = {4, 5, 6};
      cache.append(0, first, std::span(k).first(4 * kv), std::span(v).first(4 * kv));
      cache.append(0, rest, std::span(k).subspan(4 * kv), std::span(v).subspan(4 * kv));
      auto expect_k = k, expect_v = v;
      QuantSpec per_head = spec;
      per_head.group_size = c.head_dim;
      fake_quantize_rows(expect_k, 7, kv, per_head);
      fake_quantize_rows(expect_v, 7, kv, per_head);
      const auto rows = cache.load(0, 7);
      EXPECT_EQ(std::vector<float>(rows.keys, rows.keys + 7 * kv), expect_k) << bits << sym;
      EXPECT_EQ(std::vector<float>(rows.values, rows.values + 7 * kv), expect_v) << bits << sym;
    }
  }
}

// Pruned tokens: layer 1 holds a subset of the positions; advancing and truncating keep each
// layer's entries of the positions below the new length.
TEST(KVCache, LayersHoldTheirOwnEntriesAndTruncateByPosition) {
  const auto c = small_config();
  KVCache cache(c, 16);
  const size_t kv = static_cast<size_t>(c.kv_dim());
  const auto rows = random_rows(6, kv, 5);
  const int32_t all[] = {0, 1, 2, 3, 4, 5}, kept[] = {0, 2, 5};
  cache.append(0, all, rows, rows);
  cache.append(1, kept, std::span(rows).first(3 * kv), std::span(rows).first(3 * kv));
  cache.advance(6);
  EXPECT_EQ(cache.length(), 6);
  EXPECT_EQ(cache.entries(0), 6);
  EXPECT_EQ(cache.entries(1), 3);
  EXPECT_EQ(std::vector<int32_t>(cache.entry_positions(1).begin(), cache.entry_positions(1).end()),
            std::vector<int32_t>({0, 2, 5}));
  const int32_t old[] = {4};
  EXPECT_THROW(cache.append(1, old, rows, rows), Error);  // behind the sequence's length
  cache.truncate(3);
  EXPECT_EQ(cache.entries(0), 3);
  EXPECT_EQ(cache.entries(1), 2);  // positions 0 and 2
  const int32_t next[] = {3};
  cache.append(1, next, rows, rows);
  EXPECT_EQ(cache.entries(1), 3);
  cache.clear();
  EXPECT_EQ(cache.entries(0) + cache.entries(1) + cache.length(), 0);
}

TEST(KVCache, QuantizedStorageIsSmaller) {
  const auto c = small_config();
  const size_t f32 = KVCache(c, 64).bytes();
  const size_t i8 = KVCache(c, 64, QuantSpec{.bits = 8, .symmetric = false}).bytes();
  const size_t i4 = KVCache(c, 64, QuantSpec{.bits = 4, .symmetric = false}).bytes();
  // Codes plus one (scale, zero) pair per 12-value head.
  EXPECT_EQ(i8, 2 * 2 * 64 * (24 + 2 * sizeof(QuantParams)));
  EXPECT_EQ(i4, 2 * 2 * 64 * (12 + 2 * sizeof(QuantParams)));
  EXPECT_LT(i4, f32 / 3);
}

TEST(KVCache, RejectsOverflowAndBadSpecs) {
  const auto c = small_config();
  KVCache cache(c, 4);
  const std::vector<float> rows(5 * static_cast<size_t>(c.kv_dim()));
  const int32_t five[] = {0, 1, 2, 3, 4}, unordered[] = {1, 0}, repeated[] = {2, 2};
  EXPECT_THROW(cache.append(0, five, rows, rows), Error);
  EXPECT_THROW(cache.append(0, unordered, rows, rows), Error);
  EXPECT_THROW(cache.append(0, repeated, rows, rows), Error);
  EXPECT_THROW(cache.append(2, std::span(five).first(1), rows, rows), Error);  // no layer 2
  EXPECT_THROW(cache.append(0, std::span(five).first(2), std::span(rows).first(3), rows), Error);
  EXPECT_THROW(KVCache(c, 0), Error);
  EXPECT_THROW(KVCache(c, 4, QuantSpec{.bits = 1, .symmetric = false}), Error);
}

}  // namespace
}  // namespace lowbit
