// Fused causal attention, AVX-512F (FlashAttention-style; see attention.h). A tile of 6 query
// rows walks the keys 64 at a time:
//   scores   S[r][t] = (scale q_r) . k_t          24 accumulators: 6 rows x 4 x 16 keys, fed by
//                                                 the transposed keys (16 keys per load) and one
//                                                 broadcast query element per row and dimension
//   softmax  running max m_r and sum l_r per row; the block's probabilities exp(S - m_r) go to a
//            64-float row buffer, keys past the row's causal limit masked to exactly 0
//   values   O[r] = O[r] * exp(m_old - m_new) + sum_t P[r][t] v_t, 64 output dimensions at a
//            time (24 accumulators again, one broadcast probability per row and key)
// and finally out = O / l. The last block of a tile is cut to whole 16-key vectors covering the
// tile's longest row, so the keys computed past a row's limit are under 16 on average, not half
// a block. head_dim must be a multiple of 16 and at most 256 (others use the reference).
#include "kernels/x86/avx512_intrinsics.h"
#include "kernels/x86/exp_avx512.h"

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"
#include "kernels/tile_dispatch.h"

namespace lowbit::kernels::detail {
namespace {

constexpr int kRows = 6;      // query rows per tile
constexpr size_t kKeys = 64;  // keys per block: 4 vectors of 16
constexpr size_t kMaxHeadDim = 256;

// Lanes of the vector holding keys first .. first + 15 that lie below `limit`.
inline __mmask16 lanes_below(size_t limit, size_t first) {
  if (limit <= first) return 0;
  const size_t n = limit - first;
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

// A row tile's running state.
template <int R>
struct Tile {
  alignas(64) float q[R][kMaxHeadDim];  // queries times scale
  alignas(64) float o[R][kMaxHeadDim];  // unnormalized outputs
  alignas(64) float p[R][kKeys];        // probabilities of the current block
  alignas(64) float sum[R][16];         // running sums of exp(score - max), 16 partial sums
  alignas(64) float rescale[16];        // exp(previous max - new max) per row, for the outputs
  float max[R];                         // running maxima of the scaled scores
  size_t len[R];                        // causal limits
};

// Scores of keys t0 .. t0 + kb (NB vectors) and their softmax step into T.p / T.max / T.sum.
template <int R, int NB>
void scores_and_softmax(const CausalAttentionArgs& a, Tile<R>& T, size_t t0, size_t kb) {
  __mmask16 in_block[NB];
  LOWBIT_UNROLL for (int j = 0; j < NB; ++j) in_block[j] = lanes_below(t0 + kb, t0 + 16 * j);
  __m512 s[R][NB];
  LOWBIT_UNROLL for (int r = 0; r < R; ++r) LOWBIT_UNROLL for (int j = 0; j < NB; ++j) s[r][j] =
      _mm512_setzero_ps();
  for (size_t d = 0; d < a.head_dim; ++d) {
    const float* kd = a.kt + d * a.ldkt + t0;
    __m512 k[NB];
    LOWBIT_UNROLL for (int j = 0; j < NB; ++j) k[j] =
        _mm512_maskz_loadu_ps(in_block[j], kd + 16 * j);
    LOWBIT_UNROLL for (int r = 0; r < R; ++r) {
      const __m512 qd = _mm512_set1_ps(T.q[r][d]);
      LOWBIT_UNROLL for (int j = 0; j < NB; ++j) s[r][j] = _mm512_fmadd_ps(qd, k[j], s[r][j]);
    }
  }

  // Per row: the new running maximum, the block's probabilities and their partial sums; the
  // rescale factors exp(old max - new max) of all rows then come from one vector exp.
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  alignas(64) float shift[16] = {};  // old max - new max per row (0: unchanged)
  __m512 block_sum[R];
  LOWBIT_UNROLL for (int r = 0; r < R; ++r) {
    float* p = T.p[r];
    block_sum[r] = _mm512_setzero_ps();
    if (T.len[r] <= t0) {  // this row's keys ended in an earlier block
      LOWBIT_UNROLL for (int j = 0; j < NB; ++j) _mm512_store_ps(p + 16 * j, _mm512_setzero_ps());
      continue;
    }
    __mmask16 visible[NB];
    __m512 m = neg_inf;
    LOWBIT_UNROLL for (int j = 0; j < NB; ++j) {
      visible[j] = lanes_below(min_size(T.len[r], t0 + kb), t0 + 16 * j);
      m = _mm512_mask_max_ps(m, visible[j], m, s[r][j]);
    }
    const float new_max = __builtin_fmaxf(T.max[r], _mm512_reduce_max_ps(m));
    const __m512 vm = _mm512_set1_ps(new_max);
    LOWBIT_UNROLL for (int j = 0; j < NB; ++j) {
      const __m512 e = _mm512_maskz_mov_ps(visible[j], exp16(_mm512_sub_ps(s[r][j], vm)));
      _mm512_store_ps(p + 16 * j, e);
      block_sum[r] = _mm512_add_ps(block_sum[r], e);
    }
    // On the first block the old maximum is -inf: exp16 clamps the shift to a factor of about
    // 1e-38, applied to the still-zero sums and outputs.
    shift[r] = T.max[r] - new_max;
    T.max[r] = new_max;
  }
  _mm512_store_ps(T.rescale, exp16(_mm512_load_ps(shift)));
  LOWBIT_UNROLL for (int r = 0; r < R; ++r) _mm512_store_ps(
      T.sum[r],
      _mm512_fmadd_ps(_mm512_load_ps(T.sum[r]), _mm512_set1_ps(T.rescale[r]), block_sum[r]));
}

// O[r][c0 .. c0 + 16 NV) = O * rescale + sum_{t < kb} p[r][t] v_{t0 + t}.
template <int R, int NV>
void accumulate_values(const CausalAttentionArgs& a, Tile<R>& T, size_t t0, size_t kb, size_t c0) {
  __m512 acc[R][NV];
  LOWBIT_UNROLL for (int r = 0; r < R; ++r) {
    const __m512 f = _mm512_set1_ps(T.rescale[r]);
    LOWBIT_UNROLL for (int j = 0; j < NV; ++j) acc[r][j] =
        _mm512_mul_ps(_mm512_load_ps(T.o[r] + c0 + 16 * j), f);
  }
  for (size_t t = 0; t < kb; ++t) {
    const float* vt = a.v + (t0 + t) * a.ldv + c0;
    __m512 v[NV];
    LOWBIT_UNROLL for (int j = 0; j < NV; ++j) v[j] = _mm512_loadu_ps(vt + 16 * j);
    LOWBIT_UNROLL for (int r = 0; r < R; ++r) {
      const __m512 pt = _mm512_set1_ps(T.p[r][t]);
      LOWBIT_UNROLL for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(pt, v[j], acc[r][j]);
    }
  }
  LOWBIT_UNROLL for (int r = 0; r < R; ++r) LOWBIT_UNROLL for (int j = 0; j < NV; ++j)
      _mm512_store_ps(T.o[r] + c0 + 16 * j, acc[r][j]);
}

template <int R>
void row_tile(const CausalAttentionArgs& a, size_t r0) {
  const size_t hd = a.head_dim;
  Tile<R> T;
  size_t longest = 0;
  for (int r = 0; r < R; ++r) {
    const float* q = a.q + (r0 + static_cast<size_t>(r)) * a.ldq;
    for (size_t d = 0; d < hd; ++d) {
      T.q[r][d] = q[d] * a.scale;
      T.o[r][d] = 0.0f;
    }
    T.max[r] = -__builtin_inff();
    _mm512_store_ps(T.sum[r], _mm512_setzero_ps());
    T.len[r] = a.lens[r0 + static_cast<size_t>(r)];
    longest = T.len[r] > longest ? T.len[r] : longest;
  }
  for (size_t t0 = 0; t0 < longest; t0 += kKeys) {
    const size_t kb = min_size(kKeys, longest - t0);
    with_count<4>((kb + 15) / 16, [&]<int NB>() { scores_and_softmax<R, NB>(a, T, t0, kb); });
    for (size_t c0 = 0; c0 < hd; c0 += 64)
      with_count<4>(min_size(4, (hd - c0) / 16),
                    [&]<int NV>() { accumulate_values<R, NV>(a, T, t0, kb, c0); });
  }
  for (int r = 0; r < R; ++r) {
    const float sum = _mm512_reduce_add_ps(_mm512_load_ps(T.sum[r]));
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    // The running maximum is of scores already scaled (T.q holds scale * q).
    if (a.lse != nullptr) a.lse[r0 + static_cast<size_t>(r)] = T.max[r] + __builtin_logf(sum);
    float* out = a.out + (r0 + static_cast<size_t>(r)) * a.ldo;
    for (size_t d = 0; d < hd; d += 16)
      _mm512_storeu_ps(out + d, _mm512_mul_ps(_mm512_load_ps(T.o[r] + d), inv));
  }
}

}  // namespace

void causal_attention_avx512(const CausalAttentionArgs& a) {
  if (a.head_dim % 16 != 0 || a.head_dim > kMaxHeadDim) return causal_attention_scalar(a);
  for (size_t r0 = 0; r0 < a.rows; r0 += kRows)
    with_count<kRows>(a.rows - r0, [&]<int R>() { row_tile<R>(a, r0); });
}

}  // namespace lowbit::kernels::detail
