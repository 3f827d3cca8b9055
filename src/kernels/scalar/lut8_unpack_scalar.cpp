// Reference int4-code-to-int8 lookup (kernel_variants.h, Lut8UnpackFn): what the vpshufb and tbl
// variants reproduce byte for byte.
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void lut8_unpack_scalar(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out) {
  for (size_t c = 0; c < chunks; ++c)
    for (size_t i = 0; i < 64; ++i) {
      const uint8_t v = codes[c * 64 + i];
      out[c * 128 + i] = table[v & 15];
      out[c * 128 + 64 + i] = table[v >> 4];
    }
}

}  // namespace lowbit::kernels::detail
