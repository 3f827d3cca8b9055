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
  // batched server step).
  // Scratch per thread (a server samples its rows on the pool's threads): a fresh 128 KB vector per
  // token went through malloc and, at the top of the heap, back to the kernel on every free.
  thread_local std::vector<float> p;
  thread_local std::vector<double> block_sum;
  p.assign(logits.begin(), logits.end());
  kernels::softmax(p, 1.0f / options_.temperature);
  // Sums of blocks of kBlock entries, each with kLanes independent accumulators so the compiler
  // vectorises it: one serial add chain over the vocabulary, for the total and again for the
  // draw's walk, was the next largest serial cost of a server step after the sort.
  constexpr size_t kBlock = 64, kLanes = 8;
  const size_t n = p.size(), blocks = (n + kBlock - 1) / kBlock;
  block_sum.resize(blocks);
  double sum = 0.0;
  for (size_t b = 0; b < blocks; ++b) {
    const size_t begin = b * kBlock, end = std::min(n, begin + kBlock);
    float lanes[kLanes] = {};
    size_t i = begin;
    for (; i + kLanes <= end; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) lanes[j] += p[i + j];
    double s = 0.0;
    for (; i < end; ++i) s += p[i];
    for (const float v : lanes) s += v;
    block_sum[b] = s;
    sum += s;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  if (options_.top_p >= 1.0f) {
    // The whole distribution, walked in id order (no sort): whole blocks are skipped by their
    // sums, then the entries of the block the draw falls in.
    double r = uniform(rng_) * sum;
    for (size_t b = 0; b < blocks; ++b) {
      if (r > block_sum[b] && b + 1 < blocks) {
        r -= block_sum[b];
        continue;
      }
      for (size_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
        r -= p[i];
        if (r <= 0.0) return static_cast<int32_t>(i);
      }
    }
    return argmax(logits);
  }
  // Nucleus: only tokens with p >= (1 - top_p) * sum / (n - 1) can be in it (the others together
  // hold less than 1 - top_p of the mass), so only those are sorted (llama2.c's cut-off).
  // An empty candidate set (top_p below 1/n on a flat distribution) means the top token alone.
  if (p.size() < 2) return 0;
  const double cutoff = (1.0 - options_.top_p) * sum / static_cast<double>(p.size() - 1);
  thread_local std::vector<int32_t> order;
  order.clear();
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
