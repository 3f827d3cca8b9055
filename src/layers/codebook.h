#pragma once
// Non-uniform weight grids ("codebooks"): a code u indexes a table of 2^bits values, and the
// weight is table[u] * s with one scale s per (row, group), no zero point. Two kinds:
// - a fixed table shared by every row: NF4 (QLoRA's 4-bit NormalFloat, Dettmers et al. 2023), the
//   quantiles of N(0, 1) normalised to [-1, 1] with an exact zero, used with s = the group's
//   absmax (bitsandbytes' blockwise quantization, blocks of 64 by default);
// - a table per output row, learned from the weights (SqueezeLLM's sensitivity-weighted k-means),
//   with s = 1.
// The packed kernels look codes up in 16-entry fp32 tables (kernels/qgemm_lut.h), so a codebook
// has at most 16 entries (bits 2..4).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lowbit {

enum class Codebook : uint8_t {
  kNone,    // the uniform integer grid (layers/quantizer.h)
  kNf4,     // QLoRA's NormalFloat4, shared, absmax-scaled per group
  kPerRow,  // a learned table per output row (SqueezeLLM), scale 1
};

std::string_view codebook_name(Codebook c);  // "none", "nf4", "per-row"
// Throws lowbit::Error naming `where` and listing the known names for an unknown one.
Codebook parse_codebook(std::string_view name, const std::string& where);

// The NF4 table (16 values, ascending, table[7] = 0, table[0] = -1, table[15] = 1): bitsandbytes'
// constants, which tests/layers/codebook_test.cpp recomputes from QLoRA's construction.
std::span<const float> nf4_table();

// The index of the entry of `table` nearest to x (ties to the lower index). table ascending.
uint8_t nearest_code(std::span<const float> table, float x);

}  // namespace lowbit
