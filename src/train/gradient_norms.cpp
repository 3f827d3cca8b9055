#include "train/gradient_norms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lowbit::train {
namespace {

constexpr const char* kNames[kProjections] = {"q", "k", "v", "o", "gate", "up", "down"};
constexpr const char* kColors[kProjections] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                               "#9467bd", "#8c564b", "#e377c2"};

}  // namespace

GradNormStats gradient_norm_stats(const QatReport& report, size_t layers) {
  GradNormStats s;
  s.layers = layers;
  const size_t n = layers * kProjections;
  s.mean.assign(n, -1.0);
  s.cv.assign(n, -1.0);
  if (report.grad_sq.empty()) return s;
  for (size_t i = 0; i < n; ++i) {
    double sum = 0, sq = 0;
    size_t count = 0;
    for (const auto& step : report.grad_sq) {
      if (i >= step.size() || step[i] < 0) continue;
      sum += step[i];
      sq += step[i] * step[i];
      ++count;
    }
    if (count == 0) continue;
    const double mean = sum / static_cast<double>(count);
    const double var = std::max(0.0, sq / static_cast<double>(count) - mean * mean);
    s.mean[i] = mean;
    s.cv[i] = mean > 0 ? std::sqrt(var) / mean : 0.0;
  }
  return s;
}

std::string gradient_norm_table(const GradNormStats& s) {
  std::string out = "| layer |";
  for (const char* name : kNames) out += fmt::format(" {} |", name);
  out += "\n| ---: |";
  for (size_t k = 0; k < kProjections; ++k) out += " ---: |";
  out += "\n";
  std::vector<double> avg(kProjections, 0.0);
  std::vector<size_t> cnt(kProjections, 0);
  for (size_t l = 0; l < s.layers; ++l) {
    out += fmt::format("| {} |", l);
    for (size_t k = 0; k < kProjections; ++k) {
      const double m = s.mean[l * kProjections + k];
      if (m < 0) {
        out += " frozen |";
        continue;
      }
      out += fmt::format(" {:.3g} ({:.2f}) |", m, s.cv[l * kProjections + k]);
      avg[k] += m;
      ++cnt[k];
    }
    out += "\n";
  }
  out += "| mean |";
  for (size_t k = 0; k < kProjections; ++k)
    out += cnt[k] ? fmt::format(" {:.3g} |", avg[k] / static_cast<double>(cnt[k])) : " frozen |";
  return out + "\n";
}

std::string gradient_norm_svg(const QatReport& report, size_t layers) {
  constexpr double kW = 720, kH = 420, kLeft = 70, kRight = 110, kTop = 30, kBottom = 50;
  const size_t steps = report.grad_sq.size();
  // Series: per projection, the mean over layers at each step.
  std::vector<std::vector<double>> series(kProjections);
  double lo = 1e300, hi = 0;
  for (size_t k = 0; k < kProjections; ++k)
    for (const auto& step : report.grad_sq) {
      double sum = 0;
      size_t count = 0;
      for (size_t l = 0; l < layers; ++l) {
        const double v = step[l * kProjections + k];
        if (v >= 0) sum += v, ++count;
      }
      const double v = count ? sum / static_cast<double>(count) : -1.0;
      series[k].push_back(v);
      if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  if (hi <= 0) lo = 1e-6, hi = 1;
  const double llo = std::floor(std::log10(lo)), lhi = std::ceil(std::log10(hi)) + (lo == hi);
  const auto x = [&](size_t i) {
    return kLeft + (kW - kLeft - kRight) *
                       (steps > 1 ? static_cast<double>(i) / static_cast<double>(steps - 1) : 0.5);
  };
  const auto y = [&](double v) {
    return kTop + (kH - kTop - kBottom) * (lhi - std::log10(v)) / (lhi - llo);
  };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"18\" font-size=\"14\">Squared gradient norm per projection (mean over "
      "{} layers)</text>\n",
      kW, kH, kLeft, layers);
  for (double e = llo; e <= lhi; e += 1) {
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" "
        "y=\"{:.1f}\" text-anchor=\"end\">1e{}</text>\n",
        kLeft, kW - kRight, y(std::pow(10, e)), y(std::pow(10, e)), kLeft - 6,
        y(std::pow(10, e)) + 4, static_cast<int>(e));
  }
  svg +=
      fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">training step (1..{})</text>\n",
                  (kLeft + kW - kRight) / 2, kH - 15, steps);
  for (size_t k = 0; k < kProjections; ++k) {
    std::string points;
    for (size_t i = 0; i < steps; ++i)
      if (series[k][i] > 0) points += fmt::format("{:.1f},{:.1f} ", x(i), y(series[k][i]));
    if (points.empty()) {
      svg +=
          fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{} (frozen)</text>\n", kW - kRight + 8,
                      kTop + 18 * static_cast<double>(k), kColors[k], kNames[k]);
      continue;
    }
    svg +=
        fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
                    kColors[k], points);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", kW - kRight + 8,
                       kTop + 18 * static_cast<double>(k), kColors[k], kNames[k]);
  }
  return svg + "</svg>\n";
}

}  // namespace lowbit::train
