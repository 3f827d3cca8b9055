// Codebook (look-up table) GEMM with AVX-512 (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq) against fp32 activations. A packed chunk's 32-bit lane r holds row r's 8 codes of
// 8 consecutive k (low nibbles k 0..3, high nibbles k 4..7), so shifting the zmm gives the 16
// rows' codes at one k in the low 4 bits of each lane. A table shared by every row (NF4) lives in
// one zmm and vpermps (_mm512_permutexvar_ps, plain AVX-512F), which reads only the low 4 bits of
// each index, returns the 16 exact fp32 entries in one instruction. That is why this file does not
// use vpshufb on byte planes of the table (four shuffles and three merges per 16 weights for the
// same exact floats) nor vpermb (AVX512-VBMI, a byte permute: it would pay off only for int8
// tables). Per-row tables (SqueezeLLM) differ per lane, which no register permute serves: those
// rows gather their entries from the 16 x 16 tables of the block (1 KiB, L1-resident), once per
// k for all MR activation rows. The operation order per output is the scalar reference's.
//
// Register tiles: 8 rows x 16 outputs for m > 1, 1 row x 64 outputs for m = 1.
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

template <bool kPerRow, int MR, int NB, int SHIFT>
inline void step(const float* const* x, size_t kidx, __m512i v, const __m512& table,
                 const __m512i* base, const float* codebook, __m512 (&acc)[MR][NB], int b) {
  const __m512i idx = SHIFT == 0 ? v : _mm512_srli_epi32(v, SHIFT);
  __m512 wf;
  if constexpr (kPerRow)
    wf = _mm512_i32gather_ps(
        _mm512_add_epi32(_mm512_and_si512(idx, _mm512_set1_epi32(15)), base[b]), codebook, 4);
  else
    wf = _mm512_permutexvar_ps(idx, table);
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][b] =
      _mm512_fmadd_ps(_mm512_set1_ps(x[r][kidx]), wf, acc[r][b]);
}

template <bool kPerRow, int MR, int NB>
[[gnu::noinline]] void tile(const QgemmF32Args& p, size_t row0, size_t blk0) {
  const PackedArgs& w = p.w;
  constexpr size_t kc = 8;
  const float* x[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) x[r] = p.x + (row0 + r) * p.ldx;
  const uint8_t* wb[NB];
  LOWBIT_UNROLL for (int b = 0; b < NB; ++b) wb[b] = w.codes + (blk0 + b) * w.block_bytes;
  const __m512 table = kPerRow ? _mm512_setzero_ps() : _mm512_loadu_ps(w.codebook);
  // Per-row tables: lane r of block b reads table (row * 16 + code); rows past n read table 0.
  __m512i base[NB];
  LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
    const __m512i rows =
        _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>((blk0 + b) * 16)),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __mmask16 valid = _mm512_cmplt_epi32_mask(rows, _mm512_set1_epi32(static_cast<int>(w.n)));
    base[b] = _mm512_maskz_slli_epi32(valid, rows, 4);
  }

  __m512 y[MR][NB];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b) y[r][b] =
      _mm512_setzero_ps();
  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m512 acc[MR][NB];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int b = 0; b < NB; ++b)
        acc[r][b] = _mm512_setzero_ps();
    for (size_t c = c0; c < c1; ++c) {
      const size_t k0 = c * kc;
      // Only the last chunk of a row can be partial; its padding meets no activations.
      const size_t kn = k0 >= w.k ? 0 : min_size(kc, w.k - k0);
      LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
        const __m512i v = _mm512_loadu_si512(wb[b] + c * 64);
        if (kn > 0) step<kPerRow, MR, NB, 0>(x, k0 + 0, v, table, base, w.codebook, acc, b);
        if (kn > 1) step<kPerRow, MR, NB, 8>(x, k0 + 1, v, table, base, w.codebook, acc, b);
        if (kn > 2) step<kPerRow, MR, NB, 16>(x, k0 + 2, v, table, base, w.codebook, acc, b);
        if (kn > 3) step<kPerRow, MR, NB, 24>(x, k0 + 3, v, table, base, w.codebook, acc, b);
        if (kn > 4) step<kPerRow, MR, NB, 4>(x, k0 + 4, v, table, base, w.codebook, acc, b);
        if (kn > 5) step<kPerRow, MR, NB, 12>(x, k0 + 5, v, table, base, w.codebook, acc, b);
        if (kn > 6) step<kPerRow, MR, NB, 20>(x, k0 + 6, v, table, base, w.codebook, acc, b);
        if (kn > 7) step<kPerRow, MR, NB, 28>(x, k0 + 7, v, table, base, w.codebook, acc, b);
      }
    }
    LOWBIT_UNROLL for (int b = 0; b < NB; ++b) {
      const __m512 sw = _mm512_loadu_ps(w.scales + ((blk0 + b) * w.groups + g) * 16);
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) y[r][b] = _mm512_fmadd_ps(acc[r][b], sw, y[r][b]);
    }
  }
  store_blocks_zmm<MR, NB>(p, row0, blk0, [&](int r, int b) { return y[r][b]; });
}

template <bool kPerRow>
void run(const QgemmF32Args& p, size_t b0, size_t b1) {
  if (p.m == 1) {
    // Each output's fma chain over k is sequential: four output blocks in flight hide its latency.
    size_t b = b0;
    for (; b + 4 <= b1; b += 4) tile<kPerRow, 1, 4>(p, 0, b);
    for (; b < b1; ++b) tile<kPerRow, 1, 1>(p, 0, b);
    return;
  }
  sweep_panels<8>(p.m, b0, b1, p.w.block_bytes, kBlockPanelBytes,
                  [&]<int R>(size_t r, size_t pb, size_t pe) {
                    for (size_t b = pb; b < pe; ++b) tile<kPerRow, R, 1>(p, r, b);
                  });
}

}  // namespace

void qgemm_lut_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end) {
  if (p.w.codebook_rows == 1)
    run<false>(p, block_begin, block_end);
  else
    run<true>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
