// tokenizer.json (byte-level BPE), then an encode/decode of a fixed text through it.
#include "fuzz/fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto path = fuzz::write_input("tokenizer.json", data, size);
  fuzz::expect_clean([&] {
    auto tok = load_bpe_tokenizer_json(path);
    const auto ids = tok->encode("Hello world, 123 <|endoftext|> naïve ☃");
    (void)tok->decode(ids);
  });
  return 0;
}
