// Codebook weights with a table per row (row layout, qgemm_lut_rows.h) with AArch64 NEON against
// fp32 activations. A row's 16-entry fp32 table is 64 bytes, the four registers of tbl
// (vqtbl4q_u8): each code u becomes the byte indices 4u .. 4u + 3 of its lane and one tbl
// returns 4 exact entries (the shared-table NEON kernel's look-up, here with the row's own table).
// A tile's 64 bytes are four q-registers of one row's codes, lanes 0..3, 4..7, 8..11, 12..15 of the
// reference's 16 lane sums, each kept in its own accumulator; the tree is the reference's
// (vfmaq_f32 is fused like std::fma).
//
// Register tiles: 1 activation row x 2 weight rows for m = 1, 2 x 1 otherwise.
#include <arm_neon.h>

#include <cstring>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

inline float tree_sum(const float32x4_t (&q)[4]) {
  const float32x4_t h4 = vaddq_f32(vaddq_f32(q[0], q[2]), vaddq_f32(q[1], q[3]));
  const float32x2_t h2 = vadd_f32(vget_low_f32(h4), vget_high_f32(h4));
  return vget_lane_f32(h2, 0) + vget_lane_f32(h2, 1);
}

// The 4 codes in bits 4 s .. 4 s + 3 of each lane of v looked up in `table`.
inline float32x4_t lookup(uint32x4_t v, int32x4_t shift, const uint8x16x4_t& table) {
  const uint32x4_t idx = vandq_u32(vshlq_u32(v, shift), vdupq_n_u32(15));
  const uint32x4_t bytes = vaddq_u32(vmulq_n_u32(idx, 0x04040404u), vdupq_n_u32(0x03020100u));
  return vreinterpretq_f32_u8(vqtbl4q_u8(table, vreinterpretq_u8_u32(bytes)));
}

template <int MR, int NR>
void tile(const LutRowsArgs& p, size_t i0, size_t j0) {
  const float* x[MR];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) x[i] = p.x + (i0 + i) * p.ldx;
  const uint8_t* codes[NR];
  uint8x16x4_t table[NR];
  LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
    codes[r] = p.codes + (j0 + r) * p.row_bytes;
    const auto* t = reinterpret_cast<const uint8_t*>(p.tables + (j0 + r) * 16);
    table[r] = {vld1q_u8(t), vld1q_u8(t + 16), vld1q_u8(t + 32), vld1q_u8(t + 48)};
  }
  float32x4_t acc[MR][NR][4];
  LOWBIT_UNROLL for (int i = 0; i < MR; ++i) LOWBIT_UNROLL for (int r = 0; r < NR; ++r)
      LOWBIT_UNROLL for (int q = 0; q < 4; ++q) acc[i][r][q] = vdupq_n_f32(0.0f);

  const size_t blocks = (p.k + 15) / 16;
  uint32x4_t v[NR][4] = {};  // loaded at every tile start (s = 0)
  for (size_t b = 0; b < blocks; ++b) {
    const size_t s = b % 8, col = 16 * b;
    if (s == 0) {
      LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (int q = 0; q < 4; ++q) v[r][q] =
          vld1q_u32(reinterpret_cast<const uint32_t*>(codes[r] + (b / 8) * 64) + 4 * q);
    }
    float32x4_t xv[MR][4];
    if (col + 16 <= p.k) {
      LOWBIT_UNROLL for (int i = 0; i < MR; ++i) LOWBIT_UNROLL for (int q = 0; q < 4; ++q)
          xv[i][q] = vld1q_f32(x[i] + col + 4 * q);
    } else {
      // The last, partial block: activations past k read as 0.
      LOWBIT_UNROLL for (int i = 0; i < MR; ++i) {
        float pad[16] = {};
        std::memcpy(pad, x[i] + col, (p.k - col) * sizeof(float));
        LOWBIT_UNROLL for (int q = 0; q < 4; ++q) xv[i][q] = vld1q_f32(pad + 4 * q);
      }
    }
    const int32x4_t shift = vdupq_n_s32(-static_cast<int32_t>(4 * s));  // a right shift
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (int q = 0; q < 4; ++q) {
      const float32x4_t wf = lookup(v[r][q], shift, table[r]);
      LOWBIT_UNROLL for (int i = 0; i < MR; ++i) acc[i][r][q] =
          vfmaq_f32(acc[i][r][q], xv[i][q], wf);
    }
  }

  store_lut_rows<MR, NR>(p, i0, j0, [&](int i, int r) { return tree_sum(acc[i][r]); });
}

}  // namespace

void qgemm_lut_rows_neon(const LutRowsArgs& p, size_t row_begin, size_t row_end) {
  sweep_lut_rows<2, 2, 1>(p.m, row_begin, row_end, 64,
                          [&]<int MR, int NR>(size_t i, size_t j) { tile<MR, NR>(p, i, j); });
}

}  // namespace lowbit::kernels::detail
