// Reference codebook (look-up table) GEMM: each output row's codes looked up in its table, against
// fp32 activations, in the per-output operation order every SIMD variant follows
// (kernel_variants.h).
#include <cmath>
#include <vector>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_lut_scalar(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  constexpr size_t kc = 8;
  const size_t group = w.chunks_per_group * kc;
  std::vector<float> wrow(w.chunks * kc);  // table[u] of one output row, by k
  for (size_t b = block_begin; b < block_end; ++b)
    for (size_t r = 0; r < 16; ++r) {
      const size_t j = b * 16 + r;
      if (j >= w.n) break;
      const float* table = w.codebook + (w.codebook_rows == 1 ? 0 : j * 16);
      for (size_t c = 0; c < w.chunks; ++c) {
        const uint8_t* q = w.codes + b * w.block_bytes + c * 64 + 4 * r;
        for (size_t jj = 0; jj < kc; ++jj)
          wrow[c * kc + jj] = table[jj < 4 ? q[jj] & 15 : q[jj - 4] >> 4];
      }
      for (size_t i = 0; i < p.m; ++i) {
        const float* x = p.x + i * p.ldx;
        float y = 0.0f;
        for (size_t g = 0; g < w.groups; ++g) {
          const size_t k0 = g * group, k1 = g + 1 == w.groups ? w.k : k0 + group;
          float acc = 0.0f;
          for (size_t k = k0; k < k1; ++k) acc = std::fma(x[k], wrow[k], acc);
          y = std::fma(acc, w.scales[(b * w.groups + g) * 16 + r], y);
        }
        if (p.bias) y += p.bias[j];
        p.y[i * p.ldy + j] = y;
      }
    }
}

}  // namespace lowbit::kernels::detail
