#pragma once
// Outlier statistics of the activations each linear layer quantizes, as it sees them (after the
// site's online transform: smoothing, rotations, permutation). Two numbers per layer and site:
//   channel ratio = max over channels / median over channels of the per-channel max |x|
//                   ("normal" outliers: a few channels large on every token),
//   token ratio   = max over tokens / median over tokens of the per-token max |x|
//                   ("massive" outliers: a few tokens large on every channel).
// Per-token quantization suffers from the first (one scale per token must cover the outlier
// channel); the second costs nothing per token but breaks per-tensor scales. A transform that
// works brings the channel ratio towards that of Gaussian noise (about 3-4 for a few thousand
// tokens).
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama.h"

namespace lowbit {

struct OutlierOptions {
  int context = 512;  // window length L: [BOS] + text in non-overlapping windows, as perplexity
  int windows = 8;    // the first N windows (fewer if the text is shorter)
};

struct SiteOutliers {
  int layer = 0;
  ActivationSite site = ActivationSite::kQkvInput;
  size_t channels = 0;
  size_t tokens = 0;
  float absmax = 0;          // max |x| over the site
  double channel_ratio = 0;  // see above
  double token_ratio = 0;
};

// The running per-channel and per-token max |x| of one site's activations, and the statistics of
// the table from them: every number `lowbit outliers` prints comes from summary().
class OutlierAccumulator {
 public:
  // x is rows x cols, row-major; every call must have the same cols.
  void add(std::span<const float> x, size_t rows, size_t cols);
  SiteOutliers summary(int layer, ActivationSite site) const;
  const std::vector<float>& channel_absmax() const { return channel_; }

 private:
  std::vector<float> channel_;  // per-channel max |x|
  std::vector<float> token_;    // per-token max |x|
};

// Runs the windows through the model (outputs discarded) and returns one row per layer and site,
// in layer order. Throws if the ids hold less than one window.
std::vector<SiteOutliers> measure_outliers(LlamaModel& model, std::span<const int32_t> ids,
                                           const OutlierOptions& options);

// The online transform a site's activations go through before they are quantized (q/k/v and
// gate/up share one); null when the site has none.
const ActivationTransform* site_input_transform(const LayerWeights& layer, ActivationSite site);

// max / median of `values` (median of an even count: the mean of the middle two); 0 if empty or
// the median is 0.
double max_to_median(std::vector<float> values);

}  // namespace lowbit
