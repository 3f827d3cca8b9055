#pragma once
// Log-probabilities of the next token for OpenAI's `logprobs`: the model's distribution (log
// softmax of the raw logits, temperature 1, whatever the sampling temperature), the chosen
// token's value and the k most likely alternatives.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace lowbit::serve {

struct TokenLogprobs {
  float chosen = 0.0f;                         // log p(chosen)
  std::vector<std::pair<int32_t, float>> top;  // k best (id, log p), most likely first
};

TokenLogprobs token_logprobs(std::span<const float> logits, int32_t chosen, size_t k);

}  // namespace lowbit::serve
