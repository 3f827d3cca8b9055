// Outlier statistics: the ratios are computed as defined, on the activations the quantizer sees
// (after a quantized model's online transform), and bad input fails with a message.
#include "eval/outliers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "io/model_loader.h"
#include "layers/activation_transform.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"
#include "text/document.h"

namespace lowbit {
namespace {

TEST(MaxToMedian, Definition) {
  EXPECT_DOUBLE_EQ(max_to_median({1, 2, 3, 100, 5}), 100.0 / 3.0);
  EXPECT_DOUBLE_EQ(max_to_median({4, 1, 2, 3}), 4.0 / 2.5);  // even count: mean of the middle two
  EXPECT_DOUBLE_EQ(max_to_median({7}), 1.0);
  EXPECT_EQ(max_to_median({}), 0.0);
  EXPECT_EQ(max_to_median({0, 0, 5}), 0.0);  // median 0: no meaningful ratio
}

class OutliersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    for (int i = 0; i < 60; ++i) text_ += "Once upon a time there was a little girl named Lily. ";
  }
  std::vector<int32_t> ids(const LoadedModel& m) const {
    return tokenize_document(*m.tokenizer, text_);
  }
  testing::TempDir dir_;
  std::string text_;
};

TEST_F(OutliersTest, OneRowPerLayerAndSiteOverTheWindows) {
  LoadedModel m = load_model(dir_.path());
  const auto rows = measure_outliers(*m.model, ids(m), {.context = 32, .windows = 3});
  ASSERT_EQ(rows.size(), 2u * 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].layer, static_cast<int>(i / 4));
    EXPECT_EQ(static_cast<size_t>(rows[i].site), i % 4);
    EXPECT_EQ(rows[i].tokens, 3u * 32u);
    EXPECT_GE(rows[i].channel_ratio, 1.0);
    EXPECT_GE(rows[i].token_ratio, 1.0);
    EXPECT_GT(rows[i].absmax, 0.0f);
  }
  EXPECT_EQ(rows[0].channels, 64u);
  EXPECT_EQ(rows[3].channels, 128u);  // down_proj input: the hidden width
}

TEST_F(OutliersTest, SeesTheInputAfterTheOnlineTransform) {
  // A full-precision "quantization" that only adds DuQuant's transforms leaves the model's
  // outputs unchanged but changes what the down_proj input looks like to the quantizer: the
  // measured maxima must be those of the transformed input.
  LoadedModel fp = load_model(dir_.path());
  LoadedModel dq = load_model(dir_.path());
  testing::write_file(dir_ / "calib.txt", text_);
  QuantizeOptions o;
  o.method = MethodSpec::parse("duquant");
  o.weight.bits = 16;
  o.act.bits = 16;
  o.head_weight.bits = 16;
  o.head_act.bits = 16;
  o.params.set("duquant-block", 32);
  o.calib.file = dir_ / "calib.txt";
  o.calib.samples = 4;
  o.calib.seq_len = 32;
  o.calib.progress = false;
  quantize_model(*dq.model, *dq.tokenizer, o);
  const OutlierOptions opts{.context = 32, .windows = 2};
  const auto before = measure_outliers(*fp.model, ids(fp), opts);
  const auto after = measure_outliers(*dq.model, ids(dq), opts);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].tokens, after[i].tokens);
    EXPECT_NE(before[i].absmax, after[i].absmax) << i;  // smoothed and rotated
  }
}

TEST_F(OutliersTest, BadInputFails) {
  LoadedModel m = load_model(dir_.path());
  const auto all = ids(m);
  EXPECT_THROW(measure_outliers(*m.model, std::span(all).first(10), {.context = 32, .windows = 1}),
               Error);
  EXPECT_THROW(measure_outliers(*m.model, all, {.context = 1, .windows = 1}), Error);
  EXPECT_THROW(measure_outliers(*m.model, all, {.context = 32, .windows = 0}), Error);
}

}  // namespace
}  // namespace lowbit
