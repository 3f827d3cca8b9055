#pragma once
// Perplexity with lowbit's protocol (the one reference.json uses): ids = [BOS] + encode(text);
// non-overlapping windows of L tokens from the start, a shorter tail dropped; each window runs
// from an empty cache; ppl = exp(sum of next-token NLL over positions 1..L-1 of every window /
// count).
//
// With token pruning (model/token_pruning.h) only the positions that reach the head have logits:
// the sum runs over those of positions 0..L-2, and `predictions` counts them.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "model/llama.h"
#include "text/document.h"

namespace lowbit {

struct PerplexityOptions {
  int context = 512;
  int max_windows = 0;  // 0: all windows
  bool progress = true;
  // When set: the NLL of every prediction, windows x (L - 1) in order (window w's position i at
  // w * (L - 1) + i), NaN where token pruning kept the position from the head. Lets a pruned run
  // be compared with an unpruned one on the same positions.
  std::vector<double>* per_position = nullptr;
};

struct PerplexityResult {
  double perplexity = 0;
  double nll_sum = 0;
  int64_t predictions = 0;
  int64_t positions = 0;   // positions 0..L-2 of every window: predictions without pruning
  double pruned_work = 0;  // fraction of token-layers pruning removed (0 without)
  int windows = 0;
  int64_t document_tokens = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // evaluated tokens (windows x L) per second
};

// The document tokens (BOS included) that `windows` windows of `context` tokens use; 0 (the whole
// document) when windows <= 0, or when the context is invalid (evaluate_perplexity says why).
inline size_t windows_tokens(int context, int windows) {
  if (windows <= 0 || context <= 0) return 0;
  return static_cast<size_t>(context) * static_cast<size_t>(windows);
}

PerplexityResult evaluate_perplexity(LlamaModel& model, std::span<const int32_t> ids,
                                     const PerplexityOptions& options);

// Sum of next-token NLL (natural log) of the rows of `logits` that are positions `rows` of ids
// (increasing), each predicting the id after it; rows at the last position predict nothing and
// are skipped. Returns the sum and counts the predictions in `count`.
double next_token_nll_at(std::span<const float> logits, size_t vocab, std::span<const int32_t> ids,
                         std::span<const int32_t> rows, int64_t& count,
                         std::span<double> per_position = {});

// Sum of next-token NLL (natural log) for rows 0..rows-2 of `logits` predicting ids[1..rows-1].
double next_token_nll_sum(std::span<const float> logits, size_t vocab, std::span<const int32_t> ids,
                          std::span<double> per_position = {});

}  // namespace lowbit
