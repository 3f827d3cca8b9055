// Reference GEMM for codebook weights with a table per row in the row layout
// (qgemm_lut_rows.h): the 16 lane sums, the fixed tree, the scale and the bias, written out one
// output at a time. Every SIMD variant reproduces these bits.
#include <cmath>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void qgemm_lut_rows_scalar(const LutRowsArgs& p, size_t row_begin, size_t row_end) {
  const size_t blocks = (p.k + 15) / 16;  // 16-wide k-blocks
  for (size_t j = row_begin; j < row_end; ++j) {
    const uint8_t* codes = p.codes + j * p.row_bytes;
    const float* table = p.tables + j * 16;
    for (size_t i = 0; i < p.m; ++i) {
      const float* x = p.x + i * p.ldx;
      float acc[16] = {};
      for (size_t b = 0; b < blocks; ++b) {
        const uint8_t* tile = codes + (b / 8) * 64;
        const size_t s = b % 8;
        for (size_t l = 0; l < 16; ++l) {
          const size_t col = 16 * b + l;
          const unsigned u = (tile[4 * l + s / 2] >> (4 * (s % 2))) & 15u;
          const float xv = col < p.k ? x[col] : 0.0f;
          acc[l] = std::fma(xv, table[u], acc[l]);
        }
      }
      for (size_t width = 8; width >= 1; width /= 2)
        for (size_t l = 0; l < width; ++l) acc[l] = acc[l] + acc[l + width];
      p.y[i * p.ldy + j] = std::fma(acc[0], p.scales[j], p.bias ? p.bias[j] : 0.0f);
    }
  }
}

}  // namespace lowbit::kernels::detail
