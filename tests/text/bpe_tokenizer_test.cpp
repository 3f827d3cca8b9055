// tokenizer.json byte-level BPE against ids from the Hugging Face tokenizers library.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/fixtures.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

std::filesystem::path smollm2() {
  return testing::shared_dir() / "tokenizers/smollm2";
}

TEST(BpeTokenizer, MatchesReferenceIdsAndRoundTrips) {
  auto tok = load_bpe_tokenizer_json(smollm2() / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 49152);
  std::ifstream in(smollm2() / "reference_ids.json");
  const auto ref = nlohmann::json::parse(in);
  ASSERT_EQ(ref["cases"].size(), 17u);
  for (const auto& c : ref["cases"]) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(tok->encode(text), c["ids"].get<std::vector<int32_t>>()) << text.substr(0, 60);
    if (text.find("<|") == std::string::npos) {
      EXPECT_EQ(tok->decode(tok->encode(text)), text);
    }
  }
}

// A hand-made vocabulary: bytes a, b, c, the space byte (Ġ) and two merges.
nlohmann::json tiny_tokenizer() {
  return {
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"added_tokens", {{{"id", 6}, {"content", "<eos>"}, {"special", true}}}},
      {"model",
       {{"type", "BPE"},
        {"vocab",
         {{"a", 0},
          {"b", 1},
          {"c", 2},
          {"\xC4\xA0", 3},
          {"ab", 4},
          {"\xC4\xA0"
           "ab",
           5}}},
        {"merges", {"a b", "\xC4\xA0 ab"}}}}};
}

TEST(BpeTokenizer, HandMadeVocabulary) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", tiny_tokenizer().dump());
  auto tok = load_bpe_tokenizer_json(dir / "tokenizer.json");
  // "abc ab<eos>": pieces "abc", " ab" -> [ab, c], [Ġab], then the special token.
  EXPECT_EQ(tok->encode("abc ab<eos>"), (std::vector<int32_t>{4, 2, 5, 6}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{4, 2, 5, 6}), "abc ab");
}

void expect_error(const std::string& content, const std::string& needle) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", content);
  try {
    load_bpe_tokenizer_json(dir / "tokenizer.json");
    FAIL() << "no error; expected " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(BpeTokenizer, InvalidUtf8IsAnErrorNotAHang) {
  // Found by the text_encode fuzz target (fuzz/regressions/text_encode/): PCRE2's JIT looped on
  // a stray continuation byte.
  auto tok = load_bpe_tokenizer_json(smollm2() / "tokenizer.json");
  try {
    tok->encode("<repo_name>\x97 \xf0\x9f\x98najjjj");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 (byte offset 11)"), std::string::npos)
        << e.what();
  }
}

TEST(BpeTokenizer, MalformedFiles) {
  expect_error("{not json", "invalid JSON");
  expect_error("{}", "missing field model");
  auto t = tiny_tokenizer();
  t["model"]["type"] = "WordPiece";
  expect_error(t.dump(), "WordPiece");
  t = tiny_tokenizer();
  t["model"]["merges"].push_back("a zz");
  expect_error(t.dump(), "merges[2]");
  t = tiny_tokenizer();
  t["model"]["vocab"] = nlohmann::json::array();
  expect_error(t.dump(), "model.vocab");
  t = tiny_tokenizer();
  t["normalizer"] = {{"type", "NFKC"}};
  expect_error(t.dump(), "normalizer");
  EXPECT_THROW(load_bpe_tokenizer_json("/nonexistent/tokenizer.json"), Error);
}

}  // namespace
}  // namespace lowbit
