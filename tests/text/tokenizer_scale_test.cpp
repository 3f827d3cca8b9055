// Tokenizers on whole files and hostile inputs: exact ids against the reference libraries on the
// WikiText-2 test file and the held-out corpus, the O(n log n) merges against the textbook
// rescan loop, and inputs that used to crash (deep pre-tokenizer nesting) or take quadratic time
// (one long word). Speed itself is measured by bench/bench_tokenizers.cpp, not here.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "testing/fixtures.h"
#include "text/bpe_merge.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

struct Reference {
  std::string text_file;
  std::vector<int32_t> ids;
};

Reference reference_ids(const fs::path& json_file) {
  const auto j = nlohmann::json::parse(testing::read_file(json_file));
  return {j["text"].get<std::string>(), j["ids"].get<std::vector<int32_t>>()};
}

// The whole file in one call, ids equal to the reference library's.
void expect_whole_file_ids(const Tokenizer& tok, const fs::path& ids_json) {
  const Reference ref = reference_ids(ids_json);
  const std::string text = read_text_file(testing::shared_dir() / ref.text_file);
  const auto ids = tok.encode(text);
  ASSERT_EQ(ids.size(), ref.ids.size()) << ids_json;
  size_t first_diff = 0;
  while (first_diff < ids.size() && ids[first_diff] == ref.ids[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, ids.size()) << ids_json << ": first difference at token " << first_diff;
}

TEST(TokenizerScale, SentencePieceWholeFilesMatchTheLibrary) {
  const fs::path dir = testing::shared_dir() / "tokenizers/llama2";
  auto tok = load_sentencepiece_tokenizer(dir / "tokenizer.model");
  expect_whole_file_ids(*tok, dir / "ids_wiki.json");
  expect_whole_file_ids(*tok, dir / "ids_heldout.json");
}

TEST(TokenizerScale, ByteLevelBpeWholeFilesMatchHuggingFace) {
  const fs::path dir = testing::shared_dir() / "tokenizers/smollm2";
  auto tok = load_bpe_tokenizer_json(dir / "tokenizer.json");
  expect_whole_file_ids(*tok, dir / "ids_wiki.json");
  expect_whole_file_ids(*tok, dir / "ids_heldout.json");
}

// The textbook loop: rescan every adjacent pair after every merge, merge the lowest priority,
// the leftmost among equal ones.
template <class Symbol, class Candidate>
std::vector<Symbol> rescan_merge(std::vector<Symbol> s, Candidate&& candidate) {
  for (;;) {
    size_t at = 0;
    std::optional<MergeCandidate<Symbol>> best;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      auto c = candidate(s[i], s[i + 1]);
      if (c && (!best || c->priority < best->priority)) {
        best = std::move(c);
        at = i;
      }
    }
    if (!best) return s;
    s[at] = std::move(best->merged);
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
}

TEST(BpeMerge, EqualsTheRescanLoopOnRandomRankTables) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    // Symbols are strings over {a, b, c}; a merge of x and y exists for a random subset of pairs
    // (by hash), with random priorities including ties.
    const auto salt = static_cast<uint32_t>(rng());
    auto candidate = [&](const std::string& a,
                         const std::string& b) -> std::optional<MergeCandidate<std::string>> {
      const std::string key = a + "|" + b;
      const uint32_t h = static_cast<uint32_t>(std::hash<std::string>{}(key)) ^ salt;
      if (h % 3 == 0 || a.size() + b.size() > 12) return std::nullopt;
      return MergeCandidate<std::string>{static_cast<double>(h % 7), a + b};
    };
    std::vector<std::string> symbols;
    const size_t n = rng() % 60;
    for (size_t i = 0; i < n; ++i) symbols.push_back(std::string(1, "abc"[rng() % 3]));
    EXPECT_EQ(bpe_merge(symbols, candidate), rescan_merge(symbols, candidate)) << trial;
  }
}

// llama2.c's run.c encoder as it was (one token per code point or bytes + 3, then the rescan
// loop: merge the highest-scoring pair, the leftmost among equals), over tokenizer.bin parsed
// here: the reference for the llama2.c tokenizer on inputs it finishes.
std::vector<int32_t> run_c_encode(const fs::path& bin, const std::string& text) {
  const std::string bytes = testing::read_file(bin);
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::map<std::string, int32_t> ids;
  for (size_t off = 4; off < bytes.size();) {
    float score = 0;
    int32_t len = 0;
    std::memcpy(&score, bytes.data() + off, 4);
    std::memcpy(&len, bytes.data() + off + 4, 4);
    pieces.push_back(bytes.substr(off + 8, static_cast<size_t>(len)));
    ids.emplace(pieces.back(), static_cast<int32_t>(pieces.size() - 1));
    scores.push_back(score);
    off += 8 + static_cast<size_t>(len);
  }
  std::vector<int32_t> t;
  if (auto it = ids.find(" "); it != ids.end()) t.push_back(it->second);
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    len = std::min(len, text.size() - i);
    const std::string cp = text.substr(i, len);
    if (auto it = ids.find(cp); it != ids.end())
      t.push_back(it->second);
    else
      for (unsigned char b : cp) t.push_back(b + 3);
    i += len;
  }
  for (;;) {
    float best = -1e30f;
    int32_t best_id = -1;
    size_t at = 0;
    for (size_t i = 0; i + 1 < t.size(); ++i) {
      auto it = ids.find(pieces[static_cast<size_t>(t[i])] + pieces[static_cast<size_t>(t[i + 1])]);
      if (it != ids.end() && scores[static_cast<size_t>(it->second)] > best) {
        best = scores[static_cast<size_t>(it->second)];
        best_id = it->second;
        at = i;
      }
    }
    if (best_id < 0) return t;
    t[at] = best_id;
    t.erase(t.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
}

TEST(TokenizerScale, Llama2cMergesEqualRunC) {
  const std::string text = read_text_file(testing::shared_dir() / "data/corpus/heldout.txt");
  for (const char* file : {"models/stories260K/tok512.bin", "tokenizers/llama2/tokenizer.bin"}) {
    const fs::path bin = testing::shared_dir() / file;
    auto tok = load_llama2c_tokenizer(bin);
    for (size_t start : {size_t{0}, size_t{5000}, size_t{40000}}) {
      const std::string chunk = text.substr(start, 1500);
      EXPECT_EQ(tok->encode(chunk), run_c_encode(bin, chunk)) << file << " at " << start;
    }
    const std::string odd = "naïve café — “quotes” 数字 😀 \xff?";
    EXPECT_EQ(tok->encode(odd), run_c_encode(bin, odd)) << file;
  }
}

TEST(TokenizerScale, DeepPreTokenizerNestingIsAnErrorNotACrash) {
  // 20,000 nested "Sequence" pre-tokenizers overflowed the stack.
  std::string pre;
  for (int i = 0; i < 20000; ++i) pre += R"({"type":"Sequence","pretokenizers":[)";
  pre += R"({"type":"ByteLevel"})";
  for (int i = 0; i < 20000; ++i) pre += "]}";
  const std::string doc =
      R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":)" + pre + "}";
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", doc);
  try {
    load_bpe_tokenizer_json(dir / "tokenizer.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 64"), std::string::npos) << e.what();
  }
}

TEST(TokenizerScale, OneLongWordEncodesAndRoundTrips) {
  // One pre-token of 200 KB (quadratic before: over a minute) and the llama2.c tokenizer on
  // 100 KB without spaces.
  std::string word;
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) word.push_back(static_cast<char>(97 + rng() % 26));
  auto bpe = load_bpe_tokenizer_json(testing::shared_dir() / "tokenizers/smollm2/tokenizer.json");
  EXPECT_EQ(bpe->decode(bpe->encode(word)), word);
  auto l2c = load_llama2c_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.bin");
  const std::string half = word.substr(0, 100000);
  EXPECT_EQ(l2c->decode(l2c->encode(half)), half);
}

}  // namespace
}  // namespace lowbit
