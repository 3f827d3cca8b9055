// PNG export of the outlier plots: decoded back with cairo, every bar of every panel has its
// stage's colour inside its panel up to its value and the plot background above it.
#include "eval/outlier_png.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "eval/outlier_plot.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

StageOutliers stage(std::string name, std::vector<float> channel_max) {
  OutlierAccumulator acc;
  acc.add(channel_max, 1, channel_max.size());
  return {std::move(name), acc.summary(0, ActivationSite::kQkvInput), std::move(channel_max)};
}

SiteStages three_stages(int layer, ActivationSite site) {
  SiteStages s{layer, site, {}};
  s.stages.push_back(stage("original", {1, 2, 8, 3, 4, 0.5f, 2, 1}));
  s.stages.push_back(stage("smoothed", {2, 2, 4, 3, 2, 2, 1, 2}));
  s.stages.push_back(stage("rotated", {2.5f, 2, 2, 3, 2, 2.2f, 1.5f, 2}));
  return s;
}

bool close(uint32_t pixel, const Rgb& c) {
  const auto near = [](uint32_t byte, double v) {
    return std::abs(int(byte) - int(v * 255 + 0.5)) <= 2;
  };
  return near((pixel >> 16) & 0xff, c.r) && near((pixel >> 8) & 0xff, c.g) &&
         near(pixel & 0xff, c.b);
}

TEST(OutlierPng, EveryBarIsInItsPanelUpToItsValue) {
  testing::TempDir dir;
  const SiteStages site = three_stages(3, ActivationSite::kDownInput);
  write_site_png(dir / "p.png", site);
  const PngImage img = read_png(dir / "p.png");
  const SitePlot plot = layout_site_plot(site);
  ASSERT_EQ(img.width, static_cast<int>(plot.width));
  ASSERT_EQ(img.height, static_cast<int>(plot.height));
  const Rgb background{0xfa / 255.0, 0xfa / 255.0, 0xfa / 255.0};
  for (size_t p = 0; p < plot.panels.size(); ++p) {
    const PanelScale& a = plot.panels[p];
    ASSERT_EQ(plot.bars[p].size(), 8u);
    for (const PlotBar& b : plot.bars[p]) {
      // Sample the pixel whose centre is nearest the bar's axis, well inside its width (6 px),
      // halfway up and 3 px above its end: away from the anti-aliased edges.
      const int x = static_cast<int>(std::floor(a.x(b.channel)));
      const double top = a.y(b.value);
      ASSERT_GT(x, a.left);
      ASSERT_LT(x, a.left + a.width);
      const int mid = static_cast<int>(std::floor(0.5 * (top + a.bottom())));
      EXPECT_TRUE(close(img.at(x, mid), stage_colour(p)))
          << "panel " << p << " channel " << b.channel << " pixel " << std::hex << img.at(x, mid);
      const int above = static_cast<int>(std::floor(top)) - 3;
      if (above > a.top + 2) {
        EXPECT_TRUE(close(img.at(x, above), background))
            << "panel " << p << " channel " << b.channel << " pixel " << std::hex
            << img.at(x, above);
      }
    }
  }
  // Each stage's largest value reaches the top of its plot area: the pixel just below the top.
  const size_t largest[] = {2, 2, 3};
  for (size_t p = 0; p < 3; ++p) {
    const PanelScale& a = plot.panels[p];
    EXPECT_TRUE(close(
        img.at(static_cast<int>(std::floor(a.x(double(largest[p])))), static_cast<int>(a.top) + 3),
        stage_colour(p)))
        << p;
  }
}

TEST(OutlierPng, OneFilePerPlottedLayerAndSite) {
  testing::TempDir dir;
  std::vector<SiteStages> sites;
  for (int l = 0; l < 3; ++l)
    for (ActivationSite s : {ActivationSite::kQkvInput, ActivationSite::kDownInput})
      sites.push_back(three_stages(l, s));
  const auto written = write_outlier_pngs(dir / "png", sites, {0, 2});
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[0], dir / "png" / "layer00_qkv_input.png");
  EXPECT_EQ(written[3], dir / "png" / "layer02_down_input.png");
  for (const auto& p : written) EXPECT_EQ(read_png(p).width, static_cast<int>(3 * kPanelWidth));
  EXPECT_FALSE(std::filesystem::exists(dir / "png" / "layer01_qkv_input.png"));
  EXPECT_EQ(write_outlier_pngs(dir / "all", sites, {}).size(), 6u);
}

TEST(OutlierPng, BadInputFails) {
  testing::TempDir dir;
  testing::write_file(dir / "not.png", "not a png");
  EXPECT_NE(testing::error_of([&] { read_png(dir / "not.png"); }).find("not.png"),
            std::string::npos);
  EXPECT_THROW(read_png(dir / "missing.png"), Error);
  EXPECT_NE(testing::error_of([&] { write_outlier_pngs(dir / "not.png", {}, {}); }).find("folder"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
