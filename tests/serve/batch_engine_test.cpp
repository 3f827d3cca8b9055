// Continuous batching: requests decoded together give each what it would get alone; slots free
// when a client cancels or a request times out; a full queue refuses; stop() ends everything.
#include "serve/batch_engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "io/model_loader.h"
#include "serve/serve_test_util.h"
#include "testing/fixtures.h"
#include "text/document.h"

namespace lowbit::serve {
namespace {

using namespace std::chrono_literals;

LoadedModel stories() {
  return load_model(testing::shared_dir() / "models/stories260K/stories260K.bin",
                    testing::shared_dir() / "models/stories260K/tok512.bin");
}

GenerationRequest greedy(const Tokenizer& tok, const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt_ids = tokenize_document(tok, prompt);
  r.max_tokens = max_tokens;
  r.sampler.temperature = 0.0f;
  r.stream = true;  // the tests read tokens as they come
  return r;
}

struct Result {
  std::vector<int32_t> ids;
  std::string text;
  FinishReason reason;
};

Result collect(RequestState& s) {
  std::vector<TokenEvent> events;
  while (s.wait(events, 50ms)) {
  }
  Result r{{}, {}, s.reason()};
  for (const auto& e : events) {
    r.ids.push_back(e.id);
    r.text += e.text;
  }
  r.text += s.tail();
  return r;
}

TEST(BatchEngine, ConcurrentRequestsEachGetTheirSoloGreedyText) {
  LoadedModel m = stories();
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily wanted to",
                                            "One day, a big"};
  // Alone: the ordinary generator.
  std::vector<std::vector<int32_t>> solo;
  for (const auto& p : prompts) {
    GenerateOptions o;
    o.max_new_tokens = 24;
    o.stop_ids = m.stop_ids;
    solo.push_back(generate(*m.model, *m.tokenizer, tokenize_document(*m.tokenizer, p), o).new_ids);
  }
  Metrics metrics;
  EngineOptions eo;
  eo.parallel = 4;
  eo.context = 128;
  eo.stop_ids = m.stop_ids;
  BatchEngine engine(*m.model, *m.tokenizer, eo, metrics);
  std::vector<std::shared_ptr<RequestState>> states;
  for (const auto& p : prompts) states.push_back(engine.submit(greedy(*m.tokenizer, p, 24)));
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(states[i]);
    const Result r = collect(*states[i]);
    EXPECT_EQ(r.ids, solo[i]) << prompts[i];
    // The completion's text continues the prompt's (" and", not "and" as a lone decode gives).
    std::vector<int32_t> all = tokenize_document(*m.tokenizer, prompts[i]);
    const std::string prompt_text = m.tokenizer->decode(all);
    all.insert(all.end(), solo[i].begin(), solo[i].end());
    EXPECT_EQ(r.text, m.tokenizer->decode(all).substr(prompt_text.size())) << prompts[i];
    EXPECT_EQ(states[i]->completion_tokens(), static_cast<int>(solo[i].size()));
  }
  // Some decode steps carried several sequences.
  const std::string text = metrics.render(4);
  const double steps = metric_value(text, "lowbit_decode_steps_total");
  const double single = metric_value(text, "lowbit_decode_rows_per_step_bucket{le=\"1\"}");
  EXPECT_GT(steps, 0);
  EXPECT_LT(single, steps) << "every step carried one row: no batching\n" << text;
}

TEST(BatchEngine, StopStringsAndMaxTokens) {
  LoadedModel m = stories();
  Metrics metrics;
  EngineOptions eo;
  eo.parallel = 2;
  eo.context = 128;
  eo.stop_ids = m.stop_ids;
  BatchEngine engine(*m.model, *m.tokenizer, eo, metrics);
  auto full = collect(*engine.submit(greedy(*m.tokenizer, "Once upon a time", 30)));
  ASSERT_GT(full.text.size(), 10u);
  // Stop at a word that appears in the greedy text: the text ends right before it.
  const std::string word = full.text.substr(full.text.find(' ', 3), 4);
  auto req = greedy(*m.tokenizer, "Once upon a time", 30);
  req.stop = {word};
  const auto stopped = collect(*engine.submit(req));
  EXPECT_EQ(stopped.reason, FinishReason::kStop);
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(word)));
  const auto three = collect(*engine.submit(greedy(*m.tokenizer, "Once upon a time", 3)));
  EXPECT_EQ(three.reason, FinishReason::kLength);
  EXPECT_EQ(three.ids.size(), 3u);
  const auto zero = collect(*engine.submit(greedy(*m.tokenizer, "Once upon a time", 0)));
  EXPECT_EQ(zero.reason, FinishReason::kLength);
  EXPECT_TRUE(zero.ids.empty());
}

TEST(BatchEngine, CancelTimeoutQueueLimitAndStop) {
  // ref-llama-s, whose 2000 tokens take seconds: the long requests below must still be running
  // when the test acts on them, even on a loaded machine (stories260K writes 400 in ~0.1 s).
  LoadedModel m = load_model(testing::ref_llama_dir());
  Metrics metrics;
  EngineOptions eo;
  eo.parallel = 1;
  eo.context = 2048;
  eo.max_queue = 1;
  BatchEngine engine(*m.model, *m.tokenizer, eo, metrics);
  // A long request holds the only slot until its client cancels.
  auto hog = engine.submit(greedy(*m.tokenizer, "Once", 2000));
  ASSERT_TRUE(hog);
  std::vector<TokenEvent> first;
  ASSERT_TRUE(hog->wait(first, 5s));
  auto waiting = engine.submit(greedy(*m.tokenizer, "The cat", 5));
  ASSERT_TRUE(waiting);
  EXPECT_EQ(engine.submit(greedy(*m.tokenizer, "No room", 5)), nullptr);  // queue full
  hog->cancel();
  const auto r = collect(*waiting);  // got the slot
  EXPECT_EQ(r.ids.size(), 5u);
  EXPECT_EQ(hog->reason(), FinishReason::kCancelled);
  EXPECT_LT(hog->completion_tokens(), 1500);

  auto late = greedy(*m.tokenizer, "Late", 5);
  late.deadline = std::chrono::steady_clock::now() - 1s;
  const auto t = collect(*engine.submit(late));
  EXPECT_EQ(t.reason, FinishReason::kTimeout);

  auto running = engine.submit(greedy(*m.tokenizer, "Once", 2000));
  ASSERT_TRUE(running);
  std::vector<TokenEvent> some;
  ASSERT_TRUE(running->wait(some, 5s));
  engine.stop();
  EXPECT_TRUE(running->finished());
  EXPECT_EQ(running->reason(), FinishReason::kCancelled);
  EXPECT_EQ(engine.submit(greedy(*m.tokenizer, "After", 5)), nullptr);
}

TEST(BatchEngine, AWholeCompletionClientIsWokenOnlyAtTheEnd) {
  LoadedModel m = stories();
  Metrics metrics;
  EngineOptions eo;
  eo.parallel = 1;
  eo.context = 500;
  BatchEngine engine(*m.model, *m.tokenizer, eo, metrics);
  auto request = greedy(*m.tokenizer, "Once", 200);
  request.stream = false;
  const auto state = engine.submit(request);
  ASSERT_TRUE(state);
  std::vector<TokenEvent> events;
  ASSERT_TRUE(state->wait(events, 60s));
  EXPECT_TRUE(state->finished());
  EXPECT_EQ(events.size(), 200u);
  EXPECT_FALSE(state->wait(events, 1s));
}

TEST(BatchEngine, RefusesBadOptions) {
  LoadedModel m = stories();
  Metrics metrics;
  EngineOptions eo;
  eo.parallel = 0;
  EXPECT_NE(testing::error_of([&] {
              BatchEngine e(*m.model, *m.tokenizer, eo, metrics);
            }).find("--parallel 0"),
            std::string::npos);
  eo.parallel = 1;
  eo.context = 100000;
  EXPECT_NE(testing::error_of([&] {
              BatchEngine e(*m.model, *m.tokenizer, eo, metrics);
            }).find("--ctx 100000"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit::serve
