#pragma once
// Log-likelihood of continuations given contexts, as lm-evaluation-harness computes it, with the
// context of an item's choices evaluated once, and the metrics built on it.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"
#include "model/llama.h"

namespace lowbit {

// A (context, continuation) pair in tokens.
struct TokenizedRequest {
  std::vector<int32_t> context;       // [BOS] + encode(context); never empty
  std::vector<int32_t> continuation;  // never empty
};

// lm-evaluation-harness's split: trailing whitespace of the context moves to the front of the
// continuation; whole = encode(context + continuation), context_enc = encode(context),
// continuation_enc = whole[len(context_enc):]. With add_bos, BOS starts both encodings (the
// tokenizer's add_special_tokens). If the split leaves no continuation tokens (the context's
// last tokens merged across the boundary), the continuation is encoded on its own. Throws
// lowbit::Error when the continuation is empty or there is no context token (empty context and
// no BOS).
TokenizedRequest tokenize_request(const Tokenizer& tokenizer, std::string_view context,
                                  std::string_view continuation, bool add_bos);

// Left-truncates the context so context + continuation - 1 tokens fit in `max_tokens` positions
// (the harness keeps the last max_length + 1 tokens). Throws if the continuation alone does not
// fit.
void truncate_request(TokenizedRequest& request, size_t max_tokens);

struct ContinuationScore {
  double logprob = 0;   // sum of log p(continuation token | everything before it), natural log
  bool greedy = false;  // every continuation token is the argmax of its logits
};

enum class ScoringMode {
  // Requests with identical context tokens share one forward pass of the context; each
  // continuation then runs against the cached context (the cache is rewound in between).
  kShared,
  // Every request runs on its own from an empty cache (reference for tests).
  kOneAtATime,
};

// Scores requests on one model. Each request is evaluated as two forward passes: the context
// (logits of its last token only, which predict the first continuation token), then
// continuation[0..n-2] against the cached context (all logits). Both modes run exactly these
// passes, so their scores are identical; kShared just runs each distinct context once.
class ContinuationScorer {
 public:
  ContinuationScorer(LlamaModel& model, ScoringMode mode, int cache_capacity);

  // Scores one group (usually the choices of one item); results are in request order.
  std::vector<ContinuationScore> score(std::span<const TokenizedRequest> requests);

  int64_t forward_passes() const { return forward_passes_; }
  int64_t tokens() const { return tokens_; }

 private:
  LlamaModel& model_;
  ScoringMode mode_;
  KVCache cache_;
  int64_t forward_passes_ = 0;
  int64_t tokens_ = 0;
};

// Per row of `logits` (rows x vocab): log p(targets[r]) and whether targets[r] is the argmax
// (first maximum). Log-sum-exp is accumulated in double.
void score_rows(std::span<const float> logits, size_t vocab, std::span<const int32_t> targets,
                std::span<double> logprob, std::span<uint8_t> is_argmax);

// Standard error of a mean of per-item values (sample standard deviation / sqrt(n), the
// harness's mean_stderr); for 0/1 values this is sqrt(p (1 - p) / (n - 1)). 0 when n < 2.
double mean_stderr(std::span<const double> values);

// Index of the largest value; ties go to the first (numpy argmax).
size_t argmax_index(std::span<const double> values);

}  // namespace lowbit
