// Integer GEMM with the Armv8.2 dot product (compiled with -march=armv8.2-a+dotprod, called only
// when HWCAP_ASIMDDP is present): sdot adds 4 s8 x s8 products into each int32 lane, exactly one
// output row's 4 k bytes of a packed chunk. int4 codes (0..15) are valid s8 as they are; int8
// codes are flipped to u - 128 (there is no mixed-sign dot before Armv8.6 i8mm), and the zero
// point is corrected per group by (z - offset) * sum(a).
// The bit-plane containers (2, 3, 5, 6 bits) run the same tiles with each unit decoded to its
// base layout in registers (planar_unit_neon.h).
#include "kernels/arm/planar_unit_neon.h"
#include "kernels/arm/qgemm_neon_common.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

// MR rows x NU units of 4 outputs; unit u is quarter u % 4 of block u / 4.
template <int kBits, bool kAsym, int MR, int NU>
void tile(const QgemmArgs& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  const int8_t* a[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) a[r] = p.a + (row0 + r) * p.lda;
  // Unit u: quarter (unit0 + u) % 4 of each chunk of block (unit0 + u) / 4.
  const uint8_t* wb[NU];
  int quarter[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    wb[u] = w.codes + ((unit0 + u) / 4) * w.block_bytes;
    quarter[u] = static_cast<int>((unit0 + u) % 4);
  }
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the container a unit is decoded to
  constexpr int kOff = kBase == 4 ? 0 : 128;

  float32x4_t y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      vdupq_n_f32(0.0f);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    int32x4_t acc[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
        acc[r][u] = vdupq_n_s32(0);
    for (size_t c = c0; c < c1; ++c) {
      if constexpr (kBase == 4) {
        int8x16_t lo[NU], hi[NU];
        LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
          const uint8x16_t v = load_unit_neon<kBits>(wb[u] + c * kChunkStored<kBits>, quarter[u]);
          lo[u] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f)));
          hi[u] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const int8x8_t x = load8(a[r] + c * 8);  // lane 0: k 0..3, lane 1: k 4..7
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            acc[r][u] = vdotq_lane_s32(acc[r][u], lo[u], x, 0);
            acc[r][u] = vdotq_lane_s32(acc[r][u], hi[u], x, 1);
          }
        }
      } else {
        int8x16_t ws[NU];
        LOWBIT_UNROLL for (int u = 0; u < NU; ++u) ws[u] = vreinterpretq_s8_u8(veorq_u8(
            load_unit_neon<kBits>(wb[u] + c * kChunkStored<kBits>, quarter[u]), vdupq_n_u8(0x80)));
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const int8x8_t x = load4x2(a[r] + c * 4);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) acc[r][u] =
              vdotq_lane_s32(acc[r][u], ws[u], x, 0);
        }
      }
    }
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const size_t gi = (((unit0 + u) / 4) * w.groups + g) * 16 + ((unit0 + u) % 4) * 4;
      const float32x4_t sw = vld1q_f32(w.scales + gi);
      const int32x4_t zc = zero_terms<kAsym>(w, gi, kOff);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][u] =
          rescale(p, gi, row0 + r, g, acc[r][u], zc, sw, y[r][u]);
    }
  }

  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t n0 = (unit0 + u) * 4;
    if (n0 >= w.n) continue;
    const size_t valid = min_size(4, w.n - n0);
    const float32x4_t bias = p.bias ? load_unit(p.bias + n0, valid) : vdupq_n_f32(0.0f);
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) store_unit(
        p.y + (row0 + r) * p.ldy + n0, p.bias ? vaddq_f32(y[r][u], bias) : y[r][u], valid);
  }
}

template <int kBits, bool kAsym>
void run(const QgemmArgs& p, size_t b0, size_t b1) {
  // Whole blocks only: a block is four units, so pairs of units never straddle n's padding
  // beyond the packed block (the unused outputs are computed on padding and not stored).
  const size_t u0 = b0 * 4, u1 = b1 * 4;
  if (p.m == 1) {
    for (size_t u = u0; u < u1; u += 4) tile<kBits, kAsym, 1, 4>(p, 0, u);
    return;
  }
  const size_t unit_bytes = p.w.block_bytes / 4;
  const size_t panel =
      unit_bytes >= (size_t{64} << 10) ? 2 : ((size_t{64} << 10) / unit_bytes + 1) / 2 * 2;
  for (size_t pu = u0; pu < u1; pu += panel) {
    const size_t pe = min_size(u1, pu + panel);
    for (size_t r = 0; r < p.m; r += 4) {
      const size_t rows = min_size(4, p.m - r);
      for (size_t u = pu; u < pe; u += 2)
        with_count<4>(rows, [&]<int R>() { tile<kBits, kAsym, R, 2>(p, r, u); });
    }
  }
}

}  // namespace

void qgemm_neondot(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

void qgemm_planar_neondot(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const bool asym = p.w.zeros != nullptr;
  with_planar_bits(p.w.bits, [&]<int kBits>() {
    asym ? run<kBits, true>(p, block_begin, block_end)
         : run<kBits, false>(p, block_begin, block_end);
  });
}

}  // namespace lowbit::kernels::detail
