// Integer GEMM with AVX2 (compiled with -mavx2 -mfma). A ymm holds half a packed chunk: 8 output
// rows x 4 k bytes. vpmaddubsw multiplies the unsigned codes by the broadcast signed activations
// and adds adjacent pairs into int16 (saturating: safe only while |u| <= 15, so int8 weights are
// split into nibbles, u = 16 h + l), vpmaddwd then adds pairs into int32 lanes, giving each lane
// the 4-product dot of one output row like vpdpbusd.
//
// int4: per chunk, lanes hold <= 2 * (15 * 128) per maddubs, so four chunks (<= 30720) are summed
// in int16 before one vpmaddwd. int8: per chunk, vpmaddwd by 1 (low nibbles) and by 16 (high).
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

// The register tile that qgemm_x86_common.h's run_ymm_gemm runs: MR rows x NU units of 8
// outputs from unit0 (unit u is half u % 2 of block u / 2).
struct Avx2 {
  template <int kBits, bool kAsym, int MR, int NU>
  [[gnu::noinline]] static void tile(const QgemmArgs& p, size_t row0, size_t unit0);
};

template <int kBits, bool kAsym, int MR, int NU>
void Avx2::tile(const QgemmArgs& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  const int8_t* a[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) a[r] = p.a + (row0 + r) * p.lda;
  constexpr int kBase = kBits <= 4 ? 4 : 8;  // the layout the products read
  const uint8_t* wb[NU];
  int half[NU];  // bit-plane containers: which half of the chunk the unit is
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    wb[u] = unit_codes_of<kBits>(w, unit0 + u);
    half[u] = static_cast<int>((unit0 + u) % 2);
  }

  __m256 y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  [[maybe_unused]] const __m256i sixteens = _mm256_set1_epi16(16);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256i acc[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
        acc[r][u] = _mm256_setzero_si256();
    if constexpr (kBase == 4) {
      for (size_t cb = c0; cb < c1; cb += 4) {
        const size_t ce = min_size(cb + 4, c1);
        __m256i acc16[MR][NU];
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc16[r][u] = _mm256_setzero_si256();
        for (size_t c = cb; c < ce; ++c) {
          __m256i lo[NU], hi[NU];
          load_nibbles_ymm<kBits>(wb, half, c, lo, hi);
          LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
            const __m256i al = broadcast4_ymm(a[r] + c * 8), ah = broadcast4_ymm(a[r] + c * 8 + 4);
            LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
              const __m256i t = _mm256_add_epi16(_mm256_maddubs_epi16(lo[u], al),
                                                 _mm256_maddubs_epi16(hi[u], ah));
              acc16[r][u] = _mm256_add_epi16(acc16[r][u], t);
            }
          }
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc[r][u] = _mm256_add_epi32(acc[r][u], _mm256_madd_epi16(acc16[r][u], ones));
      }
    } else {
      for (size_t c = c0; c < c1; ++c) {
        __m256i lo[NU], hi[NU];
        load_nibbles_ymm<kBits>(wb, half, c, lo, hi);
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m256i x = broadcast4_ymm(a[r] + c * 4);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            const __m256i tl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[u], x), ones);
            const __m256i th = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[u], x), sixteens);
            acc[r][u] = _mm256_add_epi32(acc[r][u], _mm256_add_epi32(tl, th));
          }
        }
      }
    }
    rescale_group_ymm<kAsym>(p, row0, unit0, g, acc, y);
  }
  store_units_ymm(p, row0, unit0, y);
}

}  // namespace

void qgemm_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm<Avx2>(p, block_begin, block_end);
}

void qgemm_planar_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm_planar<Avx2>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
