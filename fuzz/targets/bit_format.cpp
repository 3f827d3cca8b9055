// The strings users type: bit formats (W4A4KV4g128), method specs (duquant+gptq), preset names.
#include <string>
#include <string_view>

#include "fuzz/fuzz_common.h"
#include "quant/bit_format.h"
#include "quant/method_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] { (void)BitFormat::parse(text, "--configs"); });
  fuzz::expect_clean([&] { (void)MethodSpec::parse(std::string(text)); });
  fuzz::expect_clean([&] { (void)find_preset(text); });
  return 0;
}
