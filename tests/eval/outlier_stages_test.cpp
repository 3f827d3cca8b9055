// Stage statistics of `lowbit outliers --method`: the steps of an ActivationTransform applied one
// at a time are apply(); the stages per method are the ones its transform has; the summary numbers
// are those of the `lowbit outliers` table.
#include "eval/outlier_stages.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/model_loader.h"
#include "layers/activation_transform.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"
#include "text/document.h"

namespace lowbit {
namespace {

std::vector<float> random_rows(size_t rows, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> x(rows * dim);
  for (float& v : x) v = n(rng);
  return x;
}

// A DuQuant-shaped transform: smoothing, rotation, permutation, rotation (block 2, dim 4).
ActivationTransform duquant_shaped() {
  ActivationTransform t(4);
  t.set_smooth({2.0f, 4.0f, 0.5f, 1.0f});
  const float c = std::cos(0.3f), s = std::sin(0.3f);
  t.add_block_rotation(2, {c, -s, s, c, 0, 1, 1, 0});
  t.add_permutation({3, 0, 2, 1});
  t.add_block_rotation(2, {c, s, -s, c, c, -s, s, c});
  return t;
}

TEST(OutlierTransformSteps, StepsInOrderAreApply) {
  const ActivationTransform t = duquant_shaped();
  ASSERT_EQ(t.num_steps(), 4u);
  EXPECT_EQ(t.step_name(0), "smoothed");
  EXPECT_EQ(t.step_name(1), "rotated (block 2)");
  EXPECT_EQ(t.step_name(2), "permuted");
  EXPECT_EQ(t.step_name(3), "rotated (block 2)");
  EXPECT_THROW(t.step_name(4), Error);
  const auto x = random_rows(5, 4, 3);
  std::vector<float> whole = x, steps = x;
  t.apply(whole, 5);
  for (size_t i = 0; i < t.num_steps(); ++i) t.apply_step(i, steps, 5);
  EXPECT_EQ(whole, steps);
  std::vector<float> bad = x;
  EXPECT_THROW(t.apply_step(4, bad, 5), Error);
}

TEST(OutlierTransformSteps, SmoothedStepIsXOverS) {
  const ActivationTransform t = duquant_shaped();
  const auto x = random_rows(3, 4, 4);
  std::vector<float> y = x;
  t.apply_step(0, y, 3);
  for (size_t r = 0; r < 3; ++r)
    for (size_t j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(y[r * 4 + j], x[r * 4 + j] / t.smooth()[j]);
  std::vector<float> p = {10, 20, 30, 40};
  t.apply_step(2, p, 1);  // output channel i takes input channel perm[i]
  EXPECT_EQ(p, (std::vector<float>{40, 10, 30, 20}));
}

TEST(OutlierTransformSteps, HadamardFlattensAnOutlierChannel) {
  // One channel 50x the others on every token: after the rotation the mass is spread over all
  // channels, so the largest channel is close to the median one.
  const size_t dim = 64, rows = 256;
  auto x = random_rows(rows, dim, 5);
  for (size_t r = 0; r < rows; ++r) x[r * dim + 7] = 50.0f * (r % 2 ? 1.0f : -1.0f);
  ActivationTransform t(dim);
  t.add_hadamard();
  ASSERT_EQ(t.num_steps(), 1u);
  EXPECT_EQ(t.step_name(0), "hadamard");
  OutlierAccumulator before, after;
  before.add(x, rows, dim);
  t.apply_step(0, x, rows);
  after.add(x, rows, dim);
  const SiteOutliers b = before.summary(0, ActivationSite::kQkvInput);
  const SiteOutliers a = after.summary(0, ActivationSite::kQkvInput);
  EXPECT_GT(b.channel_ratio, 10.0);
  EXPECT_LT(a.channel_ratio, 2.0);
  EXPECT_LT(a.absmax, 0.5f * b.absmax);
}

TEST(OutlierTransformSteps, SameChannelMaxima) {
  EXPECT_TRUE(same_channel_maxima({1.0f, 100.0f}, {1.05f, 100.0f}));  // 5e-4 of the maximum
  EXPECT_FALSE(same_channel_maxima({1.0f, 100.0f}, {1.2f, 100.0f}));
  EXPECT_FALSE(same_channel_maxima({1.0f}, {1.0f, 1.0f}));
}

class OutlierStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    std::string text;
    for (int i = 0; i < 60; ++i) text += "Once upon a time there was a little girl named Lily. ";
    testing::write_file(dir_ / "calib.txt", text);
  }
  QuantizeOptions options(const std::string& method) const {
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.params.set("duquant-block", 32);
    o.params.set("duquant-steps", 8);
    o.calib.file = dir_ / "calib.txt";
    o.calib.samples = 3;
    o.calib.seq_len = 32;
    o.calib.progress = false;
    return o;
  }
  std::vector<std::vector<std::string>> stage_names(const std::string& method) const {
    LoadedModel m = load_model(dir_.path());
    const auto sites = measure_method_stages(*m.model, *m.tokenizer, options(method));
    EXPECT_EQ(sites.size(), 2u * 4u);
    std::vector<std::vector<std::string>> names;
    for (const auto& s : sites) {
      names.emplace_back();
      for (const auto& st : s.stages) {
        names.back().push_back(st.name);
        EXPECT_EQ(st.stats.tokens, 3u * 32u);
        EXPECT_EQ(st.channel_absmax.size(), st.stats.channels);
      }
    }
    return names;
  }
  testing::TempDir dir_;
};

using Names = std::vector<std::string>;

TEST_F(OutlierStagesTest, StagesPerMethod) {
  for (const auto& site : stage_names("rtn")) EXPECT_EQ(site, Names{"original"});
  for (const auto& site : stage_names("smoothquant"))
    EXPECT_EQ(site, (Names{"original", "folded"}));
  const Names duquant = {"original", "smoothed", "rotated (block 32)", "permuted",
                         "rotated (block 32)"};
  for (const auto& site : stage_names("duquant")) EXPECT_EQ(site, duquant);
  // QuaRot: q/k/v and gate/up see the rotated residual stream (folded into the embeddings and
  // weights); o and down get the online Hadamard.
  const auto hadamard = stage_names("hadamard");
  for (size_t i = 0; i < hadamard.size(); ++i) {
    const auto site = static_cast<ActivationSite>(i % 4);
    if (site == ActivationSite::kQkvInput || site == ActivationSite::kUpInput)
      EXPECT_EQ(hadamard[i], (Names{"original", "folded"})) << i;
    else
      EXPECT_EQ(hadamard[i], (Names{"original", "hadamard"})) << i;
  }
}

TEST_F(OutlierStagesTest, NumbersAreThoseOfTheOutliersTable) {
  // On the same windows, the first stage is `lowbit outliers` on the full-precision model and the
  // last stage is `lowbit outliers` on the transformed one.
  LoadedModel m = load_model(dir_.path());
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time there was a little girl named Lily. ";
  const auto ids = tokenize_document(*m.tokenizer, text);
  const OutlierOptions table{.context = 32, .windows = 2};
  std::vector<std::vector<int32_t>> windows;
  for (size_t w = 0; w < 2; ++w)
    windows.emplace_back(ids.begin() + w * 32, ids.begin() + w * 32 + 32);

  const auto check = [](const SiteOutliers& a, const SiteOutliers& b) {
    EXPECT_EQ(a.layer, b.layer);
    EXPECT_EQ(a.site, b.site);
    EXPECT_EQ(a.channels, b.channels);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.absmax, b.absmax);
    EXPECT_EQ(a.channel_ratio, b.channel_ratio);
    EXPECT_EQ(a.token_ratio, b.token_ratio);
  };
  const auto fp_table = measure_outliers(*m.model, ids, table);
  const auto fp_stages = measure_transform_steps(*m.model, windows, "original");
  ASSERT_EQ(fp_table.size(), fp_stages.size());
  for (size_t i = 0; i < fp_table.size(); ++i) {
    ASSERT_EQ(fp_stages[i].stages.size(), 1u);
    check(fp_table[i], fp_stages[i].stages[0].stats);
  }
  measure_method_stages(*m.model, *m.tokenizer, options("duquant"));  // leaves it transformed
  const auto dq_table = measure_outliers(*m.model, ids, table);
  const auto dq_stages = measure_transform_steps(*m.model, windows, "input");
  ASSERT_EQ(dq_table.size(), dq_stages.size());
  for (size_t i = 0; i < dq_table.size(); ++i) {
    ASSERT_EQ(dq_stages[i].stages.size(), 5u);
    check(dq_table[i], dq_stages[i].stages.back().stats);
    // The transformed model computes the same function: its input is the original one.
    EXPECT_TRUE(same_channel_maxima(fp_stages[i].stages[0].channel_absmax,
                                    dq_stages[i].stages[0].channel_absmax));
  }
}

TEST_F(OutlierStagesTest, BadInputFails) {
  LoadedModel m = load_model(dir_.path());
  EXPECT_THROW(measure_transform_steps(*m.model, {}, "original"), Error);
  auto o = options("duquant");
  o.calib.file = dir_ / "missing.txt";
  EXPECT_THROW(measure_method_stages(*m.model, *m.tokenizer, o), Error);
  o = options("duquant");
  o.params.set("duquant-block", 48);  // does not divide 64
  EXPECT_THROW(measure_method_stages(*m.model, *m.tokenizer, o), Error);
  // A quantized model is refused before any pass over the windows.
  quantize_model(*m.model, *m.tokenizer, options("rtn"));
  EXPECT_THROW(measure_method_stages(*m.model, *m.tokenizer, options("duquant")), Error);
}

}  // namespace
}  // namespace lowbit
