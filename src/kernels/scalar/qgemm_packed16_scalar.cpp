// Reference of the packed int16 multiplier (kernel_variants.h, qgemm_packed16.h): the lanes, the
// 8-bit products and the 16-bit fields emulated with unsigned integer types of those widths, so
// the bounds the SIMD variants rely on are checked here too (a field that overflowed would wrap
// and the result would differ from qgemm_scalar's).
#include <cmath>
#include <vector>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_packed16_scalar(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  const size_t k_padded = w.chunks * 8;
  std::vector<uint8_t> u(16 * k_padded);  // the block's codes, row-major
  for (size_t b = block_begin; b < block_end; ++b) {
    for (size_t c = 0; c < w.chunks; ++c)
      for (size_t r = 0; r < 16; ++r) {
        const uint8_t* q = w.codes + b * w.block_bytes + c * 64 + 4 * r;
        for (size_t j = 0; j < 8; ++j)
          u[r * k_padded + c * 8 + j] = static_cast<uint8_t>(j < 4 ? q[j] & 15 : q[j - 4] >> 4);
      }
    for (size_t i = 0; i < p.m; ++i) {
      const int8_t* a = p.a + i * p.lda;
      float y[16] = {};
      for (size_t g = 0; g < w.groups; ++g) {
        const size_t k0 = g * w.chunks_per_group * 8;
        const size_t k1 = g + 1 == w.groups ? k_padded : k0 + w.chunks_per_group * 8;
        const size_t gi = (b * w.groups + g) * 16;
        for (size_t pair = 0; pair < 8; ++pair) {
          const uint8_t* u0 = u.data() + (2 * pair) * k_padded;
          const uint8_t* u1 = u0 + k_padded;
          int32_t sums[2] = {0, 0};
          uint16_t field[2] = {0, 0};
          size_t products = 0;
          for (size_t k = k0; k < k1; ++k) {
            const auto lane = static_cast<uint16_t>(u0[k] | u1[k] << 8);
            const auto prod = static_cast<uint16_t>(lane * static_cast<uint16_t>(a[k] + 8));
            field[0] = static_cast<uint16_t>(field[0] + (prod & 0xff));
            field[1] = static_cast<uint16_t>(field[1] + (prod >> 8));
            if (++products == kPacked16Products) {
              sums[0] += field[0], sums[1] += field[1];
              field[0] = field[1] = 0;
              products = 0;
            }
          }
          sums[0] += field[0], sums[1] += field[1];
          for (size_t h = 0; h < 2; ++h) {
            const size_t r = 2 * pair + h;
            const int32_t z = w.zeros ? w.zeros[gi + r] : w.zero;
            const int32_t k_count = static_cast<int32_t>(k1 - k0);
            const int32_t acc =
                sums[h] - 8 * (p.w_sums[gi + r] + z * k_count) - z * p.a_sums[i * w.groups + g];
            y[r] = std::fma(static_cast<float>(acc), p.a_scales[i] * w.scales[gi + r], y[r]);
          }
        }
      }
      for (size_t r = 0; r < 16; ++r) {
        const size_t j = b * 16 + r;
        if (j >= w.n) break;
        p.y[i * p.ldy + j] = p.bias ? y[r] + p.bias[j] : y[r];
      }
    }
  }
}

}  // namespace lowbit::kernels::detail
