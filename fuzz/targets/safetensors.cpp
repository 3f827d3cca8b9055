// safetensors header and data: SafetensorsFile, then every float tensor converted.
#include "io/safetensors.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const auto path = fuzz::write_input("model.safetensors", data, size);
  fuzz::expect_clean([&] {
    SafetensorsFile f(path);
    for (const auto& [name, info] : f.tensors())
      if (info.numel() <= (1 << 20) &&
          (info.dtype == DType::F32 || info.dtype == DType::F16 || info.dtype == DType::BF16))
        (void)f.to_f32(name);
  });
  return 0;
}
