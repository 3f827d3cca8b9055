#pragma once
// llama.cpp-style comparison of a (quantized) model against a full-precision base on the
// perplexity protocol's windows (eval/perplexity.h): per predicted position, the KL divergence
// KL(P_base || P_model) of the next-token distributions, whether the two agree on the most likely
// token, and both models' NLL of the true token. Both models run every window (the exact
// reference: no stored logits, so both must fit in memory together).
//
// Uncertainties are standard errors over positions, treated as independent (as llama.cpp does);
// positions in one window are correlated, so they understate the true spread somewhat.
#include <cstdint>
#include <span>

#include "eval/perplexity.h"
#include "model/llama.h"

namespace lowbit {

struct KlDivergenceResult {
  int windows = 0;
  int64_t predictions = 0;
  double ppl_base = 0, ppl_model = 0;
  double ln_ratio = 0, ln_ratio_se = 0;    // mean of NLL_model - NLL_base: ln(PPL ratio)
  double delta_ppl = 0, delta_ppl_se = 0;  // PPL_model - PPL_base (delta method)
  double nll_correlation = 0;              // Pearson, of the per-position NLLs
  double kld_mean = 0, kld_se = 0;
  double kld_median = 0, kld_p90 = 0, kld_p99 = 0, kld_p999 = 0, kld_max = 0;
  double top1_agreement = 0, top1_se = 0;  // fraction of positions with the same argmax
  double rms_delta_p = 0;                  // RMS of p_model(true) - p_base(true)
  double seconds = 0;
};

// KL divergence per row between two logit rows, natural log: sum p (log p - log q).
double kl_divergence(std::span<const float> base_logits, std::span<const float> model_logits);

KlDivergenceResult evaluate_kl_divergence(LlamaModel& base, LlamaModel& model,
                                          std::span<const int32_t> ids,
                                          const PerplexityOptions& options);

}  // namespace lowbit
