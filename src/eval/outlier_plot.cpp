#include "eval/outlier_plot.h"

#include <fmt/format.h>

#include <algorithm>

namespace lowbit {

std::vector<PlotBar> plot_bars(std::span<const float> v, size_t max_bars) {
  std::vector<PlotBar> bars;
  if (v.empty() || max_bars == 0) return bars;
  const size_t per = (v.size() + max_bars - 1) / max_bars;  // channels per bar
  for (size_t c0 = 0; c0 < v.size(); c0 += per) {
    const size_t c1 = std::min(v.size(), c0 + per);
    const float top = *std::max_element(v.begin() + static_cast<std::ptrdiff_t>(c0),
                                        v.begin() + static_cast<std::ptrdiff_t>(c1));
    bars.push_back({0.5 * double(c0 + c1 - 1), top});
  }
  return bars;
}

SitePlot layout_site_plot(const SiteStages& site) {
  SitePlot p;
  const double plot_w = kPanelWidth - kPlotLeft - kPlotRight;
  for (size_t i = 0; i < site.stages.size(); ++i) {
    const auto& st = site.stages[i];
    PanelScale s;
    s.left = double(i) * kPanelWidth + kPlotLeft;
    s.top = kPlotTop;
    s.width = plot_w;
    s.height = kPanelHeight - kPlotTop - kPlotBottom;
    s.channels = std::max<size_t>(1, st.channel_absmax.size());
    s.ymax = st.stats.absmax > 0 ? double(st.stats.absmax) : 1.0;
    p.panels.push_back(s);
    // Two bars per pixel column at most: finer than the eye, coarse enough to stay small.
    p.bars.push_back(plot_bars(st.channel_absmax, static_cast<size_t>(2 * plot_w)));
  }
  p.width = kPanelWidth * double(std::max<size_t>(1, site.stages.size()));
  p.height = kPanelHeight;
  return p;
}

std::string panel_caption(const StageOutliers& st) {
  return fmt::format("max {:.3g}, max/median {:.1f}", st.stats.absmax, st.stats.channel_ratio);
}

Rgb stage_colour(size_t stage) {
  static constexpr Rgb kPalette[] = {{0.45, 0.45, 0.45}, {0.84, 0.15, 0.16}, {0.12, 0.47, 0.71},
                                     {0.17, 0.63, 0.17}, {1.00, 0.50, 0.05}, {0.58, 0.40, 0.74},
                                     {0.55, 0.34, 0.29}};
  return kPalette[stage % std::size(kPalette)];
}

}  // namespace lowbit
