// Encoding fuzzed text with each tokenizer kind over a real vocabulary (SmolLM2 byte-level BPE,
// Llama-2 SentencePiece, stories260K llama2.c), then decoding the ids. The first byte picks the
// tokenizer.
#include <memory>
#include <string_view>

#include "fuzz/fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  static const std::unique_ptr<Tokenizer> tokenizers[] = {
      load_bpe_tokenizer_json(fuzz::shared_dir() / "tokenizers/smollm2/tokenizer.json"),
      load_sentencepiece_tokenizer(fuzz::shared_dir() / "tokenizers/llama2/tokenizer.model"),
      load_llama2c_tokenizer(fuzz::shared_dir() / "models/stories260K/tok512.bin")};
  if (size == 0) return 0;
  const Tokenizer& tok = *tokenizers[data[0] % 3];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::expect_clean([&] { (void)tok.decode(tok.encode(text)); });
  return 0;
}
