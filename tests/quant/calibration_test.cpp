// Calibration: the layer-by-layer stream the pipeline uses must see exactly what a whole-model
// pass sees (same statistics, bit for bit), and misuse fails with a message.
#include "quant/calibration.h"

#include <gtest/gtest.h>

#include <string>

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
