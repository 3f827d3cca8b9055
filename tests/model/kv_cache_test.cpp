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
  cache.store(1, 0, 5, k, v);
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
      cache.store(0, 0, 4, std::span(k).first(4 * kv), std::span(v).first(4 * kv));
      cache.store(0, 4, 3, std::span(k).subspan(4 * kv), std::span(v).subspan(4 * kv));
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
  EXPECT_THROW(cache.store(0, 0, 5, rows, rows), Error);
  EXPECT_THROW(KVCache(c, 0), Error);
  EXPECT_THROW(KVCache(c, 4, QuantSpec{.bits = 1, .symmetric = false}), Error);
}

}  // namespace
}  // namespace lowbit
