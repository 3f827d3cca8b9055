// tokenizer.model bytes (SentencePiece protobuf), then an encode through it.
#include "fuzz/fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto path = fuzz::write_input("tokenizer.model", data, size);
  fuzz::expect_clean([&] {
    auto tok = load_sentencepiece_tokenizer(path);
    (void)tok->decode(tok->encode("Hello world, naïve ☃"));
  });
  return 0;
}
