// Batched decode (LlamaModel::forward_batch, the server's continuous batching): several sequences'
// next tokens share one forward step, each attending to its own cache. Each row must be what a
// decode of that sequence alone gives, whatever the other rows are.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "io/model_loader.h"
#include "model/llama.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

std::vector<float> copy(std::span<const float> s) {
  return {s.begin(), s.end()};
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(LlamaBatch, EachRowMatchesItsSequenceDecodedAlone) {
  LoadedModel m = load_model(testing::shared_dir() / "models/stories260K/stories260K.bin",
                             testing::shared_dir() / "models/stories260K/tok512.bin");
  LlamaModel& model = *m.model;
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  // Three sequences at different lengths (different positions and cache sizes in one step).
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 40, 50, 60}, {1, 300, 7, 8, 9, 10, 11, 12, 13}, {1, 100}};
  const std::vector<int32_t> next = {70, 20, 400};

  std::vector<std::vector<float>> alone;
  for (size_t s = 0; s < prompts.size(); ++s) {
    KVCache cache = model.make_cache(64);
    model.forward(prompts[s], cache);
    alone.push_back(copy(model.forward(std::span(next).subspan(s, 1), cache)));
  }
  std::vector<KVCache> caches;
  for (const auto& p : prompts) {
    caches.push_back(model.make_cache(64));
    model.forward(p, caches.back());
  }
  KVCache* const rows[] = {&caches[0], &caches[1], &caches[2]};
  const auto batch = copy(model.forward_batch(next, rows));
  ASSERT_EQ(batch.size(), 3 * vocab);
  for (size_t s = 0; s < prompts.size(); ++s) {
    EXPECT_LT(max_abs_diff(std::span(batch).subspan(s * vocab, vocab), alone[s]), 1e-4f) << s;
    EXPECT_EQ(caches[s].length(), static_cast<int>(prompts[s].size() + 1));
  }
  // The caches hold what a lone decode would have stored: the next step agrees too.
  const int32_t again[] = {5, 6, 7};
  const auto second = copy(model.forward_batch(again, rows));
  for (size_t s = 0; s < prompts.size(); ++s) {
    KVCache cache = model.make_cache(64);
    model.forward(prompts[s], cache);
    model.forward(std::span(next).subspan(s, 1), cache);
    const auto lone = model.forward(std::span<const int32_t>(again).subspan(s, 1), cache);
    EXPECT_LT(max_abs_diff(std::span(second).subspan(s * vocab, vocab), lone), 1e-4f) << s;
  }
}

TEST(LlamaBatch, RefusesSharedOrFullCaches) {
  LoadedModel m = load_model(testing::shared_dir() / "models/stories260K/stories260K.bin",
                             testing::shared_dir() / "models/stories260K/tok512.bin");
  LlamaModel& model = *m.model;
  KVCache a = model.make_cache(4), b = model.make_cache(4);
  const int32_t two[] = {1, 2};
  KVCache* const shared[] = {&a, &a};
  EXPECT_NE(testing::error_of([&] { model.forward_batch(two, shared); }).find("shares its cache"),
            std::string::npos);
  KVCache* const one[] = {&a};
  EXPECT_NE(testing::error_of([&] { model.forward_batch(two, one); }).find("2 tokens for 1"),
            std::string::npos);
  const int32_t four[] = {1, 2, 3, 4};
  model.forward(four, b);
  KVCache* const full[] = {&a, &b};
  EXPECT_NE(testing::error_of([&] { model.forward_batch(two, full); }).find("context is full"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
