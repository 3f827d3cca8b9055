// .lowbit files: the container and everything load_quantized_model reads from it (metadata,
// specs, transforms, packed-weight headers, the embedded config and tokenizer). The header CRC
// is recomputed and tensor CRCs skipped, so mutations reach the parsers behind the checksums.
#include <zlib.h>

#include <cstring>
#include <string>

#include "fuzz/fuzz_common.h"
#include "io/quantized_model_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 24) {  // magic, version, header CRC at 12, header length at 16
    uint64_t hlen = 0;
    std::memcpy(&hlen, bytes.data() + 16, 8);
    if (hlen <= bytes.size() - 24) {
      const auto crc = static_cast<uint32_t>(
          crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + 24), static_cast<uInt>(hlen)));
      std::memcpy(bytes.data() + 12, &crc, 4);
    }
  }
  const auto path = fuzz::write_input("model.lowbit",
                                      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  fuzz::expect_clean([&] {
    (void)load_quantized_model(path, QuantExecution::kPacked, /*verify_checksums=*/false);
  });
  return 0;
}
