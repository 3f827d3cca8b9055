// Codebook (look-up table) GEMM with AArch64 NEON (baseline) against fp32 activations: a
// q-register's 32-bit lane r holds row r's 8 codes of 8 consecutive k (see qgemm_f32_neon.cpp).
// A shared 16-entry fp32 table is 64 bytes, exactly the four registers of tbl (vqtbl4q_u8): each
// code u becomes the byte indices 4u .. 4u + 3 of its lane, and one tbl returns 4 exact fp32
// entries. Per-row tables differ per lane, which tbl cannot serve from one table: those lanes load
// their entries one by one. The operation order per output is the scalar reference's (vfmaq_f32
// is fused like std::fma).
#include <arm_neon.h>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

template <bool kPerRow, int MR, int NU, int SHIFT>
inline void step(const float* const* x, size_t kidx, uint32x4_t v, const uint8x16x4_t& table,
                 const uint32_t (*rows)[4], const float* codebook, float32x4_t (&acc)[MR][NU],
                 int u) {
  uint32x4_t idx = v;
  if constexpr (SHIFT > 0) idx = vshrq_n_u32(v, SHIFT);
  idx = vandq_u32(idx, vdupq_n_u32(15));
  float32x4_t wf;
  if constexpr (kPerRow) {
    uint32_t c[4];
    vst1q_u32(c, idx);
    const float e[4] = {codebook[rows[u][0] * 16 + c[0]], codebook[rows[u][1] * 16 + c[1]],
                        codebook[rows[u][2] * 16 + c[2]], codebook[rows[u][3] * 16 + c[3]]};
    wf = vld1q_f32(e);
  } else {
    const uint32x4_t bytes = vaddq_u32(vmulq_n_u32(idx, 0x04040404u), vdupq_n_u32(0x03020100u));
    wf = vreinterpretq_f32_u8(vqtbl4q_u8(table, vreinterpretq_u8_u32(bytes)));
  }
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] =
      vfmaq_f32(acc[r][u], vdupq_n_f32(x[r][kidx]), wf);
}

template <bool kPerRow, int MR, int NU>
void tile(const QgemmF32Args& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  constexpr size_t kc = 8;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) wb[u] =
      w.codes + ((unit0 + u) / 4) * w.block_bytes + ((unit0 + u) % 4) * 16;
  uint8x16x4_t table;
  if constexpr (!kPerRow) {
    const auto* t = reinterpret_cast<const uint8_t*>(w.codebook);
    table = {vld1q_u8(t), vld1q_u8(t + 16), vld1q_u8(t + 32), vld1q_u8(t + 48)};
  } else {
    table = {vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0)};
  }
  // Per-row tables: the output row of each lane (rows past n read table 0).
  uint32_t rows[NU][4];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) for (int l = 0; l < 4; ++l) {
    const size_t row = (unit0 + u) * 4 + static_cast<size_t>(l);
    rows[u][l] = row < w.n ? static_cast<uint32_t>(row) : 0u;
  }

  float32x4_t y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      vdupq_n_f32(0.0f);
  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    float32x4_t acc[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
        acc[r][u] = vdupq_n_f32(0.0f);
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const uint32x4_t v = vreinterpretq_u32_u8(vld1q_u8(wb[u] + c * 64));
        if (kn > 0) step<kPerRow, MR, NU, 0>(x, k0 + 0, v, table, rows, w.codebook, acc, u);
        if (kn > 1) step<kPerRow, MR, NU, 8>(x, k0 + 1, v, table, rows, w.codebook, acc, u);
        if (kn > 2) step<kPerRow, MR, NU, 16>(x, k0 + 2, v, table, rows, w.codebook, acc, u);
        if (kn > 3) step<kPerRow, MR, NU, 24>(x, k0 + 3, v, table, rows, w.codebook, acc, u);
        if (kn > 4) step<kPerRow, MR, NU, 4>(x, k0 + 4, v, table, rows, w.codebook, acc, u);
        if (kn > 5) step<kPerRow, MR, NU, 12>(x, k0 + 5, v, table, rows, w.codebook, acc, u);
        if (kn > 6) step<kPerRow, MR, NU, 20>(x, k0 + 6, v, table, rows, w.codebook, acc, u);
        if (kn > 7) step<kPerRow, MR, NU, 28>(x, k0 + 7, v, table, rows, w.codebook, acc, u);
      }
    }
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const size_t gi = (((unit0 + u) / 4) * w.groups + g) * 16 + ((unit0 + u) % 4) * 4;
      const float32x4_t sw = vld1q_f32(w.scales + gi);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][u] = vfmaq_f32(y[r][u], acc[r][u], sw);
    }
  }
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t n0 = (unit0 + u) * 4;
    if (n0 >= w.n) continue;
    const size_t valid = min_size(4, w.n - n0);
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      float tmp[4];
      vst1q_f32(tmp, y[r][u]);
      float* dst = p.y + (row0 + r) * p.ldy + n0;
      for (size_t i = 0; i < valid; ++i) dst[i] = p.bias ? tmp[i] + p.bias[n0 + i] : tmp[i];
    }
  }
}

template <bool kPerRow>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  const size_t u0 = b0 * 4, u1 = b1 * 4;  // whole blocks; outputs past n are not stored
  if (p.m == 1) {
    for (size_t u = u0; u < u1; u += 4) tile<kPerRow, 1, 4>(p, 0, u);
    return;
  }
  for (size_t r = 0; r < p.m; r += 4) {
    const size_t rows = min_size(4, p.m - r);
    for (size_t u = u0; u < u1; u += 2)
      with_count<4>(rows, [&]<int R>() { tile<kPerRow, R, 2>(p, r, u); });
  }
}

}  // namespace

void qgemm_lut_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  if (p.w.codebook_rows == 1)
    run<false>(p, block_begin, block_end);
  else
    run<true>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
