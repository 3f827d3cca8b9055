#include "quant/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

#include "core/error.h"
#include "core/limits.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

// Records the statistics of layers first_layer .. first_layer + stats.size() - 1.
class StatsObserver final : public ActivationObserver {
 public:
  StatsObserver(std::span<LayerStats> stats, int first_layer, const CalibrationOptions& options,
                size_t windows)
      : stats_(stats), first_layer_(first_layer), options_(options), windows_(windows) {}

  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
               size_t cols) override {
    const auto index = static_cast<size_t>(layer - first_layer_);
    if (layer < first_layer_ || index >= stats_.size())
      fail("calibration: observed layer {} outside {}..{}", layer, first_layer_,
           first_layer_ + static_cast<int>(stats_.size()) - 1);
    SiteStats& s = stats_[index][static_cast<size_t>(site)];
    if (s.dim == 0) {
      s.dim = cols;
      s.absmax.assign(cols, 0.0f);
      if (options_.gram) s.gram.assign(cols * cols, 0.0);
    }
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        s.absmax[c] = std::max(s.absmax[c], std::fabs(x[r * cols + c]));
    const size_t window = rows > 0 ? s.tokens / rows : 0;  // every window has the same length
    s.tokens += rows;
    if (options_.gram) accumulate_gram(s, x, rows, cols);
    // Keep an even share of rows from every window, at positions drawn at random (the same for
    // every layer and site): fixed positions would over-represent the window's first token, whose
    // attention-sink activations are unlike the others.
    const size_t share = (static_cast<size_t>(options_.sample_rows) + windows_ - 1) / windows_;
    for (size_t r : sample_positions(window, rows, share)) {
      if (s.num_rows() >= static_cast<size_t>(options_.sample_rows)) break;
      s.rows.insert(s.rows.end(), x.begin() + static_cast<std::ptrdiff_t>(r * cols),
                    x.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols));
    }
  }

  // `count` distinct positions of 0..rows-1 (all of them if count >= rows), ascending, drawn from
  // the calibration seed and the window index.
  std::vector<size_t> sample_positions(size_t window, size_t rows, size_t count) const {
    std::vector<size_t> idx(rows);
    for (size_t i = 0; i < rows; ++i) idx[i] = i;
    count = std::min(count, rows);
    std::mt19937_64 rng(options_.seed * 0x9e3779b97f4a7c15ull + window + 1);
    for (size_t i = 0; i < count; ++i) std::swap(idx[i], idx[i + rng() % (rows - i)]);
    idx.resize(count);
    std::sort(idx.begin(), idx.end());
    return idx;
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

  std::span<LayerStats> stats_;
  int first_layer_;
  const CalibrationOptions& options_;
  size_t windows_;
};

}  // namespace

std::vector<std::vector<int32_t>> sample_calibration_windows(const Tokenizer& tokenizer,
                                                             const CalibrationOptions& o) {
  if (o.samples <= 0 || o.samples > limits::kMaxCalibrationSamples)
    fail("--calib-samples must be in [1, {}], got {}", limits::kMaxCalibrationSamples, o.samples);
  if (o.seq_len < 2 || o.seq_len > limits::kMaxPositions)
    fail("--calib-len must be in [2, {}], got {}", limits::kMaxPositions, o.seq_len);
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
  StatsObserver observer(stats.layers, 0, options, windows.size());
  const ObserverScope scope(model, observer);
  Progress progress("calibration", windows.size(), options.progress);
  size_t longest = 0;
  for (const auto& w : windows) longest = std::max(longest, w.size());
  KVCache cache = model.make_cache(static_cast<int>(longest));
  for (size_t i = 0; i < windows.size(); ++i) {
    cache.clear();
    model.forward(windows[i], cache);
    progress.update(i + 1);
  }
  progress.finish();
  return stats;
}

CalibrationStream::CalibrationStream(const LlamaModel& model,
                                     const std::vector<std::vector<int32_t>>& windows)
    : windows_(windows.size()),
      seq_len_(windows.empty() ? 0 : windows.front().size()),
      dim_(static_cast<size_t>(model.config().dim)) {
  if (windows_ == 0 || seq_len_ == 0) fail("calibration: no windows to calibrate on");
  for (const auto& w : windows)
    if (w.size() != seq_len_)
      fail("calibration: windows of {} and {} tokens; all must have one length", seq_len_,
           w.size());
  x_.resize(windows_ * seq_len_ * dim_);
  for (size_t i = 0; i < windows_; ++i)
    model.embed(windows[i], std::span(x_).subspan(i * seq_len_ * dim_, seq_len_ * dim_));
}

CalibrationStream CalibrationStream::mean_of(const LlamaModel& model,
                                             const std::vector<std::vector<int32_t>>& windows) {
  const CalibrationStream all(model, windows);  // validates the windows
  CalibrationStream mean(1, all.seq_len_, all.dim_);
  const size_t n = all.seq_len_ * all.dim_;
  std::vector<double> sum(n, 0.0);
  for (size_t w = 0; w < all.windows_; ++w)
    for (size_t i = 0; i < n; ++i) sum[i] += all.x_[w * n + i];
  for (size_t i = 0; i < n; ++i)
    mean.x_[i] = static_cast<float>(sum[i] / static_cast<double>(all.windows_));
  return mean;
}

void CalibrationStream::forward(LlamaModel& model, int layer, std::span<float> x,
                                ActivationObserver* observer,
                                const std::function<void()>& on_window) const {
  if (layer != next_layer_)
    fail("calibration: layer {} run out of order (next is {})", layer, next_layer_);
  std::optional<ObserverScope> scope;
  if (observer) scope.emplace(model, *observer);
  KVCache cache = model.make_layer_cache(static_cast<int>(seq_len_));
  for (size_t i = 0; i < windows_; ++i) {
    model.forward_layer(layer, x.subspan(i * seq_len_ * dim_, seq_len_ * dim_), seq_len_, cache);
    if (on_window) on_window();
  }
}

LayerStats CalibrationStream::run_layer(LlamaModel& model, int layer,
                                        const CalibrationOptions& options,
                                        const std::function<void()>& on_window) {
  LayerStats stats;
  StatsObserver observer(std::span(&stats, 1), layer, options, windows_);
  forward(model, layer, x_, &observer, on_window);
  ++next_layer_;
  return stats;
}

LayerStats CalibrationStream::observe_layer(LlamaModel& model, int layer,
                                            const CalibrationOptions& options) const {
  LayerStats stats;
  StatsObserver observer(std::span(&stats, 1), layer, options, windows_);
  std::vector<float> x = x_;  // the layer's output is thrown away
  forward(model, layer, x, &observer, {});
  return stats;
}

void CalibrationStream::advance_layer(LlamaModel& model, int layer) {
  forward(model, layer, x_, nullptr, {});
  ++next_layer_;
}

}  // namespace lowbit
