#pragma once
// Calibration: N sequences of L tokens drawn with a fixed seed from a text file, run through the
// full-precision model while an observer records, for every linear-input site of a layer, the
// per-channel max |x|, the Gram matrix X^T X (GPTQ's Hessian, up to a factor) and a sample of
// rows (DuQuant builds its rotations and AWQ searches its scales on real activations).
//
// The quantization pipeline calibrates layer by layer (CalibrationStream): it holds the residual
// stream of all N windows and pushes it through one decoder layer at a time, so memory is one
// layer's statistics plus the calibration activations, whatever the depth of the model.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "model/llama.h"
#include "text/tokenizer.h"

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

// The statistics of one layer's four input sites, indexed by ActivationSite.
using LayerStats = std::array<SiteStats, kNumSites>;

struct CalibrationStats {
  std::vector<LayerStats> layers;
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

// Whole-model calibration: every window through the full forward pass, every layer's statistics
// kept. Memory grows with depth; the pipeline uses CalibrationStream, which is tested to produce
// identical statistics.
CalibrationStats collect_calibration_stats(LlamaModel& model,
                                           const std::vector<std::vector<int32_t>>& windows,
                                           const CalibrationOptions& options);

// The residual stream of the calibration windows ([windows, L, dim] fp32), advanced one decoder
// layer at a time through the model as it is installed at that moment: callers may transform or
// quantize layer l after running it and before running l + 1.
class CalibrationStream {
 public:
  // Embeds every window (all of one length) with the model's embedding table as it is now.
  CalibrationStream(const LlamaModel& model, const std::vector<std::vector<int32_t>>& windows);

  // One sequence: the mean over the windows of their embeddings (DuQuant's authors fit their
  // rotations on the mean calibration sequence, propagated layer by layer).
  static CalibrationStream mean_of(const LlamaModel& model,
                                   const std::vector<std::vector<int32_t>>& windows);

  // Runs layer `layer` over every window, observing its inputs (Gram matrices when options.gram)
  // and replacing the stream by the layer's output. Layers must come in order 0, 1, ...
  // `on_window` is called after each window (progress).
  LayerStats run_layer(LlamaModel& model, int layer, const CalibrationOptions& options,
                       const std::function<void()>& on_window = {});

  // Observes layer `layer` as it is installed now without advancing the stream; advance_layer
  // then runs it (perhaps after it was quantized) without observing. Together they replace
  // run_layer where the statistics must come from one version of a layer and the stream must
  // continue through another.
  LayerStats observe_layer(LlamaModel& model, int layer, const CalibrationOptions& options) const;
  void advance_layer(LlamaModel& model, int layer);

  int next_layer() const { return next_layer_; }
  size_t windows() const { return windows_; }
  size_t seq_len() const { return seq_len_; }
  size_t bytes() const { return x_.size() * sizeof(float); }

 private:
  CalibrationStream(size_t windows, size_t seq_len, size_t dim)
      : windows_(windows), seq_len_(seq_len), dim_(dim), x_(windows * seq_len * dim) {}
  // Runs layer `layer` over every window of `x` (in place), observed by `observer` if not null.
  void forward(LlamaModel& model, int layer, std::span<float> x, ActivationObserver* observer,
               const std::function<void()>& on_window) const;

  size_t windows_ = 0, seq_len_ = 0, dim_ = 0;
  int next_layer_ = 0;
  std::vector<float> x_;
};

}  // namespace lowbit
