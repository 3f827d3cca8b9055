// Chunked encoding (text/chunked_encode.h): pieces cut where a tokenizer says a cut is exact must
// give exactly the ids of one encode() of the whole text — on the whole reference files (against
// the reference libraries' ids), on random text made of the characters that decide cuts, and for
// the pre-tokenizer patterns of Llama-3 and Qwen2. A prefix tokenization stops early and is a
// prefix of the whole document's ids.
#include "text/chunked_encode.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "testing/fixtures.h"
#include "text/document.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Tokenizer> sentencepiece() {
  return load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
}
std::unique_ptr<Tokenizer> byte_level_bpe() {
  return load_bpe_tokenizer_json(testing::shared_dir() / "tokenizers/smollm2/tokenizer.json");
}
std::unique_ptr<Tokenizer> llama2c() {
  return load_llama2c_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.bin");
}

std::string wikitext() {
  return read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw");
}

// Random text from the characters that matter at a cut: newlines, spaces, tabs, letters, digits,
// punctuation and multi-byte UTF-8, in runs.
std::string random_text(std::mt19937& rng, size_t length) {
  static const std::vector<std::string> atoms = {
      "\n", "\n", "\n\n", " ", " ",    "  ", "\t",   "\r\n", "a",     "the", "Robert", "=",
      ".",  ",",  "'s",   "1", "2024", "é",  "数字", "😀",    " @-@ ", "x",   "Z"};
  std::string out;
  while (out.size() < length) out += atoms[rng() % atoms.size()];
  return out;
}

void expect_pieces_equal_whole(const Tokenizer& tok, const std::string& text, size_t min_bytes,
                               const std::string& what) {
  const auto whole = tok.encode(text);
  const auto pieces = encode_in_pieces(tok, text, min_bytes);
  ASSERT_EQ(pieces.size(), whole.size()) << what;
  size_t diff = 0;
  while (diff < whole.size() && whole[diff] == pieces[diff]) ++diff;
  EXPECT_EQ(diff, whole.size()) << what << ": first difference at token " << diff;
}

int count_cuts(const Tokenizer& tok, const std::string& text) {
  int cuts = 0;
  for (size_t p = 0; p <= text.size(); ++p) cuts += tok.is_exact_cut(text, p) ? 1 : 0;
  return cuts;
}

TEST(ChunkedEncode, PiecesCoverTheTextAndCutOnlyWhereAllowed) {
  const std::string text = "ab\ncd\nef\n\ngh";
  std::vector<std::string> pieces;
  for_each_exact_piece(
      text, 1, [&](size_t p) { return text[p - 1] == '\n' && text[p] != '\n'; },
      [&](size_t offset, std::string_view piece) {
        EXPECT_EQ(text.substr(offset, piece.size()), piece);
        pieces.emplace_back(piece);
        return true;
      });
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab\n", "cd\n", "ef\n\n", "gh"}));
  pieces.clear();
  for_each_exact_piece(
      text, 5, [](size_t) { return true; },
      [&](size_t, std::string_view piece) {
        pieces.emplace_back(piece);
        return pieces.size() < 1;  // stop after the first piece
      });
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab\ncd\n"}));
}

TEST(ChunkedEncode, WholeFilesInPiecesEqualTheReferenceIds) {
  // SentencePiece encodes in pieces internally (its file-sized encode is superlinear); its whole-
  // file test is tokenizer_scale_test's. Here: byte-level BPE in 4 KB pieces against Hugging
  // Face's ids, and llama2.c in pieces against its own one-call encode.
  for (const char* ids_file : {"ids_wiki.json", "ids_heldout.json"}) {
    const auto j = nlohmann::json::parse(
        testing::read_file(testing::shared_dir() / "tokenizers/smollm2" / ids_file));
    const std::string text = read_text_file(testing::shared_dir() / j["text"].get<std::string>());
    const auto ref = j["ids"].get<std::vector<int32_t>>();
    const auto tok = byte_level_bpe();
    EXPECT_GT(count_cuts(*tok, text.substr(0, 20000)), 10) << "no cuts: the test tests nothing";
    EXPECT_EQ(encode_in_pieces(*tok, text, 4096), ref) << ids_file;
  }
  const std::string text = wikitext().substr(0, 200000);
  const auto l2c = llama2c();
  EXPECT_GT(count_cuts(*l2c, text.substr(0, 20000)), 10);
  expect_pieces_equal_whole(*l2c, text, 1024, "llama2.c, WikiText-2");
}

TEST(ChunkedEncode, RandomTextInSmallPiecesEqualsOneEncode) {
  std::mt19937 rng(7);
  const auto sp = sentencepiece(), bpe = byte_level_bpe(), l2c = llama2c();
  for (int trial = 0; trial < 100; ++trial) {
    const std::string text = random_text(rng, 200 + rng() % 600);
    const std::string what = "trial " + std::to_string(trial);
    // min_bytes 1: a cut at every allowed position.
    expect_pieces_equal_whole(*bpe, text, 1, "byte-level BPE " + what);
    expect_pieces_equal_whole(*l2c, text, 1, "llama2.c " + what);
    expect_pieces_equal_whole(*sp, text, 1, "SentencePiece " + what);
  }
  // SentencePiece's own encode() cuts long text: against the library's ids for the same text,
  // which the whole-file test checks; here the continuation path on a text starting with spaces.
  const auto newline = sp->encode("\n"), behind = sp->encode("\n  x");
  ASSERT_GT(behind.size(), newline.size());
  EXPECT_EQ(sp->encode_continuation("  x"),
            std::vector<int32_t>(behind.begin() + static_cast<std::ptrdiff_t>(newline.size()),
                                 behind.end()));
}

// The SmolLM2 vocabulary behind Llama-3's and Qwen2's pre-tokenizer: chunked == whole on random
// text and WikiText-2, so the newline rule holds for those patterns too.
TEST(ChunkedEncode, Llama3AndQwen2PatternsCutExactly) {
  auto j = nlohmann::json::parse(
      testing::read_file(testing::shared_dir() / "tokenizers/smollm2/tokenizer.json"));
  const std::vector<std::string> patterns = {
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
  testing::TempDir dir;
  std::mt19937 rng(11);
  const std::string wiki = wikitext().substr(0, 100000);
  for (const auto& pattern : patterns) {
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    testing::write_file(dir / "tokenizer.json", j.dump());
    const auto tok = load_bpe_tokenizer_json(dir / "tokenizer.json");
    EXPECT_GT(count_cuts(*tok, wiki.substr(0, 20000)), 10);
    expect_pieces_equal_whole(*tok, wiki, 512, "WikiText-2, " + pattern);
    for (int trial = 0; trial < 30; ++trial)
      expect_pieces_equal_whole(*tok, random_text(rng, 400), 1, "random, " + pattern);
  }
  // An unknown pattern: no cuts at all (one encode of the whole text).
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  testing::write_file(dir / "tokenizer.json", j.dump());
  EXPECT_EQ(count_cuts(*load_bpe_tokenizer_json(dir / "tokenizer.json"), wiki.substr(0, 5000)), 0);
}

TEST(ChunkedEncode, AnAddedTokenWithANewlineTurnsCutsOff) {
  auto j = nlohmann::json::parse(
      testing::read_file(testing::shared_dir() / "tokenizers/smollm2/tokenizer.json"));
  j["added_tokens"].push_back({{"id", 0}, {"content", "\n\n"}, {"special", false}});
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", j.dump());
  EXPECT_EQ(count_cuts(*load_bpe_tokenizer_json(dir / "tokenizer.json"), "ab\ncd\nef"), 0);
  EXPECT_EQ(count_cuts(*byte_level_bpe(), "ab\ncd\nef"), 2);
}

TEST(ChunkedEncode, PrefixTokenizationStopsEarlyAndIsAPrefix) {
  const std::string text = wikitext();
  for (const auto& tok : {sentencepiece(), byte_level_bpe()}) {
    const auto whole = tokenize_document(*tok, text);
    const size_t want = 4 * 512;
    const auto prefix = tokenize_document(*tok, text, want);
    ASSERT_GE(prefix.size(), want);
    EXPECT_LT(prefix.size(), whole.size() / 10) << "the whole file was tokenized";
    EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), whole.begin()));
  }
}

}  // namespace
}  // namespace lowbit
