#include "eval/outliers.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "core/error.h"
#include "layers/activation_transform.h"

namespace lowbit {
namespace {

// The layer whose input transform a site's activations go through (q/k/v and gate/up share one).
const Linear* site_layer(const LayerWeights& L, ActivationSite site) {
  switch (site) {
    case ActivationSite::kQkvInput:
      return L.wq.get();
    case ActivationSite::kOInput:
      return L.wo.get();
    case ActivationSite::kUpInput:
      return L.w_up.get();
    case ActivationSite::kDownInput:
      return L.w_down.get();
  }
  return nullptr;
}

class OutlierObserver final : public ActivationObserver {
 public:
  explicit OutlierObserver(const LlamaWeights& weights) : weights_(weights) {}

  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
               size_t cols) override {
    OutlierAccumulator& a = acc_[{layer, static_cast<int>(site)}];
    std::span<const float> seen = x;
    if (const ActivationTransform* t =
            site_input_transform(weights_.layers.at(static_cast<size_t>(layer)), site)) {
      scratch_.assign(x.begin(), x.end());
      t->apply(scratch_, rows);
      seen = scratch_;
    }
    a.add(seen, rows, cols);
  }

  std::vector<SiteOutliers> result() const {
    std::vector<SiteOutliers> out;
    for (const auto& [key, a] : acc_)
      out.push_back(a.summary(key.first, static_cast<ActivationSite>(key.second)));
    return out;
  }

 private:
  const LlamaWeights& weights_;
  std::map<std::pair<int, int>, OutlierAccumulator> acc_;  // (layer, site): ordered as the report
  std::vector<float> scratch_;
};

}  // namespace

const ActivationTransform* site_input_transform(const LayerWeights& L, ActivationSite site) {
  const Linear* lin = site_layer(L, site);
  return lin ? lin->input_transform() : nullptr;
}

void OutlierAccumulator::add(std::span<const float> x, size_t rows, size_t cols) {
  if (channel_.empty()) channel_.assign(cols, 0.0f);
  if (cols != channel_.size() || x.size() < rows * cols)
    fail("outliers: {} x {} activations for a site of {} channels", rows, cols, channel_.size());
  for (size_t r = 0; r < rows; ++r) {
    float token = 0;
    for (size_t c = 0; c < cols; ++c) {
      const float v = std::fabs(x[r * cols + c]);
      channel_[c] = std::max(channel_[c], v);
      token = std::max(token, v);
    }
    token_.push_back(token);
  }
}

SiteOutliers OutlierAccumulator::summary(int layer, ActivationSite site) const {
  SiteOutliers s;
  s.layer = layer;
  s.site = site;
  s.channels = channel_.size();
  s.tokens = token_.size();
  s.absmax = channel_.empty() ? 0.0f : *std::max_element(channel_.begin(), channel_.end());
  s.channel_ratio = max_to_median(channel_);
  s.token_ratio = max_to_median(token_);
  return s;
}

double max_to_median(std::vector<float> v) {
  if (v.empty()) return 0.0;
  const float top = *std::max_element(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double median = v[mid];
  if (v.size() % 2 == 0) {
    const float below = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    median = 0.5 * (median + below);
  }
  return median > 0 ? top / median : 0.0;
}

std::vector<SiteOutliers> measure_outliers(LlamaModel& model, std::span<const int32_t> ids,
                                           const OutlierOptions& o) {
  if (o.context < 2) fail("outliers: --ctx must be at least 2, got {}", o.context);
  if (o.windows < 1) fail("outliers: --windows must be at least 1, got {}", o.windows);
  const size_t L = static_cast<size_t>(o.context);
  const size_t windows = std::min(static_cast<size_t>(o.windows), ids.size() / L);
  if (windows == 0)
    fail("outliers: the text has {} tokens, fewer than one window of {}", ids.size(), L);
  OutlierObserver observer(model.weights());
  const ObserverScope scope(model, observer);
  KVCache cache = model.make_cache(o.context);
  for (size_t w = 0; w < windows; ++w) {
    cache.clear();
    model.forward(ids.subspan(w * L, L), cache, LogitsFor::kLastToken);
  }
  return observer.result();
}

}  // namespace lowbit
