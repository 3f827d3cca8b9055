#pragma once
// Next-token selection: greedy at temperature 0, otherwise temperature + nucleus (top-p) sampling
// with a seeded generator so runs are reproducible.
#include <cstdint>
#include <random>
#include <span>

namespace lowbit {

struct SamplerOptions {
  float temperature = 0.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  int32_t sample(std::span<const float> logits);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
};

int32_t argmax(std::span<const float> values);

}  // namespace lowbit
