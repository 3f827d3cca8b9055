// config.json of a Hugging Face checkpoint.
#include "fuzz/fuzz_common.h"
#include "io/hf_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = lowbit::fuzz::write_input("config.json", data, size);
  lowbit::fuzz::expect_clean([&] { (void)lowbit::read_hf_config(path); });
  return 0;
}
