// SentencePiece and llama2.c tokenizers: round trips, agreement on the same Llama-2 vocabulary,
// and malformed files.
#include <gtest/gtest.h>

#include "core/error.h"
#include "testing/fixtures.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

const char* kTexts[] = {
    "Hello world",
    "Once upon a time, there was a little girl named Lily.",
    "  leading spaces and trailing  ",
    "naïve café — “quotes” 数字 😀",
    "tabs\tand\nnewlines\n\nend",
    "1234567890 3.14159",
};

TEST(SentencePiece, RoundTrips) {
  auto tok =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id, 1);
  EXPECT_EQ(tok->eos_id, 2);
  for (const char* t : kTexts) EXPECT_EQ(tok->decode(tok->encode(t)), t) << t;
}

TEST(Llama2cTokenizer, AgreesWithSentencePieceOnLlama2Vocab) {
  auto sp =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  auto l2c = load_llama2c_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.bin");
  EXPECT_EQ(l2c->vocab_size(), 32000);
  for (const char* t : {"Hello world", "Once upon a time, there was a little girl named Lily.",
                        "The quick brown fox jumps over the lazy dog."})
    EXPECT_EQ(l2c->encode(t), sp->encode(t)) << t;
}

TEST(Llama2cTokenizer, RoundTripsWithByteFallback) {
  auto tok = load_llama2c_tokenizer(testing::shared_dir() / "models/stories260K/tok512.bin");
  EXPECT_EQ(tok->vocab_size(), 512);
  for (const char* t : kTexts) {
    if (std::string(t).front() == ' ') continue;  // the dummy prefix eats one leading space
    EXPECT_EQ(tok->decode(tok->encode(t)), t) << t;
  }
}

TEST(Llama2cTokenizer, MalformedFiles) {
  testing::TempDir dir;
  testing::write_file(dir / "a.bin", "");
  EXPECT_THROW(load_llama2c_tokenizer(dir / "a.bin"), Error);
  std::string bytes = testing::read_file(testing::shared_dir() / "models/stories260K/tok512.bin");
  testing::write_file(dir / "b.bin", bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(load_llama2c_tokenizer(dir / "b.bin"), Error);
  EXPECT_THROW(load_llama2c_tokenizer(dir / "missing.bin"), Error);
}

TEST(SentencePiece, MalformedFile) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.model", "not a protobuf at all");
  EXPECT_THROW(load_sentencepiece_tokenizer(dir / "tokenizer.model"), Error);
}

// Found by the fuzzer: a model with an empty piece makes the library throw its own exception
// (darts-clone's "zero-length key") instead of returning a status; it must be a lowbit::Error
// naming the file.
TEST(SentencePiece, ALibraryExceptionBecomesAnErrorNamingTheFile) {
  const std::string crash = testing::read_file(
      std::filesystem::path(LOWBIT_SOURCE_DIR) /
      "fuzz/regressions/sentencepiece_model/crash-f9b2145493485c67e2cc040b28951fb86e3cc2c2");
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.model", crash);
  const std::string e =
      testing::error_of([&] { load_sentencepiece_tokenizer(dir / "tokenizer.model"); });
  EXPECT_NE(e.find("tokenizer.model: cannot load SentencePiece model"), std::string::npos) << e;
  EXPECT_NE(e.find("zero-length key"), std::string::npos) << e;
}

TEST(TokenizerLoader, NoTokenizerBesideModel) {
  testing::TempDir dir;
  try {
    load_tokenizer_for(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer found"), std::string::npos);
  }
}

}  // namespace
}  // namespace lowbit
