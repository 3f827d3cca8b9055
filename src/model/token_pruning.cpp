#include "model/token_pruning.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace lowbit {

void TokenPruning::validate(int n_layers, std::string_view where) const {
  if (!(ratio >= 0.0 && ratio < 1.0)) fail("{}: --prune-ratio {} must be in [0, 1)", where, ratio);
  if (!enabled()) return;
  if (start_layer < 1 || start_layer > n_layers - 1)
    fail(
        "{}: --prune-start-layer {} must be in 1..{} (the model has {} layers; the first layer's "
        "input is never pruned)",
        where, start_layer, n_layers - 1, n_layers);
  if (calibrated() && thresholds.size() != static_cast<size_t>(n_layers))
    fail("{}: {} pruning thresholds for {} layers", where, thresholds.size(), n_layers);
  for (const float t : thresholds)
    if (!std::isfinite(t) || t < 0.0f || t > 1.0f)
      fail("{}: pruning threshold {} is not a probability", where, t);
}

double pruned_fraction_before(double ratio, int start_layer, int n_layers, int layer) {
  if (ratio <= 0 || layer < start_layer) return 0.0;
  return ratio * static_cast<double>(layer - start_layer + 1) /
         static_cast<double>(n_layers - start_layer);
}

double pruned_work_fraction(double ratio, int start_layer, int n_layers) {
  double sum = 0;
  for (int l = 0; l < n_layers; ++l) sum += pruned_fraction_before(ratio, start_layer, n_layers, l);
  return sum / n_layers;
}

void select_kept_rows(const TokenPruning& p, int layer, int n_layers, size_t original_rows,
                      std::span<const float> importance, std::span<const int32_t> positions,
                      PruningCalibration* calibration, std::vector<uint32_t>& kept) {
  const size_t n = importance.size();
  kept.clear();
  const auto is_protected = [&](size_t r) { return positions[r] == 0 || r + 1 == n; };
  if (calibration == nullptr) {
    const float tau = p.thresholds[static_cast<size_t>(layer)];
    for (size_t r = 0; r < n; ++r)
      if (is_protected(r) || importance[r] >= tau) kept.push_back(static_cast<uint32_t>(r));
    return;
  }
  // Exact counts: keep original - round(r_l * original) rows.
  const double r = pruned_fraction_before(p.ratio, p.start_layer, n_layers, layer);
  const auto target =
      original_rows - static_cast<size_t>(std::llround(r * static_cast<double>(original_rows)));
  std::vector<uint32_t> eligible;
  for (size_t i = 0; i < n; ++i)
    if (!is_protected(i)) eligible.push_back(static_cast<uint32_t>(i));
  const size_t drop = std::min(eligible.size(), n > target ? n - target : 0);
  std::stable_sort(eligible.begin(), eligible.end(),
                   [&](uint32_t a, uint32_t b) { return importance[a] < importance[b]; });
  auto& pool = calibration->eligible[static_cast<size_t>(layer)];
  for (const uint32_t i : eligible) pool.push_back(importance[i]);
  calibration->dropped[static_cast<size_t>(layer)] += static_cast<int64_t>(drop);
  std::vector<bool> goes(n, false);
  for (size_t i = 0; i < drop; ++i) goes[eligible[i]] = true;
  for (size_t i = 0; i < n; ++i)
    if (!goes[i]) kept.push_back(static_cast<uint32_t>(i));
}

std::vector<float> thresholds_from(const PruningCalibration& c, int start_layer) {
  std::vector<float> tau(c.eligible.size(), 0.0f);
  for (size_t l = static_cast<size_t>(start_layer); l < c.eligible.size(); ++l) {
    std::vector<float> v = c.eligible[l];
    std::sort(v.begin(), v.end());
    const auto k = static_cast<size_t>(c.dropped[l]);
    if (v.empty() || k == 0) {
      tau[l] = 0.0f;  // nothing went: nothing is below 0
    } else if (k >= v.size()) {
      tau[l] = std::nextafter(v.back(), 2.0f);
    } else {
      tau[l] = v[k - 1] + (v[k] - v[k - 1]) / 2;  // v[k-1] < tau <= v[k] unless they are equal
    }
  }
  return tau;
}

}  // namespace lowbit
