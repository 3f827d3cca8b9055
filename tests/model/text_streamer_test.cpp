// TextStreamer (model/generator.h): the text increments of a growing token sequence, from short
// decode windows. Whatever the tokens, the increments concatenated must be the decode of the whole
// sequence past the prompt, and no decode may grow with the sequence's length.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/generator.h"
#include "testing/fixtures.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

// Forwards to a real tokenizer and records the longest id sequence it was asked to decode.
class CountingTokenizer : public Tokenizer {
 public:
  explicit CountingTokenizer(const Tokenizer& inner) : inner_(inner) {}
  std::vector<int32_t> encode(std::string_view text) const override { return inner_.encode(text); }
  std::string decode(std::span<const int32_t> ids) const override {
    longest = std::max(longest, ids.size());
    return inner_.decode(ids);
  }
  int32_t vocab_size() const override { return inner_.vocab_size(); }
  std::string piece(int32_t id) const override { return inner_.piece(id); }
  mutable size_t longest = 0;

 private:
  const Tokenizer& inner_;
};

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& prompt,
                     const std::vector<int32_t>& generated) {
  TextStreamer streamer(tok, prompt);
  std::string out;
  for (const int32_t id : generated) out += streamer.push(id);
  return out + streamer.flush();
}

// decode(prompt ++ generated) past decode(prompt), for prompts that end on a whole character.
std::string expected(const Tokenizer& tok, std::vector<int32_t> prompt,
                     const std::vector<int32_t>& generated) {
  const std::string before = tok.decode(prompt);
  prompt.insert(prompt.end(), generated.begin(), generated.end());
  const std::string all = tok.decode(prompt);
  EXPECT_EQ(all.compare(0, before.size(), before), 0);
  return all.substr(before.size());
}

std::vector<std::unique_ptr<Tokenizer>> tokenizers() {
  std::vector<std::unique_ptr<Tokenizer>> t;
  t.push_back(
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model"));
  t.push_back(load_bpe_tokenizer_json(testing::shared_dir() / "tokenizers/smollm2/tokenizer.json"));
  return t;
}

TEST(TextStreamer, IncrementsJoinToTheDecodeOfTheWholeSequence) {
  const std::string text =
      " the café's naïve façade — 日本語のテキスト 🙂🚀 tabs\tand\nnewlines,   "
      "spaces";
  for (const auto& tok : tokenizers()) {
    const auto ids = tok->encode(text);
    ASSERT_GT(ids.size(), 20u);
    // Every split of the text into prompt and generated tokens, including splits that cut a
    // character's byte tokens apart (the prompt then ends mid-character: not compared).
    for (size_t cut = 1; cut < ids.size(); ++cut) {
      const std::vector<int32_t> prompt(ids.begin(),
                                        ids.begin() + static_cast<std::ptrdiff_t>(cut));
      const std::vector<int32_t> gen(ids.begin() + static_cast<std::ptrdiff_t>(cut), ids.end());
      const std::string before = tok->decode(prompt);
      if (before.find("\xEF\xBF\xBD") != std::string::npos) continue;
      EXPECT_EQ(streamed(*tok, prompt, gen), expected(*tok, prompt, gen)) << "cut " << cut;
    }
  }
}

TEST(TextStreamer, RandomTokensAndSpecialTokensInTheMiddle) {
  std::mt19937 rng(7);
  for (const auto& tok : tokenizers()) {
    const auto vocab = static_cast<uint32_t>(tok->vocab_size());
    const std::vector<int32_t> prompt = tok->encode("Once upon a time");
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<int32_t> gen(200);
      for (auto& id : gen) id = static_cast<int32_t>(rng() % vocab);
      // Special tokens (decoded as nothing) between pieces keep the next piece's leading space.
      gen[50] = tok->eos_id.value_or(0);
      gen[51] = tok->encode(" cat").front();
      EXPECT_EQ(streamed(*tok, prompt, gen), expected(*tok, prompt, gen)) << trial;
    }
  }
}

TEST(TextStreamer, DecodesAWindowNotTheSequence) {
  for (const auto& tok : tokenizers()) {
    CountingTokenizer counting(*tok);
    const auto ids = tok->encode(std::string(400, ' ') + "a long story told word by word");
    std::vector<int32_t> gen;
    for (int i = 0; i < 100; ++i) gen.insert(gen.end(), ids.begin(), ids.end());
    const std::vector<int32_t> prompt = tok->encode("Hello");
    streamed(counting, prompt, gen);
    EXPECT_LE(counting.longest, 16u) << gen.size() << " tokens";
  }
}

// Byte tokens that never form a character (a run of UTF-8 continuation bytes) are released as
// decoded after a few tokens, not held for the rest of the sequence.
TEST(TextStreamer, BytesThatNeverFormACharacterAreNotHeldForever) {
  const auto tok =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  CountingTokenizer counting(*tok);
  const int32_t continuation = 3 + 0x80;  // Llama-2: byte tokens <0x00>.. start at id 3
  ASSERT_EQ(tok->piece(continuation), "<0x80>");
  const std::vector<int32_t> prompt = tok->encode("Hello");
  const std::vector<int32_t> gen(300, continuation);
  TextStreamer streamer(counting, prompt);
  std::string out;
  size_t released_before_end = 0;
  for (const int32_t id : gen) {
    const std::string piece = streamer.push(id);
    released_before_end += piece.size();
    out += piece;
  }
  EXPECT_GT(released_before_end, 0u);
  out += streamer.flush();
  EXPECT_EQ(out, expected(*tok, prompt, gen));
  EXPECT_LE(counting.longest, 40u);
}

}  // namespace
}  // namespace lowbit
