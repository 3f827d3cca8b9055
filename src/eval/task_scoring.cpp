#include "eval/task_scoring.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"

namespace lowbit {
namespace {

struct RowStats {
  double log_sum_exp = 0;
  size_t argmax = 0;
};

// exp(x) for x <= 0 in float: x = n ln2 + r, a degree-6 polynomial for exp(r) (Cephes expf,
// within 2 ulp of exp), times 2^n built in the exponent bits. Plain arithmetic, so loops over it
// vectorise; inputs below -87 (results < 2^-125) are clamped.
inline float exp_nonpositive(float x) {
  // The clamp as an unsigned compare of the bits (larger bits = more negative for x < 0):
  // a float compare would keep GCC from vectorising without -fno-trapping-math.
  constexpr uint32_t kMin = std::bit_cast<uint32_t>(-87.0f);
  const uint32_t xb = std::bit_cast<uint32_t>(x);
  x = std::bit_cast<float>(xb > kMin ? kMin : xb);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

RowStats row_stats(const float* z, size_t vocab) {
  size_t best = 0;
  for (size_t i = 1; i < vocab; ++i)
    if (z[i] > z[best]) best = i;
  const float mx = z[best];
  thread_local std::vector<float> buffer;
  if (buffer.size() < vocab) buffer.resize(vocab);
  float* e = buffer.data();
  for (size_t i = 0; i < vocab; ++i) e[i] = exp_nonpositive(z[i] - mx);
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;  // fixed order: results do not depend on threads
  size_t i = 0;
  for (; i + 4 <= vocab; i += 4) {
    s0 += e[i];
    s1 += e[i + 1];
    s2 += e[i + 2];
    s3 += e[i + 3];
  }
  for (; i < vocab; ++i) s0 += e[i];
  return {std::log((s0 + s1) + (s2 + s3)) + static_cast<double>(mx), best};
}

std::vector<int32_t> encode_with_bos(const Tokenizer& tokenizer, std::string_view text,
                                     bool add_bos) {
  std::vector<int32_t> ids;
  if (add_bos && tokenizer.bos_id) ids.push_back(*tokenizer.bos_id);
  const auto body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace

TokenizedRequest tokenize_request(const Tokenizer& tokenizer, std::string_view context,
                                  std::string_view continuation, bool add_bos) {
  // Trailing whitespace of the context belongs to the continuation (context.rstrip()).
  const size_t keep = context.find_last_not_of(" \t\n\r\f\v");
  const size_t cut = keep == std::string_view::npos ? 0 : keep + 1;
  std::string cont(context.substr(cut));
  cont += continuation;
  context = context.substr(0, cut);
  if (cont.empty()) fail("empty continuation");

  TokenizedRequest r;
  r.context = encode_with_bos(tokenizer, context, add_bos);
  const auto whole = encode_with_bos(tokenizer, std::string(context) + cont, add_bos);
  if (whole.size() > r.context.size())
    r.continuation.assign(whole.begin() + static_cast<ptrdiff_t>(r.context.size()), whole.end());
  else
    r.continuation = tokenizer.encode(cont);
  if (r.continuation.empty()) fail("continuation '{}' encodes to no tokens", cont);
  if (r.context.empty())
    fail("empty context and the tokenizer has no BOS token to condition the continuation on");
  return r;
}

void truncate_request(TokenizedRequest& request, size_t max_tokens) {
  const size_t n_cont = request.continuation.size();
  if (n_cont > max_tokens)
    fail("continuation of {} tokens does not fit in the model's {} positions", n_cont, max_tokens);
  const size_t total = request.context.size() + n_cont - 1;
  if (total <= max_tokens) return;
  const size_t drop = total - max_tokens;  // < context.size() since n_cont <= max_tokens
  request.context.erase(request.context.begin(),
                        request.context.begin() + static_cast<ptrdiff_t>(drop));
}

void score_rows(std::span<const float> logits, size_t vocab, std::span<const int32_t> targets,
                std::span<double> logprob, std::span<uint8_t> is_argmax) {
  thread_pool().parallel_for(targets.size(), 1, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* z = logits.data() + r * vocab;
      const RowStats s = row_stats(z, vocab);
      const auto t = static_cast<size_t>(targets[r]);
      logprob[r] = static_cast<double>(z[t]) - s.log_sum_exp;
      is_argmax[r] = s.argmax == t ? 1 : 0;
    }
  });
}

ContinuationScorer::ContinuationScorer(LlamaModel& model, ScoringMode mode, int cache_capacity)
    : model_(model), mode_(mode), cache_(model.make_cache(cache_capacity)) {}

std::vector<ContinuationScore> ContinuationScorer::score(
    std::span<const TokenizedRequest> requests) {
  const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
  std::vector<ContinuationScore> out(requests.size());
  std::vector<bool> done(requests.size(), false);
  std::vector<size_t> group;
  std::vector<double> logprob;
  std::vector<uint8_t> is_argmax;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (done[i]) continue;
    const auto& context = requests[i].context;
    group.assign(1, i);
    if (mode_ == ScoringMode::kShared)
      for (size_t j = i + 1; j < requests.size(); ++j)
        if (!done[j] && requests[j].context == context) group.push_back(j);

    // The context once: its last logits predict every request's first continuation token.
    cache_.clear();
    const auto last = model_.forward(context, cache_, LogitsFor::kLastToken);
    ++forward_passes_;
    tokens_ += static_cast<int64_t>(context.size());
    const RowStats first = row_stats(last.data(), vocab);
    for (const size_t j : group) {
      const auto t = static_cast<size_t>(requests[j].continuation.front());
      if (t >= vocab) fail("token id {} out of range [0, {})", t, vocab);
      out[j].logprob = static_cast<double>(last[t]) - first.log_sum_exp;
      out[j].greedy = first.argmax == t;
    }

    // Each continuation against the cached context: tokens 0..n-2 predict tokens 1..n-1.
    for (const size_t j : group) {
      done[j] = true;
      const std::span<const int32_t> cont = requests[j].continuation;
      if (cont.size() < 2) continue;
      cache_.truncate(static_cast<int>(context.size()));
      const auto logits = model_.forward(cont.first(cont.size() - 1), cache_, LogitsFor::kAllTokens,
                                         /*allow_pruning=*/false);
      ++forward_passes_;
      tokens_ += static_cast<int64_t>(cont.size() - 1);
      const size_t rows = cont.size() - 1;
      logprob.assign(rows, 0.0);
      is_argmax.assign(rows, 0);
      score_rows(logits, vocab, cont.subspan(1), logprob, is_argmax);
      for (size_t r = 0; r < rows; ++r) {
        out[j].logprob += logprob[r];
        out[j].greedy = out[j].greedy && is_argmax[r] != 0;
      }
    }
  }
  return out;
}

double mean_stderr(std::span<const double> values) {
  const size_t n = values.size();
  if (n < 2) return 0.0;
  double mean = 0.0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(n);
  double ss = 0.0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n));
}

size_t argmax_index(std::span<const double> values) {
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[best]) best = i;
  return best;
}

}  // namespace lowbit
