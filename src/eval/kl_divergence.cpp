#include "eval/kl_divergence.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"

namespace lowbit {

namespace {

// log-softmax of one row in double.
void log_softmax(std::span<const float> z, std::vector<double>& out) {
  const float mx = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (const float v : z) sum += std::exp(static_cast<double>(v - mx));
  const double log_z = static_cast<double>(mx) + std::log(sum);
  out.resize(z.size());
  for (size_t i = 0; i < z.size(); ++i) out[i] = static_cast<double>(z[i]) - log_z;
}

struct Position {
  double kld, nll_base, nll_model, dp;
  bool same_top;
};

Position compare_row(std::span<const float> b, std::span<const float> m, int32_t next) {
  thread_local std::vector<double> lb, lm;
  log_softmax(b, lb);
  log_softmax(m, lm);
  double kld = 0.0;
  for (size_t i = 0; i < lb.size(); ++i) kld += std::exp(lb[i]) * (lb[i] - lm[i]);
  const auto t = static_cast<size_t>(next);
  return {std::max(kld, 0.0), -lb[t], -lm[t], std::exp(lm[t]) - std::exp(lb[t]),
          std::max_element(b.begin(), b.end()) - b.begin() ==
              std::max_element(m.begin(), m.end()) - m.begin()};
}

double quantile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

double kl_divergence(std::span<const float> base_logits, std::span<const float> model_logits) {
  if (base_logits.size() != model_logits.size() || base_logits.empty())
    fail("kl_divergence: rows of {} and {} logits", base_logits.size(), model_logits.size());
  return compare_row(base_logits, model_logits, 0).kld;
}

KlDivergenceResult evaluate_kl_divergence(LlamaModel& base, LlamaModel& model,
                                          std::span<const int32_t> ids,
                                          const PerplexityOptions& options) {
  const int L = options.context;
  if (L < 2) fail("--ctx must be at least 2, got {}", L);
  for (const LlamaModel* m : {&base, &model})
    if (L > m->config().max_seq_len)
      fail("--ctx {} exceeds a model's max_position_embeddings {}", L, m->config().max_seq_len);
  if (base.config().vocab_size != model.config().vocab_size)
    fail("--kl-divergence: the base model's vocabulary has {} tokens, the model's {}",
         base.config().vocab_size, model.config().vocab_size);
  int windows = static_cast<int>(ids.size() / static_cast<size_t>(L));
  if (windows == 0) fail("text has {} tokens, fewer than one window of --ctx {}", ids.size(), L);
  if (options.max_windows > 0) windows = std::min(windows, options.max_windows);

  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  const size_t per_window = static_cast<size_t>(L - 1);
  std::vector<Position> pos(static_cast<size_t>(windows) * per_window);
  KVCache base_cache = base.make_cache(L), model_cache = model.make_cache(L);
  std::vector<float> base_logits;
  Progress progress("kl-divergence", static_cast<size_t>(windows), options.progress);
  const auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < windows; ++w) {
    const auto window = ids.subspan(static_cast<size_t>(w) * L, static_cast<size_t>(L));
    base_cache.clear();
    model_cache.clear();
    // Every position reaches the head: no token pruning here.
    const auto b = base.forward(window, base_cache, LogitsFor::kAllTokens, false);
    base_logits.assign(b.begin(), b.end());
    const auto m = model.forward(window, model_cache, LogitsFor::kAllTokens, false);
    Position* out = pos.data() + static_cast<size_t>(w) * per_window;
    thread_pool().parallel_for(per_window, 8, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r)
        out[r] = compare_row(std::span<const float>(base_logits).subspan(r * vocab, vocab),
                             m.subspan(r * vocab, vocab), window[r + 1]);
    });
    progress.update(static_cast<size_t>(w + 1));
  }

  KlDivergenceResult r;
  r.windows = windows;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double n = static_cast<double>(pos.size());
  r.predictions = static_cast<int64_t>(pos.size());
  double sb = 0, sm = 0, sbb = 0, smm = 0, sbm = 0, sk = 0, skk = 0, sd = 0, sdd = 0, sdp = 0;
  int64_t same = 0;
  std::vector<double> kld(pos.size());
  for (size_t i = 0; i < pos.size(); ++i) {
    const Position& p = pos[i];
    sb += p.nll_base;
    sm += p.nll_model;
    sbb += p.nll_base * p.nll_base;
    smm += p.nll_model * p.nll_model;
    sbm += p.nll_base * p.nll_model;
    sk += p.kld;
    skk += p.kld * p.kld;
    const double d = p.nll_model - p.nll_base;
    sd += d;
    sdd += d * d;
    sdp += p.dp * p.dp;
    same += p.same_top;
    kld[i] = p.kld;
  }
  const auto var = [n](double s, double ss) { return std::max(0.0, ss / n - (s / n) * (s / n)); };
  r.ppl_base = std::exp(sb / n);
  r.ppl_model = std::exp(sm / n);
  r.ln_ratio = sd / n;
  r.ln_ratio_se = std::sqrt(var(sd, sdd) / n);
  // Delta method on exp(mean): var(a - b) with the covariance of the two means.
  const double cov = sbm / n - (sb / n) * (sm / n);
  r.delta_ppl = r.ppl_model - r.ppl_base;
  r.delta_ppl_se = std::sqrt(
      std::max(0.0, (r.ppl_model * r.ppl_model * var(sm, smm) +
                     r.ppl_base * r.ppl_base * var(sb, sbb) - 2 * r.ppl_model * r.ppl_base * cov) /
                        n));
  const double denom = std::sqrt(var(sb, sbb) * var(sm, smm));
  r.nll_correlation = denom > 0 ? cov / denom : 1.0;
  r.kld_mean = sk / n;
  r.kld_se = std::sqrt(var(sk, skk) / n);
  std::sort(kld.begin(), kld.end());
  r.kld_median = quantile(kld, 0.5);
  r.kld_p90 = quantile(kld, 0.9);
  r.kld_p99 = quantile(kld, 0.99);
  r.kld_p999 = quantile(kld, 0.999);
  r.kld_max = kld.back();
  r.top1_agreement = static_cast<double>(same) / n;
  r.top1_se = std::sqrt(r.top1_agreement * (1 - r.top1_agreement) / n);
  r.rms_delta_p = std::sqrt(sdp / n);
  return r;
}

}  // namespace lowbit
