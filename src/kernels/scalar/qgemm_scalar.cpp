// Reference integer GEMM on packed weights: the exact result every SIMD variant reproduces (see
// kernel_variants.h). It reads the packed layout through the same offsets as the SIMD kernels but
// computes sum (a + o) * (u - z) directly (o: the row's activation offset, 8-bit asymmetric
// activations only), without their zero-point and offset algebra, so it checks that too.
#include <cmath>
#include <vector>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_scalar(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  const size_t kc = w.bits == 4 ? 8 : 4;
  const size_t k_padded = w.chunks * kc;
  std::vector<int32_t> wrow(k_padded);  // u - z of one output row, by k
  for (size_t b = block_begin; b < block_end; ++b)
    for (size_t r = 0; r < 16; ++r) {
      const size_t j = b * 16 + r;
      if (j >= w.n) break;
      // Unpack row j: chunk c holds k in [c*kc, (c+1)*kc) at bytes 4r.. of the chunk.
      for (size_t c = 0; c < w.chunks; ++c) {
        const uint8_t* q = w.codes + b * w.block_bytes + c * 64 + 4 * r;
        const size_t g = c / w.chunks_per_group;
        const int z = w.zeros ? w.zeros[(b * w.groups + g) * 16 + r] : w.zero;
        for (size_t jj = 0; jj < kc; ++jj) {
          const int u = w.bits == 8 ? q[jj] : jj < 4 ? q[jj] & 15 : q[jj - 4] >> 4;
          wrow[c * kc + jj] = u - z;
        }
      }
      for (size_t i = 0; i < p.m; ++i) {
        const int8_t* a = p.a + i * p.lda;
        const int32_t off = p.a_offsets ? p.a_offsets[i] : 0;
        float y = 0.0f;
        for (size_t g = 0; g < w.groups; ++g) {
          const size_t k0 = g * w.chunks_per_group * kc;
          const size_t k1 = g + 1 == w.groups ? k_padded : k0 + w.chunks_per_group * kc;
          int32_t acc = 0;
          for (size_t k = k0; k < k1; ++k) acc += (a[k] + off) * wrow[k];
          const float s = p.a_scales[i] * w.scales[(b * w.groups + g) * 16 + r];
          y = std::fma(static_cast<float>(acc), s, y);
        }
        if (p.bias) y += p.bias[j];
        p.y[i * p.ldy + j] = y;
      }
    }
}

}  // namespace lowbit::kernels::detail
