// Calibration: the layer-by-layer stream the pipeline uses must see exactly what a whole-model
// pass sees (same statistics, bit for bit), and misuse fails with a message.
#include "quant/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/model_loader.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class CalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 96;
    spec.layers = 3;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    std::string text;
    for (int i = 0; i < 100; ++i)
      text += "The quick brown fox jumps over the lazy dog, and the dog sleeps on. ";
    testing::write_file(dir_ / "calib.txt", text);
    options_.file = dir_ / "calib.txt";
    options_.samples = 5;
    options_.seq_len = 48;
    options_.sample_rows = 40;
    options_.progress = false;
  }

  testing::TempDir dir_;
  CalibrationOptions options_;
};

void expect_same(const SiteStats& a, const SiteStats& b, const std::string& where) {
  EXPECT_EQ(a.dim, b.dim) << where;
  EXPECT_EQ(a.tokens, b.tokens) << where;
  EXPECT_EQ(a.absmax, b.absmax) << where;
  EXPECT_EQ(a.gram, b.gram) << where;
  EXPECT_EQ(a.rows, b.rows) << where;
}

TEST_F(CalibrationTest, LayerStreamMatchesWholeModelPassBitForBit) {
  LoadedModel m = load_model(dir_.path());
  const auto windows = sample_calibration_windows(*m.tokenizer, options_);
  const CalibrationStats whole = collect_calibration_stats(*m.model, windows, options_);

  CalibrationStream stream(*m.model, windows);
  EXPECT_EQ(stream.bytes(), windows.size() * 48 * 64 * sizeof(float));
  for (int l = 0; l < m.model->config().n_layers; ++l) {
    const LayerStats layer = stream.run_layer(*m.model, l, options_);
    for (size_t s = 0; s < kNumSites; ++s) {
      const auto site = static_cast<ActivationSite>(s);
      ASSERT_GT(layer[s].tokens, 0u);
      EXPECT_FALSE(layer[s].gram.empty());
      EXPECT_EQ(layer[s].num_rows(), 40u);
      expect_same(layer[s], whole.at(l, site),
                  "layer " + std::to_string(l) + " site " + site_name(site));
    }
  }
}

TEST_F(CalibrationTest, StreamSeesChangesToLaterLayersOnly) {
  // Zeroing layer 1's norm after layer 0 has run changes layer 1's inputs, not layer 0's.
  LoadedModel m = load_model(dir_.path());
  const auto windows = sample_calibration_windows(*m.tokenizer, options_);
  const CalibrationStats whole = collect_calibration_stats(*m.model, windows, options_);
  CalibrationStream stream(*m.model, windows);
  const LayerStats l0 = stream.run_layer(*m.model, 0, options_);
  auto& norm = m.model->weights().layers[1].attn_norm;
  std::fill(norm.begin(), norm.end(), 0.0f);
  const LayerStats l1 = stream.run_layer(*m.model, 1, options_);
  expect_same(l0[0], whole.at(0, ActivationSite::kQkvInput), "layer 0");
  for (float v : l1[0].absmax) EXPECT_EQ(v, 0.0f);
}

TEST_F(CalibrationTest, MeanSequenceIsTheMeanOfTheEmbeddedWindows) {
  LoadedModel m = load_model(dir_.path());
  const auto windows = sample_calibration_windows(*m.tokenizer, options_);
  CalibrationStream mean = CalibrationStream::mean_of(*m.model, windows);
  EXPECT_EQ(mean.windows(), 1u);
  EXPECT_EQ(mean.seq_len(), 48u);
  // Layer 0's q/k/v input is the RMS norm of the stream: observe it with every row kept and
  // compare with the norm of the mean computed here.
  CalibrationOptions all_rows = options_;
  all_rows.sample_rows = 48;
  all_rows.gram = false;
  const LayerStats got = mean.observe_layer(*m.model, 0, all_rows);
  const auto& qkv = got[static_cast<size_t>(ActivationSite::kQkvInput)];
  ASSERT_EQ(qkv.num_rows(), 48u);
  const size_t dim = 64;
  std::vector<float> one(48 * dim);
  std::vector<double> sum(48 * dim, 0.0);
  for (const auto& w : windows) {
    m.model->embed(w, one);
    for (size_t i = 0; i < one.size(); ++i) sum[i] += one[i];
  }
  const auto& norm = m.model->weights().layers[0].attn_norm;
  const double n = static_cast<double>(windows.size());
  for (size_t t : {0, 17, 47}) {
    double ss = 0;
    for (size_t j = 0; j < dim; ++j) {
      const double v = sum[t * dim + j] / n;
      ss += v * v;
    }
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + m.model->config().norm_eps);
    for (size_t j = 0; j < dim; ++j)
      EXPECT_NEAR(qkv.rows[t * dim + j], sum[t * dim + j] / n * inv * norm[j], 1e-4)
          << "token " << t << " channel " << j;
  }
}

TEST_F(CalibrationTest, ObserveThenAdvanceEqualsRunLayer) {
  LoadedModel m = load_model(dir_.path());
  const auto windows = sample_calibration_windows(*m.tokenizer, options_);
  CalibrationStream a(*m.model, windows), b(*m.model, windows);
  for (int l = 0; l < m.model->config().n_layers; ++l) {
    const LayerStats want = a.run_layer(*m.model, l, options_);
    const LayerStats peek = b.observe_layer(*m.model, l, options_);
    const LayerStats again = b.observe_layer(*m.model, l, options_);  // did not advance
    b.advance_layer(*m.model, l);
    for (size_t s = 0; s < kNumSites; ++s) {
      expect_same(peek[s], want[s], "observe, layer " + std::to_string(l));
      expect_same(again[s], want[s], "observe twice, layer " + std::to_string(l));
    }
  }
  EXPECT_EQ(b.next_layer(), m.model->config().n_layers);
  EXPECT_THROW(b.observe_layer(*m.model, 0, options_), Error);  // out of order
}

TEST_F(CalibrationTest, MisuseFails) {
  LoadedModel m = load_model(dir_.path());
  auto windows = sample_calibration_windows(*m.tokenizer, options_);
  CalibrationStream stream(*m.model, windows);
  EXPECT_THROW(stream.run_layer(*m.model, 1, options_), Error);  // layer 0 first
  windows[1].pop_back();
  EXPECT_THROW(CalibrationStream(*m.model, windows), Error);  // windows of two lengths
  EXPECT_THROW(CalibrationStream(*m.model, {}), Error);
  options_.seq_len = 100000;
  EXPECT_THROW(sample_calibration_windows(*m.tokenizer, options_), Error);  // text too short
}

}  // namespace
}  // namespace lowbit
