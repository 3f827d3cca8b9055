// bf16 / f16 widening, AVX-512: 16 lanes, masked tail. vcvtph2ps on zmm is part of AVX512F and
// exact, so binary16 needs no integer emulation here.
#include "kernels/x86/avx512_intrinsics.h"

#include <cstdint>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

inline __mmask16 tail_mask(size_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

}  // namespace

void widen_bf16_avx512(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i h =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, in + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
  }
}

void widen_f16_avx512(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, in + i)));
  }
}

namespace {

template <bool kF16>
inline __m512 widen16(__m256i h) {
  if constexpr (kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <bool kF16>
inline __m512 load16(const uint16_t* p) {
  return widen16<kF16>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// R rows of x against every output: two accumulators per row (32 weights per step) hide the FMA
// latency; the weights are widened in registers and read once for all R rows.
template <bool kF16, int R>
void gemv_rows(const HalfGemvArgs& a, size_t r0) {
  const size_t k = a.k;
  const __mmask16 tail = tail_mask(k % 16);
  for (size_t o = 0; o < a.n; ++o) {
    const uint16_t* w = a.w + o * k;
    __m512 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= k; i += 32) {
      const __m512 w0 = load16<kF16>(w + i), w1 = load16<kF16>(w + i + 16);
      for (int r = 0; r < R; ++r) {
        const float* x = a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i;
        acc0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x), w0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), w1, acc1[r]);
      }
    }
    if (i + 16 <= k) {
      const __m512 w0 = load16<kF16>(w + i);
      for (int r = 0; r < R; ++r)
        acc0[r] = _mm512_fmadd_ps(_mm512_loadu_ps(a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i),
                                  w0, acc0[r]);
      i += 16;
    }
    if (i < k) {
      const __m512 w0 = widen16<kF16>(_mm256_maskz_loadu_epi16(tail, w + i));
      for (int r = 0; r < R; ++r)
        acc1[r] = _mm512_fmadd_ps(
            _mm512_maskz_loadu_ps(tail, a.x + (r0 + static_cast<size_t>(r)) * a.ldx + i), w0,
            acc1[r]);
    }
    for (int r = 0; r < R; ++r)
      a.y[(r0 + static_cast<size_t>(r)) * a.ldy + o] =
          _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
  }
}

template <bool kF16>
void gemv(const HalfGemvArgs& a) {
  size_t r = 0;
  for (; r + 4 <= a.rows; r += 4) gemv_rows<kF16, 4>(a, r);
  switch (a.rows - r) {
    case 3:
      gemv_rows<kF16, 3>(a, r);
      break;
    case 2:
      gemv_rows<kF16, 2>(a, r);
      break;
    case 1:
      gemv_rows<kF16, 1>(a, r);
      break;
    default:
      break;
  }
}

}  // namespace

void gemv_bf16_avx512(const HalfGemvArgs& a) {
  gemv<false>(a);
}

void gemv_f16_avx512(const HalfGemvArgs& a) {
  gemv<true>(a);
}

}  // namespace lowbit::kernels::detail
