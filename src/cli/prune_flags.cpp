#include "cli/prune_flags.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "model/prune_calibration.h"
#include "quant/calibration.h"

namespace lowbit::cli {

void add_prune_flags(CLI::App& cmd, PruneFlags& f) {
  cmd.add_option("--prune-ratio", f.ratio,
                 "Agile-Quant token pruning of prefills: fraction beta in [0, 1) of the prompt's "
                 "tokens gone before the last layer (0 = off; default: the model file's)");
  cmd.add_option("--prune-start-layer", f.start_layer,
                 "first layer whose input is pruned, 1..layers-1 (default: layers / 2)");
  cmd.add_option("--prune-calib", f.calib,
                 "text the per-layer pruning thresholds are calibrated on (needed unless the "
                 "model file stores them for this ratio and start layer)");
  cmd.add_option("--prune-calib-samples", f.calib_samples, "pruning calibration windows")
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--prune-calib-len", f.calib_len,
                 "tokens per pruning calibration window (0: the command's context)")
      ->check(CLI::Range(0, 1 << 20));
}

void PruneFlags::check() const {
  if (ratio && !(*ratio >= 0.0 && *ratio < 1.0)) fail("--prune-ratio {} must be in [0, 1)", *ratio);
  if (!ratio && (start_layer || !calib.empty()))
    fail("--prune-start-layer and --prune-calib need --prune-ratio");
}

std::string describe_pruning(const LoadedModel& m) {
  const TokenPruning& p = m.model->token_pruning();
  if (!p.enabled()) return "";
  return fmt::format(
      "token pruning: ratio {} from layer {} of {}, thresholds calibrated on {} x {} tokens "
      "(schedule removes {:.1f}% of token-layers)",
      p.ratio, p.start_layer, m.model->config().n_layers, p.calib_windows, p.calib_len,
      100 * pruned_work_fraction(p.ratio, p.start_layer, m.model->config().n_layers));
}

bool apply_prune_flags(const PruneFlags& f, LoadedModel& m, int default_len, bool progress) {
  f.check();
  LlamaModel& model = *m.model;
  const int layers = model.config().n_layers;
  const TokenPruning stored = model.token_pruning();
  if (!f.ratio) {
    if (stored.enabled())
      fmt::print(stderr, "{} (stored in the model file)\n", describe_pruning(m));
    return stored.enabled();
  }
  TokenPruning want;
  want.ratio = *f.ratio;
  want.start_layer = f.start_layer.value_or(
      stored.enabled() && stored.ratio == want.ratio ? stored.start_layer : layers / 2);
  want.validate(layers, "token pruning");
  if (!want.enabled()) {
    model.set_token_pruning({});
    return false;
  }
  if (stored.enabled() && stored.ratio == want.ratio && stored.start_layer == want.start_layer &&
      f.calib.empty()) {
    fmt::print(stderr, "{} (stored in the model file)\n", describe_pruning(m));
    return true;
  }
  if (f.calib.empty())
    fail(
        "--prune-ratio {} --prune-start-layer {}: the model stores no thresholds for them; give "
        "--prune-calib FILE to calibrate them",
        want.ratio, want.start_layer);
  CalibrationOptions o;
  o.file = f.calib;
  o.samples = f.calib_samples;
  o.seq_len = std::min(f.calib_len > 0 ? f.calib_len : default_len, model.config().max_seq_len);
  o.seed = f.seed;
  const auto windows = sample_calibration_windows(*m.tokenizer, o);
  model.set_token_pruning(
      calibrate_token_pruning(model, windows, want.ratio, want.start_layer, progress));
  fmt::print(stderr, "{}\n", describe_pruning(m));
  return true;
}

}  // namespace lowbit::cli
