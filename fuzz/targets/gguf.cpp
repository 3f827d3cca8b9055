// GGUF files: the container (header, metadata of every type, tensor infos, offsets), every
// metadata array read element by element, then the file as a model when it is one (config from
// llama.* keys, tokenizer rebuilt from tokenizer.ggml.*, tensors repacked or re-quantized).
#include "fuzz/fuzz_common.h"
#include "io/gguf_model.h"
#include "io/gguf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto path = fuzz::write_input("model.gguf", data, size);
  fuzz::expect_clean([&] {
    const GgufFile f(path);
    for (const auto& [key, value] : f.metadata())
      for (uint64_t i = 0; i < value.count && i < 64; ++i) (void)value.at(static_cast<size_t>(i));
    for (const auto& t : f.tensors()) (void)t.type_name();
  });
  fuzz::expect_clean([&] { (void)load_gguf_model(path); });
  return 0;
}
