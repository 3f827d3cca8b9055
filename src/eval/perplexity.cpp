#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"

namespace lowbit {

double next_token_nll_at(std::span<const float> logits, size_t vocab, std::span<const int32_t> ids,
                         std::span<const int32_t> rows, int64_t& count,
                         std::span<double> per_position) {
  size_t scored = 0;
  while (scored < rows.size() && static_cast<size_t>(rows[scored]) + 1 < ids.size()) ++scored;
  std::vector<double> nll(scored);
  thread_pool().parallel_for(scored, 8, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* z = logits.data() + r * vocab;
      float mx = z[0];
      for (size_t i = 1; i < vocab; ++i) mx = std::max(mx, z[i]);
      double sum = 0.0;
      for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(z[i] - mx));
      nll[r] = std::log(sum) + mx - z[static_cast<size_t>(ids[static_cast<size_t>(rows[r]) + 1])];
    }
  });
  double total = 0.0;
  for (const double x : nll) total += x;
  for (size_t r = 0; r < scored; ++r)
    if (static_cast<size_t>(rows[r]) < per_position.size())
      per_position[static_cast<size_t>(rows[r])] = nll[r];
  count += static_cast<int64_t>(scored);
  return total;
}

double next_token_nll_sum(std::span<const float> logits, size_t vocab, std::span<const int32_t> ids,
                          std::span<double> per_position) {
  std::vector<int32_t> rows(ids.size());
  std::iota(rows.begin(), rows.end(), 0);
  int64_t count = 0;
  return next_token_nll_at(logits, vocab, ids, rows, count, per_position);
}

PerplexityResult evaluate_perplexity(LlamaModel& model, std::span<const int32_t> ids,
                                     const PerplexityOptions& options) {
  const int L = options.context;
  if (L < 2) fail("--ctx must be at least 2, got {}", L);
  if (L > model.config().max_seq_len)
    fail("--ctx {} exceeds the model's max_position_embeddings {}", L, model.config().max_seq_len);
  int windows = static_cast<int>(ids.size() / static_cast<size_t>(L));
  if (windows == 0) fail("text has {} tokens, fewer than one window of --ctx {}", ids.size(), L);
  if (options.max_windows > 0) windows = std::min(windows, options.max_windows);

  PerplexityResult result;
  result.document_tokens = static_cast<int64_t>(ids.size());
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  KVCache cache = model.make_cache(L);
  model.reset_pruning_counts();
  const size_t per_window = static_cast<size_t>(L - 1);
  if (options.per_position != nullptr)
    options.per_position->assign(static_cast<size_t>(windows) * per_window, std::nan(""));
  Progress progress("perplexity", static_cast<size_t>(windows), options.progress);
  const auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < windows; ++w) {
    const auto window = ids.subspan(static_cast<size_t>(w) * L, static_cast<size_t>(L));
    cache.clear();
    const auto logits = model.forward(window, cache, LogitsFor::kAllTokens);
    const auto rows = model.logit_rows();
    const std::span<double> out =
        options.per_position == nullptr
            ? std::span<double>{}
            : std::span(*options.per_position)
                  .subspan(static_cast<size_t>(w) * per_window, per_window);
    result.nll_sum += next_token_nll_at(logits, vocab, window, rows, result.predictions, out);
    result.positions += L - 1;
    progress.update(static_cast<size_t>(w + 1));
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.windows = windows;
  result.pruned_work = model.pruning_counts().removed_fraction();
  result.perplexity = std::exp(result.nll_sum / static_cast<double>(result.predictions));
  result.tokens_per_second = static_cast<double>(windows) * L / result.seconds;
  return result;
}

}  // namespace lowbit
