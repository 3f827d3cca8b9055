// Llama-3's tokenizer.json structure (Split with Llama-3's regex, ByteLevel without its regex,
// BPE with ignore_merges, special added tokens), checked against Hugging Face tokenizers itself:
// its JavaScript port from npm (@huggingface/tokenizers, pinned with a lockfile in
// tests/text/llama3_oracle/), run by Node. No Llama-3 tokenizer file can be downloaded here, so the
// tokenizer is a small synthetic one with the real structure (llama3_oracle/make_tokenizer.py).
// The test fails, not skips, when Node or npm is missing: it is the independent oracle.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/fixtures.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

int shell(const std::string& cmd) {
  return std::system(cmd.c_str());
}

std::string quoted(const fs::path& p) {
  std::string s = "'";
  s.append(p.string()).append("'");
  return s;
}

// The oracle's folder in the build tree with its pinned package installed (npm ci, once).
fs::path oracle_dir() {
  return testing::npm_folder(fs::path(LOWBIT_SOURCE_DIR) / "tests/text/llama3_oracle",
                             "llama3_oracle", {"package.json", "package-lock.json", "encode.mjs"},
                             "node_modules/@huggingface/tokenizers/package.json");
}

std::vector<std::string> inputs() {
  std::vector<std::string> in = {
      "Hello world",
      "Hello, World! HELLO WORLD's dog'S toy THEY'LL we'Re",
      "  leading and trailing spaces  ",
      "tabs\tand\nnewlines\r\n\n\nthree",
      "digits 1 12 123 1234 12345 3.14159 2026-12-02",
      "punctuation!!! ...??? (a) [b] {c} \"quoted\" --- @#$%^&*",
      " zyzzyva quixotic Llama tokenizer naïve ünïcödé",  // whole-word tokens: ignore_merges
      "the tokenizer of a naive zyzzyv zyzzyvas",
      "日本語のテキスト and Ελληνικά and русский текст",
      "emoji 😀👍🏽 mixed",
      "<|begin_of_text|>special tokens<|eot_id|> inside<|end_of_text|>text",
      "",
      " ",
      "\n",
      "a\n \nb \n\n c",
  };
  // WikiText-2 test: its first lines one by one, then the first 30 KB as one text.
  const std::string wiki =
      testing::read_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw");
  size_t pos = 0;
  for (int line = 0; line < 200 && pos < wiki.size(); ++line) {
    const size_t end = wiki.find('\n', pos);
    in.push_back(wiki.substr(pos, end == std::string::npos ? std::string::npos : end + 1 - pos));
    pos = end == std::string::npos ? wiki.size() : end + 1;
  }
  in.push_back(wiki.substr(0, 30000));
  return in;
}

TEST(Llama3TokenizerOracle, EncodesAsHuggingFaceTokenizers) {
  ASSERT_EQ(shell("command -v node > /dev/null && command -v npm > /dev/null"), 0)
      << "Node.js and npm are required: this test's oracle is Hugging Face tokenizers from npm";
  const fs::path dir = oracle_dir();
  const fs::path tokenizer_json =
      fs::path(LOWBIT_SOURCE_DIR) / "tests/text/llama3_oracle/tokenizer.json";
  testing::TempDir tmp;
  const auto texts = inputs();
  testing::write_file(tmp / "inputs.json", nlohmann::json(texts).dump());
  std::string cmd = "node ";
  cmd.append(quoted(dir / "encode.mjs")).append(" ").append(quoted(tokenizer_json)).append(" ");
  cmd.append(quoted(tmp / "inputs.json")).append(" > ").append(quoted(tmp / "ids.json"));
  ASSERT_EQ(shell(cmd), 0);
  const auto want = nlohmann::json::parse(testing::read_file(tmp / "ids.json"));
  ASSERT_EQ(want.size(), texts.size());
  const auto tok = load_bpe_tokenizer_json(tokenizer_json);
  size_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto got = tok->encode(texts[i]);
    ASSERT_EQ(got, want[i].get<std::vector<int32_t>>())
        << "input " << i << ": \"" << texts[i].substr(0, 80) << "\"";
    tokens += got.size();
  }
  EXPECT_GT(tokens, 8000u);
  // ignore_merges matters here: " zyzzyva" is one vocabulary token that no merge path reaches.
  EXPECT_EQ(tok->encode(" zyzzyva").size(), 1u);
}

}  // namespace
}  // namespace lowbit
