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

// The variant these functions use now (under the current ISA ceiling).
Isa widen_isa();

}  // namespace lowbit::kernels
