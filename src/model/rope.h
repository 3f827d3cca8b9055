#pragma once
// RoPE's inverse frequencies per rotated pair, with the config's scaling applied.
#include <vector>

#include "model/config.h"

namespace lowbit {

// inv_freq[i] = theta^(-2i / head_dim) for i < head_dim / 2, then, for rope_scaling "llama3",
// transformers' _compute_llama3_parameters (src/transformers/modeling_rope_utils.py): wavelengths
// longer than original_max_position_embeddings / low_freq_factor are divided by factor, those
// shorter than original / high_freq_factor kept, and the band between interpolated smoothly.
std::vector<double> rope_inv_freq(const ModelConfig& config);

}  // namespace lowbit
