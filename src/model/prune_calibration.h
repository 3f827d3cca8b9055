#pragma once
// Calibrating token pruning's per-layer thresholds (model/token_pruning.h) on calibration text.
#include <cstdint>
#include <vector>

#include "model/llama.h"

namespace lowbit {

// Runs every window (each from an empty cache) with the exact r_l schedule and returns the
// setting with its thresholds. The model's own pruning setting is restored afterwards.
TokenPruning calibrate_token_pruning(LlamaModel& model,
                                     const std::vector<std::vector<int32_t>>& windows, double ratio,
                                     int start_layer, bool progress = false);

}  // namespace lowbit
