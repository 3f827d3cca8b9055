// W4A16 / W8A16 GEMM with AArch64 NEON (baseline): packed codes expanded to fp32 in registers
// (a q-register's 32-bit lane r holds row r's 4 consecutive k codes: shift, mask, subtract the
// zero point, convert - all exact), multiplied by broadcast fp32 activations with the scalar
// reference's per-output operation order, so the results match it bit for bit.
// The bit-plane containers (2, 3, 5, 6 bits) run the same tiles with each unit decoded to its
// base layout in registers (planar_unit_neon.h).
#include <arm_neon.h>

#include "kernels/arm/planar_unit_neon.h"
#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

// The code at bit offset SHIFT of each lane (MASK: 0xf or 0xff), minus z, as fp32.
template <int SHIFT, uint32_t MASK>
inline float32x4_t expand(uint32x4_t v, int32x4_t z) {
  uint32x4_t c = v;
  if constexpr (SHIFT > 0) c = vshrq_n_u32(v, SHIFT);
  if constexpr (SHIFT + 8 < 32 || MASK == 0xf) c = vandq_u32(c, vdupq_n_u32(MASK));
  return vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(c), z));
}

template <int MR, int NU, int SHIFT, uint32_t MASK>
inline void step(const float* const* x, size_t kidx, uint32x4_t v, const int32x4_t* z,
                 float32x4_t (&acc)[MR][NU], int u) {
  const float32x4_t wf = expand<SHIFT, MASK>(v, z[u]);
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] =
      vfmaq_f32(acc[r][u], vdupq_n_f32(x[r][kidx]), wf);
}

template <int kBits, bool kAsym, int MR, int NU>
void tile(const QgemmF32Args& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the container a unit is decoded to
  constexpr size_t kc = kBase == 4 ? 8 : 4;
  constexpr uint32_t kMask = kBase == 4 ? 0xf : 0xff;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  // Unit u: quarter (unit0 + u) % 4 of each chunk of block (unit0 + u) / 4.
  const uint8_t* wb[NU];
  int quarter[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    wb[u] = w.codes + ((unit0 + u) / 4) * w.block_bytes;
    quarter[u] = static_cast<int>((unit0 + u) % 4);
  }

  float32x4_t y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      vdupq_n_f32(0.0f);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    float32x4_t acc[MR][NU];
    int32x4_t z[NU];
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const size_t gi = (((unit0 + u) / 4) * w.groups + g) * 16 + ((unit0 + u) % 4) * 4;
      if constexpr (kAsym) {
        const int32_t zv[4] = {w.zeros[gi], w.zeros[gi + 1], w.zeros[gi + 2], w.zeros[gi + 3]};
        z[u] = vld1q_s32(zv);
      } else {
        z[u] = vdupq_n_s32(w.zero);
      }
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] = vdupq_n_f32(0.0f);
    }
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const uint32x4_t v = vreinterpretq_u32_u8(
            load_unit_neon<kBits>(wb[u] + c * kChunkStored<kBits>, quarter[u]));
        if constexpr (kBase == 4) {
          // k 0..3: low nibbles of bytes 0..3 (bit 8j); k 4..7: high nibbles (bit 8j + 4).
          if (kn > 0) step<MR, NU, 0, kMask>(x, k0 + 0, v, z, acc, u);
          if (kn > 1) step<MR, NU, 8, kMask>(x, k0 + 1, v, z, acc, u);
          if (kn > 2) step<MR, NU, 16, kMask>(x, k0 + 2, v, z, acc, u);
          if (kn > 3) step<MR, NU, 24, kMask>(x, k0 + 3, v, z, acc, u);
          if (kn > 4) step<MR, NU, 4, kMask>(x, k0 + 4, v, z, acc, u);
          if (kn > 5) step<MR, NU, 12, kMask>(x, k0 + 5, v, z, acc, u);
          if (kn > 6) step<MR, NU, 20, kMask>(x, k0 + 6, v, z, acc, u);
          if (kn > 7) step<MR, NU, 28, kMask>(x, k0 + 7, v, z, acc, u);
        } else {
          if (kn > 0) step<MR, NU, 0, kMask>(x, k0 + 0, v, z, acc, u);
          if (kn > 1) step<MR, NU, 8, kMask>(x, k0 + 1, v, z, acc, u);
          if (kn > 2) step<MR, NU, 16, kMask>(x, k0 + 2, v, z, acc, u);
          if (kn > 3) step<MR, NU, 24, kMask>(x, k0 + 3, v, z, acc, u);
        }
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

template <int kBits, bool kAsym>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  const size_t u0 = b0 * 4, u1 = b1 * 4;  // whole blocks; outputs past n are not stored
  if (p.m == 1) {
    for (size_t u = u0; u < u1; u += 4) tile<kBits, kAsym, 1, 4>(p, 0, u);
    return;
  }
  for (size_t r = 0; r < p.m; r += 4) {
    const size_t rows = min_size(4, p.m - r);
    for (size_t u = u0; u < u1; u += 2)
      with_count<4>(rows, [&]<int R>() { tile<kBits, kAsym, R, 2>(p, r, u); });
  }
}

}  // namespace

void qgemm_f32_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

void qgemm_f32_planar_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  const bool asym = p.w.zeros != nullptr;
  with_planar_bits(p.w.bits, [&]<int kBits>() {
    asym ? run<kBits, true>(p, block_begin, block_end)
         : run<kBits, false>(p, block_begin, block_end);
  });
}

}  // namespace lowbit::kernels::detail
