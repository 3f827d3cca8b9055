#include "eval/outlier_stages.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "core/error.h"
#include "layers/activation_transform.h"
#include "quant/pipeline.h"
#include "quant/work_layer.h"

namespace lowbit {
namespace {

// One accumulator per (layer, site, step): the observed input, then each online step's output.
class StageObserver final : public ActivationObserver {
 public:
  explicit StageObserver(const LlamaWeights& weights) : weights_(weights) {}

  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
               size_t cols) override {
    auto& [names, accs] = sites_[{layer, static_cast<int>(site)}];
    const ActivationTransform* t =
        site_input_transform(weights_.layers.at(static_cast<size_t>(layer)), site);
    const size_t steps = t ? t->num_steps() : 0;
    if (accs.empty()) {
      accs.resize(steps + 1);
      names.assign(1, "");
      for (size_t i = 0; i < steps; ++i) names.push_back(t->step_name(i));
    }
    accs[0].add(x, rows, cols);
    if (steps == 0) return;
    scratch_.assign(x.begin(), x.end());
    for (size_t i = 0; i < steps; ++i) {
      t->apply_step(i, scratch_, rows);
      accs[i + 1].add(scratch_, rows, cols);
    }
  }

  std::vector<SiteStages> result(const std::string& input_name) const {
    std::vector<SiteStages> out;
    for (const auto& [key, site] : sites_) {
      const auto& [names, accs] = site;
      SiteStages s{key.first, static_cast<ActivationSite>(key.second), {}};
      for (size_t i = 0; i < accs.size(); ++i)
        s.stages.push_back({i == 0 ? input_name : names[i], accs[i].summary(s.layer, s.site),
                            accs[i].channel_absmax()});
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  const LlamaWeights& weights_;
  // (layer, site) -> step names and accumulators: ordered as the report.
  std::map<std::pair<int, int>,
           std::pair<std::vector<std::string>, std::vector<OutlierAccumulator>>>
      sites_;
  std::vector<float> scratch_;
};

}  // namespace

std::vector<SiteStages> measure_transform_steps(LlamaModel& model,
                                                const std::vector<std::vector<int32_t>>& windows,
                                                const std::string& input_name) {
  if (windows.empty()) fail("outliers: no calibration windows");
  StageObserver observer(model.weights());
  const ObserverScope scope(model, observer);
  KVCache cache = model.make_cache(static_cast<int>(windows.front().size()));
  for (const auto& w : windows) {
    cache.clear();
    model.forward(w, cache, LogitsFor::kLastToken);
  }
  return observer.result(input_name);
}

bool same_channel_maxima(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  float top = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    top = std::max({top, a[i], b[i]});
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  // fp32 rounding of W diag(s) T and of the layers before: far below 1e-3 of the maximum.
  return diff <= 1e-3f * top;
}

std::vector<SiteStages> measure_method_stages(LlamaModel& model, const Tokenizer& tokenizer,
                                              QuantizeOptions o) {
  o.weight.bits = 16;
  o.act.bits = 16;
  o.kv.bits = 16;
  o.query.bits = 16;
  o.head_weight.bits = 16;
  o.head_act.bits = 16;
  // Before the first pass over the windows: what quantize_model would refuse after it.
  o.validate(model.config());
  for (size_t l = 0; l < model.weights().layers.size(); ++l)
    check_full_precision(model.weights().layers[l], l);
  const auto windows = sample_calibration_windows(tokenizer, o.calib);
  auto original = measure_transform_steps(model, windows, "original");
  quantize_model(model, tokenizer, o);
  auto transformed = measure_transform_steps(model, windows, "folded");
  if (original.size() != transformed.size())
    fail("outliers: {} sites before the transform, {} after", original.size(), transformed.size());
  for (size_t i = 0; i < original.size(); ++i) {
    SiteStages& out = original[i];
    auto& after = transformed[i].stages;
    // The original input alone stays the first stage: the transformed model's input follows it
    // only where the method changed it offline.
    out.stages.resize(1);
    const bool folded =
        !same_channel_maxima(out.stages[0].channel_absmax, after.front().channel_absmax);
    for (size_t s = folded ? 0 : 1; s < after.size(); ++s)
      out.stages.push_back(std::move(after[s]));
  }
  return original;
}

}  // namespace lowbit
