#pragma once
// Token-pruning flags (model/token_pruning.h), shared by generate, perplexity, eval, bench and
// quantize: --prune-ratio beta, --prune-start-layer L, and the text the per-layer thresholds are
// calibrated on when the model file does not store them for that beta and L.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "io/model_loader.h"

namespace lowbit::cli {

struct PruneFlags {
  std::optional<double> ratio;
  std::optional<int> start_layer;
  std::string calib;      // --prune-calib FILE
  int calib_samples = 8;  // windows
  int calib_len = 0;      // tokens per window (0: the command's context)
  uint64_t seed = 0;

  bool asked() const { return ratio.has_value() && *ratio != 0.0; }
  // The checks that need no model (beta's range, flags that need --prune-ratio): fail fast.
  void check() const;
};

void add_prune_flags(CLI::App& cmd, PruneFlags& f);

// Sets the model's token pruning from the flags: the setting a .lowbit file stores when the flags
// ask for nothing else (or for the same beta and L), otherwise thresholds calibrated on
// --prune-calib with windows of calib_len (or `default_len`) tokens. Prints one line to stderr
// saying what pruning runs. Returns whether pruning is on.
bool apply_prune_flags(const PruneFlags& f, LoadedModel& m, int default_len, bool progress);

// The line describing a model's pruning setting ("" when off).
std::string describe_pruning(const LoadedModel& m);

}  // namespace lowbit::cli
