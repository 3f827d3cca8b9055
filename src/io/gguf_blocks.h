#pragma once
// GGUF's block-quantized rows (layouts in io/gguf_format.h, from ggml-common.h; dequantization
// as ggml-quants.c's dequantize_row_*). A row of `cols` values is cols / block_elems blocks.
#include <cstddef>
#include <cstdint>
#include <span>

namespace lowbit::gguf {

// Q4_0 and Q8_0 as lowbit's symmetric codes (u = q - qmin, in [0, 2^bits)): Q4_0's nibble is
// already u for int4 (value (u - 8) * d); Q8_0's int8 q becomes u = q + 128. One scale per
// 32 values: the block's fp16 d, widened exactly.
void q4_0_row_codes(std::span<const std::byte> row, size_t cols, uint8_t* codes, float* scales);
void q8_0_row_codes(std::span<const std::byte> row, size_t cols, uint8_t* codes, float* scales);

// Any supported type's row as fp32 (F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q6_K).
void dequantize_row(uint32_t type, std::span<const std::byte> row, size_t cols, float* out);

}  // namespace lowbit::gguf
