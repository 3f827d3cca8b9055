#include "eval/outlier_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/atomic_file.h"
#include "eval/outlier_plot.h"

namespace lowbit {
namespace {

std::string css_colour(const Rgb& c) {
  const auto byte = [](double v) { return static_cast<int>(std::clamp(v, 0.0, 1.0) * 255 + 0.5); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

constexpr std::string_view kStyle = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 100em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.15em 0.5em; text-align: right; }
td.l, th.l { text-align: left; }
nav a { margin-right: 0.6em; }
svg { display: block; margin-bottom: 0.8em; }
section { margin-top: 1.5em; }
)";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string site_svg(const SiteStages& site) {
  const SitePlot p = layout_site_plot(site);
  std::string s =
      fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" )"
                  R"(viewBox="0 0 {:.0f} {:.0f}" font-family="sans-serif" font-size="11">)"
                  "\n",
                  p.width, p.height, p.width, p.height);
  for (size_t i = 0; i < p.panels.size(); ++i) {
    const PanelScale& a = p.panels[i];
    const StageOutliers& st = site.stages[i];
    const std::string colour = css_colour(stage_colour(i));
    s += fmt::format(R"(<g class="panel" data-stage="{}">)"
                     "\n",
                     i);
    s += fmt::format(
        R"(<rect class="plot-area" x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" )"
        R"(fill="#fafafa" stroke="#999"/>)"
        "\n",
        a.left, a.top, a.width, a.height);
    s += fmt::format(R"(<text x="{:.2f}" y="14" font-weight="bold">{}. {}</text>)"
                     "\n",
                     a.left, i, html_escape(st.name));
    // The y axis: 0 and the row's common maximum; the x axis: the first and last channel.
    s += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="end">{:.3g}</text>)"
                     "\n",
                     a.left - 4, a.top + 4, a.ymax);
    s += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="end">0</text>)"
                     "\n",
                     a.left - 4, a.bottom() + 4);
    s += fmt::format(
        R"(<text x="{:.2f}" y="{:.2f}">0</text><text x="{:.2f}" y="{:.2f}" )"
        R"(text-anchor="end">{}</text><text x="{:.2f}" y="{:.2f}" text-anchor="middle">)"
        R"({})</text>)"
        "\n",
        a.left, a.bottom() + 13, a.left + a.width, a.bottom() + 13, a.channels - 1,
        a.left + a.width / 2, a.bottom() + 25, html_escape(panel_caption(st)));
    // One path of vertical bars from the baseline, as thick as a channel's slot allows.
    const double slot = a.width / double(std::max<size_t>(1, p.bars[i].size()));
    s += fmt::format(R"(<path class="series" fill="none" stroke="{}" stroke-width="{:.2f}" d=")",
                     colour, std::clamp(0.8 * slot, 1.0, 6.0));
    for (const PlotBar& b : p.bars[i])
      s += fmt::format("M{:.2f} {:.2f}V{:.2f}", a.x(b.channel), a.bottom(), a.y(b.value));
    s += "\"/>\n</g>\n";
  }
  s += "</svg>\n";
  return s;
}

std::string outlier_report_html(const std::vector<SiteStages>& sites,
                                const OutlierReportInfo& info) {
  std::set<int> layers, plotted(info.plot_layers.begin(), info.plot_layers.end());
  for (const auto& s : sites) layers.insert(s.layer);
  const auto plots = [&](int layer) { return plotted.empty() || plotted.count(layer) > 0; };
  const std::string title = fmt::format("Activation outliers: {} on {}", info.method, info.model);
  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
      html_escape(title), kStyle, html_escape(title));
  h += fmt::format(
      "<p>Calibration: {} windows of {} tokens (the windows <code>lowbit quantize</code> draws). "
      "Per layer and linear-input site, each panel shows every channel's max |x| over the "
      "calibration tokens after one stage of the method's activation transform, each on its own "
      "y scale (0 to the stage's max |x|; compare shapes, read magnitudes from the captions): "
      "<b>original</b> is the full-precision model's input, <b>folded</b> the input "
      "after changes the method folds into earlier weights (when there are any), the other "
      "stages the steps of the online transform; the last panel is what the quantizer sees. "
      "<b>channel max/median</b> = largest per-channel max |x| over the median channel's, "
      "<b>token max/median</b> = the same over tokens (the numbers of <code>lowbit "
      "outliers</code>).</p>\n",
      info.windows, info.seq_len);
  h += "<nav>Layers:";
  for (int l : layers)
    if (plots(l)) h += fmt::format(" <a href=\"#layer-{}\">{}</a>", l, l);
  h += " <a href=\"#summary\">summary table</a></nav>\n";
  for (int l : layers) {
    if (!plots(l)) continue;
    h += fmt::format("<section id=\"layer-{}\">\n<h2>Layer {}</h2>\n", l, l);
    for (const auto& s : sites)
      if (s.layer == l)
        h += fmt::format("<h3>{}</h3>\n{}", html_escape(site_name(s.site)), site_svg(s));
    h += "</section>\n";
  }
  h += "<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n<tr><th>layer</th><th "
       "class=\"l\">site</th><th class=\"l\">stage</th><th>channels</th><th>tokens</th><th>max "
       "abs</th><th>channel max/median</th><th>token max/median</th></tr>\n";
  for (const auto& s : sites)
    for (const auto& st : s.stages)
      h += fmt::format(
          "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>"
          "<td>{:.3g}</td><td>{:.1f}</td><td>{:.1f}</td></tr>\n",
          s.layer, html_escape(site_name(s.site)), html_escape(st.name), st.stats.channels,
          st.stats.tokens, st.stats.absmax, st.stats.channel_ratio, st.stats.token_ratio);
  h += "</table>\n</section>\n</body>\n</html>\n";
  return h;
}

void write_outlier_report(const std::filesystem::path& path, const std::vector<SiteStages>& sites,
                          const OutlierReportInfo& info) {
  const std::string html = outlier_report_html(sites, info);
  write_file_atomically(path, [&](std::ostream& out) { out << html; });
}

}  // namespace lowbit
