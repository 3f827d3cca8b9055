// The packed int16 multiplier (Agile-Quant; kernel_variants.h) with AVX2, for x86 CPUs without
// VNNI, on the ymm skeleton of the AVX2 GEMM (qgemm_x86_common.h): a unit is 8 output rows.
//
// Per chunk: the unit's nibbles (lo: k 0..3, hi: k 4..7, one byte per row and k) are shuffled so
// that every 16-bit lane holds rows 2p and 2p + 1 at the same k (vpshufb within each 128-bit
// half: rows 0-3 in the low half, 4-7 in the high); vpmullw by the activation offset to
// b = a + 8 gives both 8-bit products in one lane; masking and a shift split them into two 16-bit
// accumulators (even and odd rows) that take 256 products before they are widened to int32 (zero
// extension: a full field exceeds vpmaddwd's signed range) and summed over k.
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

// Rows 2p and 2p + 1 of each half at the same k: byte 4r + j of a half goes to 16-bit lane
// 4(r / 2) + j, low byte for even r.
inline __m256i pair_rows(__m256i v) {
  const __m256i order = _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15, 0, 4,
                                         1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  return _mm256_shuffle_epi8(v, order);
}

// b = a + 8 for k 0..3 (lo) and 4..7 (hi) of a chunk, as int16 repeated in every 64 bits.
inline void activations16(const int8_t* a, __m256i& lo, __m256i& hi) {
  int64_t v;
  __builtin_memcpy(&v, a, sizeof(v));
  const __m128i b = _mm_add_epi16(_mm_cvtepi8_epi16(_mm_cvtsi64_si128(v)), _mm_set1_epi16(8));
  lo = _mm256_broadcastq_epi64(b);
  hi = _mm256_broadcastq_epi64(_mm_unpackhi_epi64(b, b));
}

// The 16-bit fields of even (e) and odd (o) rows, k-lanes j = 0..3 of each row pair, as the
// int32 sums of rows 0..7 in order.
inline __m256i widen_fields(__m256i e, __m256i o) {
  const __m256i zero = _mm256_setzero_si256();
  // Zero-extended: [r0 j0..3 | r4 j0..3] and [r2 j0..3 | r6 j0..3] (odd: r1, r5; r3, r7).
  const __m256i e01 = _mm256_hadd_epi32(_mm256_unpacklo_epi16(e, zero),
                                        _mm256_unpackhi_epi16(e, zero));  // r0 r0 r2 r2 | r4 ..
  const __m256i o01 = _mm256_hadd_epi32(_mm256_unpacklo_epi16(o, zero),
                                        _mm256_unpackhi_epi16(o, zero));  // r1 r1 r3 r3 | r5 ..
  const __m256i sums = _mm256_hadd_epi32(e01, o01);  // r0 r2 r1 r3 | r4 r6 r5 r7
  return _mm256_shuffle_epi32(sums, _MM_SHUFFLE(3, 1, 2, 0));
}

struct Packed16 {
  template <int kBits, bool kAsym, int MR, int NU>
  [[gnu::noinline]] static void tile(const QgemmArgs& p, size_t row0, size_t unit0);
};

template <int kBits, bool kAsym, int MR, int NU>
void Packed16::tile(const QgemmArgs& p, size_t row0, size_t unit0) {
  if constexpr (kBits != 4) {
    return;  // the driver sends only 4-bit weights here
  } else {
    const PackedArgs& w = p.w;
    const int8_t* a[MR];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) a[r] = p.a + (row0 + r) * p.lda;
    const uint8_t* wb[NU];
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) wb[u] = unit_codes(w, unit0 + u);

    __m256 y[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
        _mm256_setzero_ps();
    const __m256i low8 = _mm256_set1_epi16(0xff);
    constexpr size_t kChunksPerSplit = kPacked16Products / 2;  // 2 products per field per chunk

    for (size_t g = 0; g < w.groups; ++g) {
      const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
      __m256i acc[MR][NU];
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
          acc[r][u] = _mm256_setzero_si256();
      for (size_t cb = c0; cb < c1; cb += kChunksPerSplit) {
        const size_t ce = min_size(cb + kChunksPerSplit, c1);
        __m256i even[MR][NU], odd[MR][NU];
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
          even[r][u] = _mm256_setzero_si256();
          odd[r][u] = _mm256_setzero_si256();
        }
        for (size_t c = cb; c < ce; ++c) {
          __m256i lo[NU], hi[NU];
          load_nibbles_ymm<4>(wb, kNoHalves<NU>, c, lo, hi);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            lo[u] = pair_rows(lo[u]);
            hi[u] = pair_rows(hi[u]);
          }
          LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
            __m256i bl, bh;
            activations16(a[r] + c * 8, bl, bh);
            LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
              const __m256i pl = _mm256_mullo_epi16(lo[u], bl);
              const __m256i ph = _mm256_mullo_epi16(hi[u], bh);
              even[r][u] = _mm256_add_epi16(
                  even[r][u],
                  _mm256_add_epi16(_mm256_and_si256(pl, low8), _mm256_and_si256(ph, low8)));
              odd[r][u] = _mm256_add_epi16(
                  odd[r][u], _mm256_add_epi16(_mm256_srli_epi16(pl, 8), _mm256_srli_epi16(ph, 8)));
            }
          }
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc[r][u] = _mm256_add_epi32(acc[r][u], widen_fields(even[r][u], odd[r][u]));
      }
      // sum b u - 8 (ws + z K): the rest (- z sum a) is the shared epilogue's.
      const __m256i k_count = _mm256_set1_epi32(static_cast<int>((c1 - c0) * 8));
      LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
        const size_t gi = unit_params(w, unit0 + u, g);
        const __m256i ws = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.w_sums + gi));
        __m256i z = _mm256_set1_epi32(w.zero);
        if constexpr (kAsym) z = zeros_ymm(w, gi);
        const __m256i sum_u = _mm256_add_epi32(ws, _mm256_mullo_epi32(z, k_count));
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) acc[r][u] =
            _mm256_sub_epi32(acc[r][u], _mm256_slli_epi32(sum_u, 3));
      }
      rescale_group_ymm<kAsym>(p, row0, unit0, g, acc, y);
    }
    store_units_ymm(p, row0, unit0, y);
  }
}

}  // namespace

void qgemm_packed16_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm<Packed16>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
