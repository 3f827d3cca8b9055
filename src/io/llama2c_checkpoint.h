#pragma once
// llama2.c checkpoints (legacy, version 0): seven int32 header fields (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an untied classifier) then
// fp32 weights. llama2.c rotates adjacent pairs in RoPE; the loader permutes the q/k rows into the
// Hugging Face "rotate_half" order so one forward pass serves both formats.
#include <filesystem>

#include "model/llama_weights.h"

namespace lowbit {

LlamaWeights load_llama2c_checkpoint(const std::filesystem::path& bin_file);

}  // namespace lowbit
