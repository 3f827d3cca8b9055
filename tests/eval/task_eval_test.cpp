// Task evaluation end to end. A bigram checkpoint with known next-token probabilities forces the
// answers (acc, acc_norm, WinoGrande's partial rule, BoolQ, LAMBADA greedy match and perplexity),
// and on ref-llama-s the shared-context scoring must give exactly the scores of one request at a
// time (and agree with a plain forward of the whole sequence).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "io/model_loader.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using testing::ByteTokenizer;

constexpr int kVocab = 512;

// Next-token logits by the class of the current token: after 'A' a space is very likely; after a
// space 'a', 'B' and 'y' are likely and 'A' unlikely; otherwise 'a' is the likeliest.
class TaskEvalForced : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<int> token_class(kVocab, 0);
    token_class[static_cast<size_t>(ByteTokenizer::id('A'))] = 1;
    token_class[static_cast<size_t>(ByteTokenizer::id(' '))] = 2;
    logits_ = new std::vector<std::vector<float>>(3, std::vector<float>(kVocab, 0.0f));
    auto set = [](int c, char b, float v) {
      (*logits_)[static_cast<size_t>(c)][static_cast<size_t>(ByteTokenizer::id(b))] = v;
    };
    set(0, 'a', 5), set(0, 'e', 3), set(0, 's', 3), set(0, 'B', 4), set(0, 'A', -4);
    set(1, ' ', 8);
    set(2, 'a', 6), set(2, 'y', 4), set(2, 'B', 5), set(2, 'A', -4);
    classes_ = new std::vector<int>(token_class);
    dir_ = new testing::TempDir;
    testing::write_bigram_checkpoint(dir_->path() / "m", token_class, *logits_);
    model_ = new LoadedModel(load_model(dir_->path() / "m"));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
    delete classes_;
    delete logits_;
  }

  // log p(text | previous byte) under the bigram table, in double.
  static double expected_ll(char prev, std::string_view text) {
    double ll = 0;
    for (char b : text) {
      const auto& z = (*logits_)[static_cast<size_t>((*classes_)[ByteTokenizer::id(prev)])];
      double sum = 0;
      for (float v : z) sum += std::exp(static_cast<double>(v));
      ll += z[static_cast<size_t>(ByteTokenizer::id(b))] - std::log(sum);
      prev = b;
    }
    return ll;
  }

  TaskResult run(const std::string& task, const std::string& text,
                 ScoringMode mode = ScoringMode::kShared) {
    testing::TempDir dir;
    testing::write_file(dir / "task", text);
    TaskOptions options;
    options.progress = false;
    options.mode = mode;
    const auto data = load_task(task, dir / "task");
    return evaluate_task(*model_->model, ByteTokenizer(), data, options);
  }

  static double metric(const TaskResult& r, const std::string& name) {
    for (const auto& m : r.metrics)
      if (m.name == name) return m.value;
    ADD_FAILURE() << "no metric " << name;
    return -1;
  }

  static testing::TempDir* dir_;
  static LoadedModel* model_;
  static std::vector<int>* classes_;
  static std::vector<std::vector<float>>* logits_;
};
testing::TempDir* TaskEvalForced::dir_ = nullptr;
LoadedModel* TaskEvalForced::model_ = nullptr;
std::vector<int>* TaskEvalForced::classes_ = nullptr;
std::vector<std::vector<float>>* TaskEvalForced::logits_ = nullptr;

// " b" has the higher total log-likelihood, " aaaaaaaaab" the higher one per byte.
TEST_F(TaskEvalForced, AccuracyAndLengthNormalisedAccuracy) {
  const std::string text =
      R"({"query": "Question: one\n", "choices": ["b", "aaaaaaaaab"], "gold": 1})"
      "\n"
      R"({"query": "Question: two\n", "choices": ["aaaaaaaaab", "b"], "gold": 0})"
      "\n"
      R"({"query": "Question: three\n", "choices": ["b", "aaaaaaaaab"], "gold": 0})"
      "\n"
      R"({"query": "Question: four\n", "choices": ["a", "b"], "gold": 0})"
      "\n";
  for (const auto mode : {ScoringMode::kShared, ScoringMode::kOneAtATime}) {
    const auto r = run("piqa", text, mode);
    ASSERT_EQ(r.items.size(), 4u);
    const double ll_short = expected_ll(':', " b"), ll_long = expected_ll(':', " aaaaaaaaab");
    ASSERT_GT(ll_short, ll_long);
    ASSERT_LT(ll_short / 1, ll_long / 10);
    EXPECT_NEAR(r.items[0].logprobs[0], ll_short, 1e-4);
    EXPECT_NEAR(r.items[0].logprobs[1], ll_long, 1e-4);
    EXPECT_NEAR(r.items[3].logprobs[0], expected_ll(':', " a"), 1e-4);
    const std::vector<std::pair<int, int>> preds = {{0, 1}, {1, 0}, {0, 1}, {0, 0}};
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(r.items[i].pred, preds[i].first) << i;
      EXPECT_EQ(r.items[i].pred_norm, preds[i].second) << i;
    }
    ASSERT_EQ(r.metrics.size(), 2u);
    EXPECT_DOUBLE_EQ(metric(r, "acc"), 0.5);
    EXPECT_DOUBLE_EQ(metric(r, "acc_norm"), 0.75);
    EXPECT_NEAR(r.metrics[0].std_error, std::sqrt(0.5 * 0.5 / 3), 1e-12);
    EXPECT_NEAR(r.metrics[1].std_error, std::sqrt(0.75 * 0.25 / 3), 1e-12);
  }
  // Four choices (ARC): the same rule.
  const auto arc =
      run("arc_easy", R"({"query": "Question: q", "choices": ["c", "aaaaaaaaab", "y", "yy"], )"
                      R"("gold": 1})");
  EXPECT_EQ(arc.items[0].pred, 2);
  EXPECT_EQ(arc.items[0].pred_norm, 1);
  EXPECT_DOUBLE_EQ(metric(arc, "acc_norm"), 1.0);
}

// The partial rule scores only the shared continuation after each filled-in option: after 'A' a
// space is very likely, so the 'A' option wins even though 'B' is the likelier word in the blank
// (scoring whole sentences would pick 'B').
TEST_F(TaskEvalForced, WinograndePartialScoring) {
  const std::string text =
      R"({"context_options": ["The cat saw A", "The cat saw B"], "continuation": "ran.", )"
      R"("gold": 0})"
      "\n"
      R"({"context_options": ["The cat saw B", "The cat saw A"], "continuation": " ran. ", )"
      R"("gold": 1})"
      "\n";
  ASSERT_GT(expected_ll(' ', "B ran."), expected_ll(' ', "A ran."));  // whole-sentence rule
  for (const auto mode : {ScoringMode::kShared, ScoringMode::kOneAtATime}) {
    const auto r = run("winogrande", text, mode);
    EXPECT_NEAR(r.items[0].logprobs[0], expected_ll('A', " ran."), 1e-4);
    EXPECT_NEAR(r.items[0].logprobs[1], expected_ll('B', " ran."), 1e-4);
    EXPECT_EQ(r.items[0].pred, 0);
    EXPECT_EQ(r.items[1].pred, 1);
    ASSERT_EQ(r.metrics.size(), 1u);  // acc only, as the harness reports it
    EXPECT_DOUBLE_EQ(metric(r, "acc"), 1.0);
  }
}

TEST_F(TaskEvalForced, BoolqComparesYesAndNo) {
  const std::string text =
      R"({"query": "Passage: p\nQuestion: q?", "choices": ["no", "yes"], "gold": 1})"
      "\n"
      R"({"query": "Passage: p\nQuestion: r?", "choices": ["no", "yes"], "gold": 0})"
      "\n";
  const auto r = run("boolq", text);
  EXPECT_NEAR(r.items[0].logprobs[1], expected_ll(':', " yes"), 1e-4);
  EXPECT_EQ(r.items[0].pred, 1);
  EXPECT_EQ(r.items[1].pred, 1);
  EXPECT_DOUBLE_EQ(metric(r, "acc"), 0.5);
}

// LAMBADA: after 'A' the greedy path is " aaa..."; the second item leaves it at 'b', the third
// at the space (after 'x' the likeliest token is 'a').
TEST_F(TaskEvalForced, LambadaGreedyMatchAndPerplexity) {
  const std::string text = R"({"context": "It was A", "continuation": "aaa"})"
                           "\n"
                           R"({"context": "It was A", "continuation": "ab"})"
                           "\n"
                           R"({"context": "It was x", "continuation": "aa"})"
                           "\n";
  const auto r = run("lambada", text);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_TRUE(r.items[0].greedy);
  EXPECT_FALSE(r.items[1].greedy);
  EXPECT_FALSE(r.items[2].greedy);
  const double ll[3] = {expected_ll('A', " aaa"), expected_ll('A', " ab"), expected_ll('x', " aa")};
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(r.items[i].logprobs[0], ll[i], 1e-4) << i;
  EXPECT_NEAR(metric(r, "acc"), 1.0 / 3, 1e-12);
  EXPECT_NEAR(metric(r, "perplexity"), std::exp(-(ll[0] + ll[1] + ll[2]) / 3), 1e-3);
}

TEST_F(TaskEvalForced, LimitTakesASeededSubsetAndTablesReport) {
  std::string text;
  for (int i = 0; i < 10; ++i)
    text += R"({"query": "Question: q\n", "choices": ["a", "b"], "gold": )" +
            std::to_string(i % 2) + "}\n";
  testing::TempDir dir;
  testing::write_file(dir / "piqa.jsonl", text);
  TaskOptions options;
  options.progress = false;
  options.tasks_dir = dir.path();
  options.limit = 4;
  options.seed = 11;
  const auto names = parse_task_list("piqa", options);
  auto results = evaluate_tasks(*model_->model, ByteTokenizer(), names, options);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_EQ(results[0].items.size(), 4u);
  EXPECT_EQ(results[0].total_items, 10u);
  const auto chosen = choose_subset(10, 4, 11);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(results[0].items[k].line, chosen[k] + 1);

  const std::string table = format_task_table(results);
  EXPECT_NE(table.find("| task | metric | value | stderr | n |"), std::string::npos) << table;
  EXPECT_NE(table.find("| piqa | acc_norm |"), std::string::npos) << table;
  const auto json = task_results_json(results);
  EXPECT_EQ(json["tasks"][0]["task"], "piqa");
  EXPECT_EQ(json["tasks"][0]["n"], 4);
  EXPECT_EQ(json["tasks"][0]["items"].size(), 4u);
  EXPECT_TRUE(json["tasks"][0]["metrics"]["acc"].contains("stderr"));
}

TEST(TaskList, NamesAliasesFilesAndErrors) {
  TaskOptions options;
  EXPECT_EQ(parse_task_list(" piqa, lambada_openai ,piqa", options),
            (std::vector<std::string>{"piqa", "lambada"}));
  EXPECT_EQ(parse_task_list("all", options).size(), 7u);
  EXPECT_EQ(parse_task_list("boolq=/data/my boolq.jsonl", options),
            (std::vector<std::string>{"boolq"}));
  EXPECT_EQ(task_file("boolq", options), fs::path("/data/my boolq.jsonl"));
  EXPECT_EQ(task_file("hellaswag", options),
            fs::path("../shared/data/tasks/hellaswag_val_full.txt.bz2"));
  EXPECT_THROW(parse_task_list("piqa,mmlu", options), Error);
  EXPECT_THROW(parse_task_list(" , ", options), Error);
}

// The first 20 PIQA items on ref-llama-s: sharing each item's context pass must not change a
// single bit of any score, and both must match a plain forward of the whole sequence (checked on
// the first 8).
TEST(TaskEvalRef, SharedContextScoresEqualOneAtATimeOnPiqa) {
  const fs::path file = testing::shared_dir() / "data/tasks/piqa.jsonl";
  if (!fs::exists(file) || !fs::exists(testing::ref_llama_dir()))
    GTEST_SKIP() << "../shared task files or ref-llama-s not found";
  auto m = load_model(testing::ref_llama_dir());
  auto task = load_task("piqa", file);
  task.items.resize(20);
  TaskOptions options;
  options.progress = false;
  options.mode = ScoringMode::kShared;
  const auto shared = evaluate_task(*m.model, *m.tokenizer, task, options);
  options.mode = ScoringMode::kOneAtATime;
  const auto single = evaluate_task(*m.model, *m.tokenizer, task, options);
  EXPECT_LT(shared.forward_passes, single.forward_passes);
  ASSERT_EQ(shared.items.size(), 20u);
  const size_t vocab = static_cast<size_t>(m.model->config().vocab_size);
  double max_diff = 0;
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(shared.items[i].logprobs, single.items[i].logprobs) << "item " << i;
    EXPECT_EQ(shared.items[i].pred, single.items[i].pred);
    EXPECT_EQ(shared.items[i].pred_norm, single.items[i].pred_norm);
    // Reference: one forward of context + continuation, logits of every position.
    for (size_t c = 0; i < 8 && c < task.items[i].requests.size(); ++c) {
      const auto& req = task.items[i].requests[c];
      const auto tr = tokenize_request(*m.tokenizer, req.context, req.continuation, true);
      std::vector<int32_t> ids = tr.context;
      ids.insert(ids.end(), tr.continuation.begin(), tr.continuation.end());
      KVCache cache = m.model->make_cache(static_cast<int>(ids.size()));
      const auto logits = m.model->forward(ids, cache, LogitsFor::kAllTokens);
      std::vector<double> nll(ids.size() - 1);
      next_token_nll_sum(logits, vocab, ids, nll);
      double ll = 0;
      for (size_t p = tr.context.size() - 1; p < nll.size(); ++p) ll -= nll[p];
      max_diff = std::max(max_diff, std::abs(ll - shared.items[i].logprobs[c]));
    }
  }
  std::printf("max |shared - whole-sequence forward| = %.3g nats\n", max_diff);
  EXPECT_LT(max_diff, 1e-3);
}

}  // namespace
}  // namespace lowbit
