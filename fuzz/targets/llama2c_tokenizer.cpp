// llama2.c tokenizer.bin, then an encode/decode through it.
#include "fuzz/fuzz_common.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto path = fuzz::write_input("tokenizer.bin", data, size);
  fuzz::expect_clean([&] {
    auto tok = load_llama2c_tokenizer(path);
    (void)tok->decode(tok->encode("Once upon a time, naïve ☃"));
  });
  return 0;
}
