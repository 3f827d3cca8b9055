// Reference W4A16 / W8A16 GEMM: packed weights dequantized against fp32 activations, with the
// per-output operation order every SIMD variant follows (see kernel_variants.h).
#include <cmath>
#include <vector>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_f32_scalar(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  const size_t kc = w.bits == 4 ? 8 : 4;
  const size_t group = w.chunks_per_group * kc;
  std::vector<float> wrow(w.chunks * kc);  // float(u - z) of one output row, by k
  for (size_t b = block_begin; b < block_end; ++b)
    for (size_t r = 0; r < 16; ++r) {
      const size_t j = b * 16 + r;
      if (j >= w.n) break;
      for (size_t c = 0; c < w.chunks; ++c) {
        const uint8_t* q = w.codes + b * w.block_bytes + c * 64 + 4 * r;
        const size_t g = c / w.chunks_per_group;
        const int z = w.zeros ? w.zeros[(b * w.groups + g) * 16 + r] : w.zero;
        for (size_t jj = 0; jj < kc; ++jj) {
          const int u = w.bits == 8 ? q[jj] : jj < 4 ? q[jj] & 15 : q[jj - 4] >> 4;
          wrow[c * kc + jj] = static_cast<float>(u - z);
        }
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
