// W4A16 / W8A16 GEMM with AVX-512 (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq):
// packed codes are expanded to fp32 in registers and multiplied by broadcast fp32 activations.
// A packed chunk's 32-bit lane r holds row r's 4 consecutive k codes, so shifting the whole zmm
// gives the 16 rows' codes at one k in the low bits of each lane. int4: vpermps reads only the
// low 4 bits of each index lane, so one shift and one vpermps from a 16-entry table of
// float(u - z) expand 16 codes (asymmetric zeros differ per row: the table holds float(u) and
// float(z) is subtracted). int8: shift, mask the byte, subtract z, convert. u - z is exact in
// fp32 either way. The operation order per output is the scalar reference's (fma over k within a
// group, then one fma by the group scale), so the results match it bit for bit.
//
// Register tiles: 8 rows x 16 outputs for m > 1 (the code expansion is shared by 8 rows), 1 row x
// 128 outputs for m = 1. Bit-plane containers (2, 3, 5, 6 bits: qgemm_f32_planar_avx512, for fewer
// than 16 rows) run the same tiles with each chunk decoded to its base layout in registers.
#include "kernels/x86/planar_chunk_avx512.h"
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

// Byte j (0..3) of every 32-bit lane, as int32.
template <int J>
inline __m512i lane_byte(__m512i v) {
  if constexpr (J == 3)
    return _mm512_srli_epi32(v, 24);
  else if constexpr (J == 0)
    return _mm512_and_si512(v, _mm512_set1_epi32(0xff));
  else
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * J), _mm512_set1_epi32(0xff));
}

template <int MR, int NB, int J>
inline void step(const float* const* x, size_t kidx, __m512i src, const __m512i* zv,
                 __m512 (&acc)[MR][NB], int b) {
  const __m512 wf = _mm512_cvtepi32_ps(_mm512_sub_epi32(lane_byte<J>(src), zv[b]));
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][b] =
      _mm512_fmadd_ps(_mm512_set1_ps(x[r][kidx]), wf, acc[r][b]);
}

// int4: the code at bit offset SHIFT of each lane, through the table.
template <bool kAsym, int MR, int NB, int SHIFT>
inline void step4(const float* const* x, size_t kidx, __m512i v, __m512 table, const __m512* zf,
                  __m512 (&acc)[MR][NB], int b) {
  const __m512i idx = SHIFT == 0 ? v : _mm512_srli_epi32(v, SHIFT);
  __m512 wf = _mm512_permutexvar_ps(idx, table);
  if constexpr (kAsym) wf = _mm512_sub_ps(wf, zf[b]);
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][b] =
      _mm512_fmadd_ps(_mm512_set1_ps(x[r][kidx]), wf, acc[r][b]);
}

template <int kBits, bool kAsym, int MR, int NB>
[[gnu::noinline]] void tile(const QgemmF32Args& p, size_t row0, size_t blk0) {
  const PackedArgs& w = p.w;
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the layout the products read
  constexpr size_t kc = kBase == 4 ? 8 : 4;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NB];
  LOWBIT_UNROLL for (int b = 0; b < NB; ++b) wb[b] = w.codes + (blk0 + b) * w.block_bytes;

  __m512 y[MR][NB];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b) y[r][b] =
      _mm512_setzero_ps();
  const __m512 codes16 = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 table =
      kAsym ? codes16 : _mm512_sub_ps(codes16, _mm512_set1_ps(static_cast<float>(w.zero)));

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m512 acc[MR][NB];
    __m512i zv[NB];
    __m512 zf[NB];
    LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
      const size_t gi = ((blk0 + b) * w.groups + g) * 16;
      if constexpr (kAsym)
        zv[b] = zeros_zmm(w, gi);
      else
        zv[b] = _mm512_set1_epi32(w.zero);
      zf[b] = _mm512_cvtepi32_ps(zv[b]);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][b] = _mm512_setzero_ps();
    }
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      // Only the last chunks of a row can be partial (int8 pads k by up to 7, two chunks); the
      // padding has no activations to meet.
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
        const __m512i v = load_chunk_zmm<kBits>(wb[b] + c * kChunkStored<kBits>);
        if constexpr (kBase == 4) {
          // k 0..3 are the low nibbles of bytes 0..3 (bit 8j), k 4..7 the high ones (8j + 4).
          if (kn == 8) {
            step4<kAsym, MR, NB, 0>(x, k0 + 0, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 8>(x, k0 + 1, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 16>(x, k0 + 2, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 24>(x, k0 + 3, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 4>(x, k0 + 4, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 12>(x, k0 + 5, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 20>(x, k0 + 6, v, table, zf, acc, b);
            step4<kAsym, MR, NB, 28>(x, k0 + 7, v, table, zf, acc, b);
          } else {
            if (kn > 0) step4<kAsym, MR, NB, 0>(x, k0 + 0, v, table, zf, acc, b);
            if (kn > 1) step4<kAsym, MR, NB, 8>(x, k0 + 1, v, table, zf, acc, b);
            if (kn > 2) step4<kAsym, MR, NB, 16>(x, k0 + 2, v, table, zf, acc, b);
            if (kn > 3) step4<kAsym, MR, NB, 24>(x, k0 + 3, v, table, zf, acc, b);
            if (kn > 4) step4<kAsym, MR, NB, 4>(x, k0 + 4, v, table, zf, acc, b);
            if (kn > 5) step4<kAsym, MR, NB, 12>(x, k0 + 5, v, table, zf, acc, b);
            if (kn > 6) step4<kAsym, MR, NB, 20>(x, k0 + 6, v, table, zf, acc, b);
          }
        } else {
          if (kn == 4) {
            step<MR, NB, 0>(x, k0 + 0, v, zv, acc, b);
            step<MR, NB, 1>(x, k0 + 1, v, zv, acc, b);
            step<MR, NB, 2>(x, k0 + 2, v, zv, acc, b);
            step<MR, NB, 3>(x, k0 + 3, v, zv, acc, b);
          } else {
            if (kn > 0) step<MR, NB, 0>(x, k0 + 0, v, zv, acc, b);
            if (kn > 1) step<MR, NB, 1>(x, k0 + 1, v, zv, acc, b);
            if (kn > 2) step<MR, NB, 2>(x, k0 + 2, v, zv, acc, b);
          }
        }
      }
    }
    LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
      const __m512 sw = _mm512_loadu_ps(w.scales + ((blk0 + b) * w.groups + g) * 16);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][b] = _mm512_fmadd_ps(acc[r][b], sw, y[r][b]);
    }
  }

  store_blocks_zmm<MR, NB>(p, row0, blk0, [&](int r, int b) { return y[r][b]; });
}

template <int kBits, bool kAsym>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  if (p.m == 1) {
    // Each output's fma chain over k is sequential (the reference's order), so a GEMV needs
    // eight independent output blocks in flight to cover the fma latency.
    size_t b = b0;
    for (; b + 8 <= b1; b += 8) tile<kBits, kAsym, 1, 8>(p, 0, b);
    for (; b + 4 <= b1; b += 4) tile<kBits, kAsym, 1, 4>(p, 0, b);
    for (; b < b1; ++b) tile<kBits, kAsym, 1, 1>(p, 0, b);
    return;
  }
  sweep_panels<8>(p.m, b0, b1, p.w.block_bytes, kBlockPanelBytes,
                  [&]<int R>(size_t r, size_t pb, size_t pe) {
                    for (size_t b = pb; b < pe; ++b) tile<kBits, kAsym, R, 1>(p, r, b);
                  });
}

}  // namespace

void qgemm_f32_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

void qgemm_f32_planar_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  const bool asym = p.w.zeros != nullptr;
  with_planar_bits(p.w.bits, [&]<int kBits>() {
    asym ? run<kBits, true>(p, block_begin, block_end)
         : run<kBits, false>(p, block_begin, block_end);
  });
}

}  // namespace lowbit::kernels::detail
