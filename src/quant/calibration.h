#pragma once
// Calibration: N sequences of L tokens drawn with a fixed seed from a text file, run through the
// full-precision model while an observer records, for every linear-input site of every layer,
// the per-channel max |x|, the Gram matrix X^T X (GPTQ's Hessian, up to a factor) and a sample of
// rows (DuQuant builds its rotations and AWQ searches its scales on real activations).
#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "io/tokenizer.h"
#include "model/llama.h"

namespace lowbit {

struct CalibrationOptions {
  std::filesystem::path file;
  int samples = 128;
  int seq_len = 512;
  uint64_t seed = 0;
  int sample_rows = 512;  // activation rows kept per site (spread over the sequences)
  bool gram = true;       // collect X^T X (needed by GPTQ)
  bool progress = true;
};

constexpr size_t kNumSites = 4;  // ActivationSite values

struct SiteStats {
  size_t dim = 0;
  size_t tokens = 0;
  std::vector<float> absmax;  // [dim]
  std::vector<double> gram;   // [dim, dim] or empty
  std::vector<float> rows;    // [n, dim] sampled activation rows
  size_t num_rows() const { return dim ? rows.size() / dim : 0; }
};

struct CalibrationStats {
  std::vector<std::array<SiteStats, kNumSites>> layers;
  SiteStats& at(int layer, ActivationSite site) {
    return layers[static_cast<size_t>(layer)][static_cast<size_t>(site)];
  }
  const SiteStats& at(int layer, ActivationSite site) const {
    return layers[static_cast<size_t>(layer)][static_cast<size_t>(site)];
  }
};

// Draws the calibration windows: random start offsets in [BOS] + encode(file), reproducible by
// seed. Throws if the file has fewer tokens than one sequence.
std::vector<std::vector<int32_t>> sample_calibration_windows(const Tokenizer& tokenizer,
                                                             const CalibrationOptions& options);

CalibrationStats collect_calibration_stats(LlamaModel& model,
                                           const std::vector<std::vector<int32_t>>& windows,
                                           const CalibrationOptions& options);

}  // namespace lowbit
