// The HTML report of `lowbit outliers --method`: bars map values linearly onto the plot area on
// each panel's own scale (0 to the stage's max), text is escaped, nothing is loaded from elsewhere,
// and the file is written atomically.
#include "eval/outlier_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
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

SiteStages two_stages(int layer = 0) {
  SiteStages s{layer, ActivationSite::kQkvInput, {}};
  s.stages.push_back(stage("original", {1, 2, 8, 3, 4, 0.5f, 2, 1}));
  s.stages.push_back(stage("rotated <&>", {2, 2, 2, 3, 2, 2, 1, 2}));
  return s;
}

struct Bar {
  double x, y0, y1;
};

// The vertical bars "M{x} {y0}V{y1}" of every series path, per panel.
std::vector<std::vector<Bar>> series_bars(const std::string& svg) {
  std::vector<std::vector<Bar>> out;
  const std::regex path(R"(class="series"[^>]* d="([^"]*)\")");
  const std::regex bar(R"(M([-0-9.]+) ([-0-9.]+)V([-0-9.]+))");
  for (auto p = std::sregex_iterator(svg.begin(), svg.end(), path); p != std::sregex_iterator();
       ++p) {
    out.emplace_back();
    const std::string d = (*p)[1];
    for (auto b = std::sregex_iterator(d.begin(), d.end(), bar); b != std::sregex_iterator(); ++b)
      out.back().push_back({std::stod((*b)[1]), std::stod((*b)[2]), std::stod((*b)[3])});
  }
  return out;
}

TEST(OutlierReport, BarsMapValuesLinearlyOnEachPanelsScale) {
  const SiteStages site = two_stages();
  const SitePlot plot = layout_site_plot(site);
  const auto bars = series_bars(site_svg(site));
  ASSERT_EQ(bars.size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    const PanelScale& a = plot.panels[p];
    const double ymax = p == 0 ? 8.0 : 3.0;  // the stage's largest value
    EXPECT_DOUBLE_EQ(a.ymax, ymax);
    ASSERT_EQ(bars[p].size(), 8u);
    const double step = a.width / 8;
    for (size_t c = 0; c < 8; ++c) {
      const float v = site.stages[p].channel_absmax[c];
      EXPECT_NEAR(bars[p][c].x, a.left + (double(c) + 0.5) * step, 0.01) << p << " " << c;
      EXPECT_NEAR(bars[p][c].y0, a.top + a.height, 0.01);
      EXPECT_NEAR(bars[p][c].y1, a.top + a.height * (1.0 - v / ymax), 0.01) << p << " " << c;
      EXPECT_GE(bars[p][c].x, a.left);
      EXPECT_LE(bars[p][c].x, a.left + a.width);
    }
  }
  // The largest value of each stage reaches the top of its plot area.
  EXPECT_NEAR(bars[0][2].y1, plot.panels[0].top, 0.01);
  EXPECT_NEAR(bars[1][3].y1, plot.panels[1].top, 0.01);
  EXPECT_NE(site_svg(site).find("max 8, max/median 4.0"), std::string::npos);
}

TEST(OutlierReport, ManyChannelsBinToTheirMaximum) {
  std::vector<float> v(1000, 1.0f);
  v[517] = 9.0f;
  const auto bars = plot_bars(v, 100);
  ASSERT_EQ(bars.size(), 100u);
  EXPECT_EQ(bars[51].value, 9.0f);  // channels 510..519
  EXPECT_DOUBLE_EQ(bars[51].channel, 514.5);
  EXPECT_EQ(bars[50].value, 1.0f);
  EXPECT_EQ(plot_bars(v, 2000).size(), 1000u);
  EXPECT_TRUE(plot_bars({}, 10).empty());
}

TEST(OutlierReport, EscapesText) {
  EXPECT_EQ(html_escape(R"(<a href="x">&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  const std::string svg = site_svg(two_stages());
  EXPECT_NE(svg.find("rotated &lt;&amp;&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("rotated <&>"), std::string::npos);
  const std::string html =
      outlier_report_html({two_stages()}, {.model = "<script>alert(1)</script>",
                                           .method = "duquant",
                                           .windows = 1,
                                           .seq_len = 8,
                                           .plot_layers = {}});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
}

TEST(OutlierReport, SelfContainedWithALayerIndexAndEveryLayerInTheTable) {
  const std::vector<SiteStages> sites = {two_stages(0), two_stages(1), two_stages(2)};
  const std::string html = outlier_report_html(
      sites, {.model = "m", .method = "duquant", .windows = 1, .seq_len = 8, .plot_layers = {1}});
  for (const char* banned : {"<script", "<link", "src=", "@import", "url(", "@font-face"})
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  // The only URL is the SVG namespace name, which is never fetched.
  const std::regex url(R"(https?://[^"]*)");
  for (auto m = std::sregex_iterator(html.begin(), html.end(), url); m != std::sregex_iterator();
       ++m)
    EXPECT_EQ(m->str(), "http://www.w3.org/2000/svg");
  // Plots for the selected layer only, reached from the index; the table has all three.
  EXPECT_NE(html.find("<a href=\"#layer-1\">"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"layer-1\">"), std::string::npos);
  EXPECT_EQ(html.find("id=\"layer-0\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"layer-2\""), std::string::npos);
  EXPECT_EQ(series_bars(html).size(), 2u);
  for (int l = 0; l < 3; ++l)
    EXPECT_NE(html.find("<tr><td>" + std::to_string(l) +
                        "</td><td class=\"l\">qkv_input</td>"
                        "<td class=\"l\">original</td><td>8</td><td>1</td><td>8</td>"),
              std::string::npos)
        << l;
}

TEST(OutlierReport, WrittenAtomically) {
  testing::TempDir dir;
  const std::vector<SiteStages> sites = {two_stages()};
  const OutlierReportInfo info{
      .model = "m", .method = "duquant", .windows = 1, .seq_len = 8, .plot_layers = {}};
  write_outlier_report(dir / "r.html", sites, info);
  EXPECT_EQ(testing::read_file(dir / "r.html"), outlier_report_html(sites, info));
  EXPECT_THROW(write_outlier_report(dir / "missing" / "r.html", sites, info), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

}  // namespace
}  // namespace lowbit
