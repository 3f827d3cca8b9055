// The public llama2.c stories260K model reproduces run.c's greedy output (temperature 0, 256
// steps from BOS, stop at BOS).
#include <gtest/gtest.h>

#include "model/generator.h"
#include "io/model_loader.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

TEST(Stories260K, GreedyStoryMatchesLlama2c) {
  const auto dir = testing::shared_dir() / "models/stories260K";
  LoadedModel m = load_model(dir / "stories260K.bin");
  EXPECT_EQ(m.model->config().dim, 64);
  EXPECT_EQ(m.model->config().n_kv_heads, 4);
  GenerateOptions opts;
  opts.max_new_tokens = 256;  // run.c: 256 steps, each emitting one token
  opts.stop_ids = m.stop_ids;
  std::string text;
  const int32_t bos[] = {1};
  generate(*m.model, *m.tokenizer, bos, opts, [&](std::string_view t) { text += t; });
  std::string expected = testing::read_file(dir / "expected_greedy.txt");
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  EXPECT_EQ(text, expected);
}

TEST(Stories260K, CliPrintsTheStory) {
  const auto dir = testing::shared_dir() / "models/stories260K";
  const auto r = testing::run_lowbit("generate -m " + (dir / "stories260K.bin").string() +
                                     " -p '' -n 256 --temp 0 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, testing::read_file(dir / "expected_greedy.txt"));
}

}  // namespace
}  // namespace lowbit
