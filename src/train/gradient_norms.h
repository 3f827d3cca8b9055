#pragma once
// The signal-propagation view of "Oh! We Freeze" (Bhardwaj et al., section 3): per layer and per
// projection kind, the squared Frobenius norm of the weight gradient over training. The paper
// freezes o_proj and v_proj because theirs are the largest and least stable; this is the same
// measurement on the user's model, as a table and as an SVG chart.
#include <string>

#include "train/kd_qat.h"

namespace lowbit::train {

struct GradNormStats {
  size_t layers = 0;
  // [layer * kProjections + projection]: mean over steps and coefficient of variation (std / mean);
  // -1 where the projection was frozen.
  std::vector<double> mean, cv;
};

GradNormStats gradient_norm_stats(const QatReport& report, size_t layers);

// Markdown: a row per layer, a column per projection (mean, with the coefficient of variation in
// parentheses), and a last row averaging the layers.
std::string gradient_norm_table(const GradNormStats& stats);

// A self-contained SVG line chart: per projection kind, the squared gradient norm averaged over
// layers at every step, on a log scale.
std::string gradient_norm_svg(const QatReport& report, size_t layers);

}  // namespace lowbit::train
