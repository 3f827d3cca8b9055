#include "serve/token_logprobs.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lowbit::serve {

TokenLogprobs token_logprobs(std::span<const float> logits, int32_t chosen, size_t k) {
  // log softmax in double: the sum of 32k-150k exponentials keeps its precision.
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float v : logits) sum += std::exp(static_cast<double>(v - max));
  const double log_z = static_cast<double>(max) + std::log(sum);
  const auto logp = [&](int32_t id) {
    return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(id)]) - log_z);
  };
  TokenLogprobs out;
  out.chosen = logp(chosen);
  k = std::min(k, logits.size());
  if (k > 0) {
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    // Ties by id, so the list is deterministic.
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [&](int32_t a, int32_t b) {
                        const float la = logits[static_cast<size_t>(a)];
                        const float lb = logits[static_cast<size_t>(b)];
                        return la > lb || (la == lb && a < b);
                      });
    for (size_t i = 0; i < k; ++i) out.top.emplace_back(ids[i], logp(ids[i]));
  }
  return out;
}

}  // namespace lowbit::serve
