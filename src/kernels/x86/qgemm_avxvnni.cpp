// Integer GEMM with AVX-VNNI (compiled with -mavx2 -mfma -mavxvnni): vpdpbusd on ymm, for CPUs with
// VNNI but without AVX-512 (Alder Lake and later client cores). A ymm holds half a packed chunk
// (8 output rows x 4 k bytes); the algebra is that of qgemm_avx512vnni.cpp: unsigned codes times
// broadcast signed activations, zero point removed per group. Tiles: 4 rows x 8 outputs (GEMM),
// 1 row x 16 outputs (GEMV).
#include "kernels/x86/qgemm_x86_common.h"

namespace lowbit::kernels::detail {
namespace {

// The register tile that qgemm_x86_common.h's run_ymm_gemm runs: MR rows x NU units of 8
// outputs from unit0 (unit u is half u % 2 of block u / 2).
struct AvxVnni {
  template <int kBits, bool kAsym, int MR, int NU>
  [[gnu::noinline]] static void tile(const QgemmArgs& p, size_t row0, size_t unit0);
};

template <int kBits, bool kAsym, int MR, int NU>
void AvxVnni::tile(const QgemmArgs& p, size_t row0, size_t unit0) {
  // As in qgemm_avx512vnni.cpp: split accumulators (and the 16 u trick) only for small tiles.
  constexpr bool kSplit = MR * NU < 4;
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
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  [[maybe_unused]] const __m256i high4 = _mm256_set1_epi8(static_cast<char>(0xf0));

  for (size_t g = 0; g < w.groups; ++g) {
    const size_t c0 = g * w.chunks_per_group, c1 = min_size(c0 + w.chunks_per_group, w.chunks);
    __m256i acc0[MR][NU];
    [[maybe_unused]] __m256i acc1[MR][NU];
    LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
      acc0[r][u] = _mm256_setzero_si256();
      if constexpr (kSplit) acc1[r][u] = _mm256_setzero_si256();
    }
    if constexpr (kBase == 4) {
      for (size_t c = c0; c < c1; ++c) {
        __m256i lo[NU], hi[NU];
        LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
          const __m256i v = load_unit_ymm<kBits>(wb[u], c, half[u]);
          lo[u] = _mm256_and_si256(v, low4);
          hi[u] = kSplit ? _mm256_and_si256(v, high4)  // 16 u: rescaled once per group
                         : _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m256i al = broadcast4_ymm(a[r] + c * 8), ah = broadcast4_ymm(a[r] + c * 8 + 4);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            acc0[r][u] = _mm256_dpbusd_avx_epi32(acc0[r][u], lo[u], al);
            if constexpr (kSplit)
              acc1[r][u] = _mm256_dpbusd_avx_epi32(acc1[r][u], hi[u], ah);
            else
              acc0[r][u] = _mm256_dpbusd_avx_epi32(acc0[r][u], hi[u], ah);
          }
        }
      }
      if constexpr (kSplit)
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc0[r][u] = _mm256_add_epi32(acc0[r][u], _mm256_srai_epi32(acc1[r][u], 4));
    } else {
      size_t c = c0;
      if constexpr (kSplit) {
        for (; c + 2 <= c1; c += 2) {
          __m256i v0[NU], v1[NU];
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
            v0[u] = load_unit_ymm<kBits>(wb[u], c, half[u]);
            v1[u] = load_unit_ymm<kBits>(wb[u], c + 1, half[u]);
          }
          LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
            const __m256i x0 = broadcast4_ymm(a[r] + c * 4), x1 = broadcast4_ymm(a[r] + c * 4 + 4);
            LOWBIT_UNROLL for (int u = 0; u < NU; ++u) {
              acc0[r][u] = _mm256_dpbusd_avx_epi32(acc0[r][u], v0[u], x0);
              acc1[r][u] = _mm256_dpbusd_avx_epi32(acc1[r][u], v1[u], x1);
            }
          }
        }
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) LOWBIT_UNROLL for (int u = 0; u < NU; ++u)
            acc0[r][u] = _mm256_add_epi32(acc0[r][u], acc1[r][u]);
      }
      for (; c < c1; ++c) {
        __m256i v0[NU];
        LOWBIT_UNROLL for (int u = 0; u < NU; ++u) v0[u] = load_unit_ymm<kBits>(wb[u], c, half[u]);
        LOWBIT_UNROLL for (int r = 0; r < MR; ++r) {
          const __m256i x0 = broadcast4_ymm(a[r] + c * 4);
          LOWBIT_UNROLL for (int u = 0; u < NU; ++u) acc0[r][u] =
              _mm256_dpbusd_avx_epi32(acc0[r][u], v0[u], x0);
        }
      }
    }
    rescale_group_ymm<kAsym>(p, row0, unit0, g, acc0, y);
  }
  store_units_ymm(p, row0, unit0, y);
}

}  // namespace

void qgemm_avxvnni(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm<AvxVnni>(p, block_begin, block_end);
}

void qgemm_planar_avxvnni(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  run_ymm_gemm_planar<AvxVnni>(p, block_begin, block_end);
}

}  // namespace lowbit::kernels::detail
