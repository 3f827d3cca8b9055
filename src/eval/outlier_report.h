#pragma once
// The report of `lowbit outliers --method`: one self-contained HTML file (inline SVG and CSS, no
// script, no network, no external font) with a summary table of every layer, site and transform
// stage, and per plotted layer and site one row of panels (eval/outlier_plot.h), reached from a
// layer index at the top.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "eval/outlier_stages.h"

namespace lowbit {

struct OutlierReportInfo {
  std::string model;   // as given on the command line
  std::string method;  // canonical name ("duquant+rtn")
  size_t windows = 0, seq_len = 0;
  std::vector<int> plot_layers;  // the layers with plots; empty: every layer
};

// &, <, >, " and ' as character references.
std::string html_escape(std::string_view text);

// One site's panels as an <svg> element.
std::string site_svg(const SiteStages& site);

std::string outlier_report_html(const std::vector<SiteStages>& sites,
                                const OutlierReportInfo& info);

// Writes the report atomically (no partial file on failure).
void write_outlier_report(const std::filesystem::path& path, const std::vector<SiteStages>& sites,
                          const OutlierReportInfo& info);

}  // namespace lowbit
