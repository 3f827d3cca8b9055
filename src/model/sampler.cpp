#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace lowbit {

int32_t argmax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {
  if (!(options.temperature >= 0.0f)) fail("--temp must be >= 0, got {}", options.temperature);
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f))
    fail("--top-p must be in (0, 1], got {}", options.top_p);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (options_.temperature == 0.0f) return argmax(logits);
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] = std::exp(static_cast<double>(logits[i] - mx) / options_.temperature);
    sum += p[i];
  }
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  // Smallest prefix of the sorted distribution whose mass reaches top_p.
  size_t keep = 0;
  double mass = 0.0;
  while (keep < order.size() && mass < options_.top_p * sum) mass += p[order[keep++]];
  std::uniform_real_distribution<double> uniform(0.0, mass);
  double r = uniform(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= p[order[i]];
    if (r <= 0.0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace lowbit
