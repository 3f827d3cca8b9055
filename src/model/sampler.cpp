#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/vmath.h"

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
  // Probabilities through the vectorised softmax (std::exp per vocabulary entry was a tenth of a
  // batched server step); the sum is re-taken in double for the walk below.
  std::vector<float> p(logits.begin(), logits.end());
  kernels::softmax(p, 1.0f / options_.temperature);
  double sum = 0.0;
  for (const float v : p) sum += v;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  if (options_.top_p >= 1.0f) {
    // The whole distribution: walked in id order, no sort (a sort of the vocabulary per token was
    // most of a batched server step's time).
    double r = uniform(rng_) * sum;
    for (size_t i = 0; i < p.size(); ++i) {
      r -= p[i];
      if (r <= 0.0) return static_cast<int32_t>(i);
    }
    return argmax(logits);
  }
  // Nucleus: only tokens with p >= (1 - top_p) * sum / (n - 1) can be in it (the others together
  // hold less than 1 - top_p of the mass), so only those are sorted (llama2.c's cut-off).
  // An empty candidate set (top_p below 1/n on a flat distribution) means the top token alone.
  if (p.size() < 2) return 0;
  const double cutoff = (1.0 - options_.top_p) * sum / static_cast<double>(p.size() - 1);
  std::vector<int32_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] >= cutoff) order.push_back(static_cast<int32_t>(i));
  if (order.empty()) return argmax(logits);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  // Smallest prefix of the sorted distribution whose mass reaches top_p.
  size_t keep = 0;
  double mass = 0.0;
  while (keep < order.size() && mass < options_.top_p * sum) mass += p[order[keep++]];
  double r = uniform(rng_) * mass;
  for (size_t i = 0; i < keep; ++i) {
    r -= p[order[i]];
    if (r <= 0.0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace lowbit
