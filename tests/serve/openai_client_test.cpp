// The official OpenAI Node client (npm `openai`, pinned with a lockfile in
// tests/serve/openai_client/) against `lowbit serve` on a W4A8-quantized ref-llama-s: completions,
// chat, streaming, logprobs, stop, seeds and errors, with the greedy text checked against lowbit's
// in-process generation of the same file. Fails, not skips, when Node or npm is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "io/model_loader.h"
#include "model/generator.h"
#include "serve/serve_test_util.h"
#include "testing/fixtures.h"
#include "text/document.h"

namespace lowbit::serve {
namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path client_dir() {
  return testing::npm_folder(fs::path(LOWBIT_SOURCE_DIR) / "tests/serve/openai_client",
                             "openai_client", {"package.json", "package-lock.json", "client.mjs"},
                             "node_modules/openai/package.json");
}

TEST(OpenAiClient, DrivesTheServerOnAQuantizedModel) {
  testing::TempDir tmp;
  const fs::path model = tmp / "ref-w4a8.lowbit";
  const auto q =
      testing::run_lowbit("quantize -m " + quoted(testing::ref_llama_dir().string()) +
                          " --method rtn --wbits 4 --abits 8 -o " + quoted(model.string()));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const std::string prompt = "The history of the city begins";
  LoadedModel m = load_model(model);
  GenerateOptions o;
  o.max_new_tokens = 16;
  o.stop_ids = m.stop_ids;
  std::vector<int32_t> all = tokenize_document(*m.tokenizer, prompt);
  const auto ids = generate(*m.model, *m.tokenizer, all, o).new_ids;
  // The completion's text continues the prompt's: its leading space is kept.
  const size_t prompt_chars = m.tokenizer->decode(all).size();
  all.insert(all.end(), ids.begin(), ids.end());
  const std::string expected = m.tokenizer->decode(all).substr(prompt_chars);

  const fs::path dir = client_dir();
  ServerProcess server("-m " + quoted(model.string()) + " --parallel 4 --ctx 512 --alias ref");
  ASSERT_GT(server.port(), 0) << server.log();
  const fs::path out = tmp / "client.out";
  const int rc = std::system(("cd " + quoted(dir.string()) + " && node client.mjs " +
                              quoted(server.url()) + " ref " + quoted(prompt) + " " +
                              quoted(expected) + " > " + quoted(out.string()) + " 2>&1")
                                 .c_str());
  EXPECT_EQ(rc, 0) << testing::read_file(out) << "\nserver log:\n" << server.log();
  EXPECT_NE(testing::read_file(out).find("\"ok\":true"), std::string::npos);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

}  // namespace
}  // namespace lowbit::serve
