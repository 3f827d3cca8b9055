#pragma once
// The SIMD KV-code attention products (kv_attention.h), written once over a small per-ISA vector
// traits struct V; x86/kv_attention_{avx2,avx512}.cpp and arm/kv_attention_neon.cpp each supply
// theirs and instantiate kv_scores_simd<V> / kv_weighted_sum_simd<V>. Codes are widened to fp32 in
// registers, V::kLanes at a time, and the zero point and scale are folded out of the inner loops:
//   q . value_t = s_t (q . c_t + (qmin - z_t) sum(q))
//   sum_t p_t value_t = sum_t (p_t s_t) c_t + sum_t p_t s_t (qmin - z_t)
// Rows are taken kRows at a time; head_dim must be a multiple of V::kLanes (others use the
// reference).
//
// V provides (all static, inline):
//   using F                         a vector of kLanes fp32 (a register, or a struct of them)
//   kLanes                          lanes of F
//   kVecs                           F vectors of outputs per row in a weighted-sum pass (the
//                                   accumulators, kRows x kVecs, must stay in registers)
//   F zero(), F broadcast(float), F load(const float*), void store(float*, F)
//   F fma(F a, F b, F c)            a * b + c, rounded once
//   F add(F, F), float reduce_add(F)
//   template <int kBits> F codes(const uint8_t* row, size_t d0)
//                                   codes d0 .. d0 + kLanes - 1 of a row as fp32 (kBits 8: a byte
//                                   each; 4: two per byte, low nibble first; 32: the row's floats)
//
// kBits = 32 (an fp32 cache) has no scale or zero point: the folding terms are left out.
//
// Everything is in an anonymous namespace and instantiated with each file's own traits, so every
// copy is compiled with its own file's target flags and none can be merged across ISA objects
// (see kernel_variants.h).
#include <cstddef>
#include <cstdint>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

constexpr size_t kKvRows = 4;  // query rows per pass (a decode step has one per head of the group)

constexpr size_t kKvKeys = 4;  // keys per step of the score loop (independent FMA chains)

// Scores of NR query rows (compile time, so the accumulators stay in registers) against keys
// [0, n), kKvKeys keys per step.
template <class V, int kBits, int NR>
void kv_scores_pass(const float* q, size_t ldq, const KvCodesArgs& k, size_t n, float* out,
                    size_t lds) {
  using F = typename V::F;
  const size_t hd = k.head_dim;
  float qsum[NR] = {};
  if constexpr (kBits != 32)
    for (int r = 0; r < NR; ++r)
      for (size_t d = 0; d < hd; ++d) qsum[r] += q[r * ldq + d];
  const auto finish = [&](size_t t, const F& acc, int r) {
    if constexpr (kBits == 32) {
      out[r * lds + t] = V::reduce_add(acc);
    } else {
      const float* p = k.params + t * k.param_stride;
      out[r * lds + t] = p[0] * (V::reduce_add(acc) + (k.qmin - p[1]) * qsum[r]);
    }
  };
  size_t t = 0;
  for (; t + kKvKeys <= n; t += kKvKeys) {
    F acc[NR][kKvKeys];
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (size_t j = 0; j < kKvKeys; ++j)
        acc[r][j] = V::zero();
    for (size_t d0 = 0; d0 < hd; d0 += V::kLanes) {
      F c[kKvKeys];
      LOWBIT_UNROLL for (size_t j = 0; j < kKvKeys; ++j) c[j] =
          V::template codes<kBits>(k.codes + (t + j) * k.row_bytes, d0);
      LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
        const F qv = V::load(q + r * ldq + d0);
        LOWBIT_UNROLL for (size_t j = 0; j < kKvKeys; ++j) acc[r][j] = V::fma(qv, c[j], acc[r][j]);
      }
    }
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (size_t j = 0; j < kKvKeys; ++j)
        finish(t + j, acc[r][j], r);
  }
  for (; t < n; ++t) {
    F acc[NR];
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) acc[r] = V::zero();
    for (size_t d0 = 0; d0 < hd; d0 += V::kLanes) {
      const F c = V::template codes<kBits>(k.codes + t * k.row_bytes, d0);
      LOWBIT_UNROLL for (int r = 0; r < NR; ++r) acc[r] =
          V::fma(V::load(q + r * ldq + d0), c, acc[r]);
    }
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) finish(t, acc[r], r);
  }
}

// Calls f.template operator()<NR>(r0) for the passes over `rows` rows: kKvRows at a time, then
// the remaining 1 .. kKvRows - 1.
template <class Fn>
void for_row_passes(size_t rows, Fn&& f) {
  static_assert(kKvRows == 4);
  for (size_t r0 = 0; r0 < rows; r0 += kKvRows) {
    switch (min_size(kKvRows, rows - r0)) {
      case 1:
        f.template operator()<1>(r0);
        break;
      case 2:
        f.template operator()<2>(r0);
        break;
      case 3:
        f.template operator()<3>(r0);
        break;
      default:
        f.template operator()<4>(r0);
    }
  }
}

template <class V, int kBits>
void kv_scores_rows(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  for_row_passes(rows, [&]<int NR>(size_t r0) {
    kv_scores_pass<V, kBits, NR>(q + r0 * ldq, ldq, k, n, out + r0 * lds, lds);
  });
}

// Weighted sums of NR rows of p (compile time: the accumulators stay in registers).
template <class V, int kBits, int NR>
void kv_weighted_sum_pass(const float* pr, size_t ldp, const KvCodesArgs& v, size_t n, float* out,
                          size_t ldo) {
  using F = typename V::F;
  constexpr size_t kLanes = V::kLanes, kVecs = V::kVecs;
  const size_t hd = v.head_dim;
  for (size_t d0 = 0; d0 < hd; d0 += kLanes * kVecs) {
    const size_t nv = min_size(kVecs, (hd - d0) / kLanes);
    F acc[NR][kVecs];
    float constant[NR] = {};
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) LOWBIT_UNROLL for (size_t j = 0; j < kVecs; ++j)
        acc[r][j] = V::zero();
    const auto step = [&]<size_t kNv>(size_t t) {
      const uint8_t* row = v.codes + t * v.row_bytes;
      F w[NR];
      if constexpr (kBits == 32) {
        LOWBIT_UNROLL for (int r = 0; r < NR; ++r) w[r] = V::broadcast(pr[r * ldp + t]);
      } else {
        const float* p = v.params + t * v.param_stride;
        const float offset = v.qmin - p[1];
        LOWBIT_UNROLL for (int r = 0; r < NR; ++r) {
          const float wt = pr[r * ldp + t] * p[0];
          constant[r] += wt * offset;
          w[r] = V::broadcast(wt);
        }
      }
      const size_t count = kNv == 0 ? nv : kNv;
      LOWBIT_UNROLL for (size_t j = 0; j < (kNv == 0 ? kVecs : kNv); ++j) {
        if (kNv == 0 && j >= count) break;
        const F c = V::template codes<kBits>(row, d0 + kLanes * j);
        LOWBIT_UNROLL for (int r = 0; r < NR; ++r) acc[r][j] = V::fma(w[r], c, acc[r][j]);
      }
    };
    if (nv == kVecs)
      for (size_t t = 0; t < n; ++t) step.template operator()<kVecs>(t);
    else
      for (size_t t = 0; t < n; ++t) step.template operator()<0>(t);
    LOWBIT_UNROLL for (int r = 0; r < NR; ++r) for (size_t j = 0; j < nv; ++j)
        V::store(out + r * ldo + d0 + kLanes * j, V::add(acc[r][j], V::broadcast(constant[r])));
  }
}

template <class V, int kBits>
void kv_weighted_sum_rows(const float* pr, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  for_row_passes(rows, [&]<int NR>(size_t r0) {
    kv_weighted_sum_pass<V, kBits, NR>(pr + r0 * ldp, ldp, v, n, out + r0 * ldo, ldo);
  });
}

// The entry points of a variant: head sizes off the lane width go to the reference.
template <class V>
void kv_scores_simd(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* out, size_t lds) {
  if (k.head_dim % V::kLanes != 0) return kv_scores_scalar(q, rows, ldq, k, n, out, lds);
  if (k.bits == 32)
    kv_scores_rows<V, 32>(q, rows, ldq, k, n, out, lds);
  else if (k.bits == 8)
    kv_scores_rows<V, 8>(q, rows, ldq, k, n, out, lds);
  else
    kv_scores_rows<V, 4>(q, rows, ldq, k, n, out, lds);
}

template <class V>
void kv_weighted_sum_simd(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo) {
  if (v.head_dim % V::kLanes != 0) return kv_weighted_sum_scalar(p, rows, ldp, v, n, out, ldo);
  if (v.bits == 32)
    kv_weighted_sum_rows<V, 32>(p, rows, ldp, v, n, out, ldo);
  else if (v.bits == 8)
    kv_weighted_sum_rows<V, 8>(p, rows, ldp, v, n, out, ldo);
  else
    kv_weighted_sum_rows<V, 4>(p, rows, ldp, v, n, out, ldo);
}

}  // namespace
}  // namespace lowbit::kernels::detail
