#pragma once
// The geometry of the outlier plots, shared by the HTML report's SVG and the PNG export so both
// draw the same thing: per layer and site one row of panels, one per stage of the transform,
// channels on x and the channel's max |x| on y. Each panel has its own y scale, 0 to the stage's
// max |x|: smoothing moves scale into the weights, so magnitudes across stages say little about
// quantization, while the shape (a few spikes against a flat one) is what a per-token scale
// suffers from; the caption gives the stage's max |x| and channel max/median.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "eval/outlier_stages.h"

namespace lowbit {

struct PanelScale {
  double left = 0, top = 0, width = 0, height = 0;  // the plot area, in pixels
  size_t channels = 1;
  double ymax = 1;  // the value at the top of the plot area
  // Channel c is drawn at the centre of its slot; v = 0 at the bottom, ymax at the top.
  double x(double channel) const { return left + (channel + 0.5) * width / double(channels); }
  double y(double value) const { return top + height - value / ymax * height; }
  double bottom() const { return top + height; }
};

// One vertical bar: a channel (or the max of a run of neighbouring channels when there are more
// channels than the panel has pixels for: the envelope a denser drawing would show).
struct PlotBar {
  double channel;  // the centre of the channels it covers
  float value;
};

struct SitePlot {
  double width = 0, height = 0;            // the whole figure
  std::vector<PanelScale> panels;          // one per stage, left to right
  std::vector<std::vector<PlotBar>> bars;  // per panel
};

inline constexpr double kPanelWidth = 280, kPanelHeight = 190;
inline constexpr double kPlotLeft = 52, kPlotRight = 10, kPlotTop = 26, kPlotBottom = 30;

// At most `max_bars` bars: each the max over consecutive channels.
std::vector<PlotBar> plot_bars(std::span<const float> channel_absmax, size_t max_bars);

SitePlot layout_site_plot(const SiteStages& site);

// Under a panel: "max 4.23, max/median 2.0": the max |x| and channel max/median of the table.
std::string panel_caption(const StageOutliers& stage);

// A stage's colour (RGB in [0, 1]): stage 0 grey, then a fixed palette.
struct Rgb {
  double r, g, b;
};
Rgb stage_colour(size_t stage);

}  // namespace lowbit
