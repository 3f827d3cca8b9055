// llama2.c model .bin (header and weights).
#include "io/llama2c_checkpoint.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = lowbit::fuzz::write_input("model.bin", data, size);
  lowbit::fuzz::expect_clean([&] { (void)lowbit::load_llama2c_checkpoint(path); });
  return 0;
}
