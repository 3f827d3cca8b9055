// Integer GEMM with AVX2 (compiled with -mavx2 -mfma). A ymm holds half a packed chunk: 8 output
// rows x 4 k bytes. vpmaddubsw multiplies the unsigned codes by the broadcast signed activations
// and adds adjacent pairs into int16 (saturating: safe only while |u| <= 15, so int8 weights are
// split into nibbles, u = 16 h + l), vpmaddwd then adds pairs into int32 lanes, giving each lane
// the 4-product dot of one output row like vpdpbusd.
//
// int4: per chunk, lanes hold <= 2 * (15 * 128) per maddubs, so four chunks (<= 30720) are summed
// in int16 before one vpmaddwd. int8: per chunk, vpmaddwd by 1 (low nibbles) and by 16 (high).
#include <immintrin.h>

#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

#define LOWBIT_UNROLL _Pragma("GCC unroll 16")

namespace lowbit::kernels::detail {
namespace {

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

// Lanes [0, valid) set.
inline __m256i lane_mask(size_t valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// MR rows x NU units of 8 outputs; unit u is half u % 2 of block u / 2.
template <int kBits, bool kAsym, int MR, int NU>
void tile(const QgemmArgs& p, size_t row0, size_t unit0) {
  const PackedArgs& w = p.w;
  const int8_t* a[MR];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) a[r] = p.a + (row0 + r) * p.lda;
  const uint8_t* wb[NU];
  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) wb[u] =
      w.codes + ((unit0 + u) / 2) * w.block_bytes + ((unit0 + u) % 2) * 32;

  __m256 y[MR][NU];
  LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) y[r][u] =
      _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  [[maybe_unused]] const __m256i sixteens = _mm256_set1_epi16(16);

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256i acc[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
        acc[r][u] = _mm256_setzero_si256();
    if constexpr (kBits == 4) {
      for (size_t cb = c0; cb < c1; cb += 4) {
        const size_t ce = min_size(cb + 4, c1);
        __m256i acc16[MR][NU];
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc16[r][u] = _mm256_setzero_si256();
        for (size_t c = cb; c < ce; ++c) {
          __m256i lo[NU], hi[NU];
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[u] + c * 64));
            lo[u] = _mm256_and_si256(v, low4);
            hi[u] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
          }
          LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
            const __m256i al = broadcast4(a[r] + c * 8), ah = broadcast4(a[r] + c * 8 + 4);
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
        LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[u] + c * 64));
          lo[u] = _mm256_and_si256(v, low4);
          hi[u] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m256i x = broadcast4(a[r] + c * 4);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            const __m256i tl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[u], x), ones);
            const __m256i th = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[u], x), sixteens);
            acc[r][u] = _mm256_add_epi32(acc[r][u], _mm256_add_epi32(tl, th));
          }
        }
      }
    }
    LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      const size_t gi = (((unit0 + u) / 2) * w.groups + g) * 16 + ((unit0 + u) % 2) * 8;
      const __m256 sw = _mm256_loadu_ps(w.scales + gi);
      [[maybe_unused]] __m256i zv = _mm256_setzero_si256();
      if constexpr (kAsym)
        zv = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.zeros + gi)));
      LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
        __m256i s = acc[r][u];
        const int32_t asum = p.a_sums[(row0 + r) * w.groups + g];
        if constexpr (kAsym)
          s = _mm256_sub_epi32(s, _mm256_mullo_epi32(zv, _mm256_set1_epi32(asum)));
        else
          s = _mm256_sub_epi32(s, _mm256_set1_epi32(w.zero * asum));
        const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(p.a_scales[row0 + r]), sw);
        y[r][u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, y[r][u]);
      }
    }
  }

  LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
    const size_t n0 = (unit0 + u) * 8;
    if (n0 >= w.n) continue;
    const size_t valid = min_size(8, w.n - n0);
    const __m256i mask = lane_mask(valid);
    const __m256 bias = p.bias ? _mm256_maskload_ps(p.bias + n0, mask) : _mm256_setzero_ps();
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
      const __m256 v = p.bias ? _mm256_add_ps(y[r][u], bias) : y[r][u];
      _mm256_maskstore_ps(p.y + (row0 + r) * p.ldy + n0, mask, v);
    }
  }
}

template <int kBits, bool kAsym>
void run(const QgemmArgs& p, size_t b0, size_t b1) {
  // Units of 8 outputs past n (the empty half of a last block) are skipped.
  const size_t u0 = b0 * 2, u1 = min_size(b1 * 2, (p.w.n + 7) / 8);
  if (p.m == 1) {
    size_t u = u0;
    for (; u + 2 <= u1; u += 2) tile<kBits, kAsym, 1, 2>(p, 0, u);
    if (u < u1) tile<kBits, kAsym, 1, 1>(p, 0, u);
    return;
  }
  const size_t unit_bytes = p.w.block_bytes / 2;
  const size_t panel = unit_bytes >= (size_t{128} << 10) ? 1 : (size_t{128} << 10) / unit_bytes;
  for (size_t pu = u0; pu < u1; pu += panel) {
    const size_t pe = min_size(u1, pu + panel);
    for (size_t r = 0; r < p.m; r += 4) {
      const size_t rows = min_size(4, p.m - r);
      for (size_t u = pu; u < pe; ++u)
        with_count<4>(rows, [&]<int R>() { tile<kBits, kAsym, R, 1>(p, r, u); });
    }
  }
}

}  // namespace

void qgemm_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  with_format(p.w, [&]<int kBits, bool kAsym>() { run<kBits, kAsym>(p, block_begin, block_end); });
}

}  // namespace lowbit::kernels::detail
