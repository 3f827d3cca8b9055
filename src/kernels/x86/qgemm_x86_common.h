#pragma once
// Shared skeleton of the x86 GEMM files (qgemm_avx2.cpp, qgemm_avxvnni.cpp, qgemm_f32_avx2.cpp on
// ymm; qgemm_avx512vnni.cpp, qgemm_f32_avx512.cpp on zmm): activation broadcasts, the packed
// layout's addressing, lane masks, the integer group epilogue, the output epilogue and the tile
// loops. The kernels keep only their inner loops. Their register tiles are declared
// [[gnu::noinline]]: inlined into these sweeps (one big function per format), GCC allocated the
// AVX2 int8 tile's registers worse and spilled accumulators in its inner loop (W8A8 GEMM 1.3x
// slower); out of line each tile gets the registers to itself, as before the sweeps were shared.
//
// Everything is in an anonymous namespace (or templates instantiated with each file's own
// lambdas): each including file gets its own copy compiled with its own target flags, so no
// AVX-512 copy can be merged by the linker into the AVX2 file (see kernel_variants.h). The zmm
// part exists only where the includer is compiled with AVX-512 flags.
#if defined(__AVX512F__)
#include "kernels/x86/avx512_intrinsics.h"
#else
#include <immintrin.h>
#endif

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

// ---- ymm: a unit is half a packed block, 8 output rows x 4 k bytes per chunk ----------------
// Unit u is half u % 2 of block u / 2; units past n (the empty half of a last block) are skipped.

constexpr size_t kUnitPanelBytes = size_t{128} << 10;  // weights per GEMM panel (L2-resident)

// 4 activation bytes (one k-quad of a row) in every 32-bit lane.
inline __m256i broadcast4_ymm(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

// Lanes [0, valid) set.
inline __m256i lane_mask_ymm(size_t valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The unit's codes (chunk c at + c * 64).
inline const uint8_t* unit_codes(const PackedArgs& w, size_t unit) {
  return w.codes + (unit / 2) * w.block_bytes + (unit % 2) * 32;
}

// Index of the unit's first scale (and zero point) of group g.
inline size_t unit_params(const PackedArgs& w, size_t unit, size_t g) {
  return ((unit / 2) * w.groups + g) * 16 + (unit % 2) * 8;
}

// Where a tile's unit reads its codes from: for the base containers its half of the first chunk
// (chunk c at + c * 64); for the bit-plane ones its block's first chunk (chunk c at
// + c * kChunkStored, the half given apart to load_unit_ymm).
template <int kBits>
inline const uint8_t* unit_codes_of(const PackedArgs& w, size_t unit) {
  if constexpr (kBits == 4 || kBits == 8)
    return unit_codes(w, unit);
  else
    return w.codes + (unit / 2) * w.block_bytes;
}

// Chunk c of a unit in the base layout (8 rows x 4 bytes): one load for the base containers; a
// bit-plane chunk decoded in registers (packed_weights.h's planes), `half` 0 for rows 0-7 (base
// bytes 0..31) and 1 for rows 8-15 (base bytes 32..63).
template <int kBits>
inline __m256i load_unit_ymm(const uint8_t* wb, size_t c, int half) {
  if constexpr (kBits == 4 || kBits == 8) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + c * 64));
  } else {
    const uint8_t* s = wb + c * kChunkStored<kBits>;
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    constexpr int kShift = kBits <= 3 ? 2 : 4;
    const __m256i h = _mm256_set1_epi64x(half);
    // Base bytes 32 half + j from S[j]: shifted by kShift for the upper half, then masked.
    __m256i v = _mm256_srlv_epi64(lo, _mm256_slli_epi64(h, kShift == 2 ? 1 : 2));
    v = _mm256_and_si256(v, _mm256_set1_epi8(kBits <= 3 ? 0x33 : 0x0f));
    if constexpr (kBits == 3) {
      // Base byte p = 16q + i takes bit q of each nibble of S[32 + i]: q = 2 half + j / 16.
      const __m256i t =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32)));
      const __m256i q = _mm256_add_epi64(_mm256_setr_epi64x(0, 0, 1, 1), _mm256_slli_epi64(h, 1));
      const __m256i bit = _mm256_and_si256(_mm256_srlv_epi64(t, q), _mm256_set1_epi8(0x11));
      v = _mm256_or_si256(v, _mm256_slli_epi64(bit, 2));
    } else if constexpr (kBits == 5) {
      // Base byte p = 8q + i takes bit q of S[32 + i]: q = 4 half + j / 8.
      uint64_t o;
      __builtin_memcpy(&o, s + 32, sizeof o);
      const __m256i q = _mm256_add_epi64(_mm256_setr_epi64x(0, 1, 2, 3), _mm256_slli_epi64(h, 2));
      const __m256i bit =
          _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x(static_cast<long long>(o)), q),
                           _mm256_set1_epi8(0x01));
      v = _mm256_or_si256(v, _mm256_slli_epi64(bit, 4));
    } else if constexpr (kBits == 6) {
      // Base byte p = 16q + i takes bits 2q, 2q + 1 of S[32 + i]: q = 2 half + j / 16.
      const __m256i t =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32)));
      const __m256i q = _mm256_add_epi64(_mm256_setr_epi64x(0, 0, 2, 2), _mm256_slli_epi64(h, 2));
      const __m256i bits = _mm256_and_si256(_mm256_srlv_epi64(t, q), _mm256_set1_epi8(0x03));
      v = _mm256_or_si256(v, _mm256_slli_epi64(bits, 4));
    }
    return v;
  }
}

// The halves argument of load_nibbles_ymm for the base containers (their units' pointers already
// carry the half).
template <int NU>
inline constexpr int kNoHalves[NU] = {};

// Chunk c of NU units split into nibbles: lo = k 0..3 of an int4 chunk (or the low halves of int8
// codes), hi = k 4..7 (the high halves), each in 0..15.
template <int kBits, int NU>
inline void load_nibbles_ymm(const uint8_t* const (&wb)[NU], const int (&half)[NU], size_t c,
                             __m256i (&lo)[NU], __m256i (&hi)[NU]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const __m256i v = load_unit_ymm<kBits>(wb[u], c, half[u]);
    lo[u] = _mm256_and_si256(v, low4);
    hi[u] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  }
}

// The asymmetric zero points of 8 rows (at w.zeros + gi) as int32.
inline __m256i zeros_ymm(const PackedArgs& w, size_t gi) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + gi)));
}

// Integer group epilogue: y = fma(float(acc - z * sum(a) + o * ws), sa * sw, y) for group g (the
// exact int32 sums acc of a * u over the group; o * ws only with activation offsets).
template <bool kAsym, int MR, int NU>
inline void rescale_group_ymm(const QgemmArgs& p, size_t row0, size_t unit0, size_t g,
                              const __m256i (&acc)[MR][NU], __m256 (&y)[MR][NU]) {
  const PackedArgs& w = p.w;
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t gi = unit_params(w, unit0 + u, g);
    const __m256 sw = _mm256_loadu_ps(w.scales + gi);
    [[maybe_unused]] __m256i zv = _mm256_setzero_si256();
    if constexpr (kAsym) zv = zeros_ymm(w, gi);
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      __m256i s = acc[r][u];
      const int32_t asum = p.a_sums[(row0 + r) * w.groups + g];
      if constexpr (kAsym)
        s = _mm256_sub_epi32(s, _mm256_mullo_epi32(zv, _mm256_set1_epi32(asum)));
      else
        s = _mm256_sub_epi32(s, _mm256_set1_epi32(w.zero * asum));
      if (p.a_offsets)
        s = _mm256_add_epi32(
            s,
            _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.w_sums + gi)),
                               _mm256_set1_epi32(p.a_offsets[row0 + r])));
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(p.a_scales[row0 + r]), sw);
      y[r][u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, y[r][u]);
    }
  }
}

// Output epilogue: y (+ bias) stored to the outputs of the units that lie below n. Args is
// QgemmArgs or QgemmF32Args.
template <int MR, int NU, class Args>
inline void store_units_ymm(const Args& p, size_t row0, size_t unit0, const __m256 (&y)[MR][NU]) {
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t n0 = (unit0 + u) * 8;
    if (n0 >= p.w.n) continue;
    const __m256i mask = lane_mask_ymm(min_size(8, p.w.n - n0));
    const __m256 bias = p.bias ? _mm256_maskload_ps(p.bias + n0, mask) : _mm256_setzero_ps();
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      const __m256 v = p.bias ? _mm256_add_ps(y[r][u], bias) : y[r][u];
      _mm256_maskstore_ps(p.y + (row0 + r) * p.ldy + n0, mask, v);
    }
  }
}

// The ymm kernels' tile loops over blocks [b0, b1): GEMV (m = 1) in tiles of 1 row x 2 units,
// GEMM in tiles of up to 4 rows x 1 unit over panels of kUnitPanelBytes. `tile` is called as
// tile.template operator()<MR, NU>(row0, unit0).
template <class Args, class Tile>
inline void run_units_ymm(const Args& p, size_t b0, size_t b1, Tile&& tile) {
  const size_t u0 = b0 * 2, u1 = min_size(b1 * 2, (p.w.n + 7) / 8);
  if (p.m == 1) {
    sweep_gemv<2>(u0, u1, [&]<int NU>(size_t u) { tile.template operator()<1, NU>(0, u); });
    return;
  }
  sweep_panels<4>(p.m, u0, u1, p.w.block_bytes / 2, kUnitPanelBytes,
                  [&]<int R>(size_t r, size_t pu, size_t pe) {
                    for (size_t u = pu; u < pe; ++u) tile.template operator()<R, 1>(r, u);
                  });
}

// The entry point of a ymm GEMM file: Kernel::tile<kBits, kAsym, MR, NU>(p, row0, unit0) (MR
// rows x NU units from unit0) instantiated for the weights' format and run over blocks [b0, b1).
template <class Kernel, class Args>
inline void run_ymm_gemm(const Args& p, size_t b0, size_t b1) {
  with_format(p.w, [&]<int kBits, bool kAsym>() {
    run_units_ymm(p, b0, b1, [&]<int MR, int NU>(size_t row0, size_t unit0) {
      Kernel::template tile<kBits, kAsym, MR, NU>(p, row0, unit0);
    });
  });
}

// The same for a bit-plane container (p.w.bits 2, 3, 5 or 6), whose chunks the tiles decode in
// registers (load_unit_ymm).
template <class Kernel, class Args>
inline void run_ymm_gemm_planar(const Args& p, size_t b0, size_t b1) {
  const bool asym = p.w.zeros != nullptr;
  with_planar_bits(p.w.bits, [&]<int kBits>() {
    const auto run = [&]<bool kAsym>() {
      run_units_ymm(p, b0, b1, [&]<int MR, int NU>(size_t row0, size_t unit0) {
        Kernel::template tile<kBits, kAsym, MR, NU>(p, row0, unit0);
      });
    };
    asym ? run.template operator()<true>() : run.template operator()<false>();
  });
}

#if defined(__AVX512F__)
// ---- zmm: a register holds a whole packed chunk, 16 output rows x 4 k bytes ------------------

constexpr size_t kBlockPanelBytes = size_t{256} << 10;  // weights per GEMM panel (L2-resident)

inline __m512i broadcast4_zmm(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

// Lanes [0, valid) set, valid <= 16.
inline __mmask16 lane_mask_zmm(size_t valid) {
  return static_cast<__mmask16>((1u << valid) - 1);
}

// The asymmetric zero points of 16 rows (at w.zeros + gi) as int32.
inline __m512i zeros_zmm(const PackedArgs& w, size_t gi) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.zeros + gi)));
}

// The activation-offset term o[row] * ws of 16 outputs (w_sums at gi), added to s when the
// activations have offsets (8-bit asymmetric).
inline __m512i add_offset_zmm(const QgemmArgs& p, size_t gi, size_t row, __m512i s) {
  if (!p.a_offsets) return s;
  return _mm512_add_epi32(s, _mm512_mullo_epi32(_mm512_loadu_si512(p.w_sums + gi),
                                                _mm512_set1_epi32(p.a_offsets[row])));
}

// Output epilogue: sum(r, b) (+ bias) stored to the outputs of blocks blk0 .. blk0 + NB - 1 below
// n. Args is QgemmArgs or QgemmF32Args; `sum` returns the __m512 of row r, block b.
template <int MR, int NB, class Args, class Sum>
inline void store_blocks_zmm(const Args& p, size_t row0, size_t blk0, Sum&& sum) {
  LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
    const size_t n0 = (blk0 + b) * 16;
    const __mmask16 mask = lane_mask_zmm(min_size(16, p.w.n - n0));
    const __m512 bias = p.bias ? _mm512_maskz_loadu_ps(mask, p.bias + n0) : _mm512_setzero_ps();
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      const __m512 s = sum(r, b);
      const __m512 v = p.bias ? _mm512_add_ps(s, bias) : s;
      _mm512_mask_storeu_ps(p.y + (row0 + r) * p.ldy + n0, mask, v);
    }
  }
}
#endif

}  // namespace
}  // namespace lowbit::kernels::detail
