#pragma once
// Attention products read straight from an integer KV cache: one KV head's cached positions as
// codes with a scale and zero point per position (KVCache's layout), never dequantized into
// memory. Used by decode steps, where reading every cached value once in a quarter or an eighth of
// its fp32 bytes is the point of quantizing the cache. The SIMD variants (AVX-512, AVX2 + FMA,
// NEON) fold the zero point and scale out of the inner loop, so they agree with the scalar
// reference (each value dequantized, summed in order) to rounding, not bit for bit; the tests
// bound the difference.
//
// bits = 32 reads an fp32 cache the same way (a position's head_dim floats, no scale or zero
// point): a decode step's few query rows per KV head are dot products against each cached key,
// which these loops do in registers where a BLAS GEMV call per row spent more time in its call
// than in its products.
#include <cstddef>
#include <cstdint>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

struct KvCodesView {
  const uint8_t* codes = nullptr;  // position t at codes + t * row_bytes
  size_t row_bytes = 0;
  const float* params = nullptr;  // position t: scale at params[t * param_stride], zero after it
  size_t param_stride = 0;        // floats
  int bits = 8;  // 8: a code per byte; 4: two per byte, low nibble first; 32: fp32 values (the
                 // row holds floats; params, param_stride and qmin are not read)
  int qmin = 0;  // value = ((code + qmin) - zero) * scale
  size_t head_dim = 0;  // even
};

// scores[r * lds + t] = q_r . value_t for r < rows, t < n (q: rows x head_dim at stride ldq).
void kv_scores(const float* q, size_t rows, size_t ldq, const KvCodesView& k, size_t n,
               float* scores, size_t lds);
// out[r * ldo + d] = sum_{t < n} p[r * ldp + t] value_t[d] for r < rows, d < head_dim.
void kv_weighted_sum(const float* p, size_t rows, size_t ldp, const KvCodesView& v, size_t n,
                     float* out, size_t ldo);

Isa kv_attention_isa();

}  // namespace lowbit::kernels
