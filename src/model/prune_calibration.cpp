#include "model/prune_calibration.h"

#include <algorithm>

#include "core/error.h"
#include "core/progress.h"

namespace lowbit {
namespace {

// Attaches a calibration and an uncalibrated setting for one run; restores the model however the
// run ends.
class CalibrationScope {
 public:
  CalibrationScope(LlamaModel& model, const TokenPruning& setting, PruningCalibration& c)
      : model_(model), saved_(model.token_pruning()) {
    model_.set_token_pruning(setting);
    model_.set_pruning_calibration(&c);
  }
  ~CalibrationScope() {
    model_.set_pruning_calibration(nullptr);
    model_.set_token_pruning(saved_);
  }
  CalibrationScope(const CalibrationScope&) = delete;
  CalibrationScope& operator=(const CalibrationScope&) = delete;

 private:
  LlamaModel& model_;
  TokenPruning saved_;
};

}  // namespace

TokenPruning calibrate_token_pruning(LlamaModel& model,
                                     const std::vector<std::vector<int32_t>>& windows, double ratio,
                                     int start_layer, bool progress) {
  const int layers = model.config().n_layers;
  TokenPruning p;
  p.ratio = ratio;
  p.start_layer = start_layer;
  p.validate(layers, "token pruning");
  if (!p.enabled()) return p;
  if (windows.empty()) fail("token pruning: no calibration windows");
  size_t longest = 0;
  for (const auto& w : windows) longest = std::max(longest, w.size());
  if (longest < 2) fail("token pruning: calibration windows of {} tokens", longest);
  PruningCalibration c(layers);
  {
    CalibrationScope scope(model, p, c);
    KVCache cache = model.make_cache(static_cast<int>(longest));
    Progress bar("pruning calibration", windows.size(), progress);
    for (size_t i = 0; i < windows.size(); ++i) {
      cache.clear();
      model.forward(windows[i], cache);
      bar.update(i + 1);
    }
    bar.finish();
  }
  p.thresholds = thresholds_from(c, start_layer);
  p.calib_windows = static_cast<int>(windows.size());
  p.calib_len = static_cast<int>(longest);
  return p;
}

}  // namespace lowbit
