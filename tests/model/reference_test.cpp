// ref-llama-s against the Hugging Face transformers reference in reference.json: per-position
// argmax and next-token NLL, last-position logits, greedy continuation, WikiText-2 perplexity.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "eval/perplexity.h"
#include "io/model_loader.h"
#include "kernels/cpu_features.h"
#include "model/generator.h"
#include "model/sampler.h"
#include "testing/fixtures.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

class RefLlamaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new LoadedModel(load_model(testing::ref_llama_dir()));
    std::ifstream in(testing::ref_llama_dir() / "reference.json");
    reference_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete reference_;
  }
  static LoadedModel* model_;
  static nlohmann::json* reference_;
};
LoadedModel* RefLlamaTest::model_ = nullptr;
nlohmann::json* RefLlamaTest::reference_ = nullptr;

// The comparisons below run twice: with the kernels this CPU selects (fused prefill attention on
// AVX-512/AVX2) and with the scalar ISA forced, which also takes the unfused attention path. (The
// 40-window L512 perplexity, 20 s, runs with the default ISA only; L128, 8 s, runs with both.)
class RefLlamaIsaTest : public RefLlamaTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) scalar_.emplace(kernels::Isa::kScalar);
  }
  void TearDown() override { scalar_.reset(); }
  std::optional<kernels::ScopedIsa> scalar_;
};
INSTANTIATE_TEST_SUITE_P(Isa, RefLlamaIsaTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "Scalar" : "Default";
                         });

TEST_F(RefLlamaTest, TokenizerMatchesReferenceIds) {
  for (const auto& p : (*reference_)["prompts"]) {
    const auto ids = tokenize_document(*model_->tokenizer, p["text"].get<std::string>());
    EXPECT_EQ(ids, p["ids"].get<std::vector<int32_t>>()) << p["text"];
  }
}

TEST_P(RefLlamaIsaTest, ArgmaxAndNllMatchPerPosition) {
  auto& model = *model_->model;
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  for (const auto& p : (*reference_)["prompts"]) {
    const auto ids = p["ids"].get<std::vector<int32_t>>();
    KVCache cache = model.make_cache(static_cast<int>(ids.size()));
    const auto logits = model.forward(ids, cache, LogitsFor::kAllTokens);
    const auto argmax_ref = p["argmax"].get<std::vector<int32_t>>();
    for (size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(argmax(logits.subspan(i * vocab, vocab)), argmax_ref[i]) << "position " << i;
    std::vector<double> nll(ids.size() - 1);
    next_token_nll_sum(logits, vocab, ids, nll);
    const auto nll_ref = p["next_token_nll"].get<std::vector<double>>();
    ASSERT_EQ(nll.size(), nll_ref.size());
    for (size_t i = 0; i < nll.size(); ++i)
      EXPECT_NEAR(nll[i], nll_ref[i], 1e-3) << "position " << i;

    // Last-position logits: the top 20 and the first 64 values.
    const auto last = logits.subspan((ids.size() - 1) * vocab, vocab);
    const auto& top = p["last_logits_top20"];
    const auto top_ids = top["ids"].get<std::vector<int32_t>>();
    const auto top_values = top["values"].get<std::vector<double>>();
    for (size_t i = 0; i < top_ids.size(); ++i)
      EXPECT_NEAR(last[static_cast<size_t>(top_ids[i])], top_values[i], 2e-3);
    const auto first64 = p["last_logits_full_sha_free_sample"].get<std::vector<double>>();
    for (size_t i = 0; i < first64.size(); ++i) EXPECT_NEAR(last[i], first64[i], 2e-3) << i;
  }
}

TEST_P(RefLlamaIsaTest, GreedyContinuationMatches) {
  for (const auto& p : (*reference_)["prompts"]) {
    const auto ids = p["ids"].get<std::vector<int32_t>>();
    const auto greedy_ref = p["greedy_ids"].get<std::vector<int32_t>>();
    GenerateOptions opts;
    opts.max_new_tokens = static_cast<int>(greedy_ref.size() - ids.size());
    std::string text;
    const auto stats = generate(*model_->model, *model_->tokenizer, ids, opts,
                                [&](std::string_view t) { text += t; });
    std::vector<int32_t> all = ids;
    all.insert(all.end(), stats.new_ids.begin(), stats.new_ids.end());
    EXPECT_EQ(all, greedy_ref);
    // The reference decodes the new tokens alone; the stream continues the prompt's text.
    const auto& tok = *model_->tokenizer;
    EXPECT_EQ(tok.decode(stats.new_ids), p["greedy_text"].get<std::string>());
    EXPECT_EQ(tok.decode(ids) + text, tok.decode(all));
  }
}

// Relative agreement with transformers' perplexity: measured 7.6e-8 / 7.8e-8 (L512, default /
// scalar ISA) and 7.0e-8 / 5.4e-8 (L128).
constexpr double kPerplexityTolerance = 1e-5;

void expect_perplexity(double got, double ref) {
  EXPECT_NEAR(got, ref, ref * kPerplexityTolerance);
  std::printf("[ measured ] perplexity %.9g vs reference %.9g: relative %.3g\n", got, ref,
              std::fabs(got - ref) / ref);
}

double wikitext_ppl(LoadedModel& m, int ctx, int windows) {
  const std::string text = read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw");
  const auto ids = tokenize_document(*m.tokenizer, text);
  EXPECT_EQ(ids.size(), 335688u);
  return evaluate_perplexity(*m.model, ids, {ctx, windows, false}).perplexity;
}

TEST_F(RefLlamaTest, WikiText2PerplexityL512First40Windows) {
  const double ref = (*reference_)["wikitext2_test"]["ppl_L512_windows40"].get<double>();
  expect_perplexity(wikitext_ppl(*model_, 512, 40), ref);
}

TEST_P(RefLlamaIsaTest, WikiText2PerplexityL128First40Windows) {
  const double ref = (*reference_)["wikitext2_test"]["ppl_L128_windows40"].get<double>();
  expect_perplexity(wikitext_ppl(*model_, 128, 40), ref);
}

// All 655 windows: about two minutes on two cores.
TEST_F(RefLlamaTest, LongWikiText2PerplexityL512AllWindows) {
  const double ref = (*reference_)["wikitext2_test"]["ppl_L512_windows655"].get<double>();
  expect_perplexity(wikitext_ppl(*model_, 512, 0), ref);
}

}  // namespace
}  // namespace lowbit
