// Agile-Quant token pruning (model/token_pruning.h): the schedule, the row selection, the
// calibrated thresholds, and the model run with it — causal (a prefix's surviving logits are the
// same as in the longer sequence), identical to no pruning at ratio 0, decode after a pruned
// prefill as in the prefill of the longer sequence, and the KV entries the pruned tokens keep.
#include "model/token_pruning.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "eval/perplexity.h"
#include "io/model_loader.h"
#include "model/prune_calibration.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

TEST(TokenPruningSchedule, ProgressiveFromTheStartLayerToRatioAtTheLast) {
  // 8 layers from layer 4: 1/4, 2/4, 3/4, 4/4 of beta before layers 4..7.
  EXPECT_EQ(pruned_fraction_before(0.2, 4, 8, 3), 0.0);
  EXPECT_DOUBLE_EQ(pruned_fraction_before(0.2, 4, 8, 4), 0.05);
  EXPECT_DOUBLE_EQ(pruned_fraction_before(0.2, 4, 8, 7), 0.2);
  EXPECT_DOUBLE_EQ(pruned_work_fraction(0.2, 4, 8), (0.05 + 0.1 + 0.15 + 0.2) / 8);
  EXPECT_EQ(pruned_work_fraction(0.0, 4, 8), 0.0);
}

TEST(TokenPruningSchedule, ValidatesRatioStartLayerAndThresholds) {
  TokenPruning p;
  p.ratio = 0.2;
  p.start_layer = 4;
  EXPECT_NO_THROW(p.validate(8, "t"));
  for (double bad : {-0.1, 1.0, 1.5, std::nan("")}) {
    p.ratio = bad;
    EXPECT_THROW(p.validate(8, "t"), Error) << bad;
  }
  p.ratio = 0.2;
  for (int bad : {0, 8, -1}) {
    p.start_layer = bad;
    EXPECT_THROW(p.validate(8, "t"), Error) << bad;
  }
  p.start_layer = 1;
  p.thresholds = {0, 0, 0};  // not one per layer
  EXPECT_THROW(p.validate(8, "t"), Error);
  p.thresholds.assign(8, 1.5f);  // not a probability
  EXPECT_THROW(p.validate(8, "t"), Error);
}

TEST(TokenPruningSelection, ThresholdKeepsPositionZeroAndTheLastRow) {
  TokenPruning p{0.5, 1, {0.0f, 0.3f}, 1, 8};
  const std::vector<float> imp = {0.1f, 0.5f, 0.2f, 0.3f, 0.05f};
  const std::vector<int32_t> pos = {0, 3, 4, 6, 9};
  std::vector<uint32_t> kept;
  select_kept_rows(p, 1, 2, 10, imp, pos, nullptr, kept);
  // Row 0 is position 0 (kept though 0.1 < 0.3), row 3 sits at the threshold, row 4 is last.
  EXPECT_EQ(kept, (std::vector<uint32_t>{0, 1, 3, 4}));
}

TEST(TokenPruningSelection, CalibrationDropsExactCountsLowestFirstAndRecordsThem) {
  TokenPruning p{0.5, 1, {}, 0, 0};
  // 10 tokens, 3 layers from layer 1: 25% gone before layer 1 (round(2.5) = 3 rows).
  const std::vector<float> imp = {1.0f, 0.4f, 0.1f, 0.3f, 0.1f, 0.9f, 0.2f, 0.8f, 0.6f, 0.0f};
  std::vector<int32_t> pos(10);
  for (int i = 0; i < 10; ++i) pos[static_cast<size_t>(i)] = i;
  PruningCalibration c(3);
  std::vector<uint32_t> kept;
  select_kept_rows(p, 1, 3, 10, imp, pos, &c, kept);
  // The lowest eligible: rows 2 and 4 (0.1, earlier first), 6 (0.2); row 9 (0.0) is the last.
  EXPECT_EQ(kept, (std::vector<uint32_t>{0, 1, 3, 5, 7, 8, 9}));
  EXPECT_EQ(c.dropped[1], 3);
  EXPECT_EQ(c.eligible[1].size(), 8u);  // rows 1..8
  const auto tau = thresholds_from(c, 1);
  EXPECT_FLOAT_EQ(tau[1], 0.25f);  // between 0.2 (went) and 0.3 (stayed)
  EXPECT_EQ(tau[0], 0.0f);
  EXPECT_EQ(tau[2], 0.0f);  // nothing recorded: nothing below it
}

// ref-llama-s (8 layers, GQA), pruning from layer 3, thresholds calibrated on WikiText-2.
class TokenPruningModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new LoadedModel(load_model(testing::ref_llama_dir()));
    const auto text = testing::read_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw");
    ids_ = new std::vector<int32_t>(model_->tokenizer->encode(text.substr(0, 20000)));
    ids_->insert(ids_->begin(), 1);
    std::vector<std::vector<int32_t>> windows;
    for (size_t w = 0; w < 4; ++w)
      windows.emplace_back(ids_->begin() + 1000 + 96 * w, ids_->begin() + 1000 + 96 * (w + 1));
    pruning_ = new TokenPruning(calibrate_token_pruning(*model_->model, windows, 0.3, 3));
  }
  static void TearDownTestSuite() {
    delete pruning_;
    delete ids_;
    delete model_;
  }
  LlamaModel& model() { return *model_->model; }
  std::span<const int32_t> ids(size_t n) { return std::span(*ids_).first(n); }

  static LoadedModel* model_;
  static std::vector<int32_t>* ids_;
  static TokenPruning* pruning_;
};
LoadedModel* TokenPruningModel::model_ = nullptr;
std::vector<int32_t>* TokenPruningModel::ids_ = nullptr;
TokenPruning* TokenPruningModel::pruning_ = nullptr;

TEST_F(TokenPruningModel, CalibrationRestoresTheModelAndYieldsThresholds) {
  EXPECT_FALSE(model().token_pruning().enabled());
  ASSERT_EQ(pruning_->thresholds.size(), 8u);
  for (int l = 0; l < 3; ++l) EXPECT_EQ(pruning_->thresholds[static_cast<size_t>(l)], 0.0f);
  for (int l = 3; l < 8; ++l) EXPECT_GT(pruning_->thresholds[static_cast<size_t>(l)], 0.0f) << l;
  EXPECT_EQ(pruning_->calib_windows, 4);
  EXPECT_EQ(pruning_->calib_len, 96);
}

// Pruning on with thresholds of 0 (no importance is below them): the importance is computed, no
// row goes, and the logits are those of the unpruned forward bit for bit.
TEST_F(TokenPruningModel, NothingBelowTheThresholdsIsTheUnprunedForwardBitForBit) {
  KVCache cache = model().make_cache(80);
  const auto plain = model().forward(ids(80), cache, LogitsFor::kAllTokens);
  const std::vector<float> want(plain.begin(), plain.end());
  TokenPruning p = *pruning_;
  std::fill(p.thresholds.begin(), p.thresholds.end(), 0.0f);
  model().set_token_pruning(p);
  model().reset_pruning_counts();
  cache.clear();
  const auto got = model().forward(ids(80), cache, LogitsFor::kAllTokens);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()));
  EXPECT_EQ(model().logit_rows().size(), 80u);
  EXPECT_EQ(model().pruning_counts().removed_fraction(), 0.0);
  model().set_token_pruning({});
}

// Whether a token goes depends only on tokens before it: the rows of a 60-token prefix that reach
// the head (all but its last, which is always kept) are the rows of the 120-token sequence at the
// same positions, with the same logits.
TEST_F(TokenPruningModel, PruningIsCausal) {
  model().set_token_pruning(*pruning_);
  const size_t vocab = static_cast<size_t>(model().config().vocab_size);
  KVCache cache = model().make_cache(120);
  const auto full = model().forward(ids(120), cache, LogitsFor::kAllTokens);
  const std::vector<float> full_logits(full.begin(), full.end());
  const std::vector<int32_t> full_rows(model().logit_rows().begin(), model().logit_rows().end());
  EXPECT_LT(full_rows.size(), 110u);  // something was pruned
  EXPECT_EQ(full_rows.back(), 119);

  cache.clear();
  const auto part = model().forward(ids(60), cache, LogitsFor::kAllTokens);
  const std::vector<int32_t> rows(model().logit_rows().begin(), model().logit_rows().end());
  size_t matched = 0;
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    const auto at = std::find(full_rows.begin(), full_rows.end(), rows[i]);
    ASSERT_NE(at, full_rows.end()) << "position " << rows[i] << " survived only in the prefix";
    const size_t j = static_cast<size_t>(at - full_rows.begin());
    for (size_t v = 0; v < vocab; ++v)
      ASSERT_NEAR(part[i * vocab + v], full_logits[j * vocab + v], 2e-3f) << rows[i];
    ++matched;
  }
  // ... and every position below 59 that survived in the long run survived in the prefix.
  EXPECT_EQ(matched, static_cast<size_t>(std::count_if(full_rows.begin(), full_rows.end(),
                                                       [](int32_t p) { return p < 59; })));
  model().set_token_pruning({});
}

// Decode after a pruned prefill: the next token sees, in each layer, the entries of the tokens
// that reached it, which is what it sees as the last row of the longer prefill (when the prefill's
// last row would have survived there too).
TEST_F(TokenPruningModel, DecodeAfterAPrunedPrefillMatchesTheLongerPrefill) {
  model().set_token_pruning(*pruning_);
  const size_t vocab = static_cast<size_t>(model().config().vocab_size);
  bool tested = false;
  for (size_t k = 70; k < 100 && !tested; ++k) {
    KVCache cache = model().make_cache(128);
    model().forward(ids(k + 1), cache, LogitsFor::kAllTokens);
    const std::vector<int32_t> rows(model().logit_rows().begin(), model().logit_rows().end());
    if (std::find(rows.begin(), rows.end(), static_cast<int32_t>(k - 1)) == rows.end()) continue;
    const auto longer = model().forward(ids(k + 1), cache = model().make_cache(128));
    const std::vector<float> want(longer.begin(), longer.end());
    cache.clear();
    model().forward(ids(k), cache);
    // Layers from the start layer on hold fewer entries than positions.
    EXPECT_EQ(cache.entries(0), static_cast<int>(k));
    EXPECT_LT(cache.entries(7), static_cast<int>(k));
    const auto got = model().forward(ids(k + 1).subspan(k), cache);
    for (size_t v = 0; v < vocab; ++v) ASSERT_NEAR(got[v], want[v], 2e-3f) << k;
    EXPECT_EQ(cache.entries(7), cache.entry_positions(7).size());
    EXPECT_EQ(cache.entry_positions(7).back(), static_cast<int32_t>(k));
    tested = true;
  }
  EXPECT_TRUE(tested);
  model().set_token_pruning({});
}

TEST_F(TokenPruningModel, PerplexityCountsTheSurvivingPositions) {
  model().set_token_pruning(*pruning_);
  const auto r = evaluate_perplexity(model(), ids(400), {128, 0, false});
  EXPECT_EQ(r.positions, 3 * 127);
  EXPECT_LT(r.predictions, r.positions);
  EXPECT_GT(r.predictions, r.positions / 2);
  EXPECT_GT(r.pruned_work, 0.0);
  EXPECT_TRUE(std::isfinite(r.perplexity));
  model().set_token_pruning({});
  const auto full = evaluate_perplexity(model(), ids(400), {128, 0, false});
  EXPECT_EQ(full.predictions, full.positions);
  EXPECT_EQ(full.pruned_work, 0.0);
}

// Per-position NLLs: NaN exactly where pruning kept a position from the head, the rest summing
// to the perplexity's NLL; unpruned, every position has one.
TEST_F(TokenPruningModel, PerPositionNllMarksThePrunedPositions) {
  std::vector<double> nll;
  PerplexityOptions o{128, 0, false};
  o.per_position = &nll;
  model().set_token_pruning(*pruning_);
  const auto r = evaluate_perplexity(model(), ids(400), o);
  ASSERT_EQ(nll.size(), 3u * 127u);
  double sum = 0;
  int64_t scored = 0;
  for (const double x : nll)
    if (!std::isnan(x)) {
      sum += x;
      ++scored;
    }
  EXPECT_EQ(scored, r.predictions);
  EXPECT_NEAR(sum, r.nll_sum, 1e-9 * std::fabs(sum));
  model().set_token_pruning({});
  const auto full = evaluate_perplexity(model(), ids(400), o);
  EXPECT_EQ(std::count_if(nll.begin(), nll.end(), [](double x) { return std::isnan(x); }), 0);
  EXPECT_NEAR(std::accumulate(nll.begin(), nll.end(), 0.0), full.nll_sum, 1e-9 * full.nll_sum);
}

TEST_F(TokenPruningModel, EnabledWithoutThresholdsFailsOnPrefill) {
  TokenPruning p;
  p.ratio = 0.2;
  p.start_layer = 2;
  model().set_token_pruning(p);
  KVCache cache = model().make_cache(16);
  EXPECT_THROW(model().forward(ids(16), cache), Error);
  model().set_token_pruning({});
}

}  // namespace
}  // namespace lowbit
