// Integer GEMM with AVX-512 VNNI (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512vnni). One zmm holds a packed chunk: 16 output rows x 4 k bytes, exactly the operand
// layout of vpdpbusd (u8 x s8 -> 4 products summed into each int32 lane). The weights are the
// unsigned operand (codes u = q - qmin, no conversion) and the activations, broadcast 4 bytes at a
// time, the signed one; the zero point is removed once per group as z * sum(a).
//
// int4: the low nibbles (k 0..3 of the chunk) are `v & 0x0f`, the high nibbles (k 4..7)
// `(v >> 4) & 0x0f`. In the GEMV, which keeps the high nibbles' sums apart, they are taken as
// `v & 0xf0` = 16 u instead, saving the shift: that accumulator is divided by 16 (exactly, it is a
// multiple of 16) at the end of the group; |16 u a| sums stay inside int32 for groups up to
// kMaxGroupSize.
//
// Register tiles: GEMM 8 rows x 16 outputs (8 int32 accumulators, 8 fp32 ones), GEMV (m = 1)
// 1 row x 64 outputs (four independent weight streams, two accumulators each).
//
// Bit-plane containers (2, 3, 5, 6 bits: qgemm_planar_avx512vnni, for fewer than 16 rows) run the
// same tiles with each chunk decoded to its base layout in registers (planar_chunk_avx512.h).
#include "kernels/x86/planar_chunk_avx512.h"
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

// One register tile: rows row0.. (MR) x output blocks blk0.. (NB). `codes` points at block blk0's
// codes in w's layout (the packed blob, or a panel unpacked to int8 by unpack_panel).
// kLut (qgemm_lut8, 4-bit codebook codes): each code is looked up in w.lut8 with vpshufb (the
// 16-byte table in every 128-bit lane) before the products; the int8 values u are up to 255, so
// the GEMV's 16 u shortcut does not apply.
template <int kBits, bool kAsym, int MR, int NB, bool kLut = false>
[[gnu::noinline]] void tile(const QgemmArgs& p, const PackedArgs& w, const uint8_t* codes,
                            const uint8_t* ahead, size_t row0, size_t blk0) {
  // Small tiles (the GEMV) split each output's sum over two accumulators so enough independent
  // vpdpbusd chains are in flight; big tiles have enough chains and need the registers (with 24+
  // accumulators GCC starts shuffling them between registers every iteration).
  constexpr bool kSplit = MR * NB < 8;
  // Decode batches prefetch the next tile's weights (tile_dispatch.h: ahead_block); one row
  // (the GEMV) is faster without, and bigger tiles sweep cache-resident panels.
  constexpr bool kPrefetch = MR >= 2 && MR <= 4;
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the layout the products read
  constexpr size_t kChunk = kChunkStored<kBits>;
  const int8_t* a[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) a[r] = p.a + (row0 + r) * p.lda;
  const uint8_t* wb[NB];
  const uint8_t* pf[NB];
  LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
    wb[b] = codes + b * w.block_bytes;
    pf[b] = ahead + b * w.block_bytes;
  }

  // The fp32 sums live in L1 between groups, not in registers: the registers go to the int32
  // accumulators (with both, GCC spilled inside the inner loop).
  alignas(64) float y[MR][NB][16];
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  [[maybe_unused]] const __m512i high4 = _mm512_set1_epi8(static_cast<char>(0xf0));
  [[maybe_unused]] __m512i lut = _mm512_setzero_si512();
  if constexpr (kLut)
    lut = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.lut8)));

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m512i acc0[MR][NB];
    [[maybe_unused]] __m512i acc1[MR][NB];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
      acc0[r][b] = _mm512_setzero_si512();
      if constexpr (kSplit) acc1[r][b] = _mm512_setzero_si512();
    }
    if constexpr (kBase == 4) {
      for (size_t c = c0; c < c1; ++c) {
        __m512i lo[NB], hi[NB];
        LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
          const __m512i v = load_chunk_zmm<kBits>(wb[b] + c * kChunk);
          if constexpr (kPrefetch)
            _mm_prefetch(reinterpret_cast<const char*>(pf[b] + c * kChunk), _MM_HINT_T1);
          if constexpr (kLut) {
            lo[b] = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
            hi[b] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
          } else {
            lo[b] = _mm512_and_si512(v, low4);
            hi[b] = kSplit ? _mm512_and_si512(v, high4)  // 16 u: rescaled once per group
                           : _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
          }
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m512i al = broadcast4_zmm(a[r] + c * 8), ah = broadcast4_zmm(a[r] + c * 8 + 4);
          LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
            acc0[r][b] = _mm512_dpbusd_epi32(acc0[r][b], lo[b], al);
            if constexpr (kSplit)
              acc1[r][b] = _mm512_dpbusd_epi32(acc1[r][b], hi[b], ah);
            else
              acc0[r][b] = _mm512_dpbusd_epi32(acc0[r][b], hi[b], ah);
          }
        }
      }
      if constexpr (kSplit)
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b)
            acc0[r][b] =
                _mm512_add_epi32(acc0[r][b], kLut ? acc1[r][b] : _mm512_srai_epi32(acc1[r][b], 4));
    } else {
      size_t c = c0;
      if constexpr (kSplit) {
        // Two chunks per step into two accumulators: halves the dependency chains.
        for (; c + 2 <= c1; c += 2) {
          __m512i v0[NB], v1[NB];
          LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
            v0[b] = load_chunk_zmm<kBits>(wb[b] + c * kChunk);
            v1[b] = load_chunk_zmm<kBits>(wb[b] + (c + 1) * kChunk);
            if constexpr (kPrefetch) {
              _mm_prefetch(reinterpret_cast<const char*>(pf[b] + c * kChunk), _MM_HINT_T1);
              _mm_prefetch(reinterpret_cast<const char*>(pf[b] + (c + 1) * kChunk), _MM_HINT_T1);
            }
          }
          LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
            const __m512i x0 = broadcast4_zmm(a[r] + c * 4), x1 = broadcast4_zmm(a[r] + c * 4 + 4);
            LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
              acc0[r][b] = _mm512_dpbusd_epi32(acc0[r][b], v0[b], x0);
              acc1[r][b] = _mm512_dpbusd_epi32(acc1[r][b], v1[b], x1);
            }
          }
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b)
            acc0[r][b] = _mm512_add_epi32(acc0[r][b], acc1[r][b]);
      }
      for (; c < c1; ++c) {
        __m512i v0[NB];
        LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
          v0[b] = load_chunk_zmm<kBits>(wb[b] + c * kChunk);
          if constexpr (kPrefetch)
            _mm_prefetch(reinterpret_cast<const char*>(pf[b] + c * kChunk), _MM_HINT_T1);
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m512i x0 = broadcast4_zmm(a[r] + c * 4);
          LOWBIT_UNROLL for (int b = 0; b < NB; ++b) acc0[r][b] =
              _mm512_dpbusd_epi32(acc0[r][b], v0[b], x0);
        }
      }
    }
    // Group epilogue: exact int32 sum of (a + o) * (u - z), then one fma with sa * sw.
    LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
      const size_t gi = ((blk0 + b) * w.groups + g) * 16;
      const __m512 sw = _mm512_loadu_ps(w.scales + gi);
      [[maybe_unused]] __m512i zv = _mm512_setzero_si512();
      if constexpr (kAsym) zv = zeros_zmm(w, gi);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
        __m512i s = acc0[r][b];
        const int32_t asum = p.a_sums[(row0 + r) * w.groups + g];
        if constexpr (kAsym)
          s = _mm512_sub_epi32(s, _mm512_mullo_epi32(zv, _mm512_set1_epi32(asum)));
        else
          s = _mm512_sub_epi32(s, _mm512_set1_epi32(w.zero * asum));
        s = add_offset_zmm(p, gi, row0 + r, s);
        const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(p.a_scales[row0 + r]), sw);
        const __m512 prev = g == 0 ? _mm512_setzero_ps() : _mm512_load_ps(y[r][b]);
        _mm512_store_ps(y[r][b], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, prev));
      }
    }
  }

  store_blocks_zmm<MR, NB>(p, row0, blk0, [&](int r, int b) { return _mm512_load_ps(y[r][b]); });
}

// int4 blocks [b0, b1) rewritten in the int8 layout (low nibbles of chunk c -> chunk 2c, high
// nibbles -> chunk 2c + 1): the GEMM then runs the int8 tile, which has no unpacking in its inner
// loop, and the unpacking is paid once per panel instead of once per 8-row tile. Integer sums are
// exact, so the result is bit-identical.
void unpack_panel(const PackedArgs& w, size_t b0, size_t b1, uint8_t* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* src = w.codes + b * w.block_bytes;
    for (size_t c = 0; c < w.chunks; ++c) {
      const __m512i v = _mm512_loadu_si512(src + c * 64);
      _mm512_storeu_si512(out + c * 128, _mm512_and_si512(v, low4));
      _mm512_storeu_si512(out + c * 128 + 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
    }
    out += 2 * w.block_bytes;
  }
}

// Panels of blocks whose weights stay in L2 are swept by every row tile before moving on; the row
// tile's activations (8 rows) stay in L1 across the panel. `codes` holds blocks from b0 on.
template <int kBits, bool kAsym, bool kLut = false>
void run_panels(const QgemmArgs& p, const PackedArgs& w, const uint8_t* codes, size_t b0,
                size_t b1) {
  sweep_panels<8>(
      p.m, b0, b1, w.block_bytes, kBlockPanelBytes, [&]<int R>(size_t r, size_t pb, size_t pe) {
        // Up to 4 rows (a decode batch): 4 blocks per tile, as many accumulator
        // chains as the 8-row tile has, each weight load feeding 4 rows x 4 blocks.
        constexpr int kWide = R <= 4 ? 4 : 2;
        const auto at = [&](size_t blk) { return codes + (blk - b0) * w.block_bytes; };
        size_t b = pb;
        for (; b + kWide <= pe; b += kWide)
          tile<kBits, kAsym, R, kWide, kLut>(p, w, at(b), at(ahead_block(b, kWide, b1)), r, b);
        if (b < pe)
          with_count<kWide - 1>(
              pe - b, [&]<int NB>() { tile<kBits, kAsym, R, NB, kLut>(p, w, at(b), at(b), r, b); });
      });
}

template <int kBits, bool kAsym>
void run(const QgemmArgs& p, size_t b0, size_t b1) {
  const PackedArgs& w = p.w;
  if (p.m == 1) {
    sweep_gemv<4>(b0, b1, [&]<int NB>(size_t b) {
      const uint8_t* at = w.codes + b * w.block_bytes;
      tile<kBits, kAsym, 1, NB>(p, w, at, w.codes + ahead_block(b, NB, b1) * w.block_bytes, 0, b);
    });
    return;
  }
  if constexpr (kBits == 4) {
    // Many rows: unpack each panel once into a stack buffer (worker stacks are megabytes) and
    // run the int8 tile over it.
    PackedArgs u = w;
    u.bits = 8;
    u.chunks = 2 * w.chunks;
    u.chunks_per_group = 2 * w.chunks_per_group;
    u.block_bytes = 2 * w.block_bytes;
    if (p.m >= 16 && u.block_bytes <= kBlockPanelBytes) {
      alignas(64) uint8_t buffer[kBlockPanelBytes];
      const size_t panel = kBlockPanelBytes / u.block_bytes;
      for (size_t pb = b0; pb < b1; pb += panel) {
        const size_t pe = min_size(b1, pb + panel);
        unpack_panel(w, pb, pe, buffer);
        run_panels<8, kAsym>(p, u, buffer, pb, pe);
      }
      return;
    }
  }
  run_panels<kBits, kAsym>(p, w, w.codes + b0 * w.block_bytes, b0, b1);
}

}  // namespace

void qgemm_lut8_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  if (p.m == 1) {
    sweep_gemv<4>(block_begin, block_end, [&]<int NB>(size_t b) {
      const uint8_t* at = p.w.codes + b * p.w.block_bytes;
      tile<4, false, 1, NB, true>(
          p, p.w, at, p.w.codes + ahead_block(b, NB, block_end) * p.w.block_bytes, 0, b);
    });
    return;
  }
  run_panels<4, false, true>(p, p.w, p.w.codes + block_begin * p.w.block_bytes, block_begin,
                             block_end);
}

void qgemm_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

void qgemm_planar_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const bool asym = p.w.zeros != nullptr;
  with_planar_bits(p.w.bits, [&]<int kBits>() {
    asym ? run<kBits, true>(p, block_begin, block_end)
         : run<kBits, false>(p, block_begin, block_end);
  });
}

}  // namespace lowbit::kernels::detail
