#pragma once
// Widening 16-bit floating-point weights (bf16, IEEE f16) to fp32. Checkpoints stay in the format
// they are stored in (memory-mapped); the full-precision layers widen a panel of weight rows at a
// time into a small buffer the fp32 GEMM then reads, so a model needs about its file size in
// memory and decode reads half the bytes of an fp32 copy. Both conversions are exact (every bf16
// and f16 value, subnormals, infinities and NaN payloads included, is an fp32 value; a signalling
// f16 NaN comes out quiet, as the hardware converts it), so every variant is bit-identical to the
// scalar reference.
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernels/cpu_features.h"

namespace lowbit::kernels {

// out[i] = the fp32 value of the bf16 bits in[i]. Same lengths.
void widen_bf16(std::span<const uint16_t> in, std::span<float> out);
// out[i] = the fp32 value of the IEEE binary16 bits in[i]. Same lengths.
void widen_f16(std::span<const uint16_t> in, std::span<float> out);

// Matrix-vector products straight from 16-bit weights, for a few rows of x (decode): y[r * ldy +
// o] = sum_i x[r * ldx + i] * w[o * k + i] for r < rows, o < n, each weight widened in registers
// and read once for all rows, so decode streams half the bytes of fp32 at the memory's pace. The
// SIMD variants sum in lanes (not in index order); the scalar reference sums exactly (in double)
// and is meant for tests: on a CPU without a SIMD variant, callers widen panels into sgemm.
inline constexpr size_t kHalfGemvRows = 4;  // up to this many rows callers use the gemv
void gemv_bf16(const float* x, size_t rows, size_t ldx, const uint16_t* w, size_t n, size_t k,
               float* y, size_t ldy);
void gemv_f16(const float* x, size_t rows, size_t ldx, const uint16_t* w, size_t n, size_t k,
              float* y, size_t ldy);

// The variant these functions use now (under the current ISA ceiling).
Isa widen_isa();

}  // namespace lowbit::kernels
