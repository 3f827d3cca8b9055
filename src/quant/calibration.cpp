#include "quant/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "eval/perplexity.h"
#include "io/text_file.h"

namespace lowbit {
namespace {

class StatsObserver final : public ActivationObserver {
 public:
  StatsObserver(CalibrationStats& stats, const CalibrationOptions& options, size_t windows)
      : stats_(stats), options_(options), windows_(windows) {}

  void set_window(size_t w) { window_ = w; }

  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
               size_t cols) override {
    SiteStats& s = stats_.at(layer, site);
    if (s.dim == 0) {
      s.dim = cols;
      s.absmax.assign(cols, 0.0f);
      if (options_.gram) s.gram.assign(cols * cols, 0.0);
    }
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        s.absmax[c] = std::max(s.absmax[c], std::fabs(x[r * cols + c]));
    s.tokens += rows;
    if (options_.gram) accumulate_gram(s, x, rows, cols);
    // Keep an even share of rows from every window: evenly spaced positions.
    const size_t share = (static_cast<size_t>(options_.sample_rows) + windows_ - 1) / windows_;
    for (size_t k = 0; k < share && k < rows; ++k) {
      if (s.num_rows() >= static_cast<size_t>(options_.sample_rows)) break;
      const size_t r = k * rows / share;
      s.rows.insert(s.rows.end(), x.begin() + static_cast<std::ptrdiff_t>(r * cols),
                    x.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols));
    }
  }

 private:
  static void accumulate_gram(SiteStats& s, std::span<const float> x, size_t rows, size_t cols) {
    // X^T X in fp32 per window (exact enough: one window's sum), accumulated in double.
    std::vector<float> g(cols * cols);
    const int n = static_cast<int>(cols);
    thread_pool().parallel_for(cols, 64, [&](size_t c0, size_t c1) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(c1 - c0), n,
                  static_cast<int>(rows), 1.0f, x.data() + c0, n, x.data(), n, 0.0f,
                  g.data() + c0 * cols, n);
    });
    for (size_t i = 0; i < g.size(); ++i) s.gram[i] += g[i];
  }

  CalibrationStats& stats_;
  const CalibrationOptions& options_;
  size_t windows_;
  size_t window_ = 0;
};

}  // namespace

std::vector<std::vector<int32_t>> sample_calibration_windows(const Tokenizer& tokenizer,
                                                             const CalibrationOptions& o) {
  if (o.samples <= 0) fail("--calib-samples must be positive, got {}", o.samples);
  if (o.seq_len < 2) fail("--calib-len must be at least 2, got {}", o.seq_len);
  const std::string text = read_text_file(o.file);
  const auto ids = tokenize_document(tokenizer, text);
  const size_t L = static_cast<size_t>(o.seq_len);
  if (ids.size() < L)
    fail("{}: calibration text has {} tokens, fewer than one sequence of {}", o.file.string(),
         ids.size(), L);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<size_t> start(0, ids.size() - L);
  std::vector<std::vector<int32_t>> windows;
  for (int i = 0; i < o.samples; ++i) {
    const size_t s = start(rng);
    windows.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(s),
                         ids.begin() + static_cast<std::ptrdiff_t>(s + L));
  }
  return windows;
}

CalibrationStats collect_calibration_stats(LlamaModel& model,
                                           const std::vector<std::vector<int32_t>>& windows,
                                           const CalibrationOptions& options) {
  CalibrationStats stats;
  stats.layers.resize(static_cast<size_t>(model.config().n_layers));
  StatsObserver observer(stats, options, windows.size());
  model.set_observer(&observer);
  Progress progress("calibration", windows.size(), options.progress);
  try {
    size_t longest = 0;
    for (const auto& w : windows) longest = std::max(longest, w.size());
    KVCache cache = model.make_cache(static_cast<int>(longest));
    for (size_t i = 0; i < windows.size(); ++i) {
      observer.set_window(i);
      cache.clear();
      model.forward(windows[i], cache);
      progress.update(i + 1);
    }
  } catch (...) {
    model.set_observer(nullptr);
    throw;
  }
  progress.finish();
  model.set_observer(nullptr);
  return stats;
}

}  // namespace lowbit
