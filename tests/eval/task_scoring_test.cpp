// Request tokenization (the harness's context/continuation split), truncation, per-row scoring
// and the standard error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "eval/task_scoring.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

std::vector<int32_t> bytes(std::string_view s) {
  return testing::ByteTokenizer().encode(s);
}

TEST(TaskScoring, TrailingWhitespaceMovesToTheContinuation) {
  const testing::ByteTokenizer tok;
  auto r = tokenize_request(tok, "abc \n", "d", true);
  EXPECT_EQ(r.context, (std::vector<int32_t>{1, tok.id('a'), tok.id('b'), tok.id('c')}));
  EXPECT_EQ(r.continuation, bytes(" \nd"));
  r = tokenize_request(tok, "Answer:", " yes", false);
  EXPECT_EQ(r.context, bytes("Answer:"));
  EXPECT_EQ(r.continuation, bytes(" yes"));
  // An empty context is conditioned on BOS alone.
  r = tokenize_request(tok, "", "hi", true);
  EXPECT_EQ(r.context, (std::vector<int32_t>{1}));
  EXPECT_THROW(tokenize_request(tok, "", "hi", false), Error);
  EXPECT_THROW(tokenize_request(tok, "abc", "", true), Error);
}

TEST(TaskScoring, ContinuationIsTheWholeEncodingPastTheContext) {
  const auto model = testing::ref_llama_dir();
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " not found";
  const auto tok = load_tokenizer_for(model);  // Llama-2 SentencePiece, BOS = 1
  ASSERT_EQ(tok->bos_id, 1);
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"Question: Which is a gas?\nAnswer:", " steam"},
      {"He opened the door and saw his", " dog"},
      {"Sarah was a much better surgeon than Maria so Maria", " always got the harder cases."},
      {"The price is 3", "4.5 dollars"},  // digits split one by one
  };
  for (const auto& [context, continuation] : pairs) {
    const auto r = tokenize_request(*tok, context, continuation, true);
    std::vector<int32_t> ctx{1}, whole{1};
    for (int32_t id : tok->encode(context)) ctx.push_back(id);
    for (int32_t id : tok->encode(context + continuation)) whole.push_back(id);
    EXPECT_EQ(r.context, ctx) << context;
    EXPECT_EQ(r.continuation,
              std::vector<int32_t>(whole.begin() + static_cast<ptrdiff_t>(ctx.size()), whole.end()))
        << context;
    const auto text = continuation.starts_with(' ') ? continuation.substr(1) : continuation;
    EXPECT_EQ(tok->decode(r.continuation), text) << context;
  }
}

TEST(TaskScoring, TruncationKeepsTheLastTokens) {
  TokenizedRequest r{{1, 2, 3, 4, 5}, {6, 7, 8}};
  truncate_request(r, 7);  // 5 + 3 - 1 = 7 positions: fits
  EXPECT_EQ(r.context.size(), 5u);
  truncate_request(r, 5);
  EXPECT_EQ(r.context, (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ(r.continuation, (std::vector<int32_t>{6, 7, 8}));
  EXPECT_THROW(truncate_request(r, 2), Error);
}

TEST(TaskScoring, RowScoresMatchDoublePrecision) {
  constexpr size_t kVocab = 32000, kRows = 6;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(kVocab * kRows);
  for (auto& z : logits) z = normal(rng);
  logits[2 * kVocab + 17] = 60.0f;    // one dominant token
  logits[3 * kVocab + 5] = -1000.0f;  // far below the clamp
  std::vector<int32_t> targets = {0, 31999, 17, 5, 100, 17};
  std::vector<double> lp(kRows);
  std::vector<uint8_t> top(kRows);
  score_rows(logits, kVocab, targets, lp, top);
  for (size_t r = 0; r < kRows; ++r) {
    const float* z = logits.data() + r * kVocab;
    const double mx = *std::max_element(z, z + kVocab);
    double sum = 0;
    for (size_t i = 0; i < kVocab; ++i) sum += std::exp(static_cast<double>(z[i]) - mx);
    const double expected = z[targets[r]] - (std::log(sum) + mx);
    EXPECT_NEAR(lp[r], expected, 1e-6 * std::max(1.0, std::abs(expected))) << "row " << r;
    EXPECT_EQ(top[r] != 0, z[targets[r]] == mx) << "row " << r;
  }
  EXPECT_EQ(top[2], 1);
  EXPECT_NEAR(lp[2], 0.0, 1e-6);
}

TEST(TaskScoring, StandardErrorAndArgmax) {
  const std::vector<double> acc = {1, 0, 1, 1};  // p = 0.75: sqrt(p (1 - p) / (n - 1))
  EXPECT_NEAR(mean_stderr(acc), std::sqrt(0.75 * 0.25 / 3), 1e-12);
  EXPECT_EQ(mean_stderr(std::vector<double>{1}), 0.0);
  EXPECT_EQ(argmax_index(std::vector<double>{-3, -1, -1, -2}), 1u);
}

}  // namespace
}  // namespace lowbit
