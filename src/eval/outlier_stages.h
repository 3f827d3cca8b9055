#pragma once
// Outlier statistics between the steps of a method's activation transform (`lowbit outliers
// --method`): for every layer and linear-input site, the per-channel max |x| over the calibration
// tokens of the full-precision model's input ("original"), of the input the transformed model
// computes ("folded": the changes a method folds into earlier weights, SmoothQuant's smoothing or
// QuaRot's residual rotation; only where they change the input), and after each step of the
// site's online transform (ActivationTransform::apply_step: DuQuant's smoothing, rotation,
// zigzag permutation and second rotation; QuaRot's online Hadamard). These are the per-channel
// magnitudes of the DuQuant paper's figures; the summary numbers of every stage are the ones the
// `lowbit outliers` table prints.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/outliers.h"
#include "model/llama.h"
#include "quant/quantize_options.h"
#include "text/tokenizer.h"

namespace lowbit {

struct StageOutliers {
  std::string name;                   // "original", "folded", "smoothed", "rotated (block 16)"
  SiteOutliers stats;                 // the `lowbit outliers` table's numbers
  std::vector<float> channel_absmax;  // per channel, max |x| over the tokens
};

struct SiteStages {
  int layer = 0;
  ActivationSite site = ActivationSite::kQkvInput;
  std::vector<StageOutliers> stages;  // original first, the quantizer's input last
};

// Runs the windows through `model` and returns, per layer and site (layer order, then site
// order), the statistics of the observed input (named `input_name`) and after each step of the
// site's online transform, applied step by step.
std::vector<SiteStages> measure_transform_steps(LlamaModel& model,
                                                const std::vector<std::vector<int32_t>>& windows,
                                                const std::string& input_name);

// The stages of `options.method` on a full-precision model: measures the model over the
// calibration windows of `options.calib` (those `lowbit quantize` draws), quantizes it in place
// with the method's transforms and every bit width at 16 (so the transformed model computes the
// same function and only the transforms differ: a weight quantizer does not run, so AWQ's
// scales are not shown), and measures it again step by step. `model` is left transformed.
std::vector<SiteStages> measure_method_stages(LlamaModel& model, const Tokenizer& tokenizer,
                                              QuantizeOptions options);

// Whether two per-channel maxima are the same input up to float rounding (relative to the
// larger maximum): the transformed model's input equals the original where nothing was folded.
bool same_channel_maxima(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace lowbit
